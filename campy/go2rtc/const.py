"""Pinned facts about the go2rtc CamPy runs."""

from __future__ import annotations

GO2RTC_VERSION = "1.9.14"
GO2RTC_MODULE = "github.com/AlexxIT/go2rtc"
# `go mod download` checks this against the checksum database too; pinning it here means a
# re-tagged or tampered module is refused even where the checksum database is not reachable.
GO2RTC_MODULE_SUM = "h1:HjaZ2pR64nTkoTZcKM8Zjybg7swyCZbA8Biru1mbqcY="

# Release binaries (for machines without Go): name per machine architecture and its sha256,
# as pinned by Frigate's docker/main/install_go2rtc.sh for v1.9.14 (not verifiable from this
# workplace, which cannot reach release downloads). Empty = not pinned: the installer refuses.
RELEASE_URL = "https://github.com/AlexxIT/go2rtc/releases/download/v{version}/{name}"
RELEASE_BINARIES: dict[str, tuple[str, str]] = {
    "x86_64": ("go2rtc_linux_amd64", "32d616af226bd731678ffde328b94cfb94e30339bfefc469cfb76323144615a6"),
    "aarch64": ("go2rtc_linux_arm64", "359fabade8a7a51e81a55fe6df6b0ef81764a5e1d63179577534eaaa71904b50"),
    "armv7l": ("go2rtc_linux_arm", ""),
}

# Only what CamPy uses: RTSP/RTMP/HTTP sources, ffmpeg transcoding, WebRTC/MSE playback.
MODULES = ["api", "ws", "http", "rtsp", "rtmp", "webrtc", "mp4", "hls", "mjpeg", "ffmpeg", "exec"]
# API paths CamPy calls. "/" is go2rtc's static file handler: needed for the player modules
# (video-stream.js, video-rtc.js) that CamPy serves to its pages; listing the files
# themselves does not register them (verified: 404). Static files expose no API.
ALLOW_PATHS = [
    "/",
    "/api",
    "/api/streams",
    "/api/preload",
    "/api/ws",
    "/api/webrtc",
    "/api/frame.jpeg",
    "/api/schemes",
]
