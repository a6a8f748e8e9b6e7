"""Writing SVG as strings: escaped attributes, compact numbers, the root element.

Shared by the recordings pictures (``timeline``, ``storage_chart``); pure functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape


SVG_NS = "http://www.w3.org/2000/svg"
FILL_TEXT = "#374151"
FONT = "sans-serif"
FONT_SIZE = 11

def num(v: float) -> str:
    """A coordinate: at most two decimals, no trailing zeros."""
    r = round(v, 2)
    if r == int(r):
        return str(int(r))
    return f"{r:.2f}".rstrip("0")


def attrs_of(attrs: Mapping[str, object]) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        text = num(value) if isinstance(value, float) else str(value)
        parts.append(f' {key}="{escape(text, quote=True)}"')
    return "".join(parts)


def el(tag: str, attrs: Mapping[str, object], *children: str) -> str:
    if not children:
        return f"<{tag}{attrs_of(attrs)}/>"
    return f"<{tag}{attrs_of(attrs)}>{''.join(children)}</{tag}>"


def text_el(tag: str, attrs: Mapping[str, object], text: str) -> str:
    return f"<{tag}{attrs_of(attrs)}>{escape(text, quote=False)}</{tag}>"


def title_el(text: str) -> str:
    return text_el("title", {}, text)


def svg_root(width: int, height: int, attrs: Mapping[str, object], body: Iterable[str]) -> str:
    root = {
        "xmlns": SVG_NS,
        "width": width,
        "height": height,
        "viewBox": f"0 0 {width} {height}",
        **attrs,
    }
    return el("svg", root, *body)
