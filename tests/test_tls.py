"""campy.tls and the server.tls / behind_proxy config, without a server."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket

import pytest
from cryptography import x509

from campy.config import ConfigError, load_config
from campy.tls import TlsError, check_pair, ensure_self_signed, fingerprint, san_hosts


def _sans(cert_path) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(ext.get_values_for_type(x509.DNSName)) | {
        str(a) for a in ext.get_values_for_type(x509.IPAddress)}


def test_self_signed_is_made_once_and_reused(tmp_path):
    cert, key = ensure_self_signed(tmp_path, hosts=san_hosts("192.0.2.10"))
    assert check_pair(cert, key) is None
    assert _sans(cert) >= {"localhost", "127.0.0.1", "::1", socket.gethostname(), "192.0.2.10"}
    first = fingerprint(cert)
    again = ensure_self_signed(tmp_path, hosts=["other.example"])
    assert again == (cert, key) and fingerprint(cert) == first  # not regenerated


def test_wildcard_listen_address_is_not_a_name():
    assert "0.0.0.0" not in san_hosts("0.0.0.0") and "::" not in san_hosts("::")
    assert "nvr.lan" in san_hosts("nvr.lan")


def test_expired_self_signed_is_replaced(tmp_path):
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=11 * 365)
    cert, _ = ensure_self_signed(tmp_path, hosts=["localhost"], now=past)
    old = fingerprint(cert)
    ensure_self_signed(tmp_path, hosts=["localhost"])
    assert fingerprint(cert) != old


def test_broken_self_signed_pair_is_reported_not_replaced(tmp_path):
    cert, key = ensure_self_signed(tmp_path, hosts=["localhost"])
    key.write_text("garbage\n")
    with pytest.raises(TlsError, match="holds no PEM private key.*delete"):
        ensure_self_signed(tmp_path, hosts=["localhost"])
    assert key.read_text() == "garbage\n"


def _config(tmp_path, server: str) -> str:
    path = tmp_path / "campy.yaml"
    path.write_text(f"server:\n{server}\ncameras:\n  cam:\n    main: rtsp://127.0.0.1:9/x\n")
    return str(path)


def test_config_resolves_tls_paths_and_proxy_defaults(tmp_path):
    (tmp_path / "tls").mkdir()
    cert, key = ensure_self_signed(tmp_path / "made", hosts=["localhost"])
    (tmp_path / "tls" / "c.pem").write_bytes(cert.read_bytes())
    (tmp_path / "tls" / "k.pem").write_bytes(key.read_bytes())
    cfg = load_config(_config(tmp_path, "  tls: {cert: tls/c.pem, key: tls/k.pem}"))
    assert cfg.server.tls is not None and cfg.server.tls.cert == tmp_path / "tls" / "c.pem"
    assert not cfg.server.tls.self_signed and not cfg.server.behind_proxy
    assert cfg.server.trusted_proxies == ("127.0.0.1", "::1")
    cfg = load_config(_config(tmp_path, "  data_dir: d\n  tls: {self_signed: true}\n  behind_proxy: true\n"
                                        "  trusted_proxies: [10.0.0.0/8]"))
    assert cfg.server.tls is not None and cfg.server.tls.self_signed
    assert cfg.server.tls.cert == tmp_path / "d" / "tls" / "cert.pem"
    assert not cfg.server.tls.cert.exists()  # loading never writes; `campy serve` makes it
    assert cfg.server.behind_proxy and cfg.server.trusted_proxies == ("10.0.0.0/8",)
    assert all(ipaddress.ip_network(p) for p in cfg.server.trusted_proxies)


@pytest.mark.parametrize("server,where,text", [
    ("  tls: {}", "server.tls", "HTTPS needs both cert and key"),
    ("  tls: {key: y.pem}", "server.tls.cert", "HTTPS needs both cert and key"),
    ("  tls: {cert: x.pem, key: y.pem, extra: 1}", "server.tls.extra", "unknown key"),
    ("  tls: true", "server.tls", "Expected `object | null`"),
    ("  tls: {cert: missing.pem, key: y.pem}", "server.tls.cert", "does not exist"),
])
def test_bad_tls_config_names_the_key(tmp_path, server, where, text):
    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, server))
    assert f"{where}: " in str(err.value) and text in str(err.value), str(err.value)
