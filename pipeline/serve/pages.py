"""The workbench's pages: login and logout, the filtered call list, a call, and reviewers' decisions.

Rendered on the server from the Jinja2 templates. Routes only wire the stores
(review_store, accounts) and the report helpers; they never serve audio (`downloads`)
and never check sessions or CSRF themselves (`guard` does, before any route runs).
"""

from __future__ import annotations

import time
import urllib.parse
from pathlib import Path

import jinja2
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from pipeline.core import review_store
from pipeline.integrity import verdict as integrity_verdict
from pipeline.scan import outputs, report
from pipeline.serve import accounts
from pipeline.serve.guard import COOKIE
from pipeline.serve.workbench import Workbench

PAGE_SIZE = 100
TEMPLATES = Path(__file__).parent / "templates"
PROBLEMS = tuple(outputs.PROBLEM_LABELS)

templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True))
templates.env.filters["localtime"] = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
templates.env.globals.update(clock=outputs.clock, problem_labels=outputs.PROBLEM_LABELS,
                             state_labels=report.STATE_LABELS, annotation_label=outputs.annotation_label,
                             integrity_labels=integrity_verdict.VERDICT_LABELS,
                             layer_labels=integrity_verdict.LAYER_LABELS)


def _page(request: Request, name: str, status: int = 200, **context) -> Response:
    sess = request.state.session
    return templates.TemplateResponse(request, name, {"request": request, "session": sess, "nonce": request.state.nonce,
                                                      "csrf": sess.csrf if sess else "", **context},
                                      status_code=status)


def login_page(request: Request) -> Response:
    return _page(request, "login.html", next=_safe_next(request.query_params.get("next")))


async def login(request: Request) -> Response:
    bench: Workbench = request.app.state.bench
    form = await request.form()
    name, password = str(form.get("user", "")), str(form.get("password", ""))
    address = request.client.host if request.client else "-"
    wait = bench.limiter.attempt(name, address)
    if wait:
        response = _page(request, "login.html", 429, error=f"登录失败次数过多，请 {wait} 秒后再试 / too many "
                                                            f"failed logins, retry in {wait} s", next="/")
        response.headers["Retry-After"] = str(wait)
        return response
    user = await bench.run(accounts.authenticate, name, password)
    if user is None:
        return _page(request, "login.html", 401, error="用户名或密码错误 / wrong user name or password",
                     next=_safe_next(str(form.get("next", "/"))))
    bench.limiter.succeeded(name, address)
    token = await bench.run(accounts.open_session, user)
    response = RedirectResponse(_safe_next(str(form.get("next", "/"))), 303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=accounts.SESSION_IDLE_S)
    return response


def logout(request: Request) -> Response:
    accounts.close_session(request.app.state.bench.db, request.state.session.token_hash)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(COOKIE)
    return response


