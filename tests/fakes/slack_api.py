"""A local stand-in for the Slack Web API (https://slack.com/api/) and for ``response_url``.

Every call is checked against the official Web API spec (slack_web_openapi_v2.json, Swagger
2.0): the method must exist, the bot token must be sent as ``Authorization: Bearer``, and
every parameter the spec marks required must be present.  Block Kit payloads also get the
limits Slack documents (section text 3,000, header 150, block_id 255, 100 options…).
Problems are answered like Slack does (HTTP 200, ``{"ok": false}``) and recorded in
``violations`` so tests can assert that the app never made a bad call.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qsl

SPEC_PATH = Path(__file__).resolve().parent.parent / "contracts" / "slack" / "slack_web_openapi_v2.json"
DEFAULT_TOKEN = "xoxb-test-token"
BLOCK_LIMITS = {"section_text": 3000, "header_text": 150, "block_id": 255, "options": 100, "button_text": 75,
                "blocks": 50, "context_elements": 10, "actions_elements": 25}


def slack_headers(body: str, secret: str, ts: int | None = None, content_type: str = "application/json") -> dict:
    """Headers Slack sends: X-Slack-Request-Timestamp and the v0 HMAC signature of the raw body."""
    ts = int(time.time()) if ts is None else ts
    base = f"v0:{ts}:{body}".encode()
    sig = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": sig, "Content-Type": content_type}


@dataclass
class Call:
    method: str
    args: dict
    headers: dict
    at: float = field(default_factory=time.time)


def _load_required() -> dict[str, set[str]]:
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    out = {}
    for path, ops in spec["paths"].items():
        for op in ops.values():
            out[path.lstrip("/")] = {p["name"] for p in op.get("parameters", [])
                                     if p.get("required") and p["in"] != "header"}
    return out


def block_problems(blocks: Any) -> list[str]:
    """Block Kit limits Slack documents (a subset: what this app uses)."""
    if blocks is None:
        return []
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return ["blocks is not JSON"]
    problems = []
    if not isinstance(blocks, list):
        return ["blocks must be a list"]
    if len(blocks) > BLOCK_LIMITS["blocks"]:
        problems.append(f"{len(blocks)} blocks (max {BLOCK_LIMITS['blocks']})")
    for b in blocks:
        kind = b.get("type")
        if len(b.get("block_id", "")) > BLOCK_LIMITS["block_id"]:
            problems.append("block_id too long")
        if kind == "section":
            text = (b.get("text") or {}).get("text", "")
            if not text and not b.get("fields"):
                problems.append("section without text or fields")
            if len(text) > BLOCK_LIMITS["section_text"]:
                problems.append(f"section text {len(text)} > 3000")
            if len(b.get("fields") or []) > 10:
                problems.append("more than 10 fields")
        elif kind == "header":
            text = (b.get("text") or {})
            if text.get("type") != "plain_text" or len(text.get("text", "")) > BLOCK_LIMITS["header_text"]:
                problems.append("bad header")
        elif kind == "actions":
            for e in b.get("elements") or []:
                if e.get("type") == "static_select" and not 0 < len(e.get("options") or []) <= 100:
                    problems.append("static_select options count")
                if e.get("type") == "button" and len((e.get("text") or {}).get("text", "")) > 75:
                    problems.append("button text too long")
        elif kind == "context":
            if not 0 < len(b.get("elements") or []) <= 10:
                problems.append("context elements count")
        elif kind not in ("divider", "image", "input", "rich_text"):
            problems.append(f"unknown block type {kind!r}")
    return problems


class FakeSlack:
    def __init__(self, token: str = DEFAULT_TOKEN):
        self.token = token
        self.required = _load_required()
        self.calls: list[Call] = []
        self.responses: list[Call] = []     # posts to response_url
        self.violations: list[str] = []
        self._faults: list[tuple[int, dict, dict]] = []
        self._response_faults: list[int] = []     # statuses for the next posts to response_url
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> "FakeSlack":
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.url}/response_url/{name}"

    # -- faults and records ----------------------------------------------------------------------
    def rate_limit_next(self, n: int = 1, retry_after: int = 1) -> None:
        with self._lock:
            self._faults.extend([(429, {"Retry-After": str(retry_after)}, {"ok": False, "error": "ratelimited"})] * n)

    def fail_next(self, n: int = 1, status: int = 500, error: str = "fatal_error") -> None:
        """The next ``n`` calls fail; Slack answers most errors with HTTP 200 and ``ok: false``."""
        with self._lock:
            self._faults.extend([(status, {}, {"ok": False, "error": error})] * n)

    def fail_response_next(self, n: int = 1, status: int = 500) -> None:
        """The next ``n`` posts to a response_url get ``status`` (recorded all the same)."""
        with self._lock:
            self._response_faults.extend([status] * n)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        end = time.time() + timeout
        while time.time() < end:
            got = predicate()
            if got:
                return got
            time.sleep(0.02)
        raise AssertionError("timed out waiting for the Slack fake")

    # -- handling -----------------------------------------------------------------------------------
    def handle(self, path: str, headers: dict, raw: bytes) -> tuple[int, dict, dict]:
        ctype = headers.get("Content-Type", "")
        text = raw.decode("utf-8") if raw else ""
        args = json.loads(text) if ctype.startswith("application/json") and text else dict(parse_qsl(text))
        if path.startswith("/response_url/"):
            with self._lock:
                self.responses.append(Call(path, args, headers))
                fault = self._response_faults.pop(0) if self._response_faults else None
            for p in block_problems(args.get("blocks")):
                self.violations.append(f"response_url: {p}")
            if fault is not None:
                return fault, {}, {"ok": False, "error": "fault"}
            return 200, {}, {"ok": True}
        method = path.removeprefix("/api/")
        with self._lock:
            self.calls.append(Call(method, args, headers))
            if self._faults:
                return self._faults.pop(0)
        if method not in self.required:
            self.violations.append(f"{method}: not in the Web API spec")
            return 200, {}, {"ok": False, "error": "unknown_method"}
        if headers.get("Authorization") != f"Bearer {self.token}":
            self.violations.append(f"{method}: missing or wrong bot token")
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        missing = [name for name in self.required[method] if name != "token" and args.get(name) in (None, "")]
        if missing:
            self.violations.append(f"{method}: missing required {missing}")
            return 200, {}, {"ok": False, "error": "invalid_arguments"}
        for p in block_problems(args.get("blocks")):
            self.violations.append(f"{method}: {p}")
        if method == "chat.postMessage":
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            return 200, {}, {"ok": True, "channel": args["channel"], "ts": ts,
                             "message": {"text": args.get("text", ""), "ts": ts}}
        if method == "chat.update":
            return 200, {}, {"ok": True, "channel": args["channel"], "ts": args["ts"], "text": args.get("text", "")}
        if method == "auth.test":
            return 200, {}, {"ok": True, "team_id": "T0001", "user_id": "U0BOT", "bot_id": "B0001"}
        return 200, {}, {"ok": True}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSlack
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, extra, body = self.fake.handle(self.path, dict(self.headers.items()), raw)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
