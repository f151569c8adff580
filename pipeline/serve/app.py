"""`callaudit serve DIR`: the review workbench, a local web app over a scan's output folder.

Starlette (ASGI) with Jinja2 templates (pipeline/templates), served by uvicorn on
127.0.0.1 by default. Pages are rendered on the server; a little inline JavaScript
seeks players, reports time listened and adds the keyboard shortcuts. Nothing is
fetched from the network.

Security model, in one place (the middleware below):
* every request but the login page needs a live session (accounts.session);
* every state-changing request (POST) carries the session's CSRF token, in the form
  field `csrf` or the `X-CSRF-Token` header, checked before any route runs;
* clips are served only from DIR/clips, by a path that is resolved (symlinks
  followed) and must stay inside it; a recording is served by call_id only, from the
  path the catalog holds, and only while its content is the one that was scanned;
* every request that serves audio is logged in the access log (review_store);
* the Host header must name this server (no DNS rebinding), and pages forbid
  framing, sniffing, referrers and scripts other than their own (CSP with a nonce).

Routes only wire the stores (review_store, accounts) and the report helpers.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import math
import secrets
import threading
import time
import urllib.parse
from pathlib import Path, PurePosixPath
from stat import S_ISREG

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from pipeline.core import catalog as catalog_mod
from pipeline.core import fileio, review_store
from pipeline.core import meta as meta_mod
from pipeline.scan import outputs, report
from pipeline.serve import accounts

COOKIE = "callaudit_session"
PAGE_SIZE = 100
PUBLIC_PATHS = ("/login",)
TEMPLATES = Path(__file__).parent / "templates"
PROBLEMS = tuple(outputs.PROBLEM_LABELS)


@dataclasses.dataclass(frozen=True)
class ServeOptions:
    """How the workbench runs. Defaults: localhost only, 5 failed logins per user and address a minute."""

    host: str = "127.0.0.1"
    port: int = 8750
    meta: dict[str, dict] = dataclasses.field(default_factory=dict)   # --meta rows: agent_id, start_time
    login_attempts: int = 5
    login_window_s: float = 60.0

    def allowed_hosts(self) -> list[str]:
        """Host header values accepted: this server's own names (a DNS-rebinding page sends another).

        Bound to every address (0.0.0.0, ::), the names clients use are unknown: any is accepted.
        """
        if self.host in ("0.0.0.0", "::"):
            return ["*"]
        return sorted({self.host, "127.0.0.1", "localhost", "[::1]", "::1"})


class Workbench:
    """The state one server shares: the output folder, its records (reloaded when a scan changes
    them), one sqlite connection per thread, the login limiter."""

    def __init__(self, out_dir: Path, options: ServeOptions):
        self.out_dir = Path(out_dir).resolve()
        self.clips_dir = self.out_dir / "clips"
        self.options = options
        self.limiter = accounts.LoginLimiter(options.login_attempts, options.login_window_s)
        review_store.connect(self.out_dir).close()   # migrate once; CatalogDBError for a folder without a catalog
        self._local = threading.local()
        self._lock = threading.Lock()
        self._records: tuple[tuple, list[dict], dict[str, dict], dict[str, str]] | None = None
        self._verified: dict[tuple, bool] = {}
        self._peaks: dict[tuple, list | None] = {}

    @property
    def db(self):
        """This thread's connection (sqlite connections are not shared between threads)."""
        if not hasattr(self._local, "db"):
            self._local.db = review_store.connect(self.out_dir)
        return self._local.db

    async def run(self, fn, *args, **kwargs):
        """`fn(db, *args, **kwargs)` in a worker thread, with that thread's connection (from async code)."""
        return await run_in_threadpool(lambda: fn(self.db, *args, **kwargs))

    def peaks(self, record: dict) -> list | None:
        """A call's waveform envelope (report.call_peaks), kept in memory once read or decoded."""
        key = (record["call_id"], (record.get("recording") or {}).get("sha256"))
        if key not in self._peaks:
            with catalog_mod.Catalog(self.out_dir, create=False) as cat:
                self._peaks[key] = report.call_peaks(cat, record, cat.sources().get(record["call_id"]))
        return self._peaks[key]

    def records(self) -> tuple[list[dict], dict[str, dict], dict[str, str]]:
        """(records, by call_id, clip path -> call_id), reloaded when the catalog's calls change."""
        stamp = tuple(self.db.execute("SELECT COUNT(*), MAX(updated_at) FROM files").fetchone())
        with self._lock:
            if self._records is None or self._records[0] != stamp:
                rows = [json.loads(r[0]) for r in self.db.execute("SELECT record FROM files ORDER BY file, call_id")]
                clips = {item["clip"]: r["call_id"] for r in rows
                         for item in r.get("annotations", []) + r.get("splices", []) if item.get("clip")}
                self._records = (stamp, rows, {r["call_id"]: r for r in rows}, clips)
            return self._records[1], self._records[2], self._records[3]

    def source(self, call_id: str, sha256: str | None) -> Path | None:
        """The recording of a call on disk, when it is still the content that was scanned."""
        row = self.db.execute("SELECT source_path FROM files WHERE call_id=?", (call_id,)).fetchone()
        if not row or not row[0]:
            return None
        path = Path(row[0])
        try:
            stat = path.stat()
        except OSError:
            return None
        if not S_ISREG(stat.st_mode):   # now a folder, FIFO or device: not the recording that was scanned
            return None
        key = (str(path), stat.st_size, stat.st_mtime_ns, sha256)
        if key not in self._verified:   # hashed once per file version, not per range request
            self._verified[key] = bool(sha256) and fileio.file_sha256(str(path)) == sha256
        return path if self._verified[key] else None

    def clip(self, relative: str) -> Path | None:
        """A file under DIR/clips named by a request path, or None: no absolute paths, no `..`,
        no NUL, and the resolved file (symlinks followed) must lie inside DIR/clips."""
        if not relative or "\x00" in relative or "\\" in relative:
            return None
        pure = PurePosixPath(relative)
        if pure.is_absolute() or ".." in pure.parts:
            return None
        try:
            resolved = (self.clips_dir / pure).resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not resolved.is_relative_to(self.clips_dir.resolve()) or not resolved.is_file():
            return None
        return resolved

    def meta_row(self, record: dict) -> dict:
        return meta_mod.lookup(self.options.meta, record["file"]) or {}


