"""Review workbench test helpers: a writable copy of the review scan, accounts, a live uvicorn server."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from pathlib import Path

import uvicorn
from starlette.testclient import TestClient

from pipeline.core import review_store
from pipeline.serve import accounts
from pipeline.serve import app as serve
from pipeline.serve.workbench import ServeOptions

PASSWORD = "review-pass-123"
USERS = {"rita": "reviewer", "rob": "reviewer", "anna": "approver", "adam": "admin"}


def workbench_copy(review_scan: dict, tmp_path: Path) -> Path:
    """A copy of the scan's output folder (tests write decisions and logs into its catalog) with USERS."""
    out = tmp_path / "out"
    shutil.copytree(review_scan["out"], out)
    db = review_store.connect(out)
    for name, role in USERS.items():
        accounts.add_user(db, name, role, PASSWORD, approved_by="lisi")
    db.close()
    return out


def client(out: Path, options: ServeOptions = ServeOptions(), address: str = "127.0.0.1") -> TestClient:
    return TestClient(serve.build_app(out, options), base_url="http://127.0.0.1", follow_redirects=False,
                      client=(address, 50000))


def login(c: TestClient, name: str, password: str = PASSWORD):
    return c.post("/login", data={"user": name, "password": password, "next": "/"})


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """The workbench under uvicorn on a free loopback port, in a thread (stopped by stop())."""

    def __init__(self, out: Path, options: ServeOptions = ServeOptions()):
        port = free_port()
        options = ServeOptions(**{**options.__dict__, "port": port})
        config = uvicorn.Config(serve.build_app(out, options), host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
