"""Private files: CamPy's data dir holds sessions, secrets and footage, so it is readable by
CamPy's user only (files 0600, directories 0700), whatever the umask it was started with.

Every ``campy`` command sets the umask to 0o077 (ffmpeg and go2rtc inherit it), and
at start ``tighten`` removes group/other bits from what an older CamPy or a loose umask left.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077


def set_private_umask() -> None:
    os.umask(PRIVATE_UMASK)


def _tighten_one(path: str, st: os.stat_result, changed: list[str]) -> None:
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        try:
            os.chmod(path, mode & ~0o077)
            changed.append(path)
        except OSError as err:  # e.g. a mount point owned by another user
            log.warning("could not make %s private: %s", path, err)


def tighten(roots: Iterable[Path]) -> list[str]:
    """Remove group/other permission bits from every file and directory under ``roots``
    (symlinks are not followed); returns the paths that changed."""
    changed: list[str] = []
    seen: set[str] = set()
    for root in roots:
        top = str(root)
        if top in seen:
            continue
        seen.add(top)
        try:
            st = os.lstat(top)
        except OSError:  # missing, or not reachable (a file where a directory should be)
            continue
        if stat.S_ISLNK(st.st_mode):
            continue
        _tighten_one(top, st, changed)
        if not stat.S_ISDIR(st.st_mode):
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            for n in dirnames + filenames:
                p = os.path.join(dirpath, n)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                if not stat.S_ISLNK(st.st_mode):
                    _tighten_one(p, st, changed)
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        log.warning("made %d files/directories private (0600/0700; they were readable by other "
                    "users): %s", len(changed), shown)
    return changed
