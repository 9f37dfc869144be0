"""Danger read the way a person reads it: now vs the past, one's own vs someone else's story,
negation and other senses, hypotheticals; idioms of suicide and cries for help caught.

The first cases are the ones issue 9 reported; the rest are written for this file.
"""

from __future__ import annotations

import pytest

from tests.conftest import NOW

EMERGENCY = ("emergency_110", "emergency_119")


def _first_line(decision) -> str:
    return decision.reply.splitlines()[0]


# -- danger now: an emergency, 110/119 on the first line ---------------------------------------
@pytest.mark.parametrize("text", [
    "もうええわ、今から線路行く",                      # an idiom of suicide, a plan for now
    "電車に飛び込もうと思ってホームにいる",              # at the platform with the plan said
    "いま危ないです",
    "たすけて",
    "いま息子に殺される、たすけて",
    "これから踏切に行く。もう終わりにしたい",
    "母が今、電話で言われるままATMを操作しています",
    "祖母の家に、あと３０分でカードを受け取りに来る人がいるそうです",
    "息子が今、包丁を振り回して暴れている",
    "娘が薬をたくさん飲んで、呼んでも返事がない",
    "兄がビルの屋上の手すりの外側に立っていると警察から電話があった",
    "ひもを持って部屋に入ったきり鍵をかけて、呼んでも返事がありません",
])
def test_danger_now_is_an_emergency_with_the_number_first(triage, text):
    d = triage.decide(text, now=NOW)
    assert d.urgency == "emergency", (text, d.intent)
    assert d.contacts[0] in EMERGENCY
    assert "110" in _first_line(d) or "119" in _first_line(d)


# -- not danger now --------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    # another sense of the word: 意識 = awareness
    "娘は年齢確認や購入という意識はなかったようだ",
    "教育に対する意識がない家でした",
    # the past, and calm now
    "今朝、息子が暴れました。今は寝ています",
    "去年、息子に殴られて警察を呼んだことがあります。今は落ち着いています",
    "昔は暴れることもありましたが、ここ数年は穏やかです",
    "20代の頃は毎日死にたいと思っていました。今は少しずつ働いています",
    # someone else's story: news, a report, a column
    "ニュースで、息子に首を絞められた母親の事件を見ました。うちも心配です",
    "Aさん（仮名）は、息子が暴れたときに110番通報したという。今は支援を受けている",
    "60歳代女性。「ATMで還付金の手続きができる」と電話があり、操作したとの相談が寄せられています",
    # an instruction someone gave, the writer only asking
    "市役所を名乗る人から、今日中にATMへ行ってくださいと言われた。信用していいの？",
    # an insult or an order, not an act
    "息子に毎日「死ね」と言われます",
    # hypotheticals, negation
    "もし息子が暴れたら、どこに電話すればいいですか",
    "手首を切ったりとかはしてないし、すぐどうこうするつもりもないです",
    "飛び込もうと思っているわけじゃない。ただ駅のホームが怖い",
    # money that will not come back is not a farewell
    "ネットで買った靴が届かない。お金はもう戻らないんでしょうか",
    # a little blood, a sales pitch
    "歯みがきのとき歯ぐきから血が出ることがあります",
    "鼻をかんだら少し血が出た",
    "訪問販売の人に「血の流れが良くなる」と言われて健康器具を契約しました",
    # words of fire, stabbing and illness in everyday use
    "庭で草むしりをしていて蚊に刺されました",
    "燃えるゴミの出し方で息子ともめています",
    "息子の将来を思うと胸が痛くて眠れません",
    "息子はタバコに火をつけて、ずっと部屋で吸っています",
    "子どものころの火傷の跡を息子が気にしています",
])
def test_not_danger_now_is_not_an_emergency(triage, text):
    d = triage.decide(text, now=NOW)
    assert d.urgency != "emergency", (text, d.intent, [r for r in d.reasons if r.kind == "danger" and r.weight])


def test_being_threatened_is_not_a_loan_shark(triage):
    d = triage.decide("息子に殺される", now=NOW)
    assert d.intent not in ("yamikin", "debt")
    assert "110" in d.reply


