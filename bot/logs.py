"""Logging set-up: one JSON object per line (or plain text), never a message's words.

Code that logs must not pass message text or raw user ids; this module adds no fields
from requests on its own.  Event ids (LINE's webhookEventId, Slack's event_id) and keyed
user hashes are fine.  Two guards against leaks from code we do not control:

- tracebacks keep their frames (file, line, function) and the exception's type, but not
  its message, which may quote the input (``invalid literal for int(): '三十万'``);
- third-party loggers never go below INFO: at DEBUG, HTTP clients log request bodies.
  ``TSUNAGU_LOG_LEVEL=DEBUG`` applies to tsunagu's own loggers only;
- Bolt (slack_bolt) quotes request bodies in its messages (a badly signed request, an
  unhandled one): its messages are replaced by a fixed text, at every level
  (:class:`Withhold`); the level, logger name and traceback frames stay.

Every line is bounded: the message at :data:`MSG_MAX` characters, each extra field at
:data:`FIELD_MAX`, a traceback at :data:`EXC_MAX` — nobody can grow the log by megabytes
with one request.
"""

from __future__ import annotations

import json
import logging
import time
import traceback

#: Longest message kept in a log line (characters); the rest is cut and marked with "…".
MSG_MAX = 500
#: Longest value of an extra field (``log.info(..., extra={...})``).
FIELD_MAX = 200
#: Longest traceback (frames and exception types only, see :func:`_traceback`).
EXC_MAX = 4000
#: Loggers whose messages are never written (they may quote a request body).  Bolt's app logger is
#: ``slack_bolt.tsunagu`` (bot/channels/slack/app.py): under ``slack_bolt``, so it stays at INFO with
#: the other third-party loggers when TSUNAGU_LOG_LEVEL=DEBUG.
WITHHELD = ("slack_bolt",)

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


def cap(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (marked with "…" when cut)."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


class Withhold(logging.Filter):
    """Replace the message of a record from a withheld logger (:data:`WITHHELD`) by a fixed text.

    Used on Bolt's logger (Bolt copies a base logger's filters to every logger it makes) and on
    the handlers (for Bolt loggers made without a base logger).  Never drops a record: that an
    error happened stays visible.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(WITHHELD):
            record.msg = "message withheld (%s from %s may quote a request)"
            record.args = (record.levelname.lower(), record.name)
        return True


def withheld_logger(name: str) -> logging.Logger:
    """A logger whose messages are withheld (for libraries that take a ``logger=``, like Bolt's App)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, Withhold) for f in logger.filters):
        logger.addFilter(Withhold())
    return logger


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": cap(record.getMessage(), MSG_MAX),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value if isinstance(value, (int, float, bool)) or value is None \
                    else cap(str(value), FIELD_MAX)
        if record.exc_info:
            data["exc"] = cap(_traceback(record.exc_info), EXC_MAX)
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = cap(record.message, MSG_MAX)
        return super().formatMessage(record)

    def formatException(self, ei) -> str:
        return cap(_traceback(ei), EXC_MAX)


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
        "filters": {"withhold": {"()": "bot.logs.Withhold"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr",
                                "filters": ["withhold"]}},
        "root": {"handlers": ["stderr"], "level": others},
        "loggers": {
            "tsunagu": {"level": level},
            "gunicorn.error": {"handlers": ["stderr"], "level": others, "propagate": False},
            "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
