"""Typed views of go2rtc's API answers (msgspec). Idle producers carry only ``url``."""

from __future__ import annotations

import msgspec


class RtspInfo(msgspec.Struct, kw_only=True):
    listen: str = ""
    default_query: str = ""


class ApiInfo(msgspec.Struct, kw_only=True):
    version: str = ""
    revision: str = ""
    config_path: str = ""
    host: str = ""
    rtsp: RtspInfo | None = None


class Codec(msgspec.Struct, kw_only=True):
    codec_name: str = ""
    codec_type: str = ""
    profile: str = ""
    level: int | None = None
    sample_rate: int | None = None
    channels: int | None = None


class Track(msgspec.Struct, kw_only=True):
    id: int | None = None
    codec: Codec | None = None
    bytes: int = 0
    packets: int = 0
    drops: int = 0


class Connection(msgspec.Struct, kw_only=True):
    """A producer (camera side) or consumer (viewer side) of a stream."""

    id: int | None = None
    format_name: str = ""
    protocol: str = ""
    remote_addr: str = ""
    url: str = ""
    source: str = ""
    user_agent: str = ""
    medias: list[str] | None = None
    bytes_recv: int = 0
    bytes_send: int = 0
    receivers: list[Track] | None = None
    senders: list[Track] | None = None


class Stream(msgspec.Struct, kw_only=True):
    producers: list[Connection] | None = None
    consumers: list[Connection] | None = None


STREAMS = dict[str, Stream]
