"""Slack channel (slack-bolt on the same Flask app): staff ask, urgent family cases reach them.

- ``/tsunagu TEXT`` — acknowledged at once with the triage as Block Kit; ``/tsunagu 窓口 AREA``
  looks up the windows of an area; ``/tsunagu help`` explains.
- ``@つなぐ …`` (app_mention) — stored in the inbox before Slack gets its 200 (deduplicated on
  ``event_id``, so Slack's retries never double-post), answered in the thread by the worker.
- Escalation alerts (from LINE, with the family's consent) carry a 「対応します」 button that
  records who took the case and updates the message.
- 「判定が違う」 menus put the message and the right category into the review queue.

Every word from outside (a family's excerpt, a staff message, extracted places, directory rows) is
escaped for Slack (:mod:`.slack_text`): no ``<!channel>``, mention or disguised link can pass.

:func:`blueprint` verifies ``X-Slack-Signature`` (5-minute window) on a bounded read of the body
before Bolt sees it; Bolt answers ``url_verification`` and logs through a logger that withholds
its messages (they can quote a request).
No ``auth.test`` at start-up: ``authorize=`` returns the bot token directly.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, request
from pydantic import BaseModel, ConfigDict, Field
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.flask.handler import to_flask_response
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from .. import metrics
from ..logs import withheld_logger
from ..mask import mask
from ..request_body import BadBody, decode_utf8, parse_object, read_body
from .slack_text import clip, escape, mention, mrkdwn, quote
from ..storage import Claimed, InboxEvent, Outgoing, Store
from ..worker import Processed
from ..triage.decision import Decision
from ..triage.engine import Triage
from ..triage.extract import find_area
from ..triage.render import fill
from ..triage.text import clean
from ..yamlio import load_with_lines

log = logging.getLogger("tsunagu.slack")

SECTION_MAX = 3000   # Block Kit: text of a section
OPTIONS_MAX = 100    # Block Kit: options of a static_select
BLOCK_ID_MAX = 255   # Block Kit: block_id
REVIEW_ACTION = "tsunagu_review"
TAKE_ACTION = "tsunagu_take"
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
#: Slack's requests are a few KB; more is refused with 413 before it is read.
MAX_BODY = 1024 * 1024
#: Seconds a request timestamp may differ from now (Slack's documented 5 minutes).
SIGNATURE_WINDOW = 300


class SlackTexts(BaseModel):
    """``responses/slack.yml``."""

    model_config = ConfigDict(extra="forbid")
    help: str
    help_words: list[str] = Field(min_length=1)
    area_words: list[str] = Field(min_length=1)
    area_usage: str
    area_header: str
    area_contacts: list[str]
    urgency_labels: dict[str, str]
    triage: dict[str, str]
    alert: dict[str, str]


def load_slack_texts(responses_dir) -> SlackTexts:
    data, _ = load_with_lines(responses_dir / "slack.yml")
    return SlackTexts.model_validate(data)


@dataclass(frozen=True)
class SlackConfig:
    signing_secret: str
    bot_token: str
    api_base_url: str
    escalation_channel: str | None


# -- Block Kit -----------------------------------------------------------------------------------
def _section(text: str, verbatim: bool = False) -> dict:
    """A section of mrkdwn ``text``: our markup with escaped values in it (``verbatim`` when it
    holds someone's words, so that Slack links nothing in them)."""
    return {"type": "section", "text": mrkdwn(text, verbatim, SECTION_MAX)}


def _windows_text(windows) -> str:
    """The windows as a list; names and hours come from editable CSVs, so they are escaped."""
    lines = []
    for w in windows:
        phone = f" ☎ {escape(w.phone.display)}" if w.phone else ""
        hours = f"（{escape(w.hours)}）" if w.hours else ""
        lines.append(f"• {escape(w.name)}{phone}{hours}")
    return "\n".join(lines)


def triage_blocks(d: Decision, texts: SlackTexts, triage: Triage, message: str) -> list[dict]:
    """The triage of a staff message: urgency, category, windows, law points, why, and the review menu."""
    t = texts.triage
    area = d.facts.area
    fields = [
        mrkdwn(f"*{t['category']}*\n{escape(d.title)}"),
        mrkdwn(f"*{t['urgency']}*\n{texts.urgency_labels.get(d.urgency, d.urgency)}"),
    ]
    blocks: list[dict] = [{"type": "section", "fields": fields}]
    windows = _windows_text(d.windows) or t["no_windows"]
    where = f"（{escape(area.municipality or area.pref)}）" if area else ""
    blocks.append(_section(f"*{t['windows']}{where}*\n{windows}"))
    if d.law:
        law = "\n".join(f"• {escape(p.title)}" + (f"：{escape(p.deadline_text)}" if p.deadline_text and p.running
                                                  else "") for p in d.law[:3])
        blocks.append(_section(f"*{t['law']}*\n{law}"))
    why = [r.text for r in d.reasons if r.kind in ("keyword", "danger") and (r.weight > 0)][:6]
    rules = [r.detail for r in d.reasons if r.kind == "urgency"]
    context = escape("、".join(why) + (f" ／ {rules[0]}" if rules else ""))   # the words that matched
    if context:
        blocks.append({"type": "context", "elements": [mrkdwn(f"{t['why']}：{context}", verbatim=True)]})
    blocks.append(review_menu(d.intent, triage, t["review_placeholder"], message))
    return blocks


def review_menu(predicted: str, triage: Triage, placeholder: str, message: str) -> dict:
    """A static_select of every intent; the chosen one goes to the review queue with the message.

    The (masked) message rides in the block_id, so a menu under an ephemeral answer — whose
    text Slack does not send back — still knows what it was about.
    """
    options = [{"text": {"type": "plain_text", "text": i.spec.title[:75]}, "value": i.id}
               for i in triage.intents.values() if i.id not in ("empty_message",)][:OPTIONS_MAX]
    asked = mask(message, triage.tokenizer, triage.k.masker).replace("|", "｜")
    block_id = f"review|{predicted}|{asked}"[:BLOCK_ID_MAX]
    return {"type": "actions", "block_id": block_id,
            "elements": [{"type": "static_select", "action_id": REVIEW_ACTION,
                          "placeholder": {"type": "plain_text", "text": placeholder[:150]},
                          "options": options}]}


def alert_blocks(case: dict, texts: SlackTexts, taken: str | None = None) -> list[dict]:
    """The alert of a family's case: the (masked) excerpt escaped and quoted line by line, so that
    neither a mention nor a line break in it can act in the staff channel.  ``taken``: markup made
    by the take handler (the staff member through :func:`.slack_text.mention`, already safe)."""
    a = texts.alert
    urgency = texts.urgency_labels.get(case["urgency"], case["urgency"])
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": fill(a["header"], {"urgency": urgency})[:150]}},
        {"type": "section", "fields": [
            mrkdwn(f"*{a['case']}*\n{escape(case['case_no'])}"),
            mrkdwn(f"*{a['urgency']}*\n{urgency}"),
            mrkdwn(f"*{a['category']}*\n{escape(case['title'])}"),
            mrkdwn(f"*{a['area']}*\n{escape(case.get('area')) or a['area_unknown']}", verbatim=True),
        ]},
        _section(f"*{a['excerpt']}*\n{quote(case.get('excerpt') or '—')}", verbatim=True),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": a["note"]}]},
    ]
    if taken:
        blocks.append(_section(taken))
    else:
        blocks.append({"type": "actions", "block_id": f"take|{case['case_no']}", "elements": [
            {"type": "button", "action_id": TAKE_ACTION, "style": "primary", "value": case["case_no"],
             "text": {"type": "plain_text", "text": a["take"]}}]})
    return blocks


