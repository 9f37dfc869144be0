"""What the learned intent model sees of a message: words and character n-grams.

Pure: tokens (from :mod:`bot.triage.tokenize`) and the cleaned text in, a bag of
named features out.  The same function turns intent examples into training data
and live messages into model input, so both always agree.

- ``WORD + key`` a content word by its matching key (normalized form + project synonyms),
  so 払った / 払いました / 支払う meet, and ひきこもり / 引きこもり too;
- ``NEGATED + key`` that word negated (解約できない is not 解約できる);
- the character 1–3-grams of the text themselves (no prefix: there are hundreds per message),
  with hiragana folded to katakana, for kana-only writing, typos and words Sudachi splits unusually.

The prefixes are control characters, which a cleaned message never contains, so a word and a
character n-gram can never be taken for each other.

Numbers are left out of ``w:`` (their characters still count in ``c:``): the model
should learn 「万円」, not one price.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from .text import to_katakana
from .tokenize import NEGATION_KEY, Token

#: Parts of speech whose words carry the topic of a message.
CONTENT_POS = frozenset({"名詞", "動詞", "形容詞", "形状詞", "副詞", "連体詞", "接頭辞", "感動詞", "代名詞"})
#: Character n-gram lengths.
CHAR_NGRAMS = (1, 2, 3)
#: Characters of a message the model reads (a longer text is read up to here; see ``explain``).
MODEL_CHARS = 3000
_DROP = frozenset(" \n\t\u3000")
WORD = "\x01"
NEGATED = "\x02"



def featurize(tokens: Sequence[Token], text: str) -> Counter:
    """The feature bag of one cleaned message (``tokens`` from the same text)."""
    bag: Counter = Counter()
    last: str | None = None
    for t in tokens:
        if t.start >= MODEL_CHARS:
            break
        key = t.key
        if key is None:
            continue
        if key == NEGATION_KEY:
            if last is not None:
                bag[NEGATED + last] += 1
            continue
        if t.pos not in CONTENT_POS or t.pos2 == "数詞":
            continue
        last = key
        bag[WORD + key] += 1
    chars = to_katakana("".join(ch for ch in text[:MODEL_CHARS] if ch not in _DROP)).lower()
    bag.update([chars[i:i + n] for n in CHAR_NGRAMS for i in range(len(chars) - n + 1)])
    return bag
