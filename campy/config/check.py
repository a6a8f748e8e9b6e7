"""``campy check-config``: validate campy.yaml and print every issue with its line."""

from __future__ import annotations

import sys

from campy.config.errors import ConfigError
from campy.config.loader import load_config


def check_config_main(argv: list[str] | None = None) -> int:
    path = (argv or ["config/campy.yaml"])[0]
    try:
        cfg = load_config(path)
    except ConfigError as err:
        for issue in err.issues:
            print(issue, file=sys.stderr)
        print(f"{len(err.issues)} issue(s) in {path}", file=sys.stderr)
        return 1
    for cam in cfg.cameras.values():
        if cam.password_ref == "(plain)":
            print(f"warning: {path}: cameras.{cam.name}.password is plain text; "
                  "use ${ENV_VAR} or !secret name", file=sys.stderr)
    print(f"OK: {len(cfg.cameras)} camera(s) in {path}")
    return 0
