"""The system page and the status API show the event loop's lag."""

from __future__ import annotations

import re

from tests.helpers import wait_until


def test_status_and_system_page_show_loop_lag(campy):
    c = campy.client()
    lag = wait_until(lambda: (s := c.get("/api/status").json()["loop_lag"]) and s["since_start"]["samples"] >= 5
                     and s, timeout=30, what="loop-lag samples in /api/status")
    assert set(lag["recent"]) >= {"p50_ms", "p99_ms", "max_ms", "samples"}
    assert lag["since_start"]["max_ms"] >= lag["since_start"]["p50_ms"] >= 0
    page = c.get("/system").text
    m = re.search(r'id="loop-lag">\s*last 5 min: p50 ([\d.]+) ms,\s*p99 ([\d.]+) ms, max ([\d.]+) ms', page)
    assert m, page
    assert float(m.group(3)) >= float(m.group(1))
    # The benchmark's reading: samples per whole ms since start, adding up to the sample count.
    plain = c.get("/api/system/looplag").json()
    assert "histogram_ms" not in plain
    full = c.get("/api/system/looplag", params={"histogram": "true"}).json()
    hist = {int(k): n for k, n in full["histogram_ms"].items()}
    assert hist and all(k >= 0 and n > 0 for k, n in hist.items())
    assert sum(hist.values()) == full["since_start"]["samples"]


JOB_IDS = {"retention", "purge-expired", "purge-sessions", "purge-audit", "prune-events", "db-maintenance"}


def _job(c, job_id):
    return next(j for j in c.get("/api/system/jobs").json()["jobs"] if j["id"] == job_id)


def test_jobs_are_listed_with_next_run_and_run_now_works(campy):
    from tests.helpers import api

    c = campy.client()
    jobs = {j["id"]: j for j in c.get("/api/system/jobs").json()["jobs"]}
    assert JOB_IDS <= set(jobs), sorted(jobs)
    assert all(jobs[i]["next_run_ms"] for i in JOB_IDS), jobs
    assert jobs["db-maintenance"]["last_run_ms"] is None

    r = api(c, "POST", "/api/system/jobs/run", json={"id": "db-maintenance"})
    assert r.status_code == 202, r.text
    done = wait_until(lambda: (j := _job(c, "db-maintenance"))["result"] and j, timeout=60,
                      what="the database maintenance job to finish")
    assert done["result"] == "ok" and "indexes ok" in done["detail"], done
    assert done["last_run_ms"] and done["duration_ms"] is not None and done["next_run_ms"]

    # the retention job, run now, does a pass (and says what it deleted)
    before = c.get("/api/storage").json()["last_retention"]
    api(c, "POST", "/api/system/jobs/run", json={"id": "retention"}).raise_for_status()
    ret = wait_until(lambda: (j := _job(c, "retention"))["result"] and j["runs"] >= 1 and j, timeout=60,
                     what="the retention job to run")
    assert ret["result"] == "ok" and ret["detail"].startswith("deleted "), ret
    after = c.get("/api/storage").json()["last_retention"]
    assert after and after != before and after["reason"] == "schedule"

    r = api(c, "POST", "/api/system/jobs/run", json={"id": "no-such-job"})
    assert r.status_code == 404 and "GET /api/system/jobs" in r.text, r.text
    lag = c.get("/api/system/looplag").json()
    assert lag["since_start"]["samples"] > 0 and "p99_ms" in lag["recent"]


def test_system_page_shows_jobs_processes_disk_and_runs_a_job(campy):
    from tests.helpers import post_form

    c = campy.client()
    page = c.get("/system").text
    for i in JOB_IDS:
        assert f'data-job="{i}"' in page
    assert "Run now" in page and 'id="disk"' in page and 'id="version"' in page
    assert re.search(r'id="go2rtc-version">\d+\.\d+', page), "go2rtc's version (from its /api)"
    procs = re.findall(r'<tr data-pid="(\d+)" class="proc depth-(\d)">\s*<td>(?:└ )?([^<]+)</td>', page)
    labels = [p[2] for p in procs]
    assert labels[0] == "CamPy" and "go2rtc" in labels, procs
    assert any(lbl.startswith("recorder · ") for lbl in labels), labels
    assert "rtsp://" not in page  # no command lines (go2rtc's ffmpeg children carry camera URLs)

    runs = _job(c, "purge-expired")["runs"]
    r = post_form(c, "/system/jobs/run", {"id": "purge-expired"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/system"), r.text
    wait_until(lambda: _job(c, "purge-expired")["runs"] > runs, timeout=30, what="purge-expired to run")
    assert _job(c, "purge-expired")["result"] == "ok"