def _safe_next(target: str | None) -> str:
    """Only a local path is a place to go after login (no open redirect to another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


CALL_FILTERS = ("type", "industry", "agent", "date_from", "date_to")
FLAG_FILTERS = ("problem", "rule", "state")


def call_list(request: Request) -> Response:
    """Calls, filtered: by the call (type, industry, agent, date) and by a flag (problem, rule, review state)."""
    bench: Workbench = request.app.state.bench
    records, _, _ = bench.records()
    states = review_store.flag_states(records, review_store.current_decisions(bench.db))
    wanted = {k: request.query_params.get(k, "").strip() for k in CALL_FILTERS + FLAG_FILTERS}
    rows = []
    for r in records:
        meta = bench.meta_row(r)
        call = r.get("call") or {}
        date = (meta.get("start_time") or "")[:10]
        if ((wanted["type"] and call.get("type") != wanted["type"])
                or (wanted["industry"] and call.get("industry") != wanted["industry"])
                or (wanted["agent"] and meta.get("agent_id") != wanted["agent"])
                or (wanted["date_from"] and not (date and date >= wanted["date_from"]))
                or (wanted["date_to"] and not (date and date <= wanted["date_to"]))):
            continue
        flags = [(f, states[review_store.flag_id(r["call_id"], f)]) for f in r.get("flags", [])]
        matching = [(f, s) for f, s in flags if (not wanted["problem"] or f["problem"] == wanted["problem"])
                    and (not wanted["rule"] or f.get("rule") == wanted["rule"])
                    and (not wanted["state"] or s == wanted["state"])]
        if any(wanted[k] for k in FLAG_FILTERS) and not matching:
            continue
        rows.append({"record": r, "call": call, "agent": meta.get("agent_id", ""), "date": date, "flags": flags,
                     "open": sum(review_store.is_open(s) for _, s in flags)})
    page = int(request.query_params["page"]) if request.query_params.get("page", "").isdigit() else 1
    page = max(page, 1)
    choices = {"type": sorted({(r.get("call") or {}).get("type") for r in records} - {None}),
               "industry": sorted({(r.get("call") or {}).get("industry") for r in records} - {None}),
               "rule": sorted({f["rule"] for r in records for f in r.get("flags", []) if f.get("rule")}),
               "agent": sorted({bench.meta_row(r).get("agent_id") for r in records} - {None}),
               "problem": PROBLEMS, "state": review_store.STATES}
    query = {k: v for k, v in wanted.items() if v}
    return _page(request, "calls.html", rows=rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], total=len(rows),
                 page=page, pages=max(1, -(-len(rows) // PAGE_SIZE)), wanted=wanted, choices=choices,
                 query=urllib.parse.urlencode(query))


def call_page(request: Request, error: str = "", status: int = 200) -> Response:
    bench: Workbench = request.app.state.bench
    records, by_id, _ = bench.records()
    record = by_id.get(request.path_params["call_id"])
    if record is None:
        return PlainTextResponse("no such call", 404)
    decided = review_store.current_decisions(bench.db)
    flags = []
    for f in record.get("flags", []):
        fid = review_store.flag_id(record["call_id"], f)
        flags.append({"flag": f, "id": fid, "decision": decided.get(fid),
                      "state": review_store.effective_state(decided.get(fid)),
                      "four_eyes": review_store.needs_four_eyes(f)})
    clip_ids = {i: f"clip-a{i}" for i, a in enumerate(record.get("annotations", [])) if a.get("clip")}
    peaks = bench.peaks(record) if record["status"] == "ok" else None
    flagged = [r["call_id"] for r in records if r.get("flags")]
    here = flagged.index(record["call_id"]) if record["call_id"] in flagged else -1
    return _page(request, "call.html", status, record=record, flags=flags, error=error,
                 wave=report.waveform_svg(record, peaks, clip_ids), clip_ids=clip_ids,
                 labels=outputs.rule_labels(record), history=review_store.history(bench.db, record["call_id"]),
                 speaker=lambda ch, role=None: outputs.speaker(record, ch, role),
                 speaker_confidence=outputs.speaker_confidence(record), meta=bench.meta_row(record),
                 prev_call=flagged[here - 1] if here > 0 else None,
                 next_call=flagged[here + 1] if 0 <= here < len(flagged) - 1 else None)


def _flag_of(request: Request, flag_id: str) -> tuple[dict, dict] | None:
    _, by_id, _ = request.app.state.bench.records()
    record = by_id.get(request.path_params["call_id"])
    for f in (record or {}).get("flags", []):
        if review_store.flag_id(record["call_id"], f) == flag_id:
            return record, f
    return None


async def decide(request: Request) -> Response:
    form = await request.form()
    found = _flag_of(request, str(form.get("flag_id", "")))
    if found is None:
        return PlainTextResponse("no such flag", 404)
    record, flag = found
    try:
        await request.app.state.bench.run(review_store.decide, call_id=record["call_id"], flag=flag,
                                action=str(form.get("action", "")), reviewer=request.state.session.user.name,
                                reason=str(form.get("reason", "")), note=str(form.get("note", "")))
    except review_store.ReviewError as exc:
        return call_page(request, error=str(exc), status=400)
    return RedirectResponse(f"/calls/{urllib.parse.quote(record['call_id'])}#flag-{form['flag_id']}", 303)


async def approve(request: Request) -> Response:
    if not request.state.session.user.can_approve:
        return PlainTextResponse("only an approver or admin approves dismissals", 403)
    form = await request.form()
    found = _flag_of(request, str(form.get("flag_id", "")))
    if found is None:
        return PlainTextResponse("no such flag", 404)
    try:
        await request.app.state.bench.run(review_store.approve, str(form["flag_id"]),
                                request.state.session.user.name, str(form.get("verdict", "")),
                                str(form.get("note", "")))
    except review_store.ReviewError as exc:
        return call_page(request, error=str(exc), status=400)
    return RedirectResponse(f"/calls/{urllib.parse.quote(found[0]['call_id'])}#flag-{form['flag_id']}", 303)

