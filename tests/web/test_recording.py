"""Recording end to end: simulated cameras → go2rtc → ffmpeg -c copy → segments → API.

Real `campy serve`, go2rtc, ffmpeg/ffprobe and SQLite. Segments are 2 s long so the faults
below show up in seconds, not minutes.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

import httpx
import psutil
import pytest

from tests.helpers import api, wait_until
from tests.web.conftest import serve_sims

SEG_S = 2


@pytest.fixture(scope="module")
def rec(sims, tmp_path_factory):
    yield from serve_sims(sims, tmp_path_factory, "rec", recording={"segment_seconds": SEG_S, "min_free": "null"})


@pytest.fixture(scope="module")
def rec_viewer(rec):
    env = {**os.environ, "CAMPY_USER_PASSWORD": "viewer-password-1"}
    subprocess.run([sys.executable, "-m", "campy", "user", "add", "vera", "--role", "viewer",
                    "--config", str(rec.config)], check=True, env=env, capture_output=True)
    return rec.client("vera", "viewer-password-1")


@pytest.fixture(scope="module")
def rec_operator(rec):
    """Exports and marks need an operator (a viewer only watches)."""
    env = {**os.environ, "CAMPY_USER_PASSWORD": "operator-password-1"}
    subprocess.run([sys.executable, "-m", "campy", "user", "add", "olga", "--role", "operator",
                    "--config", str(rec.config)], check=True, env=env, capture_output=True)
    return rec.client("olga", "operator-password-1")


def segments(client, cam, **params):
    r = client.get(f"/api/cameras/{cam}/recordings", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def wait_segments(client, cam, n, *, timeout=60, after_ms=0):
    return wait_until(lambda: (s := [x for x in segments(client, cam) if x["start_ms"] >= after_ms]) and
                      len(s) >= n and s, timeout=timeout, what=f"{n} segments of {cam}")


def ffprobe(path_or_bytes):
    args = ["ffprobe", "-v", "error", "-show_entries",
            "format=duration:stream=codec_name,codec_type,width,height", "-of", "json"]
    if isinstance(path_or_bytes, bytes):
        # From a file, not a pipe: ffprobe needs to seek to sum an fMP4's fragments.
        with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
            f.write(path_or_bytes)
            f.flush()
            res = subprocess.run([*args, f.name], capture_output=True, check=True)
    else:
        res = subprocess.run([*args, str(path_or_bytes)], capture_output=True, check=True)
    return json.loads(res.stdout)


def recorder_pid(campy, cam):
    for p in psutil.Process(campy.proc.pid).children(recursive=True):
        try:
            cmd = p.cmdline()
        except psutil.NoSuchProcess:
            continue
        # go2rtc's stream name is the camera's plus CamPy's secret suffix: /<cam>__<secret>?mp4
        if "segment" in cmd and any(f"/{cam}__" in a and a.endswith("?mp4") for a in cmd) \
                and p.status() != psutil.STATUS_ZOMBIE:
            return p.pid
    return None


def campy_check(campy, *extra):
    return subprocess.run([sys.executable, "-m", "campy", "check", "--config", str(campy.config), *extra],
                          capture_output=True, text=True)


def max_gap(segs):
    return max((b["start_ms"] - a["end_ms"] for a, b in zip(segs, segs[1:], strict=False)), default=0)


def test_both_cameras_record_copy_only_segments(rec):
    c = rec.client()
    for cam, codec in (("front", "hevc"), ("back", "h264")):
        segs = wait_segments(c, cam, 4)
        assert set(segs[0]) >= {"start_ms", "end_ms", "size_bytes"}
        assert all(s["codec"] == codec and s["audio"] for s in segs)
        assert all(s["end_ms"] > s["start_ms"] and s["size_bytes"] > 10_000 for s in segs)
        # Consecutive, never overlapping, no false gaps within one ffmpeg run.
        for a, b in zip(segs, segs[1:], strict=False):
            assert 0 <= b["start_ms"] - a["end_ms"] <= 100, (a, b)
        # Stream copy: the file is the camera's own 4K stream, and its length matches the row.
        r = c.get(segs[1]["url"])
        assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
        info = ffprobe(r.content)
        video = next(s for s in info["streams"] if s["codec_type"] == "video")
        assert (video["codec_name"], video["width"], video["height"]) == (codec, 3840, 2160)
        assert any(s["codec_type"] == "audio" and s["codec_name"] == "aac" for s in info["streams"])
        assert abs(float(info["format"]["duration"]) * 1000 - (segs[1]["end_ms"] - segs[1]["start_ms"])) < 150
    # On disk: <storage>/<camera>/<UTC day>/<hour>/<start>.mp4
    files = sorted(p.relative_to(rec.data_file("recordings")).as_posix()
                   for p in rec.data_file("recordings").glob("*/*/*/*.mp4"))
    # (front's sub stream, recorded because its main stream is H.265, in front.sub/.)
    assert files and all(f.split("/")[0] in ("front", "back", "front.sub") and len(f.split("/")[1]) == 10
                         for f in files)


def test_the_h265_camera_records_its_sub_stream_beside_the_main_one(rec):
    """`record.sub: auto` (the default): front's main stream is H.265, so its sub stream is
    recorded too, stream copy, as its own segments; back (H.264 main) records only its main."""
    c = rec.client()
    wait_segments(c, "front", 3)
    subs = wait_until(lambda: (s := segments(c, "front", stream="sub")) and len(s) >= 3 and s, timeout=60,
                      what="3 sub segments of front")
    for a, b in zip(subs, subs[1:], strict=False):
        assert 0 <= b["start_ms"] - a["end_ms"] <= 100, (a, b)
    info = ffprobe(c.get(subs[1]["url"]).content)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 640, 360)
    assert all(s["codec"] == "hevc" for s in segments(c, "front"))  # the main listing stays main
    assert segments(c, "back", stream="sub") == []
    db = sqlite3.connect(rec.data_file("campy.db"))
    try:
        rows = dict(db.execute("SELECT camera || '/' || stream, COUNT(*) FROM segments GROUP BY camera, stream"))
        paths = [r[0] for r in db.execute("SELECT path FROM segments WHERE stream = 'sub'")]
    finally:
        db.close()
    assert rows["front/main"] >= 3 and rows["front/sub"] >= 3 and "back/sub" not in rows, rows
    assert paths and all(p.startswith("front.sub/") and rec.data_file("recordings/" + p).exists() for p in paths)
    storage = c.get("/api/storage").json()
    front = next(x for x in storage["cameras"] if x["camera"] == "front")
    back = next(x for x in storage["cameras"] if x["camera"] == "back")
    assert front["sub_recorder"]["state"] == "recording" and back["sub_recorder"] is None
    assert c.get("/api/cameras/front/recordings", params={"stream": "hd"}).status_code == 400


def test_playback_windows_are_finite_mp4s_served_with_ranges(rec):
    """`/playback` hands out a bounded window; its URL is a finite MP4 (duration known, index in
    front) that answers Range requests, so a player can seek in it; `stream=sub` plays the sub."""
    c = rec.client()
    subs = wait_until(lambda: (s := segments(c, "front", stream="sub")) and len(s) >= 3 and s, timeout=60,
                      what="3 sub segments of front")
    info = c.get("/api/cameras/front/playback", params={"start": subs[0]["start_ms"] + 500, "stream": "sub"}).json()
    assert info["stream"] == "sub" and info["codec"] == "h264" and "&stream=sub" in info["url"]
    assert subs[0]["start_ms"] <= info["start_ms"] <= subs[0]["start_ms"] + 500 < info["end_ms"]
    assert info["end_ms"] <= info["run_end_ms"]
    whole = c.get(info["url"])
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    assert int(whole.headers["content-length"]) == len(whole.content)
    assert int(whole.headers["x-campy-start-ms"]) == info["start_ms"]
    assert int(whole.headers["x-campy-end-ms"]) == info["end_ms"]
    # +faststart: the index (moov) comes before the media (mdat), so the duration is known at once.
    assert 0 < whole.content.find(b"moov") < whole.content.find(b"mdat")
    probed = ffprobe(whole.content)
    assert abs(float(probed["format"]["duration"]) * 1000 - (info["end_ms"] - info["start_ms"])) < 300
    assert next(s for s in probed["streams"] if s["codec_type"] == "video")["width"] == 640
    part = c.get(info["url"], headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == whole.content[1000:2000]
    # The first window is short (3 segments: a quick start); `more=true` asks for a full one.
    subs = wait_until(lambda: (s := segments(c, "front", stream="sub")) and len(s) >= 5 and s, timeout=60,
                      what="5 sub segments of front")
    short = c.get("/api/cameras/front/playback", params={"start": subs[0]["start_ms"], "stream": "sub"}).json()
    full = c.get("/api/cameras/front/playback",
                 params={"start": subs[0]["start_ms"], "stream": "sub", "more": "true"}).json()
    assert short["end_ms"] == subs[2]["end_ms"] and full["end_ms"] >= subs[4]["end_ms"], (short, full, subs[:5])


def test_segment_downloads_support_ranges(rec):
    c = rec.client()
    seg = wait_segments(c, "back", 2)[0]
    whole = c.get(seg["url"]).content
    r = c.get(seg["url"], headers={"Range": "bytes=100-1099"})
    assert r.status_code == 206
    assert r.headers["content-range"] == f"bytes 100-1099/{len(whole)}"
    assert r.content == whole[100:1100]
    assert c.get(seg["url"], headers={"Range": f"bytes={len(whole)}-"}).status_code == 416


def test_nonsense_is_refused_with_a_message_never_a_5xx(rec, rec_viewer):
    c = rec.client()
    wait_segments(c, "back", 1)
    now = int(time.time() * 1000)
    cases = [
        ("GET", "/api/cameras/nope/recordings", {}, 404, "no camera"),
        ("GET", "/api/cameras/back/recordings?start=yesterday", {}, 400, "ISO 8601"),
        ("GET", f"/api/cameras/back/recordings?start={now}&end={now - 1000}", {}, 400, "after start"),
        ("GET", f"/api/cameras/back/recordings?start={now - 40 * 86_400_000}&end={now}", {}, 400, "at most 31 days"),
        ("GET", "/api/cameras/back/recordings?start=99999999999999999999", {}, 400, "out of range"),
        ("GET", "/api/cameras/back/play.mp4", {}, 400, "start is required"),
        ("GET", f"/api/cameras/back/play.mp4?start={now + 86_400_000}", {}, 404, "nothing was recorded"),
        ("GET", f"/api/cameras/back/play.mp4?start={now - 600_000}&stream=hd", {}, 400, "stream must be"),
        ("GET", f"/api/cameras/back/play.mp4?start={now - 600_000}&end=soon", {}, 400, "ISO 8601"),
        ("GET", f"/api/cameras/back/play.mp4?start={now - 600_000}&end={now - 700_000}", {}, 400, "after start"),
        # back's main stream is H.264: `record.sub: auto` records no sub stream for it.
        ("GET", f"/api/cameras/back/playback?start={now - 600_000}&stream=sub", {}, 404, "on the sub stream"),
        ("GET", f"/api/cameras/back/export.mp4?start={now}", {}, 400, "required"),
        ("GET", f"/api/cameras/back/export.mp4?start={now - 2 * 86_400_000}&end={now}", {}, 400, "at most 24 hours"),
        ("GET", "/api/cameras/back/segments/999999/video.mp4", {}, 404, "no such segment"),
        ("GET", "/api/exports/deadbeef", {}, 404, "no such export"),
        ("POST", "/api/cameras/back/exports", {"json": {"start_ms": now, "end_ms": now - 5}}, 400, "after start"),
        ("POST", "/api/cameras/back/exports", {"json": {"start_ms": "soon"}}, 400, ""),
        ("POST", "/api/cameras/back/exports", {"json": {"start_ms": now - 10 * 86_400_000,
                                                        "end_ms": now - 9 * 86_400_000}}, 404, "nothing was recorded"),
        ("POST", "/api/cameras/back/marks", {"json": {"seconds": -3}}, 400, "seconds"),
        ("POST", "/api/cameras/nope/marks", {"json": {}}, 404, "no camera"),
    ]
    for method, url, kw, status, text in cases:
        r = api(c, method, url, **kw)
        assert r.status_code == status, (url, r.status_code, r.text)
        assert text in r.json()["error"]["message"], (url, r.text)
    anon = httpx.Client(base_url=rec.base_url)
    assert anon.get("/api/cameras/back/recordings").status_code == 401
    assert anon.get("/api/storage").status_code == 401
    # A viewer may watch, but not export, mark or run retention.
    v = rec_viewer
    assert v.get("/api/cameras/back/recordings").status_code == 200
    assert api(v, "POST", "/api/recording/retention").status_code == 403
    assert api(v, "POST", "/api/cameras/back/marks", json={"seconds": 5}).status_code == 403
    assert "path" not in v.get("/api/storage").json()


def test_playback_is_one_continuous_stream_across_segments(rec):
    c = rec.client()
    segs = wait_segments(c, "back", 4)
    start = segs[0]["start_ms"]
    r = c.get("/api/cameras/back/play.mp4", params={"start": start})
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert int(r.headers["x-campy-start-ms"]) == segs[0]["start_ms"]
    end = int(r.headers["x-campy-end-ms"])
    duration = float(ffprobe(r.content)["format"]["duration"]) * 1000
    assert end - segs[0]["start_ms"] >= 3 * SEG_S * 1000
    assert abs(duration - (end - segs[0]["start_ms"])) < 300, (duration, end - segs[0]["start_ms"])


def test_playback_starts_exactly_at_the_keyframe_it_reports(rec):
    c = rec.client()
    segs = wait_segments(c, "back", 4)
    want = segs[1]["start_ms"] + 1500
    info = c.get("/api/cameras/back/playback", params={"start": want}).json()
    # The keyframe at or before `want`, inside the segment holding it (segments start on one).
    assert segs[1]["start_ms"] <= info["start_ms"] <= want, info
    r = c.get(info["url"])
    assert int(r.headers["x-campy-start-ms"]) == info["start_ms"]
    got = float(ffprobe(r.content)["format"]["duration"]) * 1000
    assert abs(got - (int(r.headers["x-campy-end-ms"]) - info["start_ms"])) < 300, got


def test_export_job_reports_progress_and_downloads_with_ranges(rec):
    c = rec.client()
    segs = wait_segments(c, "back", 4)
    start, end = segs[0]["start_ms"] + 500, segs[3]["end_ms"] - 500
    r = api(c, "POST", "/api/cameras/back/exports", json={"start_ms": start, "end_ms": end})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] in ("queued", "running", "done") and 0 <= job["progress"] <= 1
    job = wait_until(lambda: (j := c.get(f"/api/exports/{job['id']}").json())["state"] == "done" and j,
                     timeout=60, what="export done")
    assert job["progress"] == 1.0 and job["size_bytes"] > 0
    full = c.get(job["download_url"])
    assert full.status_code == 200 and full.headers["content-type"] == "video/mp4"
    assert "attachment" in full.headers["content-disposition"]
    part = c.get(job["download_url"], headers={"Range": "bytes=0-1023"})
    assert part.status_code == 206 and part.content == full.content[:1024]
    info = ffprobe(full.content)
    # Stream copy starts at the keyframe at or before `start` (the sim's GOP is 2 s).
    got = float(info["format"]["duration"]) * 1000
    assert end - start - 300 <= got <= end - start + 2500, (got, end - start)
    # The one-shot endpoint answers with the MP4 itself.
    r = c.get("/api/cameras/back/export.mp4", params={"start": start, "end": end}, timeout=60)
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert abs(float(ffprobe(r.content)["format"]["duration"]) * 1000 - got) < 200
    # Both exports are in the audit log: who, which camera, which range.
    rows = api(c, "GET", "/api/audit", params={"action": "export.create"}).json()
    mine = [row for row in rows if f"job={job['id']}" in (row["detail"] or "")]
    assert len(mine) == 1 and mine[0]["actor"] == "admin" and mine[0]["target"] == "back"
    assert f"from_ms={start} to_ms={end}" in mine[0]["detail"]


def test_killed_recorder_restarts_and_loses_at_most_the_open_segment(rec):
    c = rec.client()
    wait_segments(c, "back", 3)
    pid = wait_until(lambda: recorder_pid(rec, "back"), timeout=20, what="recorder ffmpeg for back")
    killed_at = int(time.time() * 1000)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: (p := recorder_pid(rec, "back")) and p != pid, timeout=20, what="a new recorder")
    wait_segments(c, "back", 3, after_ms=killed_at, timeout=30)
    segs = segments(c, "back", start=killed_at - 20_000, end=int(time.time() * 1000))
    # The open segment is salvaged up to its last complete fragment, so the gap is the
    # restart time: backoff, RTSP setup and the wait for the next keyframe (up to ~3 s for
    # a recorder's first GOP), plus at most the open segment's torn last fragment.
    assert max_gap(segs) <= SEG_S * 1000 + 6000, segs
    res = campy_check(rec)
    assert res.returncode == 0, res.stdout + res.stderr


def test_go2rtc_restart_recording_resumes(rec):
    c = rec.client()
    wait_segments(c, "front", 2)
    g = rec.go2rtc()
    assert g is not None
    killed_at = int(time.time() * 1000)
    g.kill()
    wait_segments(c, "front", 2, after_ms=killed_at + 500, timeout=40)
    wait_segments(c, "back", 2, after_ms=killed_at + 500, timeout=40)


def test_camera_offline_for_30s_leaves_a_gap_and_recording_resumes(rec, sims):
    c = rec.client()
    wait_segments(c, "back", 2)
    off = int(time.time() * 1000)
    sims["back"].set_fault("refuse")
    try:
        time.sleep(30)
    finally:
        sims["back"].set_fault("none")
    on = int(time.time() * 1000)
    first = wait_segments(c, "back", 1, after_ms=on - 1000, timeout=30)[0]
    # Recording resumes within 5 s of the camera's return (timestamps are CamPy's clock).
    assert first["start_ms"] - on <= 5000, (first["start_ms"] - on)
    tl = c.get("/api/cameras/back/timeline", params={"start": off - 10_000, "end": on + 10_000}).json()
    spans = tl["spans"]
    gaps = [b["start_ms"] - a["end_ms"] for a, b in zip(spans, spans[1:], strict=False)]
    assert gaps and max(gaps) >= 24_000, spans  # the outage is a gap, not stitched over
    rec_state = c.get("/api/storage").json()
    back = next(x for x in rec_state["cameras"] if x["camera"] == "back")
    assert back["recorder"]["restarts"] >= 1


def test_record_now_mark_and_storage_page(rec):
    c = rec.client()
    r = api(c, "POST", "/api/cameras/front/marks", json={"seconds": 20, "label": "doorbell"})
    assert r.status_code == 201, r.text
    mark = r.json()
    tl = c.get("/api/cameras/front/timeline").json()
    assert any(m["id"] == mark["id"] and m["label"] == "doorbell" for m in tl["marks"])
    status = c.get("/api/storage").json()
    assert status["error"] is None and status["used_bytes"] > 0
    assert {x["camera"] for x in status["cameras"]} == {"front", "back"}
    assert all(x["bytes_per_second"] and x["bytes_per_second"] > 10_000 for x in status["cameras"])
    page = c.get("/storage")
    assert page.status_code == 200
    assert 'class="storage-chart"' in page.text and "days" in page.text
    rp = c.get("/cameras/front/recordings")
    assert rp.status_code == 200 and 'class="timeline"' in rp.text and "mark-event" in rp.text
    assert api(c, "POST", "/api/recording/retention").json()["deleted"] == 0


def test_an_operator_is_held_to_export_and_mark_quotas(rec, rec_operator):
    from campy.recording import quotas

    v = rec_operator
    # marks: 50 still protecting footage, then 429 naming the limit; the form says so inline
    for i in range(quotas.MAX_ACTIVE_MARKS):
        r = api(v, "POST", "/api/cameras/front/marks", json={"seconds": 5, "label": f"m{i}"})
        assert r.status_code == 201, r.text
    r = api(v, "POST", "/api/cameras/front/marks", json={"seconds": 5})
    assert r.status_code == 429
    assert "at most 50" in r.json()["error"]["message"]
    r = api(v, "POST", "/cameras/front/marks", data={"seconds": "5"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and 'id="mark-error"' in r.text and "at most 50" in r.text
    r = api(v, "POST", "/cameras/front/marks", data={"seconds": "5"})
    assert r.status_code == 429 and "at most 50" in r.text
    assert api(rec.client(), "POST", "/api/cameras/front/marks", json={"seconds": 5}).status_code == 201
    # exports: 20 a day (each waited for, so the two-running limit is not what refuses)
    seg = wait_segments(v, "back", 2)[0]
    for _ in range(quotas.MAX_EXPORTS_PER_DAY):
        r = api(v, "POST", "/api/cameras/back/exports", json={"start_ms": seg["start_ms"], "end_ms": seg["end_ms"]})
        assert r.status_code == 202, r.text
        jid = r.json()["id"]
        wait_until(lambda jid=jid: v.get(f"/api/exports/{jid}").json()["state"] in ("done", "failed"),
                   timeout=60, what="export finished")
    r = api(v, "POST", "/api/cameras/back/exports", json={"start_ms": seg["start_ms"], "end_ms": seg["end_ms"]})
    assert r.status_code == 429 and "in the last 24 hours (at most 20)" in r.json()["error"]["message"]
    r = api(v, "POST", "/cameras/back/exports", data={"start_ms": seg["start_ms"], "end_ms": seg["end_ms"]},
            headers={"HX-Request": "true"})
    assert r.status_code == 200 and 'id="export-error"' in r.text and "at most 20" in r.text
