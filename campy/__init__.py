"""CamPy: a self-hosted NVR built as a thin control plane around go2rtc."""

__version__ = "0.1.0"
