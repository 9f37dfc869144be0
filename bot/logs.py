"""Logging set-up: one JSON object per line (or plain text), never a message's words.

Code that logs must not pass message text or raw user ids; this module adds no fields
from requests on its own.  Event ids (LINE's webhookEventId, Slack's event_id) and keyed
user hashes are fine.  Two guards against leaks from code we do not control:

- tracebacks keep their frames (file, line, function) and the exception's type, but not
  its message, which may quote the input (``invalid literal for int(): '三十万'``);
- third-party loggers never go below INFO: at DEBUG, HTTP clients log request bodies.
  ``TSUNAGU_LOG_LEVEL=DEBUG`` applies to tsunagu's own loggers only.
"""

from __future__ import annotations

import json
import logging
import time
import traceback

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _traceback(exc_info) -> str:
    """A traceback without exception messages (frames and types only)."""
    te = traceback.TracebackException(*exc_info)
    lines: list[str] = []
    while te is not None:
        lines[:0] = [*te.stack.format(), f"{te.exc_type.__module__}.{te.exc_type.__qualname__}"
                     if te.exc_type else "?", "\n"]
        te = te.__cause__ or (None if te.__suppress_context__ else te.__context__)
    return "".join(lines).rstrip()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exc"] = _traceback(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def formatException(self, ei) -> str:
        return _traceback(ei)


def logconfig(fmt: str = "json", level: str = "INFO") -> dict:
    """A logging.config dict for the app and gunicorn (``logconfig_dict``)."""
    level = level.upper() if level.upper() in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL") else "INFO"
    others = "INFO" if level == "DEBUG" else level
    formatter = {"()": "bot.logs.JsonFormatter"} if fmt == "json" else {
        "()": "bot.logs.TextFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": others},
        "loggers": {
            "tsunagu": {"level": level},
            "gunicorn.error": {"handlers": ["stderr"], "level": others, "propagate": False},
            "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
