"""``/try``: type a worry, see the LINE answer and why the triage gave it (local testing).

The admin may pick the time to try the message at (``"now"``: 2026-11-29T22:00, read in the
configured time zone): opening hours, dates such as きのう and cooling-off deadlines follow it.
The explanation is :func:`bot.explain.for_page` — Japanese names, the message's own words.

Open to requests from this machine only (127.0.0.1 / ::1, not forwarded by a proxy),
or to everyone when ``TSUNAGU_TRY_PAGE=1``; otherwise 404.  Either way the ``Host`` header
must name one of ``TSUNAGU_ALLOWED_HOSTS`` (default 127.0.0.1, localhost, [::1], any port),
else 421: a page on another site whose name was re-bound to 127.0.0.1 (DNS rebinding)
cannot use the page from a browser on the server.  Nothing is stored and no
message text is logged.  The page is one self-contained HTML file (no external assets;
a Content-Security-Policy with a per-request nonce allows only its own script and style);
everything from a message is put on the page with ``textContent``.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, jsonify, request, url_for

from .channels.line.webhook import MAX_BODY
from .channels.line.messages import build_messages
from .explain import for_page
from .live import Version

if TYPE_CHECKING:
    from .web import Services

LOCAL_ADDRESSES = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
#: Headers a reverse proxy adds: a request through one is not "from this machine" even if it comes from 127.0.0.1.
PROXY_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")
#: Longest area text looked at (a postal code or a municipality name is short).
AREA_MAX = 200


#: What the time field sends (``<input type="datetime-local">``): 2026-11-29T22:00, seconds optional.
NOW_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?")
#: Years the time field may name (the directory's hours and the holiday calendar make sense there).
NOW_YEARS = range(2000, 2100)


def blueprint(services: Services) -> Blueprint:
    bp = Blueprint("trypage", __name__)
    tz = ZoneInfo(services.settings.timezone)

    allowed = frozenset(services.settings.allowed_hosts)

    @bp.before_request
    def gate() -> Response | None:
        local = request.remote_addr in LOCAL_ADDRESSES and not any(h in request.headers for h in PROXY_HEADERS)
        if not (local or services.settings.try_page):
            abort(404)
        if host_name(request.host) not in allowed:
            # DNS rebinding: a web page whose name now points at 127.0.0.1 is "local" but sends its own Host
            return _host_refused()
        return None

    @bp.get("/try")
    def page() -> Response:
        nonce = secrets.token_urlsafe(16)
        html = PAGE.replace("__NONCE__", nonce).replace("__API__", url_for(".api"))
        response = Response(html, mimetype="text/html")
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @bp.post("/try/api")
    def api() -> Response:
        if (request.content_length or 0) > MAX_BODY:
            return _error("本文が大きすぎます（1 MB まで）", 413)
        body = request.get_data(cache=False)
        if len(body) > MAX_BODY:
            return _error("本文が大きすぎます（1 MB まで）", 413)
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _error('本文が JSON ではありません。{"text": "相談の文章"} の形で送ってください', 400)
        if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
            return _error('"text"（相談の文章、文字列）がありません', 400)
        area_text = payload.get("area")
        if area_text is not None and not isinstance(area_text, str):
            return _error('"area" は文字列（郵便番号か市区町村名）で送ってください', 400)
        now = parse_now(payload.get("now"), tz)
        if isinstance(now, str):
            return _error(now, 400)
        current = services.live.current
        session = None
        if area_text and area_text.strip():
            area = current.triage.find_area(area_text[:AREA_MAX])
            if area is None:
                return _error("地域を読み取れませんでした。郵便番号（060-0001）か市区町村名（札幌市）で書いてください", 400)
            session = {"area": asdict(area)}
        data = answer(current, payload["text"], session, now or datetime.now(tz))
        data["explanation"]["now_given"] = now is not None
        response = jsonify(data)
        response.headers["Cache-Control"] = "no-store"
        return response

    return bp


def host_name(host: str) -> str:
    """The name part of a ``Host`` header, lower case: ``localhost:8000`` → ``localhost``, ``[::1]:80`` → ``[::1]``."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[:end + 1] if end > 0 else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _host_refused() -> Response:
    """421: the request named a host this server does not answer /try for (TSUNAGU_ALLOWED_HOSTS)."""
    text = ("このホスト名では /try を開けません（TSUNAGU_ALLOWED_HOSTS に書かれた名前だけ）。\n"
            "Host not allowed for /try (see TSUNAGU_ALLOWED_HOSTS).\n")
    return Response(text, status=421, mimetype="text/plain")


