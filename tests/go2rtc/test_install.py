"""The installer's pieces that run without building anything."""

from __future__ import annotations

import pytest

from campy.go2rtc import install
from campy.go2rtc.const import GO2RTC_VERSION


def test_installed_binary_reports_the_pinned_version():
    assert install.binary_version(install.find_binary()) == GO2RTC_VERSION


def test_install_is_a_no_op_when_the_pinned_version_is_there(tmp_path, capsys):
    binary = install.find_binary()
    (tmp_path / "go2rtc").symlink_to(binary)
    install.install(tmp_path)
    assert "already installed" in capsys.readouterr().out


def test_find_binary_honours_and_checks_GO2RTC_BIN(monkeypatch, tmp_path):
    monkeypatch.setenv("GO2RTC_BIN", str(tmp_path / "missing"))
    with pytest.raises(install.InstallError, match="GO2RTC_BIN"):
        install.find_binary()


def test_release_download_refuses_an_unpinned_architecture(monkeypatch, tmp_path):
    monkeypatch.setattr(install.platform, "machine", lambda: "sparc64")
    with pytest.raises(install.InstallError, match="no go2rtc release pinned"):
        install.install_release(tmp_path)
