"""The /try page: who may open it, the API's answers to good and bad input, and a real browser."""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask
from werkzeug.serving import make_server

from bot.config import Settings
from bot.web import create_app

DATA = Path(__file__).parent / "data"

CONSUMER = "無料点検と言われて屋根の工事を契約した"
DANGER = "今、息子が包丁を振り回して暴れています"
#: Debian's chromium must start with these (and a new empty profile) on a machine with a closed network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def make_app(settings: Settings, version, tmp_path, *, try_page: bool = False) -> Flask:
    return create_app(replace(settings, db_path=tmp_path / "tsunagu.db", try_page=try_page), version=version,
                      start_worker=False)


@pytest.fixture
def client(settings, live_version, tmp_path):
    return make_app(settings, live_version, tmp_path).test_client()


def ask(client, payload: dict):
    response = client.post("/try/api", json=payload)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


# -- who may open it ------------------------------------------------------------------------------

@pytest.mark.parametrize("addr, headers, enabled, status", [
    ("127.0.0.1", {}, False, 200),
    ("::1", {}, False, 200),
    ("203.0.113.5", {}, False, 404),
    ("192.168.1.10", {}, False, 404),
    ("127.0.0.1", {"X-Forwarded-For": "203.0.113.5"}, False, 404),  # through a reverse proxy on this machine
    ("203.0.113.5", {}, True, 200),
])
def test_only_this_machine_unless_enabled(settings, live_version, tmp_path, addr, headers, enabled, status):
    client = make_app(settings, live_version, tmp_path, try_page=enabled).test_client()
    environ = {"REMOTE_ADDR": addr}
    assert client.get("/try", environ_base=environ, headers=headers).status_code == status
    assert client.post("/try/api", json={"text": CONSUMER}, environ_base=environ,
                       headers=headers).status_code == status


@pytest.mark.parametrize("env, expected", [({}, False), ({"TSUNAGU_TRY_PAGE": "1"}, True),
                                           ({"TSUNAGU_TRY_PAGE": "0"}, False)])
def test_setting_from_env(env, expected):
    assert Settings.from_env(env).try_page is expected


# -- the page --------------------------------------------------------------------------------------

def test_page_is_self_contained_japanese_html(client):
    response = client.get("/try")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert '<html lang="ja">' in html and "相談の文章" in html and 'data-api="/try/api"' in html
    assert not re.search(r"(src|href)=|https?://|@import|url\(", html), "no external assets"
    nonce = re.search(r'<script nonce="([^"]+)">', html).group(1)
    csp = response.headers["Content-Security-Policy"]
    assert f"script-src 'nonce-{nonce}'" in csp and "default-src 'none'" in csp
    assert "textContent" in html and "innerHTML" not in html


# -- the API ---------------------------------------------------------------------------------------

def test_consumer_message_goes_to_the_consumer_centre_first(client):
    data = ask(client, {"text": CONSUMER})
    assert data["kind"] == "answer"
    assert data["intent"] == "tenken" and data["urgency"] == "normal"
    assert data["contacts"][0] == "consumer_center"
    assert data["line"][0] == {"type": "text", "text": data["reply"]}
    card = data["line"][1]
    assert card["type"] == "flex" and "tel:188" in str(card)
    assert "☎" not in data["reply"]               # the windows are in the card, not listed in the text
    x = data["explanation"]
    assert x["intent"]["id"] == "tenken" and "点検商法" in x["intent"]["title"]
    assert (x["urgency"]["id"], x["urgency"]["label"]) == ("normal", "ふつう")
    assert "点検商法" in x["urgency"]["why"]
    assert x["contacts"][0] == {"id": "consumer_center", "label": "消費生活センター（消費者ホットライン188）"}
    top = x["scores"][0]
    assert top["id"] == "tenken" and top["fired"] and top["score"] >= top["threshold"]
    assert top["model"] == max(s["model"] for s in x["scores"]) > 0.5   # what the examples taught, beside the keywords
    assert "無料点検 +3" in top["words"]
    assert any(r.startswith("相談先の順：消費生活センター") for r in x["rules"])
    assert [t["surface"] for t in x["tokens"]][:2] == ["無料", "点検"]
    assert x["untranslated"] == [] and x["now_given"] is False


