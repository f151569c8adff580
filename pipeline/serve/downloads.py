"""Everything the workbench hands out: recordings and clips (range requests, logged) and CSV exports.

Every response that serves audio gets a row in the access log (review_store) with the
bytes actually sent; the player's reports of time listened go there too. The file
served is the one `Workbench` vouches for (the scanned content, a clip inside
DIR/clips); nothing here resolves paths of its own or renders pages.
"""

from __future__ import annotations

import math
from pathlib import Path, PurePosixPath

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response

from pipeline.core import review_store
from pipeline.scan import report
from pipeline.serve.workbench import Workbench


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

