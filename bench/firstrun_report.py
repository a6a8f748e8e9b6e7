"""Markdown tables for bench/firstrun_bench.py's results (a dict, as written to its JSON)."""

from __future__ import annotations

from typing import Any

from bench.firstrun_lib import fmt


def _ms(s: dict[str, Any] | None, key: str = "median") -> str:
    return fmt(s.get(key) if s else None)


def print_tables(out: dict[str, Any]) -> None:
    if "latency" in out:
        print("\n### Glass-to-glass live latency (clock camera, 640×360 H.264 25 fps, ms)\n")
        print("| page | frames | painted → presented, median | p90 | painted → received, median "
              "| received → presented, median (jitter buffer + decode) | WebRTC frames | undecoded frames |")
        print("|---|---|---|---|---|---|---|---|")
        for k, v in out["latency"].items():
            print(f"| {k} | {v['present']['n']} | {_ms(v['present'])} | {_ms(v['present'], 'p90')} "
                  f"| {_ms(v['receive'])} | {_ms(v['after_receive'])} | {v['receive']['n']} | {v['undecoded']} |")
        print(f"\nCamPy's player set: {out.get('campy_jitter_buffer')}; go2rtc's page: the browser default.")
    if "first" in out:
        print("\n### Navigation → first picture / first live frame (ms, median; n loads)\n")
        print("| page | n | first picture (latest.jpg) | first live frame |")
        print("|---|---|---|---|")
        for k, v in out["first"].items():
            pic = _ms(v["poster"]) if v["poster"]["n"] else "– (no picture before video)"
            print(f"| {k} | {v['first']['n']} | {pic} | {_ms(v['first'])} |")
    if "playback" in out:
        print("\n### Timeline click → first decoded frame (ms, median)\n")
        print("| camera | recordings page click | same segment file as `<video src>` (baseline) "
              "| `play.mp4` from that keyframe as `<video src>` | note |")
        print("|---|---|---|---|---|")
        for k, v in out["playback"].items():
            print(f"| {k} | {_ms(v['ui'])} (n={v['ui']['n']}) | {_ms(v['direct'])} (n={v['direct']['n']}) "
                  f"| {_ms(v['play'])} (n={v['play']['n']}) | {v['note']} |")
    if "grid16_weight" in out:
        print("\n### Grid with 16 simulated cameras (sub-only 640×360 H.264, no recording/detection)\n")
        print("| page | HTTP requests | bytes (headers + bodies, media excluded) | by type (requests/bytes, last load) |")
        print("|---|---|---|---|")
        for k, v in out["grid16_weight"].items():
            parts = ", ".join(f"{t} {n}/{fmt(b)}" for t, (n, b) in sorted(v.get("by_type", {}).items()))
            print(f"| {k} | {fmt(v['requests'])} | {fmt(v['bytes'])} | {parts} |")
        print("\n| request (logged in, loopback, client-timed) | n | median ms | p90 ms |")
        print("|---|---|---|---|")
        for k, v in out["grid16_render"].items():
            print(f"| {k} | {v['n']} | {v['median']:.1f} | {v['p90']:.1f} |")
    if "cold" in out:
        c = out["cold"]
        print("\n### Cold start (second run, media cached) → first decoded frame in Chromium (ms, median)\n")
        print("| setup | n | healthy | first frame |")
        print("|---|---|---|---|")
        print(f"| `campy serve`, no cameras → 2 simulated cameras | {c['campy_first']['n']} "
              f"| {_ms(c['campy_healthy'])} | {_ms(c['campy_first'])} |")
        print(f"| bare go2rtc on a running simulated camera (baseline) | {c['bare_first']['n']} | – "
              f"| {_ms(c['bare_first'])} |")
    for k, v in out.get("errors", {}).items():
        print(f"\n**{k} failed:** {v}")
