"""The workbench's abnormal-calling pages (pipeline.serve.abnormal) at the HTTP level and in a real browser: the
findings of `callaudit records` on the records fixtures (fixtures/records, with its marked-numbers list), login
required, the CSRF token on every handling, accounts complete and append-only, text escaped. The browser part
drives Debian's chromium with Playwright against uvicorn, as tests/test_serve_browser.py does."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from conftest import ROOT
from helpers_serve import PASSWORD, LiveServer, client, csrf_of, login, workbench_copy

from pipeline.core import abnormal_store
from pipeline.records import command as records

CDR = ROOT / "fixtures" / "records"
ACCOUNT = {"checked": "调取该号码 3 月 12 日的 40 次外呼录音，系统重拨故障", "result": "修复重拨逻辑，向客户致歉",
           "measures": "单号码 1 小时内外呼超过 20 次自动暂停并预警"}


@pytest.fixture
def out(review_scan, tmp_path):
    """The review scan's copy with the workbench accounts and DIR/records/ from the records fixtures."""
    folder = workbench_copy(review_scan, tmp_path)
    records.check_records([str(CDR)], folder, records.RecordsOptions(marked_numbers=CDR / "marked.csv"))
    return folder


def findings(out) -> list[dict]:
    summary = json.loads((out / "records" / "summary.json").read_text("utf-8"))
    return [f for f in summary["findings"] if f["kind"] == "abnormal"]


def rows(out) -> int:
    db = sqlite3.connect(out / "catalog.sqlite")
    try:
        return db.execute("SELECT COUNT(*) FROM abnormal_handling").fetchone()[0]
    except sqlite3.OperationalError:   # never handled: the table is not there yet
        return 0
    finally:
        db.close()


def test_every_finding_of_the_records_fixtures_is_listed(out):
    truth = json.loads((CDR / "truth.json").read_text("utf-8"))["abnormal"]
    c = client(out)
    login(c, "rita")
    page = c.get("/abnormal").text
    for f in findings(out):
        assert f'data-key="{abnormal_store.finding_key(f)}" data-state="open"' in page, f
    assert len(findings(out)) == len(truth) == page.count('data-state="open"')
    assert f"{len(truth)} 条发现，已处理 0，未处理 {len(truth)}" in page


def test_the_pages_need_a_login(out):
    key = abnormal_store.finding_key(findings(out)[0])
    c = client(out)
    for path in ["/abnormal", f"/abnormal/{key}", "/abnormal?state=open"]:
        assert c.get(path).status_code == 401
        assert c.get(path, headers={"accept": "text/html"}).headers["location"].startswith("/login?next=")
    assert c.post(f"/abnormal/{key}/handle", data=ACCOUNT).status_code == 401
    assert rows(out) == 0


def test_a_handling_needs_the_sessions_csrf_token(out):
    key = abnormal_store.finding_key(findings(out)[0])
    other = client(out)
    login(other, "rob")
    foreign = csrf_of(other.get(f"/abnormal/{key}").text)
    c = client(out)
    login(c, "rita")
    token = csrf_of(c.get(f"/abnormal/{key}").text)
    url = f"/abnormal/{key}/handle"
    for attempt in [ACCOUNT, {**ACCOUNT, "csrf": ""}, {**ACCOUNT, "csrf": "forged"}, {**ACCOUNT, "csrf": foreign}]:
        r = c.post(url, data=attempt)
        assert r.status_code == 403 and "CSRF" in r.text
    assert c.post(url, data=ACCOUNT, headers={"x-csrf-token": "forged"}).status_code == 403
    assert rows(out) == 0
    assert c.post(url, data={**ACCOUNT, "csrf": token}).status_code == 303
    assert rows(out) == 1


def test_handlings_are_complete_append_only_and_escaped(out):
    finding = findings(out)[0]
    key = abnormal_store.finding_key(finding)
    c = client(out)
    login(c, "rita")
    token = csrf_of(c.get(f"/abnormal/{key}").text)
    url = f"/abnormal/{key}/handle"
    incomplete = c.post(url, data={**ACCOUNT, "measures": "  ", "csrf": token})
    assert incomplete.status_code == 400 and "整改措施" in incomplete.text and rows(out) == 0
    assert c.post(url, data={**ACCOUNT, "csrf": token}).status_code == 303
    login(c2 := client(out), "rob")
    later = {**ACCOUNT, "result": "<script>alert(1)</script> 复核后追加：扣除当月绩效"}
    assert c2.post(url, data={**later, "csrf": csrf_of(c2.get(f"/abnormal/{key}").text)}).status_code == 303
    page = c.get(f"/abnormal/{key}").text
    assert page.count('class="card handling"') == 2 and "rita" in page and "rob" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    current = abnormal_store.handled(out)[key]
    assert (current["handler"], current["check"], current["day"]) == ("rob", finding["check"], finding["day"])
    for method in ("put", "delete", "patch"):
        assert getattr(c, method)(url).status_code in (403, 405)   # no route changes an account
    assert c.post("/abnormal/0000000000000000/handle", data={**ACCOUNT, "csrf": token}).status_code == 404
    assert rows(out) == 2
    listing = c.get("/abnormal?state=handled").text
    assert listing.count('data-state="handled"') == 1 and 'data-state="open"' not in listing


def test_without_checked_records_the_page_says_what_to_run(review_scan, tmp_path):
    folder = workbench_copy(review_scan, tmp_path)
    c = client(folder)
    login(c, "rita")
    page = c.get("/abnormal")
    assert page.status_code == 200 and 'id="no-records"' in page.text and "callaudit records" in page.text
    assert c.get("/abnormal/0123456789abcdef").status_code == 404


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium missing: `make system-deps`")
def test_handling_a_finding_in_chromium(out):
    playwright = pytest.importorskip("playwright.sync_api")
    burst = next(f for f in findings(out) if f["check"] == "burst")
    server = LiveServer(out)
    errors: list[str] = []
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--no-first-run",
                                                                        "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.url + "/abnormal")
            assert page.url.startswith(server.url + "/login")
            page.fill("#user", "anna")
            page.fill("#password", PASSWORD)
            page.click("#login")
            page.wait_for_selector("#findings")                # back where the login was asked for
            page.goto(server.url + "/")
            page.click("#nav-abnormal")                        # the header links the abnormal pages
            page.wait_for_selector("#findings")
            assert page.locator("#findings tr[data-state='open']").count() == len(findings(out))
            page.locator(f"#findings tr[data-key='{abnormal_store.finding_key(burst)}'] a").click()
            page.wait_for_selector("#unhandled")
            page.click("#save")                                # empty: the browser refuses (required fields)
            assert page.locator("#unhandled").count() == 1 and rows(out) == 0
            for name, text in ACCOUNT.items():
                page.fill(f"textarea[name='{name}']", text)
            page.click("#save")
            page.wait_for_selector(".card.handling")
            assert page.inner_text(".card.handling .measures") == ACCOUNT["measures"]
            assert "anna" in page.inner_text(".card.handling")
            page.click("text=← 异常通话 / abnormal calling")
            page.wait_for_selector("#findings")
            assert page.locator("#findings tr[data-state='handled']").count() == 1
            assert f"已处理 1，未处理 {len(findings(out)) - 1}" in page.inner_text("#counts")
            browser.close()
    finally:
        server.stop()
    assert errors == []
    assert abnormal_store.handled(out)[abnormal_store.finding_key(burst)]["handler"] == "anna"
