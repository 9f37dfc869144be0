"""Masking (bot/triage/mask.py): the table of tests/tables/mask_cases.jsonl — every form that must be hidden and
everything that must stay — plus properties that hold for any input, and the mask.yml loader."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from bot.cli import cli
from bot.config import Settings
from bot.triage.loader import MASK_FILE, model_files_version
from bot.triage.mask import MASK, Masker
from test_check import copy  # noqa: F401  (fixture: a private copy of the shipped files)

#: Not in tests/data: that folder holds the labelled routing cases the knowledge gate replays.
TABLE = Path(__file__).parent / "tables" / "mask_cases.jsonl"
CASES = [json.loads(line) for line in TABLE.read_text(encoding="utf-8").splitlines()
         if line.strip()]
MASK_YML = Path(__file__).resolve().parents[1] / "intents" / MASK_FILE


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


# -- the table --------------------------------------------------------------------------------------
def test_the_table_is_large_and_well_formed():
    assert len(CASES) >= 60
    assert len({c["id"] for c in CASES}) == len(CASES)
    for c in CASES:
        assert set(c) == {"id", "text", "must_hide", "must_keep", "note"}, c["id"]
        assert c["must_hide"] or c["must_keep"], c["id"]
    assert sum(bool(c["must_hide"]) for c in CASES) >= 40 and sum(bool(c["must_keep"]) for c in CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_mask_table(case, triage):
    out = triage.mask(case["text"])
    leaks = [h for h in case["must_hide"] if h in out or _nfkc(h) in out]
    lost = [k for k in case["must_keep"] if _nfkc(k) not in out]
    assert not leaks and not lost, f"{case['note']}: {out!r} leaks {leaks}, lost {lost}"
    if case["must_hide"]:
        assert MASK in out


def test_the_callers_use_the_masker_of_the_knowledge(triage):
    """One Masker per knowledge version (patterns compiled at load); callers reach it as ``triage.mask``."""
    assert isinstance(triage._k.masker, Masker)
    text = "田中です。090-1234-5678"
    assert triage.mask(text) == triage._k.masker.mask(text, triage.tokenizer) != text


def test_every_directory_number_stays(triage):
    """A public window's number is not personal: each phone of the directory CSVs is kept."""
    phones = {e.phone.display for e in triage._k.directory.entries if e.phone}
    assert len(phones) > 50
    for display in sorted(phones):
        out = triage.mask(f"{display}に電話しました")
        assert display in out, (display, out)


# -- properties -------------------------------------------------------------------------------------
FRAGMENTS = [c["text"] for c in CASES] + ["\ud800", "\udfff", "\u200b", "\u2028", "ﷺ", "𠮷", "\x00", "<!channel>",
                                           "①②③", "㍻", "ｶﾀｶﾅ", " ", "\n", "、", "-", "の", "さん", "〇"]
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=60)   # lone surrogates included
MIXED = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=5).map("".join)
PROPERTY = hsettings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(text=st.one_of(ANY_TEXT, MIXED))
def test_never_crashes_is_stable_and_bounded(triage, text):
    masker = triage._k.masker
    out = masker.mask(text, triage.tokenizer)
    assert isinstance(out, str)
    out.encode("utf-8")                                     # no lone surrogate survives
    assert len(out) <= max(2 * len(text), len(MASK))
    assert masker.mask(out, triage.tokenizer) == out       # idempotent


@pytest.mark.parametrize("text", ["\ud800田中さん 090-1234-5678", "ﷺ" * 40, "", "   ", "●●さん", "\ud83d\ude00" * 3])
def test_odd_unicode(triage, text):
    out = triage.mask(text)
    out.encode("utf-8")
    assert "1234" not in out and "田中" not in out
    assert len(out) <= max(2 * len(text), len(MASK))


# -- mask.yml ---------------------------------------------------------------------------------------
def test_the_words_come_from_mask_yml(triage):
    """An edit of mask.yml changes what is masked, without code: a number listed in keep_numbers
    stays, a new honorific finds names."""
    data = yaml.safe_load(MASK_YML.read_text(encoding="utf-8"))
    before = Masker.from_mapping(data)
    text = "相談室 06-1234-5678、たなかどのへ"
    assert "06-1234-5678" not in before.mask(text, triage.tokenizer)
    data["keep_numbers"].append("06-1234-5678")
    data["honorifics"].append("どの")
    after = Masker.from_mapping(data).mask(text, triage.tokenizer)
    assert "06-1234-5678" in after and "たなか" not in after


def _check() -> tuple[int, dict]:
    r = CliRunner().invoke(cli, ["check", "--json", "--now", "2026-11-27T10:00"])
    return r.exit_code, json.loads(r.output)


def test_a_broken_mask_yml_is_an_error_with_file_and_line(copy):
    path = copy / "intents" / MASK_FILE
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"一": 1', '"一": 11', 1), encoding="utf-8")
    code, report = _check()
    line = next(n for n, row in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if row.startswith("kanji_digits:"))
    issue = next(i for i in report["issues"] if i["file"] == f"intents/{MASK_FILE}")
    assert code == 1 and issue["severity"] == "error" and issue["line"] == line and "kanji_digits" in issue["message"]

    path.unlink()
    code, report = _check()
    assert code == 1 and any(i["file"] == f"intents/{MASK_FILE}" and i["severity"] == "error"
                             for i in report["issues"])


def test_editing_mask_yml_keeps_the_model_key(copy):
    intents = copy / "intents"
    key = model_files_version(intents)
    path = intents / MASK_FILE
    path.write_text(path.read_text(encoding="utf-8").replace("honorifics: [", "honorifics: [どの, ", 1),
                    encoding="utf-8")
    assert model_files_version(intents) == key                    # masking words: same model
    assert model_files_version(Settings.from_env({}).intents_dir) == key   # and the shipped files' key
    tenken = intents / "tenken.yml"
    tenken.write_text(tenken.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert model_files_version(intents) != key                    # an intent edit still retrains