# -- middleware: authentication, CSRF, headers ---------------------------------------------
MAX_FORM_BYTES = 64 * 1024   # the largest POST the workbench takes (a decision with its note)


class Guard:
    """Session required everywhere but the login page; CSRF token on every POST; security headers.

    A plain ASGI middleware: it reads a POST's body to check the token, then replays
    it to the route, so the route parses the same form.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bench: Workbench = scope["app"].state.bench
        nonce = secrets.token_urlsafe(16)
        state = scope.setdefault("state", {})
        request = Request(scope)
        token = request.cookies.get(COOKIE)
        sess = await bench.run(accounts.session, token) if token else None
        state.update(nonce=nonce, session=sess)

        async def secured(message) -> None:
            if message["type"] == "http.response.start":
                _secure_headers(MutableHeaders(scope=message), nonce)
            await send(message)

        unsafe = request.method not in ("GET", "HEAD")
        body = await _read_body(receive) if unsafe else b""
        refusal = None
        if body is None:
            refusal = PlainTextResponse("request too large", 413)
        elif request.url.path in PUBLIC_PATHS:
            pass
        elif sess is None:
            if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                refusal = RedirectResponse(f"/login?next={urllib.parse.quote(target)}", 303)
            else:
                refusal = PlainTextResponse("login required", 401)
        elif unsafe and not await _csrf_ok(Request(scope, _replay(body)), sess.csrf):
            refusal = PlainTextResponse("CSRF token missing or wrong", 403)
        if refusal is not None:
            await refusal(scope, receive, secured)
        else:
            await self.app(scope, _replay(body) if unsafe else receive, secured)


async def _read_body(receive) -> bytes | None:
    """The whole request body, or None past MAX_FORM_BYTES."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > MAX_FORM_BYTES:
            return None
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes):
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}
    return receive


async def _csrf_ok(request: Request, expected: str) -> bool:
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        sent = (await request.form()).get("csrf")
    return isinstance(sent, str) and hmac.compare_digest(sent.encode(), expected.encode())


def _secure_headers(headers: MutableHeaders, nonce: str) -> None:
    headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    if "cache-control" not in headers:
        headers["Cache-Control"] = "no-store"


# -- pages ---------------------------------------------------------------------------------
templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True))
templates.env.filters["localtime"] = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
templates.env.globals.update(clock=outputs.clock, problem_labels=outputs.PROBLEM_LABELS,
                             state_labels=report.STATE_LABELS, annotation_label=outputs.annotation_label)


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


# -- audio, logged -------------------------------------------------------------------------
class LoggedFileResponse(FileResponse):
    """A FileResponse (HTTP range requests included) whose served bytes go into its access-log row."""

    def __init__(self, path: Path, bench: Workbench, access_id: int, **kwargs):
        super().__init__(path, **kwargs)
        self.bench, self.access_id = bench, access_id

    async def __call__(self, scope, receive, send) -> None:
        sent = 0

        async def counting(message) -> None:
            nonlocal sent
            if message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await super().__call__(scope, receive, counting)
        finally:
            await self.bench.run(review_store.add_bytes, self.access_id, sent)