def parse_now(value: Any, tz: ZoneInfo) -> datetime | str | None:
    """The time to try the message at: None for the real clock, else a datetime in ``tz``;
    a Japanese message (str) when ``value`` cannot be used."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    example = "2026-11-29T22:00（2026年11月29日 22時）"
    if not isinstance(value, str) or not NOW_FORMAT.fullmatch(value.strip()):
        return f"「いまを何時として試すか」は、{example}の形で送ってください"
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return f"「いまを何時として試すか」の日付か時刻がありえない値です。{example}の形で送ってください"
    if when.year not in NOW_YEARS:
        return f"「いまを何時として試すか」は、{NOW_YEARS.start}年から{NOW_YEARS.stop - 1}年までの日時にしてください"
    return when.replace(tzinfo=tz)


def answer(current: Version, text: str, session: dict | None, now: datetime) -> dict[str, Any]:
    """The LINE answer to ``text`` at ``now`` (a first message; ``session`` holds a remembered area)
    and why, in Japanese (:func:`bot.explain.for_page`)."""
    conversation = current.conversation
    turn = conversation.on_text(text, session, now)
    decision = turn.decision
    return {
        "kind": turn.kind,
        "intent": decision.intent if decision else None,
        "title": decision.title if decision else None,
        "urgency": decision.urgency if decision else None,
        "contacts": list(decision.contacts) if decision else [],
        "area": decision.facts.area.public() if decision and decision.facts.area else None,
        "reply": turn.text,
        "line": build_messages(turn, conversation.texts),
        "explanation": for_page(current.triage, text, now, decision),
    }


def _error(message: str, status: int) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


PAGE = """<!doctype html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>つなぐ — 試してみる</title>
<style nonce="__NONCE__">
  :root { --ink: #1a1a1a; --line: #06c755; --muted: #4a4a4a; --card: #ffffff; --bg: #f4f4f0; --warn: #b00020; }
  * { box-sizing: border-box; }
  body { margin: 0; font-family: "Hiragino Sans", "BIZ UDPGothic", "Meiryo", "IPAPGothic", "Noto Sans CJK JP",
         sans-serif; font-size: 17px; line-height: 1.55; color: var(--ink); background: var(--bg); }
  main { max-width: 1340px; margin: 0 auto; padding: 10px 16px 16px; }
  h1 { font-size: 21px; margin: 0; display: inline; }
  header p { display: inline; margin: 0 0 0 12px; color: var(--muted); font-size: 15px; }
  h2 { font-size: 18px; margin: 0 0 6px; border-bottom: 2px solid var(--ink); }
  label { display: block; font-weight: bold; font-size: 15px; margin: 0 0 2px; }
  small, .id { color: var(--muted); font-size: 13px; font-weight: normal; }
  textarea, input { width: 100%; font: inherit; padding: 6px 10px; border: 2px solid var(--ink); border-radius: 8px;
                    background: #fff; }
  textarea { height: 5.6em; resize: vertical; display: block; }
  .ask { display: grid; grid-template-columns: minmax(0, 1fr) 600px; gap: 12px; margin-top: 6px; }
  .ask-side { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 6px 10px;
              align-content: start; }
  .buttons { grid-column: 1 / -1; display: flex; gap: 10px; }
  .buttons #send { flex: 1; }
  button { font: inherit; font-weight: bold; padding: 6px 18px; min-height: 44px; border: 0; border-radius: 10px;
           background: var(--ink); color: #fff; cursor: pointer; }
  button.sub { background: #fff; color: var(--ink); border: 2px solid var(--ink); font-size: 15px;
               white-space: nowrap; }
  button:disabled { background: var(--muted); }
  :focus-visible { outline: 4px solid #f0a000; outline-offset: 2px; }
  #status { min-height: 1.5em; margin: 4px 0; font-weight: bold; }
  #status.error { color: var(--warn); }
  .columns { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1.15fr); gap: 16px; align-items: start; }
  @media (max-width: 1100px) { .columns, .ask { grid-template-columns: minmax(0, 1fr); } }
  .chat { background: #8cabd9; padding: 10px; border-radius: 12px; max-height: max(420px, calc(100vh - 250px));
          overflow-y: auto; }
  .bubble { background: var(--card); border-radius: 16px; padding: 10px 14px; margin: 0 0 10px; font-size: 16px;
            white-space: pre-wrap; overflow-wrap: anywhere; }
  .flex-box { display: flex; flex-direction: column; gap: 2px; }
  .flex-box.margin { margin-top: 8px; }
  .flex-text.bold { font-weight: bold; }
  .flex-text.lg { font-size: 19px; }
  .flex-text.sm { font-size: 14px; color: var(--muted); }
  .flex-text.xs { font-size: 13px; color: var(--muted); }
  a.call.more { background: #e8e8e8; color: var(--ink); }
  .flex-separator { border: 0; border-top: 1px solid #ccc; margin: 8px 0 0; width: 100%; }
  a.call { display: block; text-align: center; margin-top: 4px; padding: 8px; border-radius: 10px;
           background: var(--line); color: #fff; font-weight: bold; text-decoration: none; }
  .quick { display: flex; flex-wrap: wrap; gap: 6px; }
  .quick span { background: #fff; border: 2px solid var(--line); border-radius: 999px; padding: 2px 12px;
                font-size: 15px; }
  .why { font-size: 16px; }
  .when { margin: 0 0 6px; font-weight: bold; }
  dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 3px 12px; margin: 0 0 6px; }
  dt { font-weight: bold; }
  dd { margin: 0; overflow-wrap: anywhere; }
  dd ul, details ul { margin: 0; padding-left: 1.2em; }
  .closed { color: var(--warn); font-weight: bold; }
  .open { color: #05792f; font-weight: bold; }
  .message { background: #fff; border: 1px solid #999; border-radius: 8px; padding: 4px 8px; margin: 0 0 4px;
             max-height: 5.2em; overflow-y: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
  mark { background: #ffe066; border-radius: 3px; padding: 0 1px; }
  mark.danger { background: #ffb3b3; }
  mark.date { background: #c6e6ff; }
  .chips { display: flex; flex-wrap: wrap; gap: 4px 6px; list-style: none; padding: 0; margin: 0; }
  .chips li { background: #fff; border: 1px solid #999; border-radius: 6px; padding: 0 6px; font-size: 15px; }
  details { margin: 4px 0 0; border: 1px solid #bbb; border-radius: 8px; background: #fbfbf8; padding: 2px 8px; }
  summary { cursor: pointer; font-weight: bold; font-size: 15px; }
  table { border-collapse: collapse; width: 100%; font-size: 14px; margin: 4px 0; }
  th, td { border: 1px solid #999; padding: 2px 6px; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
  td.num { text-align: right; white-space: nowrap; }
  tr.fired { background: #fff3c4; font-weight: bold; }
  .tokens { display: flex; flex-wrap: wrap; gap: 4px; }
  .tokens span { background: #fff; border: 1px solid #999; border-radius: 6px; padding: 0 6px; font-size: 14px; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<main>
  <header><h1>つなぐ — 試してみる</h1>
    <p>ご家族が LINE に送る文章を入れると、返事と理由が出ます。このパソコンの中だけで動き、文章は保存しません。</p>
  </header>
  <form id="form" class="ask" data-api="__API__" novalidate>
    <div class="ask-text">
      <label for="text">相談の文章 <small>（Ctrl+Enter でも送れます）</small></label>
      <textarea id="text" name="text" placeholder="例：無料点検と言われて屋根の工事を契約した"></textarea>
    </div>
    <div class="ask-side">
      <div><label for="area">お住まいの地域 <small>（なくても可）</small></label>
        <input id="area" name="area" autocomplete="off" placeholder="例：060-0001 または 札幌市"></div>
      <div><label for="now">いまを何時として試すか <small>（空ならいまの時刻）</small></label>
        <input id="now" name="now" type="datetime-local"></div>
      <div class="buttons"><button id="clock" class="sub" type="button">時刻欄をいまの時刻にする</button>
        <button id="send" type="submit">送る</button></div>
    </div>
  </form>
  <p id="status" role="status" aria-live="polite"></p>
  <div id="result" class="columns" hidden>
    <section>
      <h2>ご家族の LINE に届く返事</h2>
      <div id="line" class="chat"></div>
    </section>
    <section id="explain" class="why">
      <h2>なぜこの返事になったか <small>（管理者向け）</small></h2>
      <p id="x-now" class="when"></p>
      <dl>
        <dt>相談の種類</dt><dd id="x-intent"></dd>
        <dt>急ぎ度</dt><dd id="x-urgency"></dd>
        <dt>相談先</dt><dd id="x-contacts"></dd>
        <dt>この時刻の窓口</dt><dd id="x-windows"></dd>
        <dt>地域</dt><dd id="x-area"></dd>
        <dt>日付</dt><dd id="x-dates"></dd>
        <dt>法律と期限</dt><dd id="x-law"></dd>
      </dl>
      <div id="x-danger-box" hidden><h2>危険の言葉 <small>（◎＝いまの危険として数えた、×＝数えない）</small></h2>
        <ul id="x-dangers"></ul></div>
      <h2>当てはまった言葉</h2>
      <p id="x-message" class="message"></p>
      <ul id="x-words" class="chips"></ul>
      <details><summary>例文からの学習と点数（相談の種類ごと）</summary>
        <table><thead><tr><th>相談の種類</th><th>学習</th><th>点数</th><th>基準点</th><th>言葉（点）</th></tr></thead>
          <tbody id="x-scores"></tbody></table>
        <small>◎＝相談として数えた種類。学習＝例文から学んだ確からしさ（0〜1）、点数＝言葉の点の合計</small>
        <ul id="x-uncounted"></ul>
      </details>
      <details><summary>判断の手順</summary><ul id="x-rules"></ul></details>
      <details><summary>文章の区切り（形態素）</summary><div id="x-tokens" class="tokens"></div></details>
    </section>
  </div>
</main>
<script nonce="__NONCE__">
"use strict";
const KINDS = {answer: "", reset: "「最初から」の合図への返事", area_only: "地域だけのメッセージへの返事",
               area_followup: "地域を聞いたあとの返事", consented: "同意の返事", declined: "同意しない返事"};
const form = document.getElementById("form");
const send = document.getElementById("send");
const nowInput = document.getElementById("now");
const statusLine = document.getElementById("status");
let answered = 0;

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function fill(id, children) {
  document.getElementById(id).replaceChildren(...children);
}

function named(title, id) {  // 「日本語の名前」 with the id small beside it
  const span = el("span", title);
  span.append(" ", el("span", id, "id"));
  return span;
}

function flex(node) {  // the parts of a LINE Flex bubble the bot sends: box, text, separator, tel: / https: button
  if (node.type === "box") {
    const box = el("div", null, "flex-box" + (node.margin ? " margin" : ""));
    box.replaceChildren(...(node.contents || []).map(flex));
    return box;
  }
  if (node.type === "text") {
    const text = el("div", node.text, "flex-text" + (node.weight === "bold" ? " bold" : "") + " " + (node.size || ""));
    if (node.color) text.style.color = node.color;
    return text;
  }
  if (node.type === "separator") return el("hr", null, "flex-separator");
  if (node.type === "button" && node.action && /^(tel:[0-9%#*+]+|https:\\/\\/[^\\s"<>]+)$/.test(node.action.uri || "")) {
    const link = el("a", node.action.label, "call" + (node.style === "secondary" ? " more" : ""));
    link.href = node.action.uri;
    if (node.color) link.style.background = node.color;
    return link;
  }
  return el("div", "（" + node.type + "）");
}

function lineMessages(messages) {
  const out = [];
  for (const message of messages) {
    if (message.type === "text") out.push(el("div", message.text, "bubble"));
    if (message.type === "flex") {
      const bubble = el("div", null, "bubble");
      bubble.append(flex(message.contents.body));
      out.push(bubble);
    }
    const items = (message.quickReply && message.quickReply.items) || [];
    if (items.length) {
      const quick = el("div", null, "quick");
      quick.replaceChildren(...items.map((item) => el("span", item.action.label)));
      out.push(el("div", "（画面の下に出るボタン）"), quick);
    }
  }
  return out;
}

function marked(text, spans) {  // the message with the matched words marked (text nodes only)
  const LIMIT = 1500;
  const shown = text.length > LIMIT ? text.slice(0, LIMIT) : text;
  const sorted = spans.filter((s) => s.start < s.end && s.end <= shown.length)
                      .sort((a, b) => a.start - b.start || b.end - a.end);
  const out = [];
  let at = 0;
  for (const s of sorted) {
    if (s.start < at) continue;
    if (s.start > at) out.push(document.createTextNode(shown.slice(at, s.start)));
    out.push(el("mark", shown.slice(s.start, s.end), s.kind));
    at = s.end;
  }
  out.push(document.createTextNode(shown.slice(at) + (shown.length < text.length ? "…（以下略）" : "")));
  return out;
}

function windowItem(w) {
  const li = el("li", w.name + (w.phone ? " ☎ " + w.phone : "") + " ");
  if (w.open === false) li.append(el("span", "受付時間外", "closed"));
  if (w.open === true) li.append(el("span", "受付中", "open"));
  if (w.hours) li.append(" ", el("small", "（" + w.hours + "）"));
  return li;
}

function show(data) {
  fill("line", lineMessages(data.line));
  const x = data.explanation;
  setNow(x);
  const intent = [named(x.intent.title, x.intent.id)];
  for (const a of x.also) intent.push(el("br"), el("small", "ほかにも："), named(a.title, a.id));
  if (KINDS[data.kind]) intent.unshift(el("small", KINDS[data.kind] + "："));
  fill("x-intent", intent);
  fill("x-urgency", [el("b", x.urgency.label),
                     document.createTextNode(x.urgency.why ? "（" + x.urgency.why + "）" : "")]);
  const contacts = el("ol");
  contacts.replaceChildren(...x.contacts.map((c) => {
    const li = el("li");
    li.append(named(c.label, c.id));
    return li;
  }));
  fill("x-contacts", x.contacts.length ? [contacts] : [el("span", "（なし）")]);
  const windows = el("ul");
  windows.replaceChildren(...x.windows.map(windowItem));
  fill("x-windows", x.windows.length ? [windows] : [el("span", "（なし）")]);
  document.getElementById("x-area").textContent =
    x.area ? [x.area.pref, x.area.municipality].filter(Boolean).join(" ") : "（わからない）";
  fill("x-dates", x.dates.length ? x.dates.map((d) => el("div", "「" + d.text + "」→ " + d.date +
      (d.approximate ? "ごろ" : "") + (d.contract === true ? "（契約の日として計算）" : "") +
      (d.contract === false ? "（契約の日とは見ない）" : ""))) : [el("span", "（なし）")]);
  fill("x-law", x.law.length ? x.law.map((p) => {
    const div = el("div", p.title + (p.deadline ? "：期限 " + p.deadline : ""), p.running ? "closed" : "");
    if (p.text) div.append(el("br"), el("small", p.text));
    return div;
  }) : [el("span", "（なし）")]);
  document.getElementById("x-danger-box").hidden = !x.dangers.length;
  const dangers = new Map();   // one line per worry and reading: 「包丁」「暴れ」— いま起きている
  for (const d of x.dangers) {
    const key = d.title + "\u0000" + d.why + "\u0000" + d.counted;
    if (!dangers.has(key)) dangers.set(key, {title: d.title, why: d.why, counted: d.counted, words: []});
    dangers.get(key).words.push(d.spans.length ? "「" + d.surface + "」" : d.surface);
  }
  fill("x-dangers", [...dangers.values()].map((d) => el("li", (d.counted ? "◎ " : "× ") + d.title + "：" +
                                                        d.words.join(" ") + " — " + d.why)));
  const fired = new Set([x.intent.id, ...x.also.map((a) => a.id)]);
  const shown = x.words.filter((w) => w.counted && w.weight > 0 && fired.has(w.intent));
  const spans = [];
  for (const w of shown) for (const [start, end] of w.spans) spans.push({start, end, kind: ""});
  for (const d of x.dangers) for (const [start, end] of d.spans) spans.push({start, end, kind: "danger"});
  for (const d of x.dates) spans.push({start: d.start, end: d.end, kind: "date"});
  fill("x-message", marked(x.message, spans));
  fill("x-words", shown.length ? shown.map((w) => el("li", "「" + w.surface + "」+" + w.weight +
      (fired.size > 1 ? "（" + w.title + "）" : "") + (w.note ? " " + w.note : ""))) : [el("li", "（なし）")]);
  fill("x-scores", x.scores.map((s) => {
    const row = el("tr", null, s.fired ? "fired" : "");
    const name = el("td", s.fired ? "◎ " : "");
    name.append(named(s.title, s.id));
    row.append(name, el("td", s.model, "num"), el("td", s.score, "num"), el("td", s.threshold, "num"),
               el("td", s.words.join("、")));
    return row;
  }));
  fill("x-uncounted", x.words.filter((w) => !w.counted)
                              .map((w) => el("li", "「" + w.surface + "」（" + w.title + "）" + w.note)));
  fill("x-rules", x.rules.map((r) => el("li", r)));
  fill("x-tokens", x.tokens.map((t) => el("span", t.key && t.key !== t.surface ? t.surface + "→" + t.key : t.surface)));
  document.getElementById("result").hidden = false;
}

function setNow(x) {
  document.getElementById("x-now").textContent = "試した時刻：" + x.now + (x.now_given ? "（指定した時刻）" : "（いまの時刻）");
}

function localNow() {
  const d = new Date();
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
  return d.toISOString().slice(0, 16);
}

document.getElementById("clock").addEventListener("click", () => { nowInput.value = localNow(); });

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  statusLine.className = "";
  if (nowInput.validity.badInput) {
    statusLine.className = "error";
    statusLine.textContent = "「いまを何時として試すか」が途中までしか入っていません。日付と時刻を最後まで入れるか、空にしてください。";
    answered += 1;
    document.body.dataset.answered = String(answered);
    return;
  }
  send.disabled = true;
  statusLine.textContent = "考えています…";
  const area = document.getElementById("area").value;
  try {
    const response = await fetch(form.dataset.api, {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({text: document.getElementById("text").value, area: area || null,
                            now: nowInput.value || null}),
    });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || ("エラー " + response.status));
    show(data);
    statusLine.textContent = "返事が出ました。";
  } catch (error) {
    statusLine.className = "error";
    statusLine.textContent = "うまくいきませんでした：" + error.message;
  } finally {
    send.disabled = false;
    answered += 1;
    document.body.dataset.answered = String(answered);
  }
});

document.getElementById("text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
});
</script>
</body>
</html>
"""
