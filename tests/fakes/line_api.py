"""FakeLine: a local, contract-checked stand-in for api.line.me and api-data.line.me.

A real HTTP server (``ThreadingHTTPServer`` on 127.0.0.1, random port, daemon thread). Point the
SDK at it with ``Configuration(host=fake.url, access_token=fake.access_token)``; the SDK then sends
both api.line.me and api-data.line.me traffic here (see shared/reference/platforms.md §2.2).

Every request is checked against ``tests/contracts/line/messaging-api.yml`` (see
:mod:`fakes.line_contract` for the three layers). A violation is answered with a LINE-style 400
and recorded in :attr:`FakeLine.violations`; tests assert it stays empty.

Order of evaluation for one request::

    contract check (always recorded) -> fail_next / rate_limit_next / fail_ratio
    -> Authorization (401) -> path not in the spec (404) -> contract (400) -> LINE semantics

``delay_next`` holds the answer back (by default after all of the above has happened).

Injected faults happen before the semantics, so a failed reply does not use up its reply token and a
failed push does not "accept" its retry key (a retry then succeeds), which is how LINE documents it.
A delayed request (``delay_next``) is processed *before* the sleep by default: the message is
delivered even though the client times out, which is exactly the case X-Line-Retry-Key exists for.
"""

from __future__ import annotations

import http
import json
import random
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlsplit

import pytest
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound, ServerNotFound
from openapi_core.validation.request.exceptions import SecurityValidationError
from werkzeug.datastructures import Headers

from .line_contract import (
    MESSAGING_API_SPEC,
    HttpRequest,
    HttpResponse,
    Operation,
    Problem,
    find_operation,
    host_for,
    openapi,
    openapi_core_problems,
    parse_json,
    request_docs_problems,
    strict_schema_problems,
    warm_up,
)

T = TypeVar("T")

DEFAULT_ACCESS_TOKEN = "test-access-token"
INVALID_REPLY_TOKEN = "Invalid reply token"
RETRY_KEY_ACCEPTED = "The retry key is already accepted"
AUTH_FAILED = "Authentication failed. Confirm that the access token in the authorization header is valid."
RATE_LIMITED = "The API rate limit has been exceeded. Try again later."
#: Short names accepted by the ``endpoint=`` filter of the fault methods.
ENDPOINTS = {"reply": "/v2/bot/message/reply", "push": "/v2/bot/message/push", "loading": "/v2/bot/chat/loading/start"}
#: Message types whose sentMessages entry carries a quoteToken.
QUOTABLE = frozenset({"text", "textV2", "sticker", "image", "video"})


@dataclass(frozen=True)
class Delivery:
    """One reply or push request as the fake answered it. ``status == 200`` means delivered."""

    kind: Literal["reply", "push"]
    status: int
    request_id: str
    messages: list[dict[str, Any]]
    reply_token: str | None
    #: push: the ``to`` of the request; reply: the user the token was issued for (or None).
    to: str | None
    retry_key: str | None
    notification_disabled: bool
    sent_messages: list[dict[str, str]]
    error: str | None
    received_at: float  # time.monotonic()
    received_wall: float  # time.time()

    @property
    def delivered(self) -> bool:
        return self.status == 200

    @property
    def texts(self) -> list[str]:
        """Text of the text messages (textV2 included) and altText of flex/template messages."""
        out = []
        for m in self.messages:
            if m.get("type") in ("text", "textV2"):
                out.append(str(m.get("text", "")))
            elif "altText" in m:
                out.append(str(m["altText"]))
        return out


@dataclass(frozen=True)
class Violation:
    """A request that broke the contract. ``kind``: openapi | schema | docs | auth | path."""

    kind: str
    method: str
    path: str
    problems: tuple[Problem, ...]
    body: Any
    received_at: float

    def __str__(self) -> str:
        return f"[{self.kind}] {self.method} {self.path}: " + "; ".join(map(str, self.problems))


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    operation_id: str | None
    status: int
    headers: dict[str, str]
    body: Any
    received_at: float


