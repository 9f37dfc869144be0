"""Ages (and whose) and who signed the contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.triage.extract.people import PeopleLexicon, find_ages, find_signer
from bot.triage.loader import load_people
from bot.triage.text import clean

PEOPLE_YML = Path(__file__).resolve().parents[1] / "intents" / "_lexicon" / "people.yml"


def ages_in(text: str, lex: PeopleLexicon | None = None) -> list[tuple[int, int, bool]]:
    found = find_ages(clean(text), lex) if lex else find_ages(clean(text))
    return [(a.low, a.high, a.writer) for a in found]


@pytest.mark.parametrize("text, expected", [
    ("５３歳の兄が仕事を探したいらしい", (53, 53, False)),
    ("１９歳の息子が高校卒業後", (19, 19, False)),
    ("息子（２１）、外には普通に出てる", (21, 21, False)),
    ("娘は働きたいとも言ってる（３３）", (33, 33, False)),
    ("ご本人（40代男性）が激高して", (40, 49, False)),
    ("40代の息子さんが同居", (40, 49, False)),
    ("四十代の娘", (40, 49, False)),
    ("40代前半の女性", (40, 44, False)),
    ("40代後半の息子", (45, 49, False)),
    ("50代の方の就労相談", (50, 59, False)),
    ("４０過ぎの息子", (40, 49, False)),
    ("中２の娘、不登校", (13, 14, False)),
    ("中学２年の息子", (13, 14, False)),
    ("中学３年生の息子", (14, 15, False)),
    ("孫は小学４年です", (9, 10, False)),
    ("小4の孫", (9, 10, False)),
    ("高校生の娘", (15, 18, False)),
    ("高2の息子", (16, 17, False)),
    ("ふとうこう の まご　ちゅうがく いちねん", (12, 13, False)),
    ("アラフォーの弟", (37, 43, False)),
    ("４０歳の娘のことです", (40, 40, False)),
    ("７０歳の母の話です", (70, 70, False)),
    # the writer's own age
    ("私も７５で腰も悪いのに", (75, 75, True)),
    ("私ももう７０近く、夜中に起こされる", (66, 69, True)),
    ("私も８２歳になり、体がもちません", (82, 82, True)),
    ("大阪府堺市在住の６２歳の母です", (62, 62, True)),
    ("私（70）が契約しました", (70, 70, True)),
    ("私は62歳です", (62, 62, True)),
])
def test_ages(text, expected):
    assert ages_in(text) == [expected]


def test_several_ages_with_spans():
    text = clean("５３歳の長男が３０年近く家におります。でも私も８２歳になり")
    found = find_ages(text)
    assert [(a.text, a.low, a.writer) for a in found] == [("53歳", 53, False), ("82歳", 82, True)]
    for a in found:
        assert text[a.start:a.end] == a.text


@pytest.mark.parametrize("text", [
    "サポステは49歳までですよね",  # an age limit, not someone's age
    "ひきこもり支援って何歳までですか",
    "十五年ほど家におります",
    "３か月の合宿",
    "３０万払った",
    "2026年11月20日",
    "家の中2階",
    "途中3回",
    "(1) 最初の質問",
    "2000年代",
    "1000円代",
    "10代目",
    "私は3回払った",
    "300歳",
])
def test_not_ages(text):
    assert ages_in(text) == []


@pytest.mark.parametrize("text, expected", [
    # the family signed or paid
    ("私が契約しました", "family"),
    ("母が契約した", "family"),
    ("契約は義母名義で半年分前払い済み", "family"),
    ("兄が去年、親が契約した施設に入れられてた", "family"),
    ("主人が申し込んだ", "family"),
    ("息子の分も私が払ってきた", "family"),
    ("私の名義で契約", "family"),
    # the writer speaking of themself, no subject
    ("結局浄水器を契約してしまいました", "family"),
    ("開運ブレスレットを三十万円で買ったけど", "family"),
    ("息子の件で合宿に申し込みましたが", "family"),
    # the withdrawn person / the child signed
    ("息子が契約した", "person"),
    ("弟が申し込んだ", "person"),
    ("本人名義のカード", "person"),
    ("娘が自分で申し込んだ", "person"),
    ("弟がネットで育毛剤の定期購入してて、親のクレカで毎月15,000円引かれてた", "person"),
    ("息子（１９）が、高校やめて家にいるんだけど、ネットの副業に３０万払ってた", "person"),
    ("孫がわたしのスマホでゲームの石を買ったらしく", "person"),
    ("中学生のお子さんが母親のスマホで約12万円課金していた", "person"),
])
def test_signer(text, expected):
    signer, words = find_signer(clean(text))
    assert signer == expected
    assert words and words in clean(text)


@pytest.mark.parametrize("text", [
    "おやすみなさい",
    "身に覚えのない請求書がまた来た",
    "私は契約していない",
    "息子がネットで見つけたらしい。申し込んだそうです",  # hearsay about the son
    "親のクレカで払われていた",                          # the card owner did not sign
    "大丈夫が口癖",
    "",
])
def test_no_signer(text):
    assert find_signer(clean(text)) == (None, None)


def test_person_signer_beats_later_implicit_verb():
    assert find_signer("弟が勝手に契約した。私は解約したいので電話で申し込みました")[0] == "person"


def test_people_yml_extends_the_builtin_words():
    issues: list = []
    lex = load_people(PEOPLE_YML, PEOPLE_YML.parent, issues)
    assert issues == []
    text = "せがれが勝手にけいやくしてしもうた"
    assert find_signer(text) == (None, None)
    assert find_signer(text, lex)[0] == "person"
    assert find_signer("おかんが契約した", lex)[0] == "family"
    assert ages_in("古希を迎えました", lex) == [(70, 71, False)]
    assert set(PeopleLexicon().family) <= set(lex.family)


def test_from_mapping_ignores_missing_lists():
    lex = PeopleLexicon.from_mapping({"person": ["倅"]})
    assert "倅" in lex.person and lex.family == PeopleLexicon().family


@pytest.mark.parametrize("text", ["", "(" * 5000, "私" * 5000, "歳" * 5000, "\x00私も75で",
                                  "私も" + "9" * 5000])
def test_never_crashes(text):
    assert isinstance(find_ages(text), list)
    assert isinstance(find_signer(text), tuple)


def test_the_running_bot_reads_people_yml(triage):
    """The admin's people.yml reaches triage: a word for the son that only the file knows makes him the signer."""
    from datetime import datetime

    from bot.triage.extract.people import DEFAULT_LEXICON

    added = [w for w in triage._k.people.person if w not in DEFAULT_LEXICON.person]
    assert added, "people.yml adds words for the person"
    word = added[0]
    text = f"{word}が布団を契約した"
    assert find_signer(clean(text), DEFAULT_LEXICON)[0] != "person"   # the built-in lists alone miss it
    decision = triage.decide(f"{word}が訪問販売で布団を契約した", now=datetime(2026, 12, 4, 10))
    assert decision.facts.signer == "person"