def alert_outgoing(case: dict, texts: SlackTexts, channel: str, event_ts: float) -> Outgoing:
    urgency = texts.urgency_labels.get(case["urgency"], case["urgency"])
    text = f"{fill(texts.alert['header'], {'urgency': urgency})} {escape(case['case_no'])}"
    return Outgoing(channel="slack", user_hash=None, to_id=None, reply_token=None,
                    messages=[{"text": text, "blocks": alert_blocks(case, texts), "case_no": case["case_no"]}],
                    retry_key=f"alert:{case['case_no']}", event_ts=event_ts, target=channel)


# -- the Bolt app --------------------------------------------------------------------------------
def _area_lookup(text: str, triage: Triage, texts: SlackTexts, now: datetime) -> list[dict]:
    area = find_area(clean(text), triage.k.gazetteer)
    if area is None:
        return [_section(texts.area_usage)]
    directory = triage.k.directory
    lines = []
    for cid in texts.area_contacts:
        windows = directory.windows(cid, area, now)[:2]
        if windows:
            lines.append(f"*{directory.contact(cid).label}*\n{_windows_text(windows)}")
    header = fill(texts.area_header, {"area": escape(area.municipality or area.pref)}) or ""
    return [_section(header)] + [_section(x) for x in lines]


def build_app(config: SlackConfig, store: Store, live, wake: Callable[[], None], clock: Callable[[], datetime],
              texts: SlackTexts) -> App:
    client = WebClient(token=config.bot_token, base_url=config.api_base_url,
                       retry_handlers=[ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler(max_retry_count=2)])

    def authorize(enterprise_id=None, team_id=None, **_):
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=config.bot_token,
                               bot_id="B-tsunagu", bot_user_id=None)

    # request_verification_enabled=False: blueprint() verifies every request before Bolt sees it
    app = App(signing_secret=config.signing_secret, client=client, authorize=authorize,
              process_before_response=False, ignoring_self_events_enabled=False,
              request_verification_enabled=False, logger=withheld_logger("slack_bolt.tsunagu"))

    @app.middleware
    def durable_events(body, next):  # noqa: A002 - Bolt's argument names
        """app_mention events go to the inbox (deduplicated) before Slack gets its 200."""
        if body.get("type") == "event_callback":
            event = body.get("event") or {}
            if event.get("type") == "app_mention" and not event.get("bot_id"):
                event_id = str(body.get("event_id") or "")
                user = event.get("user") or ""
                fresh = store.accept([InboxEvent(f"slack:{event_id}", "slack", "app_mention",
                                                 store.user_hash("slack", str(user)) if user else None,
                                                 _event_ts(event, body),
                                                 {"event": event, "team": body.get("team_id")})])
                if fresh[0]:
                    wake()
            return BoltResponse(status=200, body="")  # every other event type is not used
        return next()

    help_words = {clean(w).lower() for w in texts.help_words}
    area_words = {clean(w) for w in texts.area_words}

    @app.command("/tsunagu")
    def command(ack, command):
        text = (command.get("text") or "").strip()
        triage = live.current.loaded.triage
        if not text or clean(text).lower() in help_words:
            ack(response_type="ephemeral", text=texts.help, blocks=[_section(texts.help)])
            return
        head, _, rest = text.partition(" ")
        if clean(head) in area_words:
            blocks = _area_lookup(rest, triage, texts, clock())
            ack(response_type="ephemeral", text=escape(rest), blocks=blocks)
            return
        d = triage.decide(text, now=clock())
        ack(response_type="ephemeral", text=f"{d.title}（{texts.urgency_labels.get(d.urgency, d.urgency)}）",
            blocks=triage_blocks(d, texts, triage, text))

    @app.action(REVIEW_ACTION)
    def review(ack, body, respond):
        ack()
        action = (body.get("actions") or [{}])[0]
        selected = (action.get("selected_option") or {}).get("value", "")
        _, predicted, asked = (action.get("block_id", "").split("|", 2) + ["", ""])[:3]
        triage = live.current.loaded.triage
        if selected not in triage.intents or not asked:
            return
        store.add_review(asked, predicted, selected, (body.get("user") or {}).get("id", ""))
        respond(response_type="ephemeral", replace_original=False,
                text=fill(texts.triage["review_thanks"], {"correct": triage.intents[selected].spec.title}) or "")

    @app.action(TAKE_ACTION)
    def take(ack, body, client):
        ack()
        case_no = (body.get("actions") or [{}])[0].get("value", "")
        user = body.get("user") or {}
        case = store.take_escalation(case_no, user.get("id", ""), user.get("name") or user.get("username") or "")
        if case is None:
            return
        when = datetime.fromtimestamp(case["taken_at"] or time.time(), ZoneInfo("Asia/Tokyo")).strftime("%H:%M")
        name = case["taken_name"] or case["taken_by"]
        taken = fill(texts.alert["taken"], {"name": mention(case["taken_by"] or "", name), "time": when})
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        ts = (body.get("message") or {}).get("ts") or (body.get("container") or {}).get("message_ts")
        if channel and ts:
            client.chat_update(channel=channel, ts=ts, text=f"{escape(case['case_no'])} {taken}",
                               blocks=alert_blocks(case, texts, taken=taken))

    return app