@dataclass
class _Fault:
    status: int
    remaining: int
    endpoint: str | None
    message: str
    retry_after: int | None = None


@dataclass
class _Delay:
    seconds: float
    remaining: int
    endpoint: str | None
    process_first: bool


@dataclass
class _Token:
    issued_at: float
    user_id: str | None
    ttl: float | None
    used: bool = False


@dataclass
class _Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json_answer(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Answer:
    return _Answer(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), headers=dict(headers or {}))


def _error(
    status: int, message: str, details: list[Problem] | None = None, headers: dict[str, str] | None = None
) -> _Answer:
    """LINE's error body: ``{"message": ..., "details": [{"message", "property"}]}``."""
    payload: dict[str, Any] = {"message": message}
    if details:
        payload["details"] = [{"message": p.message, "property": p.property} for p in details]
    return _json_answer(status, payload, headers)


class FakeLine:
    """Local LINE Messaging API. Use as a context manager or through the :func:`fake_line` fixture.

    All configuration methods are thread-safe and may be called while requests are in flight.
    """

    def __init__(
        self,
        access_token: str = DEFAULT_ACCESS_TOKEN,
        *,
        reply_ttl: float = 60.0,
        validate_responses: bool = True,
        validate_requests: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.access_token = access_token
        self.validate_responses = validate_responses
        #: False skips the OpenAPI checks of requests (openapi-core + strict schema, ~1 ms of CPU per
        #: call) for load benchmarks; auth, unknown paths, the documented limits and LINE's semantics
        #: are still checked. Keep it on in tests.
        self.validate_requests = validate_requests
        self._bind = (host, port)
        self._lock = threading.RLock()
        self._validation_lock = threading.Lock()  # openapi-core validators are not documented as thread-safe
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._reply_ttl = reply_ttl
        self._reset_state()

    # ------------------------------------------------------------------ lifecycle

    def _reset_state(self) -> None:
        with self._lock:
            self._tokens: dict[str, _Token] = {}
            self._accepted_keys: dict[str, tuple[str, list[dict[str, str]]]] = {}
            self._faults: list[_Fault] = []
            self._delays: list[_Delay] = []
            self._ratio: tuple[float, int, str | None, random.Random] | None = None
            self._deliveries: list[Delivery] = []
            self._violations: list[Violation] = []
            self._response_violations: list[str] = []
            self._requests: list[RequestRecord] = []
            self._contents: dict[str, tuple[bytes, str]] = {}
            self._profiles: dict[str, dict[str, str]] = {}
            self._next_message_id = 500_000_000_000_000_000

    def start(self) -> FakeLine:
        warm_up()  # build the validators now, not inside the first request's client timeout
        server = _Server(self._bind, _Handler)
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="FakeLine", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeLine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeLine is not running"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL for ``Configuration(host=...)`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    def configuration(self) -> Any:
        """A ``linebot.v3.messaging.Configuration`` pointed at this fake."""
        from linebot.v3.messaging import Configuration

        return Configuration(host=self.url, access_token=self.access_token)

    def reset(self) -> None:
        """Forget deliveries, violations, tokens, retry keys, faults, contents and profiles."""
        self._reset_state()

    # ------------------------------------------------------------------ reply tokens

    @property
    def reply_ttl(self) -> float:
        with self._lock:
            return self._reply_ttl

    @reply_ttl.setter
    def reply_ttl(self, seconds: float) -> None:
        with self._lock:
            self._reply_ttl = float(seconds)

    def issue_reply_token(
        self, token: str | None = None, *, user_id: str | None = None, ttl: float | None = None
    ) -> str:
        """Register a reply token (as if LINE had just sent it in a webhook) and return it.

        The token expires ``ttl`` (default: the current :attr:`reply_ttl`) seconds after this call
        and can be used once. ``user_id`` makes replies show up in ``texts_for(to=user_id)``.
        """
        token = token or secrets.token_hex(16)
        with self._lock:
            self._tokens[token] = _Token(time.monotonic(), user_id, ttl)
        return token

    def expire_reply_token(self, token: str) -> None:
        """Make a registered token expire now (no sleeping in tests)."""
        with self._lock:
            self._tokens[token].ttl = -1.0

    # ------------------------------------------------------------------ faults

    def fail_next(self, n: int, status: int = 500, *, endpoint: str | None = None, message: str | None = None) -> None:
        """The next ``n`` requests (to ``endpoint``: "reply", "push", a path or an operationId) get ``status``."""
        text = message or http.HTTPStatus(status).phrase
        with self._lock:
            self._faults.append(_Fault(status, n, endpoint, text))

    def rate_limit_next(
        self, n: int, retry_after: int = 1, *, endpoint: str | None = None, message: str = RATE_LIMITED
    ) -> None:
        """The next ``n`` requests get 429 with ``Retry-After`` (use message
        "You have reached your monthly limit." to model the monthly quota)."""
        with self._lock:
            self._faults.append(_Fault(429, n, endpoint, message, retry_after))

    def delay_next(self, n: int, seconds: float, *, endpoint: str | None = None, process_first: bool = True) -> None:
        """Hold the answer to the next ``n`` requests for ``seconds``.

        ``process_first=True`` (default): the request takes effect (delivered, token used, retry key
        accepted) before the sleep, so a client timeout hides a success. ``False``: sleep, then process.
        """
        with self._lock:
            self._delays.append(_Delay(seconds, n, endpoint, process_first))

    def fail_ratio(self, p: float, status: int = 500, *, seed: int | None = None, endpoint: str | None = None) -> None:
        """Fail a random share ``p`` of requests with ``status`` (seeded for reproducible load tests);
        ``p=0`` switches it off. Applied after the queued faults."""
        with self._lock:
            self._ratio = None if p <= 0 else (p, status, endpoint, random.Random(seed))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._delays.clear()
            self._ratio = None

    @staticmethod
    def _matches(endpoint: str | None, path: str, op: Operation | None) -> bool:
        if endpoint is None:
            return True
        return path == ENDPOINTS.get(endpoint, endpoint) or (op is not None and op.operation_id == endpoint)

    def _take_fault(self, path: str, op: Operation | None) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and self._matches(fault.endpoint, path, op):
                    fault.remaining -= 1
                    return fault
            self._faults = [f for f in self._faults if f.remaining > 0]
            if self._ratio is not None:
                p, status, endpoint, rng = self._ratio
                if self._matches(endpoint, path, op) and rng.random() < p:
                    return _Fault(status, 0, endpoint, http.HTTPStatus(status).phrase)
        return None

    def _take_delay(self, path: str, op: Operation | None) -> _Delay | None:
        with self._lock:
            for delay in self._delays:
                if delay.remaining > 0 and self._matches(delay.endpoint, path, op):
                    delay.remaining -= 1
                    return delay
        return None

    # ------------------------------------------------------------------ canned data

    def set_content(self, message_id: str, data: bytes, content_type: str = "image/jpeg") -> None:
        """What GET /v2/bot/message/{message_id}/content (api-data.line.me) returns."""
        with self._lock:
            self._contents[message_id] = (data, content_type)

    def set_profile(self, user_id: str, display_name: str, **extra: str) -> None:
        with self._lock:
            self._profiles[user_id] = {"displayName": display_name, "userId": user_id, **extra}

    # ------------------------------------------------------------------ records

    @property
    def deliveries(self) -> list[Delivery]:
        """Every reply/push request with the status it got (a copy)."""
        with self._lock:
            return list(self._deliveries)

    @property
    def violations(self) -> list[Violation]:
        with self._lock:
            return list(self._violations)

    @property
    def response_violations(self) -> list[str]:
        """Answers of the fake itself that broke the spec (a bug in the fake)."""
        with self._lock:
            return list(self._response_violations)

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    def delivered(self) -> list[Delivery]:
        """Replies and pushes that reached the user (HTTP 200). A 409 is not a second delivery."""
        return [d for d in self.deliveries if d.delivered]

    def messages_for(self, reply_token: str | None = None, to: str | None = None) -> list[dict[str, Any]]:
        """Message objects delivered for a reply token and/or to a user (no filter: all)."""
        out = []
        for d in self.delivered():
            if reply_token is not None and d.reply_token != reply_token:
                continue
            if to is not None and d.to != to:
                continue
            out.extend(d.messages)
        return out

    def texts_for(self, reply_token: str | None = None, to: str | None = None) -> list[str]:
        """Texts (and flex/template altText) delivered, in order; see :meth:`messages_for`."""
        out = []
        for d in self.delivered():
            if (reply_token is None or d.reply_token == reply_token) and (to is None or d.to == to):
                out.extend(d.texts)
        return out

    def wait_for(self, predicate: Callable[[], T], timeout: float = 2.0, interval: float = 0.005) -> T:
        """Poll ``predicate()`` until it returns something truthy; return it, or fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                summary = [(d.kind, d.status, d.texts) for d in self.deliveries]
                raise AssertionError(
                    f"condition not met within {timeout}s; deliveries={summary}; violations={self.violations}"
                )
            time.sleep(interval)

    def wait_for_deliveries(self, n: int, timeout: float = 2.0) -> list[Delivery]:
        """Wait until at least ``n`` messages requests were delivered (status 200); return them."""

        def enough() -> list[Delivery]:
            got = self.delivered()
            return got if len(got) >= n else []

        return self.wait_for(enough, timeout)

    def assert_no_violations(self) -> None:
        """Fail with a readable list if any request broke the contract or the fake answered off-spec."""
        problems = [str(v) for v in self.violations] + [f"[fake response] {r}" for r in self.response_violations]
        assert not problems, "LINE contract violations:\n" + "\n".join(problems)

    # ------------------------------------------------------------------ request handling

    def _record_violation(
        self, kind: str, method: str, path: str, problems: list[Problem], body: Any, now: float
    ) -> None:
        if problems:
            with self._lock:
                self._violations.append(Violation(kind, method, path, tuple(problems), body, now))

    def _check_contract(
        self, req: HttpRequest, op: Operation | None, parsed: Any, now: float
    ) -> tuple[list[Problem], bool, bool]:
        """Returns (problems that make it a 400, auth header missing/malformed, path unknown)."""
        spec = openapi(MESSAGING_API_SPEC)
        method, path = req.method.upper(), req.path
        auth_missing = unknown_path = False
        core: list[Problem] = []
        if not self.validate_requests:
            unknown_path = op is None
            docs = request_docs_problems(path, req.headers, parsed)
            self._record_violation("docs", method, path, docs, parsed, now)
            return docs, auth_missing, unknown_path
        with self._validation_lock:
            try:
                spec.validate_request(req)
            except SecurityValidationError as exc:
                auth_missing = True
                self._record_violation("auth", method, path, openapi_core_problems(exc), parsed, now)
            except (PathNotFound, OperationNotFound, ServerNotFound) as exc:
                unknown_path = True
                self._record_violation("path", method, path, openapi_core_problems(exc), parsed, now)
            except Exception as exc:  # any other openapi-core validation error
                core = openapi_core_problems(exc)
                self._record_violation("openapi", method, path, core, parsed, now)
            strict: list[Problem] = []
            if not core and not unknown_path and op is not None and op.body_schema_ref and parsed is not None:
                strict = strict_schema_problems(parsed, op.body_schema_ref)
                self._record_violation("schema", method, path, strict, parsed, now)
        docs = request_docs_problems(path, req.headers, parsed)
        self._record_violation("docs", method, path, docs, parsed, now)
        return core + strict + docs, auth_missing, unknown_path

    def _sent_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, str]]:
        out = []
        with self._lock:
            for m in messages:
                self._next_message_id += 1
                entry = {"id": str(self._next_message_id)}
                if m.get("type") in QUOTABLE:
                    entry["quoteToken"] = secrets.token_urlsafe(24)
                out.append(entry)
        return out

    def _reply(self, body: dict[str, Any], now: float) -> _Answer:
        token = body["replyToken"]
        with self._lock:
            info = self._tokens.get(token)
            ttl = self._reply_ttl if info is None or info.ttl is None else info.ttl
            if info is None or info.used or now - info.issued_at > ttl:
                return _error(400, INVALID_REPLY_TOKEN)
            info.used = True
        return _json_answer(200, {"sentMessages": self._sent_messages(body["messages"])})

    def _push(self, body: dict[str, Any], retry_key: str | None, request_id: str) -> _Answer:
        with self._lock:
            if retry_key is not None and retry_key in self._accepted_keys:
                first_id, sent = self._accepted_keys[retry_key]
                return _json_answer(
                    409,
                    {"message": RETRY_KEY_ACCEPTED, "sentMessages": sent},
                    {"x-line-accepted-request-id": first_id},
                )
            sent = self._sent_messages(body["messages"])
            if retry_key is not None:
                self._accepted_keys[retry_key] = (request_id, sent)
        return _json_answer(200, {"sentMessages": sent})

    def _semantics(
        self, op: Operation, path: str, headers: Headers, parsed: Any, now: float, request_id: str
    ) -> _Answer:
        if op.operation_id == "replyMessage":
            return self._reply(parsed, now)
        if op.operation_id == "pushMessage":
            return self._push(parsed, headers.get("X-Line-Retry-Key"), request_id)
        if op.operation_id == "showLoadingAnimation":
            return _json_answer(202, {})
        if op.operation_id == "getProfile":
            user_id = path.rsplit("/", 1)[-1]
            with self._lock:
                profile = self._profiles.get(
                    user_id, {"displayName": "テスト 利用者", "userId": user_id, "language": "ja"}
                )
            return _json_answer(200, profile)
        if op.operation_id == "getMessageContent":
            message_id = path.split("/")[-2]
            with self._lock:
                data, ctype = self._contents.get(message_id, (b"\xff\xd8\xff\xe0fake-jpeg", "image/jpeg"))
            return _Answer(200, data, ctype)
        return _error(501, f"FakeLine does not implement {op.operation_id}")

    def handle(
        self, method: str, raw_path: str, headers: Headers, body: bytes
    ) -> tuple[_Answer, _Delay | None, Callable[[], _Answer] | None]:
        """Entry point used by the HTTP handler; returns (answer now, delay, or deferred processing)."""
        split = urlsplit(raw_path)
        path = split.path
        op = find_operation(path, method)
        delay = self._take_delay(path, op)
        if delay is not None and not delay.process_first:
            return _Answer(0, b""), delay, lambda: self._process(method, path, split.query, headers, body, op)
        return self._process(method, path, split.query, headers, body, op), delay, None

    def _process(
        self, method: str, path: str, query: str, headers: Headers, body: bytes, op: Operation | None
    ) -> _Answer:
        now, wall = time.monotonic(), time.time()
        request_id = str(uuid.uuid4())
        parsed = parse_json(body)
        req = HttpRequest(
            host_for(path, method),
            path,
            method,
            headers,
            body,
            (headers.get("Content-Type") or "").lower(),
            dict(parse_qsl(query)),
        )
        problems, auth_missing, unknown_path = self._check_contract(req, op, parsed, now)

        fault = self._take_fault(path, op)
        if fault is not None:
            extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            answer = _error(fault.status, fault.message, headers=extra)
        elif auth_missing or headers.get("Authorization") != f"Bearer {self.access_token}":
            answer = _error(401, AUTH_FAILED)
        elif unknown_path or op is None:
            answer = _error(404, "Not found")
        elif problems:
            answer = _error(400, f"The request body has {len(problems)} error(s)", problems)
        else:
            answer = self._semantics(op, path, headers, parsed, now, request_id)
        answer.headers.setdefault("x-line-request-id", request_id)

        self._record(method, path, op, headers, parsed if parsed is not None else body, answer, now, wall, request_id)
        if self.validate_responses and op is not None and not problems and not unknown_path and fault is None:
            self._check_response(req, op, answer)
        return answer

    def _record(
        self,
        method: str,
        path: str,
        op: Operation | None,
        headers: Headers,
        body: Any,
        answer: _Answer,
        now: float,
        wall: float,
        request_id: str,
    ) -> None:
        payload = parse_json(answer.body) if answer.content_type == "application/json" else None
        with self._lock:
            self._requests.append(
                RequestRecord(
                    method, path, op.operation_id if op else None, answer.status, dict(headers.items()), body, now
                )
            )
            if op is None or op.operation_id not in ("replyMessage", "pushMessage"):
                return
            data = body if isinstance(body, dict) else {}
            reply_token = data.get("replyToken") if op.operation_id == "replyMessage" else None
            token = self._tokens.get(reply_token) if isinstance(reply_token, str) else None
            self._deliveries.append(
                Delivery(
                    kind="reply" if op.operation_id == "replyMessage" else "push",
                    status=answer.status,
                    request_id=request_id,
                    messages=[m for m in data.get("messages") or [] if isinstance(m, dict)],
                    reply_token=reply_token,
                    to=data.get("to") if op.operation_id == "pushMessage" else (token.user_id if token else None),
                    retry_key=headers.get("X-Line-Retry-Key"),
                    notification_disabled=bool(data.get("notificationDisabled", False)),
                    sent_messages=list((payload or {}).get("sentMessages") or []) if isinstance(payload, dict) else [],
                    error=payload.get("message") if isinstance(payload, dict) and answer.status != 200 else None,
                    received_at=now,
                    received_wall=wall,
                )
            )

    def _check_response(self, req: HttpRequest, op: Operation, answer: _Answer) -> None:
        if str(answer.status) not in op.statuses:
            return  # e.g. 401 or 501: not declared for the operation, nothing to check against
        resp = HttpResponse(answer.body, answer.status, answer.content_type, Headers(answer.headers))
        with self._validation_lock:
            try:
                openapi(MESSAGING_API_SPEC).validate_response(req, resp)
            except Exception as exc:
                with self._lock:
                    self._response_violations.append(
                        f"{req.method.upper()} {req.path} -> {answer.status}: "
                        + "; ".join(map(str, openapi_core_problems(exc)))
                    )


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # default 5: bursts of concurrent clients would wait for SYN retries (1 s)
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that goes away (a SIGKILLed server, a timeout) is normal here, not a traceback
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like api.line.me
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid the 40 ms delayed-ACK stall
    timeout = 30  # idle keep-alive connections
    server_version = "FakeLine/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        fake: FakeLine = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = Headers(list(self.headers.items()))
        answer, delay, deferred = fake.handle(self.command, self.path, headers, body)
        if delay is not None:
            time.sleep(delay.seconds)
        if deferred is not None:
            answer = deferred()
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout); the request has still been processed

    do_GET = do_POST = do_PUT = do_DELETE = _serve


@pytest.fixture
def fake_line() -> Iterator[FakeLine]:
    """A running :class:`FakeLine`; fails the test at teardown if the fake itself answered off-spec.

    Import it into a conftest or test module: ``from fakes.line_api import fake_line``.
    """
    with FakeLine() as fake:
        yield fake
        assert not fake.response_violations, fake.response_violations
