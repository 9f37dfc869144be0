"""The learned layer: examples teach the bot, counter-examples teach it what to avoid.

A new worry written by an admin as examples only (no keywords) must load, pass the checks and
recognise paraphrases written afterwards that share few words with its examples.
"""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest

from bot.triage import load
from bot.triage.model import Sample, train
from tests.conftest import NOW

NEW_INTENT = """\
id: hakajimai
title: 墓じまい・改葬の高額な請求や契約トラブル
rule: consumer
contacts: [consumer_center]
urgency: normal
# examples only: no keywords
examples:
  - 墓じまいを頼んだ石材店から、見積もりの倍の金額を請求されました
  - 田舎のお墓を閉じて遺骨を移したいのですが、業者に200万円と言われました。高すぎませんか
  - 母が墓じまいの業者と契約してしまい、解約したいと言ったら違約金を求められています
  - 菩提寺の住職に墓じまいを伝えたら、離檀料として300万円を払うように言われました
  - 墓石の撤去と更地に戻す費用が、工事のあとで次々に上乗せされました
  - 霊園で永代供養の契約をしたのに、毎年の管理料の請求が続いています
  - 父の遺骨を納骨堂へ改葬する手続きを代行会社に頼んだら、手数料が三十万円でした
  - 墓地の区画を返したいと言ったら、霊園から原状回復の費用として高い金額を示されました
  - 樹木葬の申し込みをしたが、パンフレットにない追加料金を後から求められた
  - 散骨を頼んだ会社と連絡が取れなくなり、お骨を返してもらえません
  - 檀家をやめるなら、今までのお布施とは別にお金を納めるようにとお寺から言われた
  - 石屋さんに墓の解体を頼んだら、重機代や処分代が次々に足された
  - お墓の引っ越しの訪問営業が来て、今日決めれば安くなると言われて契約した
  - ネットで見つけた改葬代行に前払いしたのに、作業が始まらないまま音信不通です
"""
NEW_REPLY = """\
advice:
  - "お墓の片付けや移しかえの費用で困ったときは、消費生活センターに相談できます。"
"""
#: Written after the examples above: each keeps the worry's own noun, as a family would (墓, お墓,
#: 遺骨, 墓じまい), and says the rest in other words; none shares 30% of its words with any example.
#: Each is about this worry alone (not also a door-to-door sale or an unknown bill, which other
#: worries rightly claim).
PARAPHRASES = [
    "実家の墓を整理したいと石屋に頼んだら、最初に聞いた話よりずっと高い額を言われて困っています",
    "墓じまいのことで寺と話がこじれて、数百万円を出せと迫られている母をどう助ければいいですか",
    "先祖のお墓を閉じる工事の途中で、石の運び出し代や供養のお礼が別に要ると言われ、総額が膨らんでいる",
    "姉が父の遺骨を別の場所へ移す契約を勝手に結んでいて、やめたいと伝えたらお金は返せないそうです",
    "父が生前に結んだ霊園の永代供養をやめたいのに、納めたお金は一切戻らないと断られました",
]


@pytest.fixture(scope="module")
def taught(settings, tmp_path_factory):
    """The shipped knowledge plus one intent written as examples only."""
    root = tmp_path_factory.mktemp("knowledge")
    intents, responses = root / "intents", root / "responses"
    shutil.copytree(settings.intents_dir, intents)
    shutil.copytree(settings.responses_dir, responses)
    (intents / "hakajimai.yml").write_text(NEW_INTENT, encoding="utf-8")
    (responses / "replies" / "hakajimai.yml").write_text(NEW_REPLY, encoding="utf-8")
    return load(replace(settings, intents_dir=intents, responses_dir=responses))


def test_an_intent_with_examples_and_no_keywords_loads_without_errors(taught):
    assert taught.triage.intents["hakajimai"].spec.keywords == {}
    assert not [i for i in taught.issues if i.severity == "error"]


def test_examples_alone_recognise_paraphrases_written_afterwards(taught):
    triage = taught.triage
    examples = [frozenset(triage.tokenizer.keys(t)) for t in triage.intents["hakajimai"].spec.examples]
    for text in PARAPHRASES:   # the paraphrases really are other wording: few words in common
        keys = frozenset(triage.tokenizer.keys(text))
        assert max(len(keys & e) / len(keys | e) for e in examples) < 0.3, text
    routed = [triage.decide(text, now=NOW).intent for text in PARAPHRASES]
    assert sum(r == "hakajimai" for r in routed) >= 4, routed


def test_without_its_examples_the_same_paraphrases_go_elsewhere(triage):
    """The shipped bot (no such intent) cannot know them: the new intent is what taught it."""
    assert all(triage.decide(text, now=NOW).intent != "hakajimai" for text in PARAPHRASES)


def test_training_is_deterministic(triage):
    a, b = train(triage.samples), train(triage.samples)
    assert a.classes == b.classes and a.vocab == b.vocab
    assert np.array_equal(a.weights, b.weights) and np.array_equal(a.bias, b.bias)


def test_a_counter_example_lowers_the_model_for_its_intent(triage):
    text = "車検の前に、車の点検を予約しようと思っています"
    without = train(triage.samples).probabilities(triage.features(text))["tenken"]
    taught = train([*triage.samples, Sample(triage.features(text), "tenken", True, text)])
    assert taught.probabilities(triage.features(text))["tenken"] < without


def test_the_model_sees_more_than_keywords(triage):
    """A worry said with none of its keywords still gets a clear probability from the examples."""
    probs = triage.probabilities("母あての小包が毎月届いて、そのたびに代金を払っている。頼んだ覚えはないそうだ")
    best = max(probs, key=probs.get)
    assert best in ("okuritsuke", "teiki_kounyu")
    assert probs[best] > 0.5


def test_explain_shows_the_model_beside_the_keywords(triage):
    from bot.explain import explain_text

    report = explain_text(triage, "訪問販売で布団を買わされた", NOW)
    assert "model" in report.text and "evidence" in report.text
    assert report.data["model"] and report.data["evidence"]
    assert max(report.data["model"], key=report.data["model"].get) == "houmon_hanbai"
