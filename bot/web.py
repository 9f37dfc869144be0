"""Flask app factory: the channels' webhooks, health, metrics — one app, fresh per call.

The channels are those of :data:`bot.channels.registry.CHANNELS`; a channel whose secrets are
unset is switched off with a clear log line, the rest keeps working.  The background worker
(inbox → triage → outbox → platform) starts with the app unless ``start_worker=False`` (tests
drive it by hand).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, Response, jsonify, request

from . import metrics, trypage
from .channels.base import Channel, Context
from .channels.line.webhook import MAX_BODY
from .channels.registry import CHANNELS
from .config import Settings
from .escalation import Escalation
from .live import Live, Version
from .reload import ReloadResult, Reloader, fingerprint, start
from .storage import Store, open_store
from .worker import Worker

log = logging.getLogger("tsunagu.web")


@dataclass
class Services:
    """What the app runs on; kept on ``app.extensions["tsunagu"]``."""

    settings: Settings
    live: Live
    store: Store
    worker: Worker
    channels: dict[str, bool] = field(default_factory=dict)
    reloader: Reloader | None = None
    started: ReloadResult | None = None   # what the start said (shown while nothing reloads)


def create_app(settings: Settings | None = None, *, version: Version | None = None,
               start_worker: bool = True, worker_threads: int = 2) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    tz = ZoneInfo(settings.timezone)
    store = open_store(settings)
    notify = _admin_notify(settings, store)
    seen = fingerprint(settings.intents_dir, settings.responses_dir)  # before loading: see reload.Reloader
    if version is None:
        version, started = start(settings, notify)
    else:
        started = ReloadResult("unchanged", version.id)
    live = Live(settings, version)
    processors: dict = {}
    senders: dict = {}
    channels: dict[str, bool] = {}
    worker = Worker(store, processors, senders, timezone=settings.timezone, threads=worker_threads,
                    observe=metrics.observe_worker, retention_seconds=settings.retention_days * 86400,
                    max_attempts=settings.max_attempts, backup_dir=settings.backup_dir)
    services = Services(settings, live, store, worker, channels, started=started)

    ctx = Context(settings, store, live, worker.wake, lambda: datetime.now(tz), Escalation())
    for name, factory in CHANNELS.items():
        channel = factory(ctx)
        channels[name] = channel is not None
        if channel is not None:
            _mount(app, channel, processors, senders)

    app.extensions["tsunagu"] = services
    app.register_blueprint(trypage.blueprint(services))

    @app.after_request
    def count(response):
        path = request.path
        channel = next((name for name in CHANNELS if path.startswith(f"/{name}/")),
                       "try" if path.startswith("/try") else None)
        if channel:
            metrics.REQUESTS.labels(channel, str(response.status_code)).inc()
        return response

    @app.get("/metrics")
    def metrics_endpoint():
        body, content_type = metrics.exposition(store.depth)
        return Response(body, mimetype=content_type.split(";")[0], headers={"Content-Type": content_type})

    @app.get("/healthz")
    def healthz():
        # a real write with a short lock wait: a locked database or a full disk is "not ok"
        problem = store.heartbeat()
        if problem is not None:
            log.error("healthz: the database does not take writes: %s", problem)
            return jsonify({"status": "db_unwritable", "error": problem, "pid": os.getpid()}), 503
        depth = store.depth()
        reload = services.reloader.last if services.reloader else services.started
        return jsonify({"status": "ok", "knowledge": live.current.id, "channels": channels, "pid": os.getpid(),
                        "inbox": depth["inbox"], "outbox": depth["outbox"],
                        "reload": reload.to_json() if reload else None})

    def database_error(exc: Exception):
        """A locked database, a full disk, a lost server: one log line, 500 (LINE and Slack deliver again)."""
        log.error("%s %s: database error: %s", request.method, request.path, exc)
        return Response("database unavailable", status=500, mimetype="text/plain")

    for error in store.UNAVAILABLE:
        app.register_error_handler(error, database_error)

    if start_worker:
        worker.start()
        if settings.reload_interval > 0:
            services.reloader = Reloader(live, settings, interval=settings.reload_interval, notify=notify,
                                         seen=seen, last=started,
                                         observe=lambda result: metrics.RELOADS.labels(result).inc())
            services.reloader.start()
    return app


def _mount(app: Flask, channel: Channel, processors: dict, senders: dict) -> None:
    """Serve ``channel``'s routes; the worker processes and sends its events and answers."""
    bp = channel.blueprint()
    if bp is not None:
        app.register_blueprint(bp)
    processors[channel.name] = channel
    senders[channel.name] = channel


def _admin_notify(settings: Settings, store: Store):
    """Where rejected edits are reported besides the log: the Slack admin channel, if set up."""
    if not (settings.slack_enabled and settings.slack_admin_channel):
        return None
    from slack_sdk import WebClient

    from .channels.slack.admin import admin_notifier

    client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_base_url)
    return admin_notifier(client, settings.slack_admin_channel, store)
