"""Reading a webhook body safely: bounded, UTF-8, a JSON object of bounded depth, storable text.

Shared by the LINE and Slack endpoints so that every malformed request gets the same clear
4xx instead of a 500 (issue 11):

- the body is read from the stream with a limit, whether or not a Content-Length was sent
  (``Transfer-Encoding: chunked`` has none), so a 10 MB body costs at most ``limit`` bytes
  of memory and gets 413;
- JSON nested deeper than :data:`MAX_DEPTH` (LINE and Slack send about 6 levels) is refused
  before the parser can hit Python's recursion limit;
- lone surrogates (JSON ``"\\ud800"``) cannot be written as UTF-8 (SQLite, logs, LINE's API):
  :func:`scrub` replaces them with U+FFFD so the event is kept and answered, not lost.

Error reasons are fixed short texts: nothing from the body ever goes into a response or a log.
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge

#: Nesting LINE's and Slack's bodies never come near (they use about 6 levels).
MAX_DEPTH = 64
#: What a lone surrogate becomes: the Unicode replacement character.
REPLACEMENT = "\ufffd"
_CHUNK = 64 * 1024


class BadBody(Exception):
    """A request body we refuse; ``reason`` is a fixed text safe to answer and log, ``status`` the HTTP code."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason = reason
        self.status = status


def read_limited(stream: BinaryIO, limit: int, content_length: int | None = None) -> bytes:
    """Read at most ``limit`` bytes; :class:`BadBody` (413) when there is more.

    The declared length is checked first (nothing read at all), then the stream is read in
    chunks until ``limit + 1`` bytes, which covers bodies without a Content-Length.
    """
    if content_length is not None and content_length > limit:
        raise BadBody("body too large", 413)
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(min(_CHUNK, limit + 1 - size))
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    if size > limit:
        raise BadBody("body too large", 413)
    return b"".join(parts)


def read_body(request: Request, limit: int) -> bytes:
    """The request's body, at most ``limit`` bytes, else :class:`BadBody` (413, our own plain answer).

    The declared length is looked at before the stream is touched, and werkzeug's own limit
    (``MAX_CONTENT_LENGTH``, which would answer with its HTML page) is turned into the same 413.
    """
    if (request.content_length or 0) > limit:
        raise BadBody("body too large", 413)
    try:
        return read_limited(request.stream, limit, request.content_length)
    except RequestEntityTooLarge:
        raise BadBody("body too large", 413) from None


def decode_utf8(body: bytes) -> str:
    """The body as text; :class:`BadBody` when it is not UTF-8 (both platforms send UTF-8)."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody("body is not UTF-8") from None


def nesting_depth(text: str) -> int:
    """The deepest ``[``/``{`` nesting of JSON text, brackets inside strings not counted.

    Computed without recursion, so it is safe on 100,000 ``[`` in a row; ``str.find`` jumps
    over the contents of strings.
    """
    depth = deepest = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            i = _string_end(text, i + 1)
            continue
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                return deepest
        elif ch in "]}":
            depth -= 1
        i += 1
    return deepest


def _string_end(text: str, i: int) -> int:
    """The index after the closing quote of a JSON string starting at ``i`` (or the end of the text)."""
    while True:
        j = text.find('"', i)
        if j < 0:
            return len(text)
        backslashes = 0
        k = j - 1
        while k >= i and text[k] == "\\":
            backslashes += 1
            k -= 1
        if backslashes % 2 == 0:
            return j + 1
        i = j + 1


def parse_object(text: str) -> dict[str, Any]:
    """JSON text that must be an object of bounded depth, lone surrogates replaced; else :class:`BadBody`."""
    if nesting_depth(text) > MAX_DEPTH:
        raise BadBody("body is nested too deeply")
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        raise BadBody("body is not JSON") from None
    if not isinstance(payload, dict):
        raise BadBody("body is not a JSON object")
    return scrub(payload)


def scrub(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (keys too) replaced by U+FFFD.

    Only called on parsed bodies of bounded depth (:func:`parse_object`), so recursion is safe.
    """
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, dict):
        return {_clean_text(k): scrub(v) for k, v in value.items()}
    return value


def _clean_text(text: str) -> str:
    """``text`` unchanged when it is valid Unicode (the usual case, checked fast), else with U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join(REPLACEMENT if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text
