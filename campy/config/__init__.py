"""campy.yaml: typed config, validation with key paths and lines, write-back, watcher."""

from campy.config.check import check_config_main
from campy.config.errors import ConfigError, ConfigIssue
from campy.config.loader import load_config
from campy.config.model import CameraConfig, CampyConfig, Secret
from campy.config.store import ConfigChange, ConfigStore
from campy.config.urls import ALLOWED_SCHEMES, validate_camera_url
from campy.config.watch import watch

__all__ = [
    "ALLOWED_SCHEMES", "CameraConfig", "CampyConfig", "ConfigChange", "ConfigError", "ConfigIssue",
    "ConfigStore", "Secret", "check_config_main", "load_config", "validate_camera_url", "watch",
]
