"""The triage core on its own: contract of a decision, bad input, danger first, no invented numbers."""

from __future__ import annotations

import csv
import json
import re
import sys
import threading
from datetime import timedelta

from hypothesis import HealthCheck, given, settings, strategies as st

from bot.config import Settings
from tests.conftest import NOW

URGENCIES = {"emergency", "urgent", "normal", "info"}
DIRECTORY = Settings.from_env({}).responses_dir / "directory"


def _valid(triage, d) -> None:
    assert d.intent in triage.intents
    assert d.urgency in URGENCIES
    known = set(triage._k.directory.contact_ids())
    assert all(c in known for c in d.contacts)
    assert len(set(d.contacts)) == len(d.contacts)
    assert isinstance(d.reply, str) and d.reply.strip()
    data = json.loads(json.dumps(d.to_json(), ensure_ascii=False))
    assert {"intent", "urgency", "contacts", "area", "reply"} <= data.keys()
    assert data["area"] is None or {"pref", "municipality", "code"} <= data["area"].keys()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_any_unicode_string_gives_a_valid_decision(triage, text):
    _valid(triage, triage.decide(text, now=NOW))


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", categories=["Lo", "Nd", "Po", "Zs", "Cc", "So"]),
               max_size=300))
def test_japanese_like_noise_gives_a_valid_decision(triage, text):
    _valid(triage, triage.decide(text, now=NOW))


BAD_INPUTS = {
    "empty": "",
    "whitespace": " \t\n\u3000 ",
    "long": "訪問販売で布団を買わされました。" * 700,          # > 10,000 characters
    "emoji": "😭😭😭🙏",
    "control": "\x00\x07息子が\x1b[31m課金\x08した\u200b\ufeff",
    "mixed": "Мой сын ゲーム課金 ١٢٣ 𠮷野家 ｶﾞﾁｬ 10万",
    "surrogate": "息子\ud800が課金",
    "only_symbols": "!?#$%&()",
    "newlines": "\n\n\n\n",
}


def test_bad_input_gets_a_sane_answer(triage):
    for name, text in BAD_INPUTS.items():
        d = triage.decide(text, now=NOW)
        _valid(triage, d)
        assert d.urgency != "emergency", name
        assert len(d.reply) < 1500, name


def test_empty_input_asks_for_words(triage):
    d = triage.decide("   ", now=NOW)
    assert d.intent == "empty_message" and d.urgency == "info"


def test_long_message_still_routes(triage):
    d = triage.decide("無料点検と言われて屋根の工事を契約した。" * 600, now=NOW)
    assert d.contacts[0] == "consumer_center"


def test_emergency_puts_the_number_on_the_first_line(triage):
    for text, number in [("今、息子が包丁を振り回して暴れています", "110"),
                         ("今、ヤミ金の男が玄関でドアを蹴ってる", "110")]:
        d = triage.decide(text, now=NOW)
        assert d.urgency == "emergency", text
        assert number in d.reply.splitlines()[0], d.reply


def test_figure_of_speech_is_not_an_emergency(triage):
    for text in ["死ぬほど疲れた…毎日息子の食事の用意で", "こんなの旦那に見られたら殺される気がする😂",
                 "暴れたのは昨日の夜で、今は寝ています"]:
        assert triage.decide(text, now=NOW).urgency != "emergency", text


def test_area_from_postal_code_picks_the_local_window(triage):
    d = triage.decide("〒060-0001 訪問販売で布団を買わされました", now=NOW)
    assert d.facts.area.municipality == "札幌市中央区"
    assert d.to_json()["area"]["code"] == "01101"
    assert d.windows[0].level == "municipal" and "札幌市" in d.windows[0].name


def test_unknown_area_gives_the_national_line_and_asks(triage):
    d = triage.decide("訪問販売で布団を買わされました", now=NOW)
    assert d.windows[0].phone.digits == "188"
    assert d.needs_area
    assert "郵便番号" in d.reply


def _source_numbers() -> set[str]:
    digits = set()
    for path in DIRECTORY.glob("*.csv"):
        with path.open(encoding="utf-8-sig", newline="") as f:
            for row in csv.DictReader(f):
                digits.add(re.sub(r"\D", "", row.get("phone") or ""))
    return digits


def test_every_number_in_a_reply_comes_from_the_directory(triage):
    known = _source_numbers()
    for intent in triage.intents.values():
        for text in intent.spec.examples[:3]:
            for area in ("", "〒900-0015 ", "京都市伏見区です。", "宮城県登米市です。"):
                d = triage.decide(area + text, now=NOW)
                for w in d.windows:
                    if w.phone:
                        assert re.sub(r"\D", "", w.phone.digits) in known, (w.name, w.phone)
                for number in re.findall(r"☎ ([#\d-]+)", d.reply):
                    assert re.sub(r"\D", "", number) in known, number


def test_concurrent_decisions_from_many_threads(triage):
    """gunicorn threads and the worker share one Triage: Sudachi needs a tokenizer per thread."""
    import threading

    texts = ["訪問販売で布団を買わされた", "今、息子が暴れています", "ひきこもりの息子のことで相談です"] * 30
    errors: list[str] = []

    def run():
        try:
            for text in texts:
                triage.decide(text, now=NOW)
        except Exception as exc:  # noqa: BLE001 - the test reports whatever breaks
            errors.append(repr(exc))

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# -- no I/O while deciding ---------------------------------------------------------------------------
#: Audit events that mean a file, a database or the network was touched.
IO_EVENTS = ("open", "sqlite3.connect", "socket.connect", "socket.getaddrinfo", "os.listdir", "os.scandir",
             "subprocess.Popen")
_watching: list[tuple[str, str]] | None = None   # the audit hook (which cannot be removed) records only while set


def _audit(event: str, args: tuple) -> None:
    if _watching is not None and event in IO_EVENTS:
        _watching.append((event, str(args[0]) if args else ""))


sys.addaudithook(_audit)


def test_a_decision_touches_no_file_or_database(triage):
    """A postal code, a place name, an amount and a date (law points, windows, hours, reply text):
    decided in a new thread (a per-thread database connection would be opened there) and at a minute
    not decided before (no cached windows), nothing is opened."""
    global _watching
    texts = ["〒060-0001 に住む母が訪問販売で50万円の布団を契約しました。11月20日です",
             "郵便番号は 980-0811 です。息子がひきこもっています",
             "大阪市北区に住んでいます。屋根の無料点検で工事を契約してしまった"]
    for text in texts:
        triage.decide(text, now=NOW)          # first use of lazily built helpers is not what is measured
    decided: list = []
    later = NOW + timedelta(days=1, minutes=7)

    def work() -> None:
        decided.extend(triage.decide(text, now=later) for text in texts)

    _watching = []
    try:
        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
    finally:
        seen, _watching = _watching, None
    assert [d.facts.area.municipality for d in decided] == ["札幌市中央区", "仙台市青葉区", "大阪市北区"]
    assert all(d.windows for d in decided)
    assert seen == [], seen