def test_matched_words_are_the_messages_own_words(client):
    text = "セールスの人を家に上げてしまって、布団の契約書に名前を書かされました"
    x = ask(client, {"text": text})["explanation"]
    assert x["intent"]["id"] == "houmon_hanbai"
    words = {w["surface"] for w in x["words"] if w["intent"] == "houmon_hanbai" and w["counted"]}
    assert "家に上げ…契約書" in words        # the keyword 「家に上げる|… & …|契約|…」 as the message wrote it
    for w in x["words"]:
        assert w["surface"] == "…".join(x["message"][a:b] for a, b in w["spans"])
        assert not any(mark in w["surface"] for mark in "&|+=")


def test_the_time_field_is_now_for_the_opening_hours(client):
    sunday_night = ask(client, {"text": CONSUMER, "area": "秋田県", "now": "2026-11-29T22:00"})
    x = sunday_night["explanation"]
    assert x["now"] == "2026年11月29日（日）22:00" and x["now_given"] is True
    assert x["windows"][0]["name"] == "秋田県生活センター" and x["windows"][0]["open"] is False
    assert "受付時間外" in str(sunday_night["line"])
    monday = ask(client, {"text": CONSUMER, "area": "秋田県", "now": "2026-11-30T10:00"})
    assert monday["explanation"]["windows"][0]["open"] is True
    assert "受付時間外" not in str(monday["line"])


def test_the_time_field_is_now_for_dates_and_deadlines(client):
    text = "きのう訪問販売で布団を契約した"
    x = ask(client, {"text": text, "now": "2026-12-31T10:00"})["explanation"]
    assert x["dates"] == [{"text": "きのう", "date": "12月30日（水）", "approximate": False, "contract": True,
                           "start": 0, "end": 3}]
    (law,) = [p for p in x["law"] if p["deadline"]]
    assert law["deadline"] == "2027年1月6日（水）" and law["running"]
    assert "2027年1月6日まで" in law["text"]
    later = ask(client, {"text": text, "now": "2027-01-20T10:00"})["explanation"]
    assert [p["deadline"] for p in later["law"] if p["deadline"]] == ["1月26日（火）"]   # きのう is now 1/19


def test_an_empty_time_is_the_real_clock(client):
    x = ask(client, {"text": CONSUMER, "now": ""})["explanation"]
    assert x["now_given"] is False and x["now"].startswith("20")


@pytest.mark.parametrize("now", ["tomorrow", "2026-13-01T10:00", "2026-02-30T10:00", "2026-11-29T25:00",
                                 "2026-11-29 22:00", "1999-12-31T23:59", "2100-01-01T00:00", 42, ["2026-11-29T22:00"],
                                 "2026-11-29T22:00+09:00"])
def test_a_bad_time_gets_a_clear_japanese_error(client, now):
    response = client.post("/try/api", json={"text": CONSUMER, "now": now})
    assert response.status_code == 400
    assert "いまを何時として試すか" in response.get_json()["error"]