def test_a_threat_said_last_week_is_family_violence_not_an_emergency(triage):
    d = triage.decide("先週、息子に「殺すぞ」と怒鳴られました。それから怖くて眠れません", now=NOW)
    assert d.urgency != "emergency"
    assert d.contacts[0] == "police_consult"


@pytest.mark.parametrize("text", ["こわいです", "たすけてほしい", "あぶないかもしれない"])
def test_fear_without_a_story_asks_and_still_shows_110_119_first(triage, text):
    d = triage.decide(text, now=NOW)
    assert "110" in _first_line(d) or "119" in _first_line(d), d.reply
    if d.urgency != "emergency":
        assert d.unsure and d.topics


def test_a_cry_for_help_that_names_its_worry_is_that_worry(triage):
    d = triage.decide("助けてください。訪問販売で布団を30万円で買わされました", now=NOW)
    assert d.urgency != "emergency"
    assert d.contacts[0] == "consumer_center"


def test_past_despair_does_not_send_a_job_seeker_to_the_crisis_line(triage):
    text = ("30歳です。高校を中退してから家にいました。20代は毎日死にたいと思っていました。"
            "今はアルバイトを始めたいと思っていて、面接の練習をしたいです")
    d = triage.decide(text, now=NOW)
    assert d.contacts[0] == "saposute"


def test_danger_at_the_end_of_a_long_account_is_still_found(triage):
    story = "息子は高校を中退してから十年、家にいます。昼夜逆転で、食事は部屋の前に置いています。" * 60
    d = triage.decide(story + "いま息子が包丁を持って暴れています。たすけて", now=NOW)
    assert len(story) > 2500
    assert d.urgency == "emergency" and d.contacts[0] == "emergency_110"


def test_a_danger_word_repeated_in_a_long_past_story_stays_past(triage):
    story = "去年の夏、息子が暴れて物を投げました。" * 120
    d = triage.decide(story + "今は落ち着いていて、働きたいと言っています", now=NOW)
    assert d.urgency != "emergency"


# -- bleeding: an ambulance when it is heavy or from a blow; 110 leads only when there was a blow ----
@pytest.mark.parametrize("text", [
    "いま兄が父を殴って、父の口から血が出ています",
    "さっき息子に突き飛ばされた母が、殴られて出血している",
])
def test_bleeding_from_a_blow_now_calls_110_and_119(triage, text):
    d = triage.decide(text, now=NOW)
    assert d.urgency == "emergency", (text, d.intent)
    assert d.contacts[:2] == ("emergency_110", "emergency_119"), d.contacts


@pytest.mark.parametrize("text", [
    "祖母が階段で転んで、頭から出血がひどいです",
    "父が庭で転んで血まみれになっている",
])
def test_heavy_bleeding_without_a_blow_puts_119_first(triage, text):
    d = triage.decide(text, now=NOW)
    assert d.urgency == "emergency" and d.contacts[0] == "emergency_119", (text, d.intent, d.contacts)
    assert "119" in _first_line(d)


# -- fire and sudden illness: 119 first ---------------------------------------------------------------
@pytest.mark.parametrize("text, police_too", [
    ("いま息子の部屋から煙が出ていて、ドアが開きません", False),          # a fire now
    ("夫が布団に火をつけました", True),                                  # set by a person: 110 follows
    ("孫がコンロの鍋をひっくり返して、足に大やけどをしています", False),  # a bad burn
    ("父がご飯をのどに詰まらせて、声が出ない", False),                    # choking
    ("母が台所で胸を押さえてうずくまっています", False),                  # a sudden illness
    ("兄が父をナイフで刺した", True),                                    # stabbed: 119 and 110
])
def test_fire_burns_choking_and_stabbing_put_119_first(triage, text, police_too):
    d = triage.decide(text, now=NOW)
    assert d.urgency == "emergency" and d.contacts[0] == "emergency_119", (text, d.intent, d.contacts)
    assert "119" in _first_line(d)
    if police_too:
        assert "emergency_110" in d.contacts