def _event_ts(event: dict, body: dict) -> float:
    """When Slack saw the event (``event_ts``, else ``event_time``); now if neither is a number."""
    for value in (event.get("event_ts"), body.get("event_time")):
        try:
            ts = float(value)
        except (TypeError, ValueError):
            continue
        if ts == ts and 0 < ts < 1e11:   # not NaN, seconds since 1970
            return ts
    return time.time()


def blueprint(app: App, signing_secret: str, *, clock: Callable[[], float] = time.time) -> Blueprint:
    """``POST /slack/events``: verified here (bounded read, signature, timestamp), then handed to Bolt.

    Bolt's own verification is off (see :func:`build_app`): it read the whole body, answered 500 to a
    non-numeric timestamp and logged the body of every badly signed request.  Here a refused request
    gets a fixed reason and nothing from it is logged.
    """
    bp = Blueprint("slack", __name__)

    @bp.post("/slack/events")
    def events() -> Response:
        try:
            raw = read_body(request, MAX_BODY)
        except BadBody as refused:
            return _refuse(refused.reason, refused.status)
        status = verify(raw, request.headers, signing_secret, clock())
        if status != "ok":
            metrics.REFUSED.labels("slack", status).inc()
            log.warning("slack request refused: %s", status)
            return _refuse("invalid request", 401)
        try:
            body = bolt_body(raw, request.mimetype)
        except BadBody as refused:
            log.warning("slack request refused: %s", refused.reason)
            return _refuse(refused.reason, refused.status)
        bolt_request = BoltRequest(body=body, query=request.query_string.decode("utf-8", "replace"),
                                   headers=dict(request.headers))
        return to_flask_response(app.dispatch(bolt_request))

    return bp


