"""``/try``: type a worry, see the LINE answer and why the triage gave it (local testing).

Open to requests from this machine only (127.0.0.1 / ::1, not forwarded by a proxy),
or to everyone when ``TSUNAGU_TRY_PAGE=1``; otherwise 404.  Nothing is stored and no
message text is logged.  The page is one self-contained HTML file (no external assets;
a Content-Security-Policy with a per-request nonce allows only its own script and style);
everything from a message is put on the page with ``textContent``.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, jsonify, request, url_for

from .channels.line import MAX_BODY
from .channels.line_messages import build_messages
from .explain import explain_text
from .live import Version
from .triage.engine import Triage
from .triage.extract import find_area
from .triage.text import clean

if TYPE_CHECKING:
    from .web import Services

LOCAL_ADDRESSES = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
#: Headers a reverse proxy adds: a request through one is not "from this machine" even if it comes from 127.0.0.1.
PROXY_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")
#: Longest area text looked at (a postal code or a municipality name is short).
AREA_MAX = 200


def blueprint(services: Services) -> Blueprint:
    bp = Blueprint("trypage", __name__)
    tz = ZoneInfo(services.settings.timezone)

    @bp.before_request
    def gate() -> None:
        local = request.remote_addr in LOCAL_ADDRESSES and not any(h in request.headers for h in PROXY_HEADERS)
        if not (local or services.settings.try_page):
            abort(404)

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
        current = services.live.current
        session = None
        if area_text and area_text.strip():
            area = find_area(clean(area_text[:AREA_MAX]), current.loaded.triage.k.gazetteer)
            if area is None:
                return _error("地域を読み取れませんでした。郵便番号（060-0001）か市区町村名（札幌市）で書いてください", 400)
            session = {"area": asdict(area)}
        response = jsonify(answer(current, payload["text"], session, datetime.now(tz)))
        response.headers["Cache-Control"] = "no-store"
        return response

    return bp


def answer(current: Version, text: str, session: dict | None, now: datetime) -> dict[str, Any]:
    """The LINE answer to ``text`` (a first message; ``session`` holds a remembered area) and its explanation."""
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
        "explanation": explanation(current.loaded.triage, text, now),
    }


def explanation(triage: Triage, text: str, now: datetime) -> dict[str, Any]:
    """``tsunagu explain``'s data, grouped for the page (none of it depends on the area)."""
    data = explain_text(triage, text, now).data
    probs = triage.probabilities(text)
    fired = {data["intent"], *data["also"]}
    keywords = [r for r in data["reasons"] if r["kind"] == "keyword"]
    shown = list(dict.fromkeys([*data["evidence"], *data["scores"]]))   # the model's best, then keyword hits
    return {
        "intent": data["intent"],
        "title": data["title"],
        "urgency": data["urgency"],
        "contacts": data["contacts"],
        "also": data["also"],
        "scores": [{"intent": iid, "title": triage.intents[iid].spec.title, "score": data["scores"].get(iid, 0),
                    "model": round(probs.get(iid, 0.0), 2),
                    "threshold": triage.intents[iid].spec.threshold, "fired": iid in fired,
                    "keywords": [{"text": r["text"], "detail": r["detail"], "weight": r["weight"]}
                                 for r in keywords if r["intent"] == iid]}
                   for iid in shown],
        "rules": [{k: r[k] for k in ("kind", "intent", "text", "detail")}
                  for r in data["reasons"] if r["kind"] != "keyword"],
        "law": data["law"],
        "tokens": data["tokens"],
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
  :root { --ink: #1a1a1a; --line: #06c755; --muted: #4a4a4a; --card: #ffffff; --bg: #f4f4f0; }
  * { box-sizing: border-box; }
  body { margin: 0; font-family: "Hiragino Sans", "BIZ UDPGothic", "Meiryo", "IPAPGothic", "Noto Sans CJK JP",
         sans-serif; font-size: 22px; line-height: 1.7; color: var(--ink); background: var(--bg); }
  main { max-width: 1100px; margin: 0 auto; padding: 24px; }
  h1 { font-size: 32px; margin: 0 0 8px; }
  h2 { font-size: 26px; margin: 32px 0 12px; border-bottom: 3px solid var(--ink); }
  h3 { font-size: 22px; margin: 20px 0 8px; }
  p.note { color: var(--muted); margin: 0 0 16px; }
  label { display: block; font-weight: bold; margin: 16px 0 6px; }
  textarea, input { width: 100%; font: inherit; padding: 12px; border: 2px solid var(--ink); border-radius: 8px;
                    background: #fff; }
  textarea { min-height: 7em; }
  button { font: inherit; font-weight: bold; margin-top: 16px; padding: 12px 40px; min-height: 64px;
           border: 0; border-radius: 12px; background: var(--ink); color: #fff; cursor: pointer; }
  button:disabled { background: var(--muted); }
  :focus-visible { outline: 4px solid #f0a000; outline-offset: 2px; }
  #status { min-height: 1.7em; margin: 12px 0 0; font-weight: bold; }
  #status.error { color: #b00020; }
  .columns { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 32px; }
  @media (max-width: 900px) { .columns { grid-template-columns: minmax(0, 1fr); } }
  .chat { background: #8cabd9; padding: 16px; border-radius: 12px; }
  .bubble { background: var(--card); border-radius: 18px; padding: 14px 18px; margin: 0 0 14px;
            white-space: pre-wrap; overflow-wrap: anywhere; }
  .flex-box { display: flex; flex-direction: column; gap: 4px; }
  .flex-box.margin { margin-top: 14px; }
  .flex-text.bold { font-weight: bold; }
  .flex-text.lg { font-size: 24px; }
  .flex-text.sm { font-size: 20px; color: var(--muted); }
  .flex-text.xs { font-size: 18px; color: var(--muted); }
  a.call.more { background: #e8e8e8; color: var(--ink); }
  .flex-separator { border: 0; border-top: 1px solid #ccc; margin: 14px 0 0; width: 100%; }
  a.call { display: block; text-align: center; margin-top: 6px; padding: 12px; border-radius: 10px;
           background: var(--line); color: #fff; font-weight: bold; text-decoration: none; }
  .quick { display: flex; flex-wrap: wrap; gap: 8px; }
  .quick span { background: #fff; border: 2px solid var(--line); border-radius: 999px; padding: 4px 16px; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
  dt { font-weight: bold; }
  dd { margin: 0; overflow-wrap: anywhere; }
  table { border-collapse: collapse; width: 100%; font-size: 20px; }
  th, td { border: 1px solid #999; padding: 4px 8px; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
  th, td.num { white-space: nowrap; }
  td.num { text-align: right; }
  tr.fired { background: #fff3c4; font-weight: bold; }
  ul { padding-left: 1.2em; margin: 0; }
  .tokens { display: flex; flex-wrap: wrap; gap: 6px; }
  .tokens span { background: #fff; border: 1px solid #999; border-radius: 6px; padding: 0 8px; font-size: 20px; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<main>
  <h1>つなぐ — 試してみる</h1>
  <p class="note">ご家族が LINE に送る文章を入れると、返事と、その返事になった理由が出ます。
    このパソコンの中だけで動き、文章は保存しません。</p>
  <form id="form" data-api="__API__">
    <label for="text">相談の文章</label>
    <textarea id="text" name="text" placeholder="例：無料点検と言われて屋根の工事を契約した"></textarea>
    <label for="area">お住まいの地域（なくてもかまいません。郵便番号か市区町村名）</label>
    <input id="area" name="area" autocomplete="off" placeholder="例：060-0001 または 札幌市">
    <button id="send" type="submit">送る</button>
    <p id="status" role="status" aria-live="polite"></p>
  </form>
  <div id="result" class="columns" hidden>
    <section>
      <h2>LINE での返事</h2>
      <div id="line" class="chat"></div>
    </section>
    <section id="explain">
      <h2>返事になった理由（管理者向け）</h2>
      <dl>
        <dt>会話での扱い</dt><dd id="x-kind"></dd>
        <dt>相談の種類</dt><dd id="x-intent"></dd>
        <dt>急ぎ度</dt><dd id="x-urgency"></dd>
        <dt>相談先</dt><dd id="x-contacts"></dd>
        <dt>地域</dt><dd id="x-area"></dd>
        <dt>ほかに当てはまる</dt><dd id="x-also"></dd>
      </dl>
      <h3>例文からの学習と、当てはまった言葉</h3>
      <table><thead><tr><th>種類</th><th>学習</th><th>点数</th><th>基準点</th><th>言葉（点）</th></tr></thead>
        <tbody id="x-scores"></tbody></table>
      <p class="note">◎＝相談として数えた種類。学習＝例文から学んだ確からしさ（0〜1）、点数＝キーワードの合計</p>
      <h3>決まりごと（ルール）</h3>
      <ul id="x-rules"></ul>
      <h3>法律のポイント</h3>
      <ul id="x-law"></ul>
      <h3>文章の区切り（形態素）</h3>
      <div id="x-tokens" class="tokens"></div>
    </section>
  </div>
</main>
<script nonce="__NONCE__">
"use strict";
const KINDS = {answer: "相談への返事", reset: "「最初から」の合図", area_only: "地域だけのメッセージ",
               area_followup: "地域を聞いたあとの返事", consented: "同意の返事", declined: "同意しない返事"};
const URGENCY = {emergency: "緊急（いますぐ）", urgent: "急ぎ", normal: "ふつう", info: "案内"};
const form = document.getElementById("form");
const send = document.getElementById("send");
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

function setText(id, text) {
  document.getElementById(id).textContent = text;
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
  if (node.type === "button" && node.action && /^(tel:[0-9%#*+]+|https:\/\/[^\s"<>]+)$/.test(node.action.uri || "")) {
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

function show(data) {
  fill("line", lineMessages(data.line));
  const x = data.explanation;
  setText("x-kind", KINDS[data.kind] || data.kind);
  setText("x-intent", x.intent + "（" + x.title + "）");
  setText("x-urgency", x.urgency + "：" + (URGENCY[x.urgency] || ""));
  setText("x-contacts", x.contacts.join(" → ") || "（なし）");
  setText("x-area", data.area ? [data.area.pref, data.area.municipality].filter(Boolean).join(" ") : "（わからない）");
  setText("x-also", x.also.join("、") || "（なし）");
  fill("x-scores", x.scores.map((s) => {
    const row = el("tr", null, s.fired ? "fired" : "");
    const words = s.keywords.map((k) => k.text + (k.detail ? "（" + k.detail + "）" : "") + " " +
                                         (k.weight > 0 ? "+" : "") + k.weight);
    row.append(el("td", (s.fired ? "◎ " : "") + s.intent + "（" + s.title + "）"), el("td", s.model, "num"),
               el("td", s.score, "num"), el("td", s.threshold, "num"), el("td", words.join("、")));
    return row;
  }));
  fill("x-rules", x.rules.map((r) => el("li", "[" + r.kind + "] " + (r.intent || "全体") + "：" + r.text +
                                              (r.detail ? " — " + r.detail : ""))));
  fill("x-law", x.law.length ? x.law.map((p) => el("li", p.id + (p.deadline ? "（期限 " + p.deadline + "）" : "")))
                              : [el("li", "（なし）")]);
  fill("x-tokens", x.tokens.filter((t) => t.pos !== "空白").map((t) =>
    el("span", t.key && t.key !== t.surface ? t.surface + "→" + t.key : t.surface)));
  document.getElementById("result").hidden = false;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  send.disabled = true;
  statusLine.className = "";
  statusLine.textContent = "考えています…";
  const area = document.getElementById("area").value;
  try {
    const response = await fetch(form.dataset.api, {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({text: document.getElementById("text").value, area: area || null}),
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
