"""Review workbench at the HTTP level, on a real scan of fixture recordings: login and its rate limit,
CSRF, path traversal, range requests, decisions with four-eyes dismissals, the access log, and the
reports that use the decisions. (The real-browser test is test_serve_browser.py.)"""

from __future__ import annotations

import csv
import http.client
import io
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from conftest import ROOT
from helpers_records import make_record, make_recording
from helpers_serve import PASSWORD, LiveServer, client, csrf_of, login, workbench_copy

from pipeline.core import catalog, review_store
from pipeline.core.meta import load_meta
from pipeline.scan import clips
from pipeline.serve import accounts
from pipeline.serve.workbench import ServeOptions


@pytest.fixture
def out(review_scan, tmp_path) -> Path:
    return workbench_copy(review_scan, tmp_path)


def records_by_stem(out: Path) -> dict[str, dict]:
    return {Path(r["file"]).stem: r for r in catalog.Catalog(out, create=False).records()}


def first_clip(out: Path) -> str:
    """The path (under DIR) of the first clip of the too-fast call."""
    return next(a["clip"] for a in records_by_stem(out)["fast_disclosure"]["annotations"] if a.get("clip"))


def decide(c, call_id: str, flag: dict, action: str, **fields):
    page = c.get(f"/calls/{call_id}").text
    return c.post(f"/calls/{call_id}/decide", data={"csrf": csrf_of(page), "flag_id": review_store.flag_id(
        call_id, flag), "action": action, **fields})


# -- authentication ------------------------------------------------------------------------
def test_nothing_is_served_without_login(out):
    c = client(out)
    call = records_by_stem(out)["fast_disclosure"]
    for path in ["/", f"/calls/{call['call_id']}", f"/calls/{call['call_id']}/recording", f"/{first_clip(out)}",
                 "/export/report.csv", "/export/access-log.csv", "/calls/nope", "/anything"]:
        r = c.get(path)
        assert r.status_code == 401 and r.text == "login required", path
        page = c.get(path, headers={"accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"].startswith("/login?next="), path
    for path in ["/api/listened", f"/calls/{call['call_id']}/decide", "/logout"]:
        assert c.post(path, data={"x": "1"}).status_code == 401, path
    assert c.get("/login").status_code == 200


def test_login_logout_and_session_cookie(out):
    c = client(out)
    assert login(c, "rita", "wrong-password-1").status_code == 401
    assert login(c, "nobody", PASSWORD).status_code == 401
    r = login(c, "rita")
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = c.get("/")
    assert page.status_code == 200 and "fast_disclosure.flac" in page.text
    assert "nonce-" in page.headers["content-security-policy"] and page.headers["x-frame-options"] == "DENY"
    assert c.post("/logout", data={"csrf": csrf_of(page.text)}).status_code == 303
    assert c.get("/").status_code == 401                       # the session is gone on the server
    db = sqlite3.connect(out / "catalog.sqlite")
    assert db.execute("SELECT COUNT(*) FROM review_sessions").fetchone()[0] == 0
    hashes = [row[0] for row in db.execute("SELECT password_hash FROM review_users")]
    assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)
    login(c, "rita")                                           # a password reset logs the old sessions out
    accounts.add_user(db, "rita", "reviewer", PASSWORD, approved_by="lisi")
    assert c.get("/").status_code == 401


def test_login_redirect_stays_on_this_site(out):
    c = client(out)
    for target, expected in [("/calls/x?y=1", "/calls/x?y=1"), ("//evil.example/", "/"),
                             ("https://evil.example/", "/"), ("/\\evil.example", "/")]:
        r = c.post("/login", data={"user": "rita", "password": PASSWORD, "next": target})
        assert r.headers["location"] == expected, target


def test_login_is_rate_limited_per_user_and_address(out):
    c = client(out)
    for _ in range(5):
        assert login(c, "rita", "wrong-password-1").status_code == 401
    blocked = login(c, "rita")                                  # even the right password waits now
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    assert "set-cookie" not in blocked.headers
    assert login(c, "rob").status_code == 303                   # another user from the same address
    assert login(client(out, address="127.0.0.2"), "rita").status_code == 303   # the same user elsewhere


