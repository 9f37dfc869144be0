"""Flask app factory: LINE webhook, Slack events, health — one app, fresh per call.

A channel whose secrets are unset is switched off with a clear log line; the
rest keeps working.  The background worker (inbox → triage → outbox → platform)
starts with the app unless ``start_worker=False`` (tests drive it by hand).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, Response, jsonify, request

from . import metrics, trypage
from .channels import line as line_channel
from .config import Settings
from .delivery import LineSender, SlackSender
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
    slack_app: object | None = None
    reloader: Reloader | None = None
    started: ReloadResult | None = None   # what the start said (shown while nothing reloads)


def create_app(settings: Settings | None = None, *, version: Version | None = None,
               start_worker: bool = True, worker_threads: int = 2) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = line_channel.MAX_BODY
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

    alert = None
    if settings.slack_enabled:
        from .channels import slack as slack_channel

        texts = slack_channel.load_slack_texts(settings.responses_dir)
        config = slack_channel.SlackConfig(settings.slack_signing_secret, settings.slack_bot_token,
                                           settings.slack_api_base_url, settings.slack_escalation_channel)
        bolt = slack_channel.build_app(config, store, live, worker.wake, lambda: datetime.now(tz), texts)
        app.register_blueprint(slack_channel.blueprint(bolt, settings.slack_signing_secret))
        processors["slack"] = slack_channel.SlackProcessor(live, texts)
        senders["slack"] = SlackSender(bolt.client, store)
        services.slack_app = bolt
        channels["slack"] = True
        if settings.slack_escalation_channel:
            channel = settings.slack_escalation_channel
            alert = lambda case, ts: slack_channel.alert_outgoing(case, texts, channel, ts)  # noqa: E731
        else:
            log.warning("Slack is on but SLACK_ESCALATION_CHANNEL is not set: urgent LINE cases are not escalated")
    else:
        log.warning("Slack is off: SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN are not both set")
        channels["slack"] = False

    if settings.line_enabled:
        config = line_channel.LineConfig(settings.line_channel_secret, settings.line_channel_access_token,
                                         settings.line_api_base_url)
        app.register_blueprint(line_channel.blueprint(config, store, worker.wake,
                                                         replay_window=settings.replay_window))
        processors["line"] = line_channel.LineProcessor(live.conversation, store, alert)
        senders["line"] = LineSender(settings.line_api_base_url, settings.line_channel_access_token, store,
                                     timeout=settings.line_timeout)
        channels["line"] = True
    else:
        log.warning("LINE is off: LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN are not both set")
        channels["line"] = False

    app.extensions["tsunagu"] = services
    app.register_blueprint(trypage.blueprint(services))

    @app.after_request
    def count(response):
        path = request.path
        channel = ("line" if path.startswith("/line/") else "slack" if path.startswith("/slack/")
                   else "try" if path.startswith("/try") else None)
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


def _admin_notify(settings: Settings, store: Store):
    """Where rejected edits are reported besides the log: the Slack admin channel, if set up."""
    if not (settings.slack_enabled and settings.slack_admin_channel):
        return None
    from slack_sdk import WebClient

    from .channels.slack import admin_notifier

    client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_base_url)
    return admin_notifier(client, settings.slack_admin_channel, store)
