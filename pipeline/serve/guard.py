"""The workbench's security middleware: session, CSRF token, request size and response headers.

Every request but the login page needs a live session; every POST carries the
session's CSRF token (form field `csrf` or header `X-CSRF-Token`), checked before any
route runs; every response forbids framing, sniffing, referrers and foreign scripts
(CSP with a nonce). It only lets requests through or refuses them: no route logic.
"""

from __future__ import annotations

import hmac
import secrets
import urllib.parse

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse

from pipeline.serve import accounts
from pipeline.serve.workbench import Workbench

COOKIE = "callaudit_session"
PUBLIC_PATHS = ("/login",)
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