def test_login_limiter_window_slides(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(accounts.time, "monotonic", lambda: now[0])
    limiter = accounts.LoginLimiter(attempts=3, window_s=60)
    for _ in range(3):   # three guesses sent at once: each counted before its password is checked
        assert limiter.attempt("u", "a") == 0
    assert limiter.attempt("u", "a") == 61
    assert limiter.retry_after("u", "a") == 61
    now[0] += 30
    assert limiter.retry_after("u", "a") == 31
    now[0] += 31
    assert limiter.retry_after("u", "a") == 0
    assert limiter.attempt("u", "a") == 0
    limiter.succeeded("u", "a")
    assert limiter.retry_after("u", "a") == 0


def test_host_header_must_name_this_server(out):
    c = client(out)
    assert c.get("/login", headers={"host": "evil.example"}).status_code == 400
    assert c.get("/login", headers={"host": "localhost:8750"}).status_code == 200


# -- CSRF ----------------------------------------------------------------------------------
def test_state_changes_need_the_sessions_csrf_token(out):
    call = records_by_stem(out)["finance_missing_risk_warning"]
    fid = review_store.flag_id(call["call_id"], call["flags"][0])
    other = client(out)
    login(other, "rob")
    other_token = csrf_of(other.get("/").text)
    c = client(out)
    login(c, "rita")
    token = csrf_of(c.get("/").text)
    url = f"/calls/{call['call_id']}/decide"
    form = {"flag_id": fid, "action": "confirm"}
    for attempt in [form, {**form, "csrf": ""}, {**form, "csrf": "forged"}, {**form, "csrf": other_token}]:
        r = c.post(url, data=attempt)
        assert r.status_code == 403 and "CSRF" in r.text
    assert c.post(url, data=form, headers={"x-csrf-token": "forged"}).status_code == 403
    assert c.post("/api/listened", json={"media": "recording", "seconds": 3}).status_code == 403
    assert c.post("/logout").status_code == 403
    assert review_store.decisions(out) == {}
    assert c.post(url, data={**form, "csrf": token}).status_code == 303
    assert review_store.effective_state(review_store.decisions(out)[fid]) == "confirmed"


# -- files: traversal, ranges --------------------------------------------------------------
def raw_get(server: LiveServer, path: str, cookie: str) -> tuple[int, bytes]:
    """GET with the path sent exactly as written (no client-side normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("GET", path, skip_accept_encoding=True)
    conn.putheader("Cookie", cookie)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


TRAVERSALS = [
    "/clips/../catalog.sqlite", "/clips/%2e%2e/catalog.sqlite", "/clips/%2e%2e%2fcatalog.sqlite",
    "/clips/..%2fcatalog.sqlite", "/clips/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/clips/%252e%252e%252fcatalog.sqlite", "/clips/..%5ccatalog.sqlite", "/clips/..\\catalog.sqlite",
    "/clips//etc/passwd", "/clips/%2fetc%2fpasswd", "/clips/{cid}/../../catalog.sqlite",
    "/clips/{cid}/%2e%2e/%2e%2e/catalog.sqlite", "/clips/x%00.wav", "/clips/{cid}/evil.wav",
    "/clips/outside/etc/passwd", "/clips/outside/passwd", "/catalog.sqlite", "/report.jsonl", "/calls/{cid}.json",
    "/calls/..%2f..%2fetc%2fpasswd/recording", "/calls/%2e%2e/recording", "/static/../catalog.sqlite",
]


def test_no_path_outside_the_clips_folder_is_served(out, tmp_path):
    call = records_by_stem(out)["fast_disclosure"]
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:secret\n")
    (out / "clips" / call["call_id"] / "evil.wav").symlink_to(secret)          # a file link pointing out
    (out / "clips" / "outside").symlink_to(tmp_path)                          # a folder link pointing out
    server = LiveServer(out)
    try:
        c = client(out)
        cookie = "callaudit_session=" + login(c, "rita").cookies["callaudit_session"]
        status, body = raw_get(server, "/" + urllib.parse.quote(first_clip(out)), cookie)
        assert status == 200 and body[:4] == b"RIFF"                         # a real clip is served
        for attempt in TRAVERSALS:
            path = attempt.replace("{cid}", call["call_id"])
            status, body = raw_get(server, path, cookie)
            assert status in (400, 404), (path, status)
            assert b"SQLite format" not in body and b"root:" not in body and b"RIFF" not in body, path
    finally:
        server.stop()


def test_recordings_are_streamed_with_range_requests(out):
    call = records_by_stem(out)["fast_disclosure"]
    source = Path(catalog.Catalog(out, create=False).sources()[call["call_id"]])
    data = source.read_bytes()
    c = client(out)
    login(c, "rita")
    url = f"/calls/{call['call_id']}/recording"
    full = c.get(url)
    assert full.status_code == 200 and full.content == data and full.headers["accept-ranges"] == "bytes"
    part = c.get(url, headers={"range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == data[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(data)}"
    tail = c.get(url, headers={"range": "bytes=-500"})
    assert tail.status_code == 206 and tail.content == data[-500:]
    assert c.get(url, headers={"range": f"bytes={len(data) + 10}-"}).status_code == 416
    source.write_bytes(data[:-1000])                  # the recording changed since its scan: not served
    try:
        assert c.get(url).status_code == 410
        source.unlink()
        source.mkdir()                                # now a folder of that name: not served, no crash
        assert c.get(url).status_code == 410
    finally:
        if source.is_dir():
            source.rmdir()
        source.write_bytes(data)                      # the archive is shared with the other tests


# -- decisions ------------------------------------------------------------------------------
def csv_row(text: str, stem: str) -> dict:
    rows = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    return next(r for r in rows if r["file"].startswith(stem))


def test_four_eyes_dismissal_and_the_reports(out):
    call = records_by_stem(out)["finance_missing_risk_warning"]
    flag = call["flags"][0]
    assert flag["problem"] == "missing" and review_store.needs_four_eyes(flag)
    fid = review_store.flag_id(call["call_id"], flag)
    rita, anna, adam = client(out), client(out), client(out)
    for c, name in ((rita, "rita"), (anna, "anna"), (adam, "adam")):
        login(c, name)
    refused = decide(rita, call["call_id"], flag, "dismiss", reason="  ")
    assert refused.status_code == 400 and "needs a reason" in refused.text
    assert decide(rita, call["call_id"], flag, "dismiss", reason="said in the greeting", note="00:03").status_code == 303
    assert review_store.effective_state(review_store.decisions(out)[fid]) == "dismiss_pending"
    assert csv_row(rita.get("/export/report.csv").text, "finance_missing")["open_flags"] == "1"
    page = rita.get(f"/calls/{call['call_id']}").text
    assert "dismiss_pending" in page and "act-approve" not in page     # a reviewer is offered no approval
    form = {"csrf": csrf_of(page), "flag_id": fid, "verdict": "approved"}
    assert rita.post(f"/calls/{call['call_id']}/approve", data=form).status_code == 403
    # an approver may not approve a dismissal of their own
    assert decide(anna, call["call_id"], flag, "dismiss", reason="mine").status_code == 303
    own = anna.post(f"/calls/{call['call_id']}/approve",
                    data={**form, "csrf": csrf_of(anna.get(f"/calls/{call['call_id']}").text)})
    assert own.status_code == 400 and "second reviewer" in own.text
    assert decide(rita, call["call_id"], flag, "dismiss", reason="said in the greeting").status_code == 303
    page = anna.get(f"/calls/{call['call_id']}").text
    assert "act-approve" in page
    ok = anna.post(f"/calls/{call['call_id']}/approve", data={**form, "csrf": csrf_of(page)})
    assert ok.status_code == 303
    decision = review_store.decisions(out)[fid]
    assert (decision.reviewer, decision.approver, decision.verdict) == ("rita", "anna", "approved")
    assert review_store.effective_state(decision) == "dismissed"
    again = adam.post(f"/calls/{call['call_id']}/approve",
                      data={**form, "csrf": csrf_of(adam.get(f"/calls/{call['call_id']}").text)})
    assert again.status_code == 400 and "already decided" in again.text
    # `callaudit report` writes the decision into report.csv and report.html
    proc = subprocess.run([sys.executable, "-m", "pipeline", "report", str(out)], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    row = csv_row((out / "report.csv").read_text("utf-8-sig"), "finance_missing")
    assert row["open_flags"] == "0" and row["review"] == "missing:risk_warning=dismissed"
    assert row["flags"] == "missing:risk_warning"                        # the scan's finding stays on record
    html = (out / "report.html").read_text("utf-8")
    assert 'class="badge dismissed"' in html and "已排除" in html
    history = review_store.history(sqlite3.connect(out / "catalog.sqlite"), call["call_id"])
    assert [h["action"] for h in history] == ["dismiss", "dismiss", "dismiss"]


def test_rejected_dismissal_is_open_again_and_confirm_or_second_look_need_no_approval(out):
    recs = records_by_stem(out)
    fast = recs["fast_disclosure"]
    rita, anna = client(out), client(out)
    login(rita, "rita")
    login(anna, "anna")
    assert decide(rita, fast["call_id"], fast["flags"][0], "confirm", note="clearly fast").status_code == 303
    assert decide(rita, fast["call_id"], fast["flags"][1], "second_look").status_code == 303
    missing = recs["marketing_no_disclosure_meta"]
    fid = review_store.flag_id(missing["call_id"], missing["flags"][0])
    decide(rita, missing["call_id"], missing["flags"][0], "dismiss", reason="heard it")
    page = anna.get(f"/calls/{missing['call_id']}").text
    anna.post(f"/calls/{missing['call_id']}/approve", data={"csrf": csrf_of(page), "flag_id": fid,
                                                            "verdict": "rejected", "note": "not said"})
    states = review_store.flag_states(list(recs.values()), review_store.decisions(out))
    assert sorted(states.values()) == ["confirmed", "open", "open", "second_look"]
    assert decide(rita, fast["call_id"], fast["flags"][0], "approve-myself").status_code == 400


def test_flag_id_is_stable_and_four_eyes_rules():
    flag = {"problem": "too_fast", "rule": "risk_warning", "start": 16.38, "end": 18.38, "channel": 0, "message": ""}
    assert review_store.flag_id("c1", flag) == review_store.flag_id("c1", {**flag, "message": "other", "end": 19})
    assert len({review_store.flag_id("c1", flag), review_store.flag_id("c2", flag),
                review_store.flag_id("c1", {**flag, "problem": "inaudible"}),
                review_store.flag_id("c1", {**flag, "start": 17.0}),
                review_store.flag_id("c1", {**flag, "channel": 1})}) == 5
    splice = {"problem": "splice", "rule": None, "start": 7.2, "end": 7.2, "channel": None, "message": ""}
    silence = {"problem": "long_silence", "rule": None, "start": 3.0, "end": 12.0, "channel": None, "message": ""}
    assert review_store.needs_four_eyes(splice) and review_store.needs_four_eyes(flag)
    assert not review_store.needs_four_eyes(silence)


def test_long_silence_dismissal_needs_no_approval_and_splice_does(tmp_path):
    with catalog.Catalog(tmp_path):
        pass
    db = review_store.connect(tmp_path)
    silence = {"problem": "long_silence", "rule": None, "start": 3.0, "end": 12.0, "channel": None, "message": ""}
    splice = {"problem": "splice", "rule": None, "start": 7.2, "end": 7.2, "channel": None, "message": ""}
    done = review_store.decide(db, call_id="c", flag=silence, action="dismiss", reviewer="rita", reason="hold music")
    pending = review_store.decide(db, call_id="c", flag=splice, action="dismiss", reviewer="rita", reason="codec")
    assert review_store.effective_state(done) == "dismissed"
    assert review_store.effective_state(pending) == "dismiss_pending"
    with pytest.raises(review_store.ReviewError):
        review_store.approve(db, pending.flag_id, "rita", "approved")
    assert review_store.effective_state(review_store.approve(db, pending.flag_id, "anna", "approved")) == "dismissed"


def test_migration_leaves_an_existing_catalog_working(review_scan, tmp_path):
    out = tmp_path / "old"
    shutil.copytree(review_scan["out"], out)
    before = catalog.Catalog(out, create=False).records()
    assert review_store.decisions(out) == {}                  # never reviewed: read without migrating
    db = sqlite3.connect(out / "catalog.sqlite")
    assert db.execute("SELECT 1 FROM sqlite_master WHERE name='review_decisions'").fetchone() is None
    review_store.connect(out).close()
    review_store.connect(out).close()                         # idempotent
    with catalog.Catalog(out, create=False) as cat:
        assert cat.records() == before and cat.get_info("schema") == catalog.SCHEMA_VERSION
        assert cat.get_info("review_schema") == review_store.REVIEW_SCHEMA


# -- views and the access log -------------------------------------------------------------
def test_call_list_filters(out, tmp_path):
    meta = tmp_path / "meta.csv"
    meta.write_text("file,agent_id,start_time\nfast_disclosure.flac,A1,2025-03-01 09:00:00\n"
                    "finance_missing_risk_warning.flac,A2,2025-03-15 10:00:00\n"
                    "marketing_no_disclosure_meta.mp3,A1027,2025-04-02 11:00:00\n", "utf-8")
    c = client(out, ServeOptions(meta=load_meta(str(meta))))
    login(c, "rita")

    def listed(query: str) -> list[str]:
        page = c.get("/?" + query).text
        return sorted(Path(f).stem for f in re.findall(r'<tr data-call="[^"]+"><td><a [^>]+>([^<]+)<', page))
    everything = ["fast_disclosure", "finance_missing_risk_warning", "marketing_no_disclosure_meta"]
    assert listed("") == everything
    assert listed("problem=missing") == everything[1:]
    assert listed("problem=too_fast") == ["fast_disclosure"]
    assert listed("rule=risk_warning") == everything[:2]
    assert listed("problem=missing&rule=risk_warning") == ["finance_missing_risk_warning"]
    assert listed("industry=general") == ["marketing_no_disclosure_meta"]
    assert listed("type=marketing") == everything and listed("type=service") == []
    assert listed("agent=A1027") == ["marketing_no_disclosure_meta"]
    assert listed("date_from=2025-03-10&date_to=2025-03-31") == ["finance_missing_risk_warning"]
    assert listed("state=confirmed") == []
    fast = records_by_stem(out)["fast_disclosure"]
    decide(c, fast["call_id"], fast["flags"][0], "confirm")
    assert listed("state=confirmed") == ["fast_disclosure"]
    assert listed("state=open") == everything                 # fast_disclosure's second flag is still open


def test_every_playback_and_download_is_logged(out, tmp_path):
    rita = client(out)
    login(rita, "rita")
    clip = first_clip(out)
    call = records_by_stem(out)["fast_disclosure"]
    size = len((out / clip).read_bytes())
    assert rita.get(f"/{clip}", headers={"range": "bytes=0-999"}).status_code == 206
    assert rita.get(f"/{clip}", headers={"range": "bytes=1000-"}).status_code == 206   # the same playback
    token = csrf_of(rita.get("/").text)
    r = rita.post("/api/listened", json={"media": clip, "seconds": 1.5}, headers={"x-csrf-token": token})
    assert r.json() == {"logged": True}
    rita.post("/api/listened", json={"media": clip, "seconds": 1e9}, headers={"x-csrf-token": token})  # capped
    assert rita.post("/api/listened", content=f'{{"media": "{clip}", "seconds": NaN}}',
                     headers={"x-csrf-token": token, "content-type": "application/json"}).status_code == 400
    assert rita.get(f"/calls/{call['call_id']}/recording?download=1").headers["content-disposition"].startswith(
        "attachment")
    assert rita.post("/api/listened", json={"media": "clips/never-played.wav", "seconds": 2},
                     headers={"x-csrf-token": token}).status_code == 404
    rows = review_store.access_rows(sqlite3.connect(out / "catalog.sqlite"))
    assert [(r["user"], r["call_id"], r["media"], r["kind"], r["approver"]) for r in rows] == [
        ("rita", call["call_id"], clip, "play", "lisi"), ("rita", call["call_id"], "recording", "download", "lisi")]
    assert rows[0]["bytes"] == size and rows[0]["listened_s"] == 1.5 + review_store.MAX_LISTENED_REPORT_S
    # the access record: admins only on the web, and from the command line as CSV or XLSX
    assert rita.get("/export/access-log.csv").status_code == 403
    adam = client(out)
    login(adam, "adam")
    web = adam.get("/export/access-log.csv").text
    assert "审批人 approver" in web and f"{call['call_id']},{call['file']},{clip},play" in web
    for name in ("access.csv", "access.xlsx"):
        proc = subprocess.run([sys.executable, "-m", "pipeline", "access-log", str(out), "--out", str(tmp_path / name)],
                              capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.returncode == 0 and "2 accesses" in proc.stderr, proc.stderr
    assert (tmp_path / "access.csv").read_text("utf-8-sig").splitlines()[1].startswith(f"rita,{call['call_id']}")
    import polars as pl
    sheet = pl.read_excel(tmp_path / "access.xlsx")
    assert sheet["访问人 user"].to_list() == ["rita", "rita"] and sheet["审批人 approver"].to_list() == ["lisi"] * 2


def test_users_command(out):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = lambda *args, stdin="": subprocess.run([sys.executable, "-m", "pipeline", "users", *args],  # noqa: E731
                                                 input=stdin, capture_output=True, text=True, cwd=ROOT, env=env)
    made = run("add", str(out), "zhangsan", "--role", "approver", "--approved-by", "lisi", "--password-stdin",
               stdin="a-long-password\n")
    assert made.returncode == 0, made.stderr
    assert "zhangsan\tapprover\tlisi" in run("list", str(out)).stdout
    short = run("add", str(out), "x", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "too short" in short.stderr
    c = client(out)
    assert login(c, "zhangsan", "a-long-password").status_code == 303
    for bad in (["access-log", str(out), "--out", str(out / "log.txt")], ["serve", str(out / "nothing")],
                ["users", "list", str(out / "nothing")]):
        proc = subprocess.run([sys.executable, "-m", "pipeline", *bad], capture_output=True, text=True, cwd=ROOT,
                              env=env)
        assert proc.returncode == 2 and proc.stderr.startswith("callaudit: "), (bad, proc.stderr)


def test_call_page_shows_splice_evidence_and_a_splice_dismissal_waits(tmp_path):
    """A hand-made spliced call (the fixture archive has none): its evidence, clip and four-eyes dismissal."""
    src = make_recording(tmp_path / "a.wav", 12.0)
    record = make_record(src)
    record["splices"][0]["evidence"] = {"phase_jump_rad": 2.4, "noise_floor_step_db": 9.5}
    out = tmp_path / "out"
    clips.cut_clips(record, str(src), out, clips.ClipOptions("wav"))
    with catalog.Catalog(out) as cat:
        cat.store(record=record, analysis=None, source_path=str(src), sha256=record["recording"]["sha256"],
                  fp="x", clip_key="wav", scan_id="s")
    db = review_store.connect(out)
    accounts.add_user(db, "rita", "reviewer", PASSWORD)
    c = client(out)
    login(c, "rita")
    page = c.get("/calls/call-1").text
    splice_table = re.search(r'<table id="splices">.*?</table>', page, re.S).group(0)
    assert "00:00:07.200" in splice_table and "phase_jump_rad" in splice_table and "9.5" in splice_table
    splice_clip = re.search(r'data-media="(clips/call-1/[^"]+)"', splice_table).group(1)
    assert c.get("/" + urllib.parse.quote(splice_clip)).content[:4] == b"RIFF"
    assert page.count('class="flag-item"') == 3 and page.count("<polygon") == 1
    splice = record["flags"][2]
    assert decide(c, "call-1", splice, "dismiss", reason="codec switch").status_code == 303
    assert review_store.effective_state(review_store.decisions(out)[review_store.flag_id("call-1", splice)]) == \
        "dismiss_pending"


def test_mono_call_transcript_names_agent_and_customer_with_the_confidence(tmp_path):
    """A mono record whose split named the roles: the transcript shows 坐席 / 客户 per line and the speaker
    confidence; a line whose role stayed unknown shows 通话."""
    src = make_recording(tmp_path / "a.wav", 12.0)
    record = make_record(src)
    for segment, role in zip(record["segments"], ("agent", "agent", "customer")):
        segment["speaker"] = role
    record["segments"].append({"start": 9.0, "end": 9.5, "channel": 0, "text": "嗯", "words": [], "speaker": "unknown"})
    record["roles"] = {"method": "split+cues", "channels": 1, "first_speaker": 0, "confidence": 0.78}
    out = tmp_path / "out"
    with catalog.Catalog(out) as cat:
        cat.store(record=record, analysis=None, source_path=str(src), sha256=record["recording"]["sha256"],
                  fp="x", clip_key="wav", scan_id="s")
    accounts.add_user(review_store.connect(out), "rita", "reviewer", PASSWORD)
    c = client(out)
    login(c, "rita")
    page = c.get("/calls/call-1").text
    transcript = re.search(r'<table class="transcript" id="transcript">.*?</table>', page, re.S).group(0)
    assert re.findall(r"</td><td>(坐席|客户|通话)</td>", transcript) == ["坐席", "坐席", "客户", "通话"]
    assert re.search(r'id="speaker-confidence">说话人置信度 speaker confidence 0\.78 \(单声道分离 mono split\)', page)
