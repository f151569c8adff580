"""The workbench's abnormal-calling pages: each finding of the records stage, and how it was handled.

`callaudit records CDR... --out DIR` writes DIR/records/summary.json; its abnormal
findings (high-frequency calling, night calls, short-call ratio, marked and foreign
numbers) are listed at /abnormal. On a finding's page a reviewer records the
发现-处理-整改 account (核查过程, 处理结果, 整改措施); it is appended to
pipeline.core.abnormal_store with the reviewer's name and the time, never
overwritten (a later account supersedes, the history stays). Login and the CSRF
token are enforced by the app's Guard middleware, as for every route.
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from pipeline.core import abnormal_store, review_store
from pipeline.serve.pages import _page

SUMMARY = Path("records") / "summary.json"


def findings(out_dir: Path) -> list[dict] | None:
    """The abnormal findings of DIR/records/summary.json, each with its `key`; None when records were never checked."""
    try:
        summary = json.loads((out_dir / SUMMARY).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return [{**f, "key": abnormal_store.finding_key(f)} for f in summary.get("findings", [])
            if f.get("kind") == "abnormal"]


def _bench(request: Request):
    return request.app.state.bench


def finding_list(request: Request) -> Response:
    bench = _bench(request)
    found = findings(bench.out_dir)
    done = abnormal_store.current(bench.db)
    wanted = request.query_params.get("state", "")
    rows = [{"finding": f, "handling": done.get(f["key"])} for f in found or []]
    if wanted in ("handled", "open"):
        rows = [r for r in rows if bool(r["handling"]) == (wanted == "handled")]
    return _page(request, "abnormal.html", rows=rows, missing=found is None, wanted=wanted,
                 handled=sum(1 for f in found or [] if f["key"] in done), total=len(found or []))


def _finding(request: Request) -> dict | None:
    key = request.path_params["key"]
    return next((f for f in findings(_bench(request).out_dir) or [] if f["key"] == key), None)


def finding_page(request: Request, error: str = "", status: int = 200) -> Response:
    finding = _finding(request)
    if finding is None:
        return PlainTextResponse("no such finding", 404)
    db = _bench(request).db
    return _page(request, "abnormal_finding.html", status, finding=finding, error=error,
                 history=abnormal_store.history(db, finding["key"]))


async def handle(request: Request) -> Response:
    finding = _finding(request)
    if finding is None:
        return PlainTextResponse("no such finding", 404)
    form = await request.form()
    try:
        await _bench(request).run(abnormal_store.handle, finding, request.state.session.user.name,
                                  str(form.get("checked", "")), str(form.get("result", "")),
                                  str(form.get("measures", "")))
    except review_store.ReviewError as exc:
        return finding_page(request, error=str(exc), status=400)
    return RedirectResponse(f"/abnormal/{urllib.parse.quote(finding['key'])}", 303)


ROUTES = [Route("/abnormal", finding_list), Route("/abnormal/{key}", finding_page),
          Route("/abnormal/{key}/handle", handle, methods=["POST"])]
