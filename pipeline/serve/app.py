"""`callaudit serve DIR`: the review workbench, a local web app over a scan's output folder.

Starlette (ASGI) with Jinja2 templates (pipeline/serve/templates), served by uvicorn on
127.0.0.1 by default. Pages are rendered on the server; a little inline JavaScript
seeks players, reports time listened and adds the keyboard shortcuts. Nothing is
fetched from the network.

Security model, in one place (the middleware `guard` and the file checks of `workbench`):
* every request but the login page needs a live session (accounts.session);
* every state-changing request (POST) carries the session's CSRF token, in the form
  field `csrf` or the `X-CSRF-Token` header, checked before any route runs;
* clips are served only from DIR/clips, by a path that is resolved (symlinks
  followed) and must stay inside it; a recording is served by call_id only, from the
  path the catalog holds, and only while its content is the one that was scanned;
* every request that serves audio is logged in the access log (review_store);
* the Host header must name this server (no DNS rebinding), and pages forbid
  framing, sniffing, referrers and scripts other than their own (CSP with a nonce).

This module only assembles the app: pages in `pages`, audio and exports in `downloads`;
routes only wire the stores (review_store, accounts) and the report helpers.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Route

from pipeline.serve.downloads import (
    clip,
    export_access,
    export_report,
    listened,
    recording,
)
from pipeline.serve.guard import Guard
from pipeline.serve.pages import (
    approve,
    call_list,
    call_page,
    decide,
    login,
    login_page,
    logout,
)
from pipeline.serve.workbench import ServeOptions, Workbench


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