def test_every_labelled_case_is_explained_in_japanese(triage, now):
    """Every reason the triage gives for the labelled messages has its Japanese words."""
    from bot.explain import for_page

    texts = [json.loads(line)["text"] for name in ("dev_cases.jsonl", "danger_cases.jsonl", "blind_cases.jsonl")
             for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    missing = {}
    for text in texts:
        x = for_page(triage, text, now)
        for english in x["untranslated"]:
            missing.setdefault(english, text[:40])
        for w in [*x["words"], *x["dangers"]]:
            assert w["surface"] and "&" not in w["surface"]
    assert not missing, missing


def test_danger_message_says_110_on_the_first_line(client):
    data = ask(client, {"text": DANGER})
    assert data["intent"] == "danger_violence" and data["urgency"] == "emergency"
    assert "110" in data["reply"].splitlines()[0]
    assert data["contacts"][0] == "emergency_110"
    x = data["explanation"]
    assert x["urgency"]["label"] == "緊急（いますぐ）"
    assert any(d["counted"] and d["surface"] == "包丁" and d["why"] == "いま起きている" for d in x["dangers"])


def test_area_gives_the_local_window(client):
    data = ask(client, {"text": CONSUMER, "area": "札幌市"})
    assert data["area"]["municipality"] == "札幌市"
    assert "札幌市消費者センター" in str(data["line"][1])     # the local window, in the card
    assert data["explanation"]["intent"]["id"] == "tenken"
    assert data["explanation"]["area"]["municipality"] == "札幌市"


@pytest.mark.parametrize("text", ["", "   \n", "あ" * 10_000, CONSUMER * 400, "😀🙏👨‍👩‍👧", "\x00\u202e\ud800abc",
                                  "<script>alert(1)</script>", "最初から"])
def test_odd_text_gets_a_sane_answer(client, text):
    data = ask(client, {"text": text})
    assert data["reply"].strip()
    assert data["line"][0]["type"] == "text" and len(data["line"][0]["text"]) <= 5000
    assert isinstance(data["explanation"]["tokens"], list)


@pytest.mark.parametrize("body, status, words", [
    (b"{not json", 400, "JSON"),
    (b"\xff\xfe\x00", 400, "JSON"),
    (b"", 400, "JSON"),
    (b'["text"]', 400, '"text"'),
    (b'{"message": "hi"}', 400, '"text"'),
    (b'{"text": 42}', 400, '"text"'),
    (b'{"text": "hi", "area": 1}', 400, '"area"'),
    ('{"text": "hi", "area": "どこでもない"}'.encode(), 400, "地域"),
    (b'{"text": "' + b"a" * (1024 * 1024) + b'"}', 413, "1 MB"),
])
def test_bad_bodies_get_a_clear_error_not_a_500(client, body, status, words):
    response = client.post("/try/api", data=body, content_type="application/json")
    assert response.status_code == status
    assert words in response.get_json()["error"]


def test_message_text_is_not_logged(client, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "山田花子さんの口座番号は1234567"
    ask(client, {"text": secret})
    assert "山田" not in caplog.text and "1234567" not in caplog.text


# -- a real browser --------------------------------------------------------------------------------

@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """The app under werkzeug's WSGI server on a free localhost port, in a thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


#: The laptop screen the page must fit (1366×768), and how tall the page may grow: ~1.5 screens.
SCREEN = {"width": 1366, "height": 768}
MAX_PAGE_HEIGHT = int(1.5 * SCREEN["height"])


def send(page, text: str, count: int, *, area: str = "", now: str = "") -> None:
    page.fill("#text", text)
    page.fill("#area", area)
    page.fill("#now", now)
    page.click("#send")
    page.wait_for_selector(f'body[data-answered="{count}"]', timeout=30_000)
    assert "error" not in (page.get_attribute("#status", "class") or ""), page.inner_text("#status")


def page_height(page) -> int:
    return page.evaluate("Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)")


def test_try_page_in_headless_chromium(settings, live_version, tmp_path, capsys):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium binary on PATH (CI installs Debian's: apt-get install -y chromium chromium-driver)")
    from playwright.sync_api import expect, sync_playwright

    shots = {name: tmp_path / f"try-{name}.png" for name in ("danger", "sunday-night", "deadline")}
    heights: dict[str, int] = {}
    problems: list[str] = []
    with serving(make_app(settings, live_version, tmp_path)) as url, sync_playwright() as pw:
        # launch_persistent_context: Playwright refuses --user-data-dir in args; this is the new empty profile
        browser = pw.chromium.launch_persistent_context(
            tmp_path / "profile", executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
            viewport=SCREEN, locale="ja-JP", timezone_id="Asia/Tokyo")
        try:
            page = browser.new_page()
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
            page.goto(url + "/try")

            send(page, DANGER, 1)
            reply = page.locator("#line .bubble").first
            assert "110" in reply.inner_text().splitlines()[0]
            expect(page.locator("#x-intent")).to_contain_text("いま暴力をふるわれている")   # the title, in Japanese
            expect(page.locator("#x-intent .id").first).to_have_text("danger_violence")    # the id, small beside it
            expect(page.locator("#x-urgency")).to_contain_text("緊急")
            expect(page.locator("#x-dangers")).to_contain_text("「包丁」")
            expect(page.locator("#x-now")).to_contain_text("いまの時刻")
            expect(page.locator('#line a.call[href="tel:110"]')).to_be_visible()
            expect(page.locator("#x-message mark.danger").first).to_be_visible()
            page.screenshot(path=shots["danger"], full_page=True)
            heights["danger"] = page_height(page)

            # Sunday 22:00: the prefectural centre is closed, and both columns say so
            send(page, CONSUMER, 2, area="秋田県", now="2026-11-29T22:00")
            expect(page.locator("#x-now")).to_contain_text("2026年11月29日（日）22:00（指定した時刻）")
            expect(page.locator("#line .bubble").nth(1)).to_contain_text("受付時間外")     # the windows card
            expect(page.locator("#line .bubble").first).to_contain_text("クーリング・オフ")
            expect(page.locator("#x-windows")).to_contain_text("秋田県生活センター")
            expect(page.locator("#x-windows .closed")).to_have_text("受付時間外")
            expect(page.locator("#x-contacts")).to_contain_text("消費生活センター（消費者ホットライン188）")
            expect(page.locator("#x-words")).to_contain_text("「無料点検」+3")
            expect(page.locator("#x-message mark").first).to_have_text("無料点検")
            assert not page.locator("details[open]").count(), "the details start closed"
            page.screenshot(path=shots["sunday-night"], full_page=True)
            heights["sunday-night"] = page_height(page)

            # the same message on Monday morning: open
            send(page, CONSUMER, 3, area="秋田県", now="2026-11-30T10:00")
            expect(page.locator("#x-windows .open")).to_have_text("受付中")
            expect(page.locator("#line .bubble").nth(1)).not_to_contain_text("受付時間外")

            # a date said relative to the chosen time gives the deadline
            send(page, "きのう訪問販売で布団を契約した", 4, now="2026-12-31T10:00")
            expect(page.locator("#x-dates")).to_contain_text("「きのう」→ 12月30日（水）（契約の日として計算）")
            expect(page.locator("#x-law")).to_contain_text("期限 2027年1月6日（水）")
            expect(page.locator("#line .bubble").first).to_contain_text("2027年1月6日まで")
            expect(page.locator("#x-message mark.date")).to_have_text("きのう")
            page.screenshot(path=shots["deadline"], full_page=True)
            heights["deadline"] = page_height(page)
            page.locator("summary", has_text="例文からの学習").click()        # the details open on a click
            expect(page.locator("#x-scores tr.fired").first).to_contain_text("訪問販売")

            send(page, '<img src=x onerror="window.pwned=1">', 5)
            expect(page.locator("#x-tokens")).to_contain_text("<")
            assert page.locator("#result img").count() == 0
            assert page.evaluate("window.pwned") is None

            # an unfinished time never reaches the server: a clear message instead
            page.fill("#text", CONSUMER)
            page.locator("#now").focus()
            page.keyboard.type("2026")
            page.click("#send")
            page.wait_for_selector('body[data-answered="6"]', timeout=30_000)
            expect(page.locator("#status.error")).to_contain_text("いまを何時として試すか")
        finally:
            browser.close()
    assert not problems, problems
    with capsys.disabled():
        print("\n/try screenshots (headless Chromium, 1366×768): " + ", ".join(str(p) for p in shots.values()))
        print("/try page heights (px): " + ", ".join(f"{k} {v}" for k, v in heights.items()))
    assert all(p.stat().st_size > 10_000 for p in shots.values())
    assert all(h <= MAX_PAGE_HEIGHT for h in heights.values()), heights