def verify(raw: bytes, headers, secret: str, now: float) -> str:
    """Slack's v0 signature over the raw bytes: ``"ok"`` or the refusal reason (a metric label).

    HMAC-SHA256 of ``v0:{X-Slack-Request-Timestamp}:{body}`` with the signing secret; the
    timestamp must be within :data:`SIGNATURE_WINDOW` of now, which is also the replay window
    for Slack (a replayed body cannot be re-signed with a fresh timestamp).
    """
    timestamp = headers.get("X-Slack-Request-Timestamp") or ""
    signature = headers.get("X-Slack-Signature") or ""
    if not timestamp.isascii() or not timestamp.isdigit() or not signature:
        return "bad_signature"
    base = b"v0:" + timestamp.encode() + b":" + raw
    expected = b"v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest().encode()
    # bytes: compare_digest refuses str with non-ASCII characters (a header can hold any byte)
    if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
        return "bad_signature"
    return "stale" if abs(now - int(timestamp)) > SIGNATURE_WINDOW else "ok"


def bolt_body(raw: bytes, mimetype: str) -> str:
    """The verified body as Bolt will parse it, checked so that Bolt's parsing cannot fail.

    JSON (Events API) must be an object of bounded depth; a form body's ``payload`` (interactivity)
    likewise.  Lone surrogates are replaced (the body is re-serialized, so Bolt and the store
    never see one).
    """
    text = decode_utf8(raw)
    if mimetype == "application/json" or text.startswith("{"):
        payload = parse_object(text)
        if payload.get("type") == "event_callback" and not isinstance(payload.get("event"), dict):
            raise BadBody("event is not an object")
        return json.dumps(payload, ensure_ascii=False)
    if "payload" in text:
        params = dict(parse_qsl(text, keep_blank_values=True))
        if "payload" in params:
            return urlencode({"payload": json.dumps(parse_object(params["payload"]), ensure_ascii=False)})
    return text