def _serve_audio(request: Request, path: Path, record: dict, media: str) -> Response:
    bench: Workbench = request.app.state.bench
    sess = request.state.session
    download = request.query_params.get("download") == "1"
    access_id = review_store.log_served(bench.db, session=sess.token_hash, user=sess.user.name,
                                        approver=sess.user.approved_by, call_id=record["call_id"],
                                        file=record["file"], media=media, kind="download" if download else "play")
    name = path.name if media != "recording" else PurePosixPath(record["file"]).name
    return LoggedFileResponse(path, bench, access_id, filename=name if download else None,
                              content_disposition_type="attachment" if download else "inline",
                              headers={"Cache-Control": "private, no-store"})


def recording(request: Request) -> Response:
    bench: Workbench = request.app.state.bench
    _, by_id, _ = bench.records()
    record = by_id.get(request.path_params["call_id"])
    if record is None:
        return PlainTextResponse("no such call", 404)
    path = bench.source(record["call_id"], (record.get("recording") or {}).get("sha256"))
    if path is None:
        return PlainTextResponse("the recording is gone or has changed since its scan", 410)
    return _serve_audio(request, path, record, "recording")


def clip(request: Request) -> Response:
    bench: Workbench = request.app.state.bench
    relative = request.path_params["path"]
    path = bench.clip(relative)
    if path is None:
        return PlainTextResponse("not found", 404)
    _, by_id, clips = bench.records()
    call_id = clips.get(f"clips/{relative}")
    if call_id is None:   # a clip no record lists (left by an earlier scan): still personal data, still logged
        call_id = PurePosixPath(relative).parts[0]
    record = by_id.get(call_id) or {"call_id": call_id, "file": ""}
    return _serve_audio(request, path, record, f"clips/{relative}")


async def listened(request: Request) -> Response:
    """The player's report of time played: {"media": ..., "seconds": ...} (CSRF header)."""
    try:
        body = await request.json()
        media, seconds = str(body["media"]), float(body["seconds"])
    except (ValueError, KeyError, TypeError):
        return PlainTextResponse("expected {media, seconds}", 400)
    if not math.isfinite(seconds):   # JSON's NaN/Infinity would reach the access log as NULL
        return PlainTextResponse("seconds must be a finite number", 400)
    ok = await request.app.state.bench.run(review_store.log_listened,
                                 session=request.state.session.token_hash, media=media, seconds=seconds)
    return JSONResponse({"logged": ok}, status_code=200 if ok else 404)


# -- exports -------------------------------------------------------------------------------
def export_report(request: Request) -> Response:
    """report.csv as of now, with every flag's review state (the same columns `callaudit report` writes)."""
    bench: Workbench = request.app.state.bench
    records, _, _ = bench.records()
    states = review_store.flag_states(records, review_store.current_decisions(bench.db))
    return Response("\ufeff" + report.format_csv(records, states), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="report.csv"'})


def export_access(request: Request) -> Response:
    """The data-security access record (CSV); admins only: it says who listened to what."""
    if request.state.session.user.role != "admin":
        return PlainTextResponse("admins only", 403)
    rows = review_store.access_rows(request.app.state.bench.db)
    return Response(review_store.access_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="access-log.csv"'})


def build_app(out_dir: Path, options: ServeOptions = ServeOptions()) -> Starlette:
    """The workbench app over one output folder (raises CatalogDBError when DIR has no catalog)."""
    routes = [
        Route("/login", login_page, methods=["GET"]), Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", call_list), Route("/calls/{call_id}", call_page),
        Route("/calls/{call_id}/decide", decide, methods=["POST"]),
        Route("/calls/{call_id}/approve", approve, methods=["POST"]),
        Route("/calls/{call_id}/recording", recording), Route("/clips/{path:path}", clip),
        Route("/api/listened", listened, methods=["POST"]),
        Route("/export/report.csv", export_report), Route("/export/access-log.csv", export_access),
    ]
    app = Starlette(routes=routes, middleware=[
        Middleware(TrustedHostMiddleware, allowed_hosts=options.allowed_hosts()), Middleware(Guard)])
    app.state.bench = Workbench(out_dir, options)
    return app


def run(app: Starlette, options: ServeOptions) -> None:
    """Serve the app until interrupted (uvicorn, one process: the login limiter is in memory)."""
    import uvicorn
    uvicorn.run(app, host=options.host, port=options.port, log_level="warning", server_header=False)
