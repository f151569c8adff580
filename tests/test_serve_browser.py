"""The review workbench in a real browser: Debian's chromium driven by Playwright (no browser download),
against uvicorn on a loopback port, over a real scan of fixture recordings.

A reviewer logs in, filters the calls, opens one, plays a clip and the recording (click-to-seek on the
transcript and on a statement of the waveform), confirms a flag with the keyboard, and finds the decision
in the exported report.csv, in `callaudit report`'s output and in `callaudit package`'s findings; the access log holds the playback with
the time listened. With
CALLAUDIT_UPDATE_SCREENSHOT=1 the screenshots replace docs/serve-calls.png and docs/serve-call.png.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT
from helpers_serve import PASSWORD, LiveServer, workbench_copy

from pipeline.core import review_store
from pipeline.core.meta import load_meta
from pipeline.serve.workbench import ServeOptions

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium missing: `make system-deps`")


def wait_for(check, timeout_s: float = 20.0, what: str = ""):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def access_rows(out: Path) -> list[dict]:
    return review_store.access_rows(sqlite3.connect(out / "catalog.sqlite"))


def test_review_in_chromium(review_scan, tmp_path):
    out = workbench_copy(review_scan, tmp_path)
    server = LiveServer(out, ServeOptions(meta=load_meta(str(ROOT / "fixtures" / "meta.csv"))))
    errors: list[str] = []
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"])
            context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            # nothing without login: the list redirects to the login page
            page.goto(server.url + "/")
            assert page.url.startswith(server.url + "/login")
            page.fill("#user", "rita")
            page.fill("#password", "wrong-password")
            page.click("#login")
            assert "wrong user name or password" in page.inner_text("#login-error")
            errors.clear()                                      # the browser logs the refused login's 401
            page.fill("#user", "rita")
            page.fill("#password", PASSWORD)
            page.click("#login")
            page.wait_for_selector("#calls")
            assert page.locator("#calls tbody tr[data-call]").count() == 3

            # filter: the too-fast calls only
            page.select_option("#f-problem", "too_fast")
            page.click("#apply")
            page.wait_for_url("**problem=too_fast**")
            rows = page.locator("#calls tbody tr[data-call]")
            assert rows.count() == 1 and "fast_disclosure.flac" in rows.first.inner_text()
            rows.first.locator("a").click()
            page.wait_for_selector("#wave svg polygon")          # the waveform was drawn from the recording

            # play a clip to its end: the access log gets the playback and the time listened
            clip = page.locator("audio[data-media^='clips/']").first
            media = clip.get_attribute("data-media")
            clip.evaluate("a => a.play()")
            page.wait_for_function("m => { const a = document.querySelector(`audio[data-media='${m}']`); "
                                   "return a.ended; }", arg=media, timeout=20_000)
            played = wait_for(lambda: [r for r in access_rows(out) if r["media"] == media and r["listened_s"] > 0],
                              what="the clip's listened time in the access log")
            duration = clip.evaluate("a => a.duration")
            assert played[0]["user"] == "rita" and played[0]["approver"] == "lisi" and played[0]["bytes"] > 0
            assert abs(played[0]["listened_s"] - duration) < 0.6, (played[0], duration)

            # click-to-seek: a transcript line starts the recording there
            line = page.locator("#transcript tbody tr").nth(2)
            start = float(line.get_attribute("data-start"))
            line.click()
            page.wait_for_function("t => { const a = document.getElementById('recording'); "
                                   "return !a.paused && a.currentTime >= t; }", arg=start, timeout=20_000)
            page.keyboard.press("Space")                        # shortcut: pause
            page.wait_for_function("() => document.getElementById('recording').paused")

            # a statement on the waveform plays the recording from its start
            mark = page.locator("#wave rect.stmt[data-clip]").last
            start = float(page.locator("#" + mark.get_attribute("data-clip")).get_attribute("data-start"))
            mark.click()
            page.wait_for_function("t => { const a = document.getElementById('recording'); "
                                   "return !a.paused && a.currentTime >= t && a.currentTime < t + 3; }", arg=start,
                                   timeout=20_000)
            page.keyboard.press("Space")
            assert any(r["media"] == "recording" for r in access_rows(out))

            # confirm the first flag with the keyboard: j selects it, c confirms it
            first = page.locator(".flag-item").first
            flag_id = first.get_attribute("data-flag")
            page.keyboard.press("j")
            assert "selected" in first.get_attribute("class")
            with page.expect_navigation():
                page.keyboard.press("c")
            state = page.locator(f"#flag-{flag_id} .state")
            assert state.get_attribute("data-state") == "confirmed"
            if os.environ.get("CALLAUDIT_UPDATE_SCREENSHOT") == "1":
                page.evaluate("window.scrollTo(0, 0)")
                page.screenshot(path=str(ROOT / "docs" / "serve-call.png"))
                page.goto(server.url + "/")
                page.screenshot(path=str(ROOT / "docs" / "serve-calls.png"))

            # the decision is in the exported report.csv
            with page.expect_download() as download:
                page.click("#export-report")
            exported = Path(download.value.path()).read_text("utf-8-sig")
            row = next(r for r in csv.DictReader(io.StringIO(exported)) if r["file"] == "fast_disclosure.flac")
            assert row["review"].startswith("too_fast:marketing_disclosure=confirmed;") and row["open_flags"] == "2"
            browser.close()
    finally:
        server.stop()
    assert errors == [], errors                                  # no script error, no CSP violation
    # ... and in what `callaudit report` writes from the catalog
    proc = subprocess.run([sys.executable, "-m", "pipeline", "report", str(out)], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert "too_fast:marketing_disclosure=confirmed" in (out / "report.csv").read_text("utf-8-sig")
    # ... and in the inspection package built from it (call-detail rows linked by their recording column)
    cdr = tmp_path / "cdr.csv"
    with cdr.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["主叫号码", "被叫号码", "通话起始时间", "通话时长", "通话类型", "通话结果", "坐席工号", "线路",
                         "录音文件"])
        for index, record in enumerate(review_scan["records"].values()):
            writer.writerow(["95566", f"1380013800{index}", f"2025-05-06 10:0{index}:00",
                             round(record["recording"]["duration_s"]), "营销外呼", "接通", "A1027", "L1",
                             record["file"]])
    proc = subprocess.run([sys.executable, "-m", "pipeline", "package", "--scan", str(out), "--records", str(cdr),
                           "--out", str(tmp_path / "pkg")], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    packaged = json.loads((tmp_path / "pkg" / "findings.json").read_text("utf-8"))["flags"]
    assert [f["review"] for f in packaged if f["check"] == "scan" and f["rule"] == "marketing_disclosure"
            and f["problem"] == "too_fast"] == ["confirmed"]