def _refuse(reason: str, status: int) -> Response:
    return Response(reason, status=status, mimetype="text/plain")


# -- the worker side -----------------------------------------------------------------------------
class SlackProcessor:
    """Answers a stored app_mention in its thread."""

    def __init__(self, live, texts: SlackTexts):
        self.live = live
        self.texts = texts

    def process(self, claimed: Claimed, now: datetime) -> Processed:
        event = claimed.payload.get("event") or {}
        text = _MENTION.sub("", str(event.get("text") or "")).strip()
        triage = self.live.current.loaded.triage
        if not text:
            return Processed([self._reply(claimed, event, self.texts.help, [_section(self.texts.help)])],
                             result="help")
        d = triage.decide(text, now=now)
        reply = escape(d.reply)     # the LINE-side reply: plain text that may repeat the staff's words
        blocks = [_section(reply, verbatim=True)] + triage_blocks(d, self.texts, triage, text)
        # the family's text has no window list (on LINE the windows are a card): staff get them in
        # the blocks and, for notifications and clients without blocks, in the text too
        windows = _windows_text(d.windows)
        return Processed([self._reply(claimed, event, f"{reply}\n\n{windows}".strip(), blocks)],
                         result=f"mention {d.intent} {d.urgency}", intent=d.intent, urgency=d.urgency)

    def fallback(self, claimed: Claimed) -> list[Outgoing]:
        event = claimed.payload.get("event") or {}
        return [self._reply(claimed, event, self.texts.help, [_section(self.texts.help)])]

    @staticmethod
    def _reply(claimed: Claimed, event: dict, text: str, blocks: list[dict]) -> Outgoing:
        return Outgoing(channel="slack", user_hash=claimed.user_hash, to_id=None, reply_token=None,
                        messages=[{"text": clip(text, 3000), "blocks": blocks,
                                   "thread_ts": event.get("thread_ts") or event.get("ts")}],
                        retry_key=claimed.event_id, event_ts=claimed.event_ts, target=event.get("channel"))


def admin_notifier(client: WebClient, channel: str, store: Store) -> Callable[[list], None]:
    """Post rejected-reload errors to the admin channel, once per distinct set of errors."""
    import hashlib

    def notify(issues: list) -> None:
        errs = [i for i in issues if getattr(i, "severity", "error") == "error"]
        digest = hashlib.sha256("\n".join(str(i) for i in errs).encode()).hexdigest()[:16]
        if not errs or not store.once(f"reload-error:{digest}"):
            return
        lines = "\n".join(f"• `{escape(i.file)}:{i.line}` {escape(i.message)}"
                           + (f"\n    → {escape(i.hint)}" if i.hint else "") for i in errs[:15])
        # in code, not in responses/slack.yml: this is said exactly when the files may be broken
        text = ("⚠️ つなぐ：編集されたファイルにエラーがあるか、これまで正しく読めていた相談の行き先が変わるため、"
                "前の版のまま動いています。直して保存すると、自動で確かめて読み込み直します。\n" + lines)
        try:
            client.chat_postMessage(channel=channel, text=text[:3900])
        except Exception:  # a notice must never break the reload
            log.exception("could not post the reload errors to Slack")

    return notify
