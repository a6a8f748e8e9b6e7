"""HTTPS: a real `campy serve` with its self-signed certificate and with given files, a live
view over it in Chromium, config errors, and which addresses X-Forwarded-* may speak for."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import re
import ssl
import stat
import subprocess
import sys

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.helpers import ADMIN_PASSWORD, REPO, CampyProcess, free_port, login, write_config
from tests.web.conftest import CAM_PASSWORD, camera_entries
from tests.web.test_browser import CHROMIUM, FLAGS, _frames_increase

HSTS = "max-age=31536000"


def _serve(tmp_path_factory, name, cameras, *, server_extra=(), scheme="http"):
    d = tmp_path_factory.mktemp(name)
    port = free_port()
    cfg = write_config(d / "campy.yaml", cameras, port=port, password_secret=CAM_PASSWORD,
                       server_extra=server_extra)
    return CampyProcess(cfg, port, scheme=scheme)


def _stop(proc):
    left = proc.stop()
    assert not left, f"processes left behind after CamPy stopped: {left}"


@pytest.fixture(scope="module")
def https_campy(sims, tmp_path_factory):
    proc = _serve(tmp_path_factory, "https", camera_entries(sims),
                  server_extra=["tls: {self_signed: true}"], scheme="https")
    proc.verify = ssl.create_default_context(cafile=str(proc.data_file("tls/cert.pem")))
    try:
        yield proc
    finally:
        _stop(proc)


def _sha256(pem_path) -> str:
    der = x509.load_pem_x509_certificate(pem_path.read_bytes()).public_bytes(serialization.Encoding.DER)
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def test_self_signed_https_verifies_against_the_certificate_campy_wrote(https_campy):
    cert, key = https_campy.data_file("tls/cert.pem"), https_campy.data_file("tls/key.pem")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert.parent.stat().st_mode) == 0o700
    leaf = x509.load_pem_x509_certificate(cert.read_bytes())
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost"} <= set(sans.get_values_for_type(x509.DNSName))
    assert {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")} <= set(
        sans.get_values_for_type(x509.IPAddress))
    fp = _sha256(cert)
    assert f"CamPy serving https://127.0.0.1:{https_campy.port} (certificate SHA-256 {fp})" in https_campy.log()

    # The certificate verifies (a default SSL context with only CamPy's file as the CA).
    with httpx.Client(base_url=https_campy.base_url, verify=https_campy.verify, timeout=20) as c:
        r = c.get("/login")
        assert r.status_code == 200 and r.headers["strict-transport-security"] == HSTS
        csrf_cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("csrftoken="))
        assert "secure" in csrf_cookie.lower()
        r = login(c, "admin", ADMIN_PASSWORD)
        session = next(h for h in r.headers.get_list("set-cookie") if h.startswith("campy_session="))
        assert "secure" in session.lower() and "httponly" in session.lower()
        assert r.headers["strict-transport-security"] == HSTS
        page = c.get("/system")
        assert page.status_code == 200 and fp in page.text
    # Nothing else vouches for it: the system trust store refuses it.
    with pytest.raises(httpx.ConnectError):
        httpx.get(https_campy.base_url + "/healthz", timeout=10)
    # Plain HTTP on the HTTPS port gets no page.
    with pytest.raises(httpx.HTTPError):
        httpx.get(https_campy.base_url.replace("https", "http") + "/login", timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield b
        finally:
            b.close()


@pytest.mark.browser
def test_live_view_over_https_plays_moving_video(https_campy, browser):
    ctx = browser.new_context(ignore_https_errors=True)
    page = ctx.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        page.goto(https_campy.base_url + "/")
        assert "/login" in page.url
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", ADMIN_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(https_campy.base_url + "/")
        assert page.evaluate("window.isSecureContext") is True
        stats = _frames_increase(page, timeout=90)
        assert len(stats) == 2 and all(s["w"] == 640 for s in stats), stats
        print("grid over https:", stats)
        assert violations == [], violations
    finally:
        ctx.close()


def _make_cert(tmp_path, *, common_name="campy test"):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()))


def test_https_with_given_cert_and_key_files(sims, tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    cert_pem, key_pem = _make_cert(d)
    (d / "certs").mkdir()
    (d / "certs" / "site.pem").write_bytes(cert_pem)
    (d / "certs" / "site.key").write_bytes(key_pem)
    os.chmod(d / "certs" / "site.key", 0o600)
    port = free_port()
    cfg = write_config(d / "campy.yaml", camera_entries(sims)[:1], port=port, password_secret=CAM_PASSWORD,
                       server_extra=["tls:", "  cert: certs/site.pem", "  key: certs/site.key"])
    proc = CampyProcess(cfg, port, scheme="https")
    try:
        proc.verify = ssl.create_default_context(cafile=str(d / "certs" / "site.pem"))
        c = proc.client()
        r = c.get("/api/cameras")
        assert r.status_code == 200 and r.headers["strict-transport-security"] == HSTS
        assert f"(certificate SHA-256 {_sha256(d / 'certs' / 'site.pem')})" in proc.log()
        assert not proc.data_file("tls").exists()  # nothing self-signed made
    finally:
        _stop(proc)


def _config_error(tmp_path, server_extra) -> str:
    cfg = write_config(tmp_path / "campy.yaml", [{"name": "cam", "main": "rtsp://127.0.0.1:9/x"}],
                       port=free_port(), password_secret="x", server_extra=server_extra)
    r = subprocess.run([sys.executable, "-m", "campy", "serve", "--config", str(cfg)], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    return r.stderr


def test_unusable_tls_files_are_clear_config_errors(tmp_path):
    err = _config_error(tmp_path, ["tls: {cert: nope.pem, key: nope.key}"])
    assert re.search(r"campy\.yaml:\d+: server\.tls\.cert: certificate file .*nope\.pem does not exist", err), err
    (tmp_path / "a.pem").write_bytes(_make_cert(tmp_path)[0])
    (tmp_path / "b.key").write_bytes(_make_cert(tmp_path)[1])  # another pair's key
    err = _config_error(tmp_path, ["tls: {cert: a.pem, key: b.key}"])
    assert re.search(r"server\.tls\.key: key file .*b\.key does not belong to the certificate", err), err
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    err = _config_error(tmp_path, ["tls: {cert: junk.pem, key: b.key}"])
    assert "server.tls.cert: certificate file" in err and "holds no PEM certificate" in err, err
    err = _config_error(tmp_path, ["tls: {cert: a.pem}"])
    assert "server.tls.key: HTTPS needs both cert and key" in err, err
    err = _config_error(tmp_path, ["tls: {self_signed: true, cert: a.pem}"])
    assert "server.tls: use either cert and key, or self_signed: true" in err, err
    err = _config_error(tmp_path, ["behind_proxy: true", "trusted_proxies: [10.0.0.0/8, proxy.lan]"])
    assert "server.trusted_proxies: 'proxy.lan' is not an IP address or CIDR" in err, err


# -- X-Forwarded-* ----------------------------------------------------------------------------

def _failed_logins(c: httpx.Client, n: int, *, xff) -> list[int]:
    """``n`` wrong logins, each for another username (so only the per-address count can add
    up), with the X-Forwarded-For header ``xff(i)``; their status codes."""
    codes = []
    for i in range(n):
        r = c.post("/login", headers={"X-Forwarded-For": xff(i)},
                   data={"username": f"nobody{i}-{xff(i)}", "password": "wrong-password",
                         "_csrf_token": c.cookies["csrftoken"]})
        codes.append(r.status_code)
    return codes


NO_CAMERA = [{"name": "cam", "main": "rtsp://127.0.0.1:9/none"}]


@pytest.mark.parametrize("server_extra", [
    [],  # the default: no proxy
    ["behind_proxy: true", "trusted_proxies: [10.9.9.9]"],  # a proxy, but not this peer
], ids=["no-proxy", "untrusted-peer"])
def test_forwarded_headers_from_an_untrusted_peer_are_ignored(tmp_path_factory, server_extra):
    """Before the fix uvicorn trusted X-Forwarded-For from 127.0.0.1 by default: any local
    client could pose as a new address for every guess and never hit the login limit."""
    proc = _serve(tmp_path_factory, "xff-ignored", NO_CAMERA, server_extra=server_extra)
    try:
        with httpx.Client(base_url=proc.base_url, timeout=20) as c:
            c.get("/login")
            codes = _failed_logins(c, 11, xff=lambda i: f"203.0.113.{i + 1}")
            assert codes[:10] == [401] * 10 and codes[10] == 429, codes
            # X-Forwarded-Proto: https from this peer makes nothing Secure and adds no HSTS.
            r = httpx.get(proc.base_url + "/login", headers={"X-Forwarded-Proto": "https"})
            assert "strict-transport-security" not in r.headers
            assert all("secure" not in h.lower() for h in r.headers.get_list("set-cookie"))
    finally:
        _stop(proc)


def test_forwarded_headers_from_a_trusted_proxy_are_used(tmp_path_factory):
    proc = _serve(tmp_path_factory, "xff-proxy", NO_CAMERA,
                  server_extra=["behind_proxy: true", "trusted_proxies: [127.0.0.1, '::1']"])
    try:
        with httpx.Client(base_url=proc.base_url, timeout=20) as c:
            c.get("/login")
            # Ten failures for one client address behind the proxy block that address …
            codes = _failed_logins(c, 11, xff=lambda i: "198.51.100.7")
            assert codes[:10] == [401] * 10 and codes[10] == 429, codes
            # … and not another client behind the same proxy.
            assert _failed_logins(c, 1, xff=lambda i: "198.51.100.8") == [401]
        # The proxy says the browser came over https: cookies Secure, HSTS on.
        r = httpx.get(proc.base_url + "/login", headers={"X-Forwarded-Proto": "https"})
        assert r.headers["strict-transport-security"] == HSTS
        cookies = r.headers.get_list("set-cookie")
        assert cookies and all("secure" in h.lower() for h in cookies), cookies
        r = httpx.get(proc.base_url + "/login", headers={"X-Forwarded-Proto": "http"})
        assert "strict-transport-security" not in r.headers
        assert all("secure" not in h.lower() for h in r.headers.get_list("set-cookie"))
        assert "behind a proxy" in proc.client().get("/system").text
    finally:
        _stop(proc)
