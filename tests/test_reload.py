"""Hot reload: a good edit goes live without a restart; a broken one keeps the last good version."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import Settings
from bot.live import Live, build
from bot.reload import Reloader, build_or_last_good, snapshot_dir
from tests.conftest import NOW
from tests.servers import seed_cache

NEW_INTENT = """id: setsudenki
title: 節電器・省エネ機器の高額な訪問販売
rule: consumer
contacts: [consumer_center]
urgency: normal
keywords:
  節電器: 4
  節電装置: 4
examples:
  - 電気代が半分になるという節電器を３０万円で買わされました
  - 節電装置を付ければ電気代が安くなると言われて契約した
counter_examples:
  - 電気代の請求書が来ました
"""
NEW_REPLY = 'advice:\n  - "節電器の契約は、消費生活センターに相談してください。"\n'


@pytest.fixture
def copy(tmp_path) -> Settings:
    base = Settings.from_env({})
    shutil.copytree(base.intents_dir, tmp_path / "intents")
    shutil.copytree(base.responses_dir, tmp_path / "responses")
    seed_cache(tmp_path / "cache")   # reuse what was built
    return Settings(intents_dir=tmp_path / "intents", responses_dir=tmp_path / "responses",
                    db_path=tmp_path / "t.db", cache_dir=tmp_path / "cache")


def _add_setsudenki(settings: Settings) -> None:
    (settings.intents_dir / "setsudenki.yml").write_text(NEW_INTENT, encoding="utf-8")
    (settings.responses_dir / "replies" / "setsudenki.yml").write_text(NEW_REPLY, encoding="utf-8")


def test_good_edit_goes_live_and_broken_edit_is_rejected(copy):
    live = Live(copy, build(copy))
    reports: list = []
    reloader = Reloader(live, copy, notify=reports.append)
    text = "電気代が安くなる節電器を玄関先で勧められて買ってしまった"
    before = live.current
    assert reloader.check().status == "unchanged"
    assert before.loaded.triage.decide(text, now=NOW).intent != "setsudenki"

    _add_setsudenki(copy)
    result = reloader.check()
    assert result.status == "reloaded" and live.current is not before
    assert live.current.loaded.triage.decide(text, now=NOW).intent == "setsudenki"
    assert (snapshot_dir(copy) / "intents" / "setsudenki.yml").exists()
    assert snapshot_dir(copy).is_symlink()

    good = live.current
    (copy.intents_dir / "setsudenki.yml").write_text(NEW_INTENT.replace("keywords:", "keywords: [oops"),
                                                     encoding="utf-8")
    result = reloader.check()
    assert result.status == "rejected"
    assert live.current is good                                     # the last good version stays live
    assert live.current.loaded.triage.decide(text, now=NOW).intent == "setsudenki"
    assert reports and any("setsudenki.yml" in i.file and i.line > 0 for i in reports[-1])


def test_unknown_contact_is_rejected_with_file_and_line(copy):
    live = Live(copy, build(copy))
    reports: list = []
    reloader = Reloader(live, copy, notify=reports.append)
    path = copy.intents_dir / "tenken.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("contacts: [consumer_center]",
                                                             "contacts: [consumer_centre]"), encoding="utf-8")
    assert reloader.check().status == "rejected"
    issue = next(i for i in reports[-1] if "consumer_centre" in i.message)
    assert issue.file == "intents/tenken.yml" and issue.line == 4


def test_a_server_started_on_broken_files_runs_on_the_last_good_copy(copy):
    build_or_last_good(copy)                                         # a clean start leaves a snapshot
    (copy.intents_dir / "tenken.yml").write_text("id: [broken\n", encoding="utf-8")
    reports: list = []
    version = build_or_last_good(copy, reports.append)
    assert version.loaded.triage.decide("無料点検で屋根の工事を契約した", now=NOW).intent == "tenken"
    assert reports


def test_no_snapshot_and_broken_files_is_a_clear_error(copy):
    from bot.triage import KnowledgeError

    (copy.intents_dir / "tenken.yml").write_text("id: [broken\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as exc:
        build_or_last_good(replace(copy, cache_dir=Path(copy.db_path).parent / "empty"))
    assert any(i.file.endswith("tenken.yml") for i in exc.value.issues)
