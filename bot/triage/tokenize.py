"""SudachiPy tokenization into matching keys.

Key = NFKC (done by :mod:`bot.triage.text`) -> SudachiPy split mode C ->
``normalized_form()`` -> project synonym list.  Particles and symbols get no key;
auxiliaries get no key except the ones that change meaning (negation ``ない`` and
desire ``たい``), so 「解約できない」 and 「解約できる」 stay apart.

The lexicon (synonyms, user dictionary, which auxiliaries to keep) is data in
``intents/_lexicon/``; :func:`bot.knowledge` loads it and builds the user
dictionary, then hands a ready :class:`Tokenizer` to the triage core.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from sudachipy import Dictionary, SplitMode

from .text import to_katakana

_SENTENCE_MARKS = frozenset("。．!?！？\n")
_CLAUSE_MARKS = frozenset("、，,;；:：")
_NO_KEY_POS = frozenset({"助詞", "補助記号", "空白", "記号"})
_COMPOUND_POS = frozenset({"名詞", "動詞"})
NEGATION_KEY = "ない"


@dataclass(frozen=True, slots=True)
class Token:
    surface: str
    norm: str
    key: str | None
    pos: str
    pos2: str
    reading: str
    start: int
    end: int
    sentence: int
    clause: int
    user_dict: bool = False
    sub: tuple[str, ...] = ()  # keys of the mode-A parts of a compound (屋根瓦 -> 屋根, 瓦)


@dataclass(frozen=True)
class Lexicon:
    """Token-level knowledge (from ``intents/_lexicon/``).

    ``synonyms`` maps a sequence of normalized forms to one canonical key;
    single-word synonyms are sequences of length 1.
    """

    synonyms: dict[tuple[str, ...], str] = field(default_factory=dict)
    negation: frozenset[str] = frozenset({"ない", "ず", "ぬ", "へん", "ねえ"})
    keep_aux: frozenset[str] = frozenset({"たい"})

    @property
    def longest_synonym(self) -> int:
        return max((len(k) for k in self.synonyms), default=1)


class Tokenizer:
    """Sudachi tokenizer (mode C) producing :class:`Token` lists with matching keys."""

    def __init__(self, lexicon: Lexicon | None = None, sudachi_config: str | None = None):
        self.lexicon = lexicon or Lexicon()
        kwargs = {"dict": "core"}
        if sudachi_config:
            kwargs["config_path"] = sudachi_config
        self._dictionary = Dictionary(**kwargs)
        self._tok = self._dictionary.tokenizer()
        self._syn_max = self.lexicon.longest_synonym

    def close(self) -> None:
        """Release the dictionary (each live instance holds ~30 MB of mapped pages)."""
        self._tok = None
        self._dictionary = None

    # -- raw Sudachi -------------------------------------------------------------
    def _morphemes(self, text: str):
        # Sudachi refuses very long inputs; feed it line by line (a line is at most
        # MAX_CHARS characters, far below its limit).
        offset = 0
        for line in text.split("\n"):
            if line:
                for m in self._tok.tokenize(line, SplitMode.C):
                    yield m, offset
            offset += len(line) + 1
            if offset <= len(text):
                yield None, offset - 1  # the newline itself

    def tokenize(self, text: str) -> list[Token]:
        out: list[Token] = []
        sentence = clause = 0
        neg, keep = self.lexicon.negation, self.lexicon.keep_aux
        for m, offset in self._morphemes(text):
            if m is None:
                if out and out[-1].sentence == sentence:
                    sentence += 1
                    clause += 1
                continue
            surface = m.surface()
            pos = m.part_of_speech()
            norm = m.normalized_form()
            if pos[0] in _NO_KEY_POS or not surface.strip():
                key = None
            elif pos[0] == "助動詞":
                key = NEGATION_KEY if norm in neg else (norm if norm in keep else None)
            else:
                key = NEGATION_KEY if (norm in neg and pos[0] != "名詞") else norm
            sub: tuple[str, ...] = ()
            if key is not None and len(surface) > 2 and pos[0] in _COMPOUND_POS:
                parts = m.split(SplitMode.A)
                if len(parts) > 1:
                    sub = tuple(self._part_key(p) for p in parts)
            out.append(Token(surface, norm, key, pos[0], pos[1], m.reading_form(),
                             m.begin() + offset, m.end() + offset, sentence, clause,
                             m.dictionary_id() > 0, sub))
            if surface in _SENTENCE_MARKS or (pos[0] == "補助記号" and surface[-1:] in _SENTENCE_MARKS):
                sentence += 1
                clause += 1
            elif surface in _CLAUSE_MARKS:
                clause += 1
        return self._apply_synonyms(out)

    def _part_key(self, m) -> str:
        norm = m.normalized_form()
        return self.lexicon.synonyms.get((norm,), norm)

    def _apply_synonyms(self, tokens: list[Token]) -> list[Token]:
        syn = self.lexicon.synonyms
        if not syn:
            return tokens
        keyed = [i for i, t in enumerate(tokens) if t.key is not None]
        out = list(tokens)
        skip: set[int] = set()
        for pos_in_keyed, i in enumerate(keyed):
            if i in skip:
                continue
            for n in range(min(self._syn_max, len(keyed) - pos_in_keyed), 0, -1):
                idx = keyed[pos_in_keyed:pos_in_keyed + n]
                if tokens[idx[-1]].sentence != tokens[i].sentence:
                    continue
                canon = syn.get(tuple(tokens[j].key for j in idx))
                if canon is None:
                    continue
                first, last = tokens[idx[0]], tokens[idx[-1]]
                out[idx[0]] = Token(
                    "".join(tokens[j].surface for j in range(idx[0], idx[-1] + 1)), first.norm,
                    canon, first.pos, first.pos2,
                    "".join(tokens[j].reading for j in range(idx[0], idx[-1] + 1)),
                    first.start, last.end, first.sentence, first.clause, first.user_dict,
                    first.sub if n == 1 else ())
                for j in idx[1:]:
                    t = tokens[j]
                    out[j] = Token(t.surface, t.norm, None, t.pos, t.pos2, t.reading, t.start,
                                   t.end, t.sentence, t.clause, t.user_dict)
                    skip.add(j)
                break
        return out

    # -- helpers for compiling data ----------------------------------------------
    def keys(self, text: str) -> tuple[str, ...]:
        """Matching keys of a phrase (what a keyword in an intent file turns into)."""
        return tuple(t.key for t in self.tokenize(text) if t.key is not None)

    def fine_keys(self, text: str) -> tuple[str, ...]:
        """Keys with compounds split into their mode-A parts (屋根瓦 -> 屋根, 瓦)."""
        return tuple(k for t in self.tokenize(text) if t.key is not None for k in (t.sub or (t.key,)))

    def reading(self, text: str) -> str:
        """Katakana reading of a phrase (for matching kana-only writing)."""
        return "".join(to_katakana(t.reading) for t in self.tokenize(text) if t.pos not in _NO_KEY_POS)

    def raw_norms(self, text: str) -> tuple[str, ...]:
        """Normalized forms without synonyms or dropping (used to compile synonym rules)."""
        return tuple(
            (NEGATION_KEY if m.normalized_form() in self.lexicon.negation else m.normalized_form())
            for m, _ in self._morphemes(text) if m is not None
            and m.part_of_speech()[0] not in _NO_KEY_POS and m.surface().strip()
            and (m.part_of_speech()[0] != "助動詞" or m.normalized_form() in self.lexicon.keep_aux
                 or m.normalized_form() in self.lexicon.negation))


def compile_synonyms(tok: Tokenizer, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, ...], str]:
    """Turn ``(canonical, variant)`` surface pairs into key-sequence rewrites."""
    rules: dict[tuple[str, ...], str] = {}
    for canonical, variant in pairs:
        canon_keys = tok.raw_norms(canonical)
        canon = "".join(canon_keys) if canon_keys else canonical
        for form in (variant, canonical):
            seq = tok.raw_norms(form)
            if seq and seq != (canon,):
                rules[seq] = canon
    return rules
