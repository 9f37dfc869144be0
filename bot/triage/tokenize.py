"""SudachiPy tokenization into matching keys.

Key = NFKC (done by :mod:`bot.triage.text`) -> SudachiPy split mode C ->
``normalized_form()`` -> project synonym list.  Particles and symbols get no key;
auxiliaries get no key except the ones that change meaning (negation ``ない`` and
desire ``たい``), so 「解約できない」 and 「解約できる」 stay apart.

The lexicon (synonyms, user dictionary, which auxiliaries to keep) is data in
``intents/_lexicon/``; :mod:`bot.triage.loader` loads it and builds the user
dictionary, then hands a ready :class:`Tokenizer` to the triage core.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple

from sudachipy import Dictionary, SplitMode

from .text import to_katakana

_SENTENCE_MARKS = frozenset("。．!?！？\n")
_CLAUSE_MARKS = frozenset("、，,;；:：")
_NO_KEY_POS = frozenset({"助詞", "補助記号", "空白", "記号"})
_COMPOUND_POS = frozenset({"名詞", "動詞"})
#: Verbs that only add aspect after て/で (ている, てしまう, ておく): no key of their own there.
_AUX_VERBS = frozenset({"居る", "仕舞う", "置く", "おく"})
#: Upper bound of each per-form cache (a few MB at most; new forms past it are just not cached).
_CACHE_LIMIT = 200_000
NEGATION_KEY = "ない"
_new = tuple.__new__   # builds a Token from a full tuple without NamedTuple's keyword handling


class Token(NamedTuple):
    surface: str
    norm: str
    key: str | None
    pos: str
    pos2: str
    start: int
    end: int
    sentence: int
    clause: int
    sub: tuple[str, ...] = ()  # keys of the mode-A parts of a compound (定期点検 -> 定期, 点検)
    pos3: str = ""             # third POS level (人名, 地名, …)
    conj: str = ""             # conjugation form (命令形: 死ね, 殴れ — an order or an insult, not an act)


@dataclass(frozen=True)
class Lexicon:
    """Token-level knowledge (from ``intents/_lexicon/``).

    ``synonyms`` maps a sequence of normalized forms to one canonical key;
    single-word synonyms are sequences of length 1.
    """

    synonyms: dict[tuple[str, ...], str] = field(default_factory=dict)
    negation: frozenset[str] = frozenset({"ない", "ず", "ぬ", "へん", "ねえ"})
    keep_aux: frozenset[str] = frozenset({"たい"})
    #: words Sudachi reads as one that people mean as two (今家 is 今 + 家, not a surname)
    split: dict[str, tuple[str, ...]] = field(default_factory=dict)

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
        # a Sudachi Tokenizer must not be used by two threads at once: one per thread
        self._local = threading.local()
        self._syn_max = self.lexicon.longest_synonym
        self._syn_first = frozenset(k[0] for k in self.lexicon.synonyms)
        self._pos: dict[int, tuple[str, ...]] = {}
        self._info: dict[tuple[str, str, int], tuple] = {}
        # each part of a word to split, read as Sudachi reads it alone
        self._split: dict[str, tuple[tuple[str, tuple], ...]] = {}
        for word, parts in self.lexicon.split.items():
            read = []
            for part in parts:
                morphemes = list(self._tok.tokenize(part))
                if len(morphemes) == 1:
                    m = morphemes[0]
                    read.append((part, self._learn(m, m.surface(), m.normalized_form(), m.part_of_speech_id())))
            if len(read) == len(parts) and "".join(parts) == word:
                self._split[word] = tuple(read)

    @property
    def _tok(self):
        tok = getattr(self._local, "tok", None)
        if tok is None:
            tok = self._local.tok = self._dictionary.tokenizer(SplitMode.C)
        return tok

    def close(self) -> None:
        """Release the dictionary (each live instance holds ~30 MB of mapped pages)."""
        self._local = threading.local()
        self._dictionary = None

    # -- raw Sudachi -------------------------------------------------------------
    def _morphemes(self, text: str):
        # Sudachi refuses very long inputs; feed it line by line (a line is at most
        # MAX_CHARS characters, far below its limit).
        offset = 0
        for line in text.split("\n"):
            if line:
                for m in self._tok.tokenize(line):
                    yield m, offset
            offset += len(line) + 1
            if offset <= len(text):
                yield None, offset - 1  # the newline itself

    def tokenize(self, text: str) -> list[Token]:
        out: list[Token] = []
        append = out.append
        sentence = clause = 0
        info, learn = self._info, self._learn
        offset = 0
        for line in text.split("\n"):
            if line:
                for m in self._tok.tokenize(line):
                    surface = m.surface()
                    norm = m.normalized_form()
                    pos_id = m.part_of_speech_id()
                    if surface in self._split:
                        start = m.begin() + offset
                        for part, known in self._split[surface]:
                            key, pos0, pos1, sub, boundary, pos2, conj = known[:7]
                            append(_new(Token, (part, known[7], key, pos0, pos1, start, start + len(part),
                                                sentence, clause, sub, pos2, conj)))
                            start += len(part)
                        continue
                    known = info.get((surface, norm, pos_id))
                    if known is None:
                        known = learn(m, surface, norm, pos_id)
                    key, pos0, pos1, sub, boundary, pos2, conj = known[:7]
                    if key in _AUX_VERBS and pos1 == "非自立可能" and out and out[-1].norm in ("て", "で"):
                        key = None  # 行けていない = 行けない, 買ってしまった = 買った (aspect is read from norms)
                    append(_new(Token, (surface, norm, key, pos0, pos1, m.begin() + offset, m.end() + offset,
                                        sentence, clause, sub, pos2, conj)))
                    if boundary and not (len(out) > 1 and out[-2].end == out[-1].start
                                         and out[-2].surface[-1:] in _SENTENCE_MARKS):
                        # 「!!」「。。」 end one sentence, not two
                        clause += 1
                        if boundary == 2:
                            sentence += 1
            offset += len(line) + 1
            if out and out[-1].sentence == sentence:  # a line break ends a sentence
                sentence += 1
                clause += 1
        return self._apply_synonyms(out) if self._syn_first else out

    def _learn(self, m, surface: str, norm: str, pos_id: int) -> tuple:
        """Everything derived from one (surface, normalized form, POS), cached: chat vocabulary repeats."""
        pos = self._pos.get(pos_id)
        if pos is None:
            pos = self._pos[pos_id] = tuple(self._dictionary.pos_of(pos_id))
        key = self._key_for(norm, pos[0], surface)
        sub: tuple[str, ...] = ()
        if key is not None and len(surface) > 2 and pos[0] in _COMPOUND_POS and pos[2] != "副詞可能":
            # (time nouns are not split: 今まで is not 今, 今朝 not 朝)
            parts = m.split(SplitMode.A)
            if len(parts) > 1:
                sub = tuple(self._part_key(p) for p in parts)
        if surface in _SENTENCE_MARKS or (pos[0] == "補助記号" and surface[-1:] in _SENTENCE_MARKS):
            boundary = 2
        elif surface in _CLAUSE_MARKS:
            boundary = 1
        else:
            boundary = 0
        known = (key, pos[0], pos[1], sub, boundary, pos[2], pos[5], norm)
        if len(self._info) < _CACHE_LIMIT:
            self._info[(surface, norm, pos_id)] = known
        return known

    def _key_for(self, norm: str, pos0: str, surface: str) -> str | None:
        neg, keep = self.lexicon.negation, self.lexicon.keep_aux
        if pos0 in _NO_KEY_POS or not surface.strip():
            return None
        if pos0 == "助動詞":
            return NEGATION_KEY if norm in neg else (norm if norm in keep else None)
        return NEGATION_KEY if (norm in neg and pos0 != "名詞") else norm

    def _part_key(self, m) -> str:
        norm = m.normalized_form()
        return self.lexicon.synonyms.get((norm,), norm)

    def _apply_synonyms(self, tokens: list[Token]) -> list[Token]:
        first = self._syn_first
        keyed = [i for i, t in enumerate(tokens) if t.key is not None]
        out = tokens
        skip: set[int] = set()
        for pos_in_keyed, i in enumerate(keyed):
            if i in skip or tokens[i].key not in first:
                continue
            for n in range(min(self._syn_max, len(keyed) - pos_in_keyed), 0, -1):
                idx = keyed[pos_in_keyed:pos_in_keyed + n]
                if tokens[idx[-1]].sentence != tokens[i].sentence:
                    continue
                canon = self.lexicon.synonyms.get(tuple(tokens[j].key for j in idx))
                if canon is None:
                    continue
                if out is tokens:
                    out = list(tokens)
                head, last = tokens[idx[0]], tokens[idx[-1]]
                surface = "".join(tokens[j].surface for j in range(idx[0], idx[-1] + 1))
                out[idx[0]] = head._replace(surface=surface, key=canon, end=last.end,
                                            sub=head.sub if n == 1 else ())
                for j in idx[1:]:
                    out[j] = tokens[j]._replace(key=None)
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

    def readings(self, text: str) -> set[str]:
        """Katakana readings of a phrase, for matching kana-only writing.

        Without particles (屋根工事 -> ヤネコウジ) and with them (家に来た人 -> イエニキタヒト);
        for a phrase ending in a verb also the stem (首を吊る -> クビヲツ), which the
        conjugated forms share (くびをつってる).
        """
        morphemes = [m for m, _ in self._morphemes(text) if m is not None and m.surface().strip()]
        if not morphemes:
            return set()
        full = "".join(to_katakana(m.reading_form()) for m in morphemes
                       if m.part_of_speech()[0] not in ("補助記号", "空白"))
        content = "".join(to_katakana(m.reading_form()) for m in morphemes
                          if m.part_of_speech()[0] not in _NO_KEY_POS)
        out = {full}
        if len(content) >= 4:
            out.add(content)
        if morphemes[-1].part_of_speech()[0] == "動詞":
            out |= {r[:-1] for r in (full, content) if len(r) > 4}
        return {r for r in out if r}

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
