"""The learned intent model: what the intents' examples teach.

One logistic-regression detector per intent (one-vs-rest), trained from every
intent's ``examples`` (positives) against the other intents' examples, with the
intent's own ``counter_examples`` as extra, heavier negatives.  Each detector says
how much a message is *about* its worry, independently of the others, so a
message with two worries (a fraud and a son's despair) can score high on both and
the routing rules decide which leads.

Training is deterministic (same files, same weights), takes well under a second for
the shipped knowledge and runs when the knowledge is loaded, so an admin's new
examples teach the bot at the next reload.  Inference is a sparse dot product in
NumPy (no scikit-learn call on the hot path).

Pure: no files, no clock.  scikit-learn is only imported to train.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

#: Inverse regularisation strength of each detector.
C = 2.0
#: A counter-example weighs this many ordinary negatives.
COUNTER_WEIGHT = 3.0
#: A worry with fewer examples than this has them weigh more (a new worry taught with a dozen
#: sentences must not be drowned by worries taught with a hundred).
FEW = 30
#: A feature must appear in this many examples to be learned (rarer ones are noise, and cost memory).
MIN_DF = 2
#: Folds for cross-validation (``tsunagu check`` / ``tsunagu test``, see bot.evaluate).
FOLDS = 5


@dataclass(frozen=True)
class Sample:
    """One training sentence: its features, the intent it belongs to, or the intent it must avoid."""

    features: Mapping[str, float]
    intent: str
    counter: bool = False   # True: a counter-example of ``intent`` (a negative for it only)
    text: str = ""


@dataclass
class IntentModel:
    """Trained detectors; :meth:`probabilities` gives P(about intent) for each intent."""

    classes: tuple[str, ...]
    vocab: dict[str, int]
    idf: np.ndarray            # (F,)
    weights: np.ndarray        # (F, K)
    bias: np.ndarray           # (K,)
    trained_on: int = 0

    @property
    def empty(self) -> bool:
        return not self.classes

    def vector(self, features: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """Column indexes and TF-IDF values (sublinear tf, L2-normalised) of known features."""
        get = self.vocab.get
        cols = np.array([get(name, -1) for name in features], dtype=np.int64)
        counts = np.array(list(features.values()), dtype=np.float32)
        keep = (cols >= 0) & (counts > 0)
        idx = cols[keep]
        if not len(idx):
            return idx, np.zeros(0, dtype=np.float32)
        v = (1.0 + np.log(counts[keep])) * self.idf[idx]
        # words and characters normalised apart: a long message has hundreds of character n-grams,
        # which would otherwise drown the few words that say what it is about
        norm = float(np.sqrt(v @ v))
        return idx, (v / norm if norm else v)

    def logits(self, features: Mapping[str, float]) -> np.ndarray:
        idx, v = self.vector(features)
        if not len(idx):
            return self.bias.copy()
        return v @ self.weights[idx] + self.bias

    def probabilities(self, features: Mapping[str, float]) -> dict[str, float]:
        """P(the message is about intent) per intent, each detector on its own (they need not sum to 1)."""
        if self.empty:
            return {}
        z = self.logits(features)
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        return dict(zip(self.classes, p.tolist()))


    def to_arrays(self) -> dict[str, np.ndarray]:
        """The model as plain arrays (the loader keeps a copy on disk; no pickle)."""
        return {"classes": np.array(self.classes, dtype=str), "vocab": np.array(list(self.vocab), dtype=str),
                "idf": self.idf, "weights": self.weights, "bias": self.bias,
                "trained_on": np.array([self.trained_on])}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "IntentModel":
        vocab = {str(f): i for i, f in enumerate(arrays["vocab"].tolist())}
        model = cls(tuple(str(c) for c in arrays["classes"].tolist()), vocab,
                    np.asarray(arrays["idf"], dtype=np.float32), np.asarray(arrays["weights"], dtype=np.float32),
                    np.asarray(arrays["bias"], dtype=np.float32), int(arrays["trained_on"][0]))
        if model.weights.shape != (len(vocab), len(model.classes)) or model.idf.shape != (len(vocab),):
            raise ValueError("model arrays do not fit together")
        return model


def _vocabulary(samples: Sequence[Sample], min_df: int) -> tuple[dict[str, int], np.ndarray]:
    df: Counter = Counter()
    for s in samples:
        df.update(s.features.keys())
    names = sorted(f for f, n in df.items() if n >= min_df)
    vocab = {f: i for i, f in enumerate(names)}
    n = len(samples)
    idf = np.array([math.log((1 + n) / (1 + df[f])) + 1.0 for f in names], dtype=np.float32)
    return vocab, idf


def _matrix(model: IntentModel, samples: Sequence[Sample]):
    from scipy.sparse import csr_matrix

    indptr, indices, data = [0], [], []
    for s in samples:
        idx, v = model.vector(s.features)
        order = np.argsort(idx)
        indices.extend(idx[order].tolist())
        data.extend(v[order].tolist())
        indptr.append(len(indices))
    return csr_matrix((np.array(data, dtype=np.float64), np.array(indices, dtype=np.int64), np.array(indptr)),
                      shape=(len(samples), len(model.vocab)))


def train(samples: Sequence[Sample], *, c: float | None = None, counter_weight: float | None = None,
          min_df: int | None = None) -> IntentModel:
    """Fit one balanced logistic-regression detector per intent that has examples."""
    c = C if c is None else c
    counter_weight = COUNTER_WEIGHT if counter_weight is None else counter_weight
    min_df = MIN_DF if min_df is None else min_df
    positives = [s for s in samples if not s.counter]
    classes = tuple(sorted({s.intent for s in positives}))
    if len(classes) < 2:
        return IntentModel((), {}, np.zeros(0, np.float32), np.zeros((0, 0), np.float32), np.zeros(0, np.float32))
    from sklearn.linear_model import LogisticRegression

    vocab, idf = _vocabulary(positives, min_df)
    model = IntentModel(classes, vocab, idf, np.zeros((len(vocab), len(classes)), np.float32),
                        np.zeros(len(classes), np.float32), trained_on=len(positives))
    x_pos = _matrix(model, positives)
    labels = np.array([s.intent for s in positives])
    counters = [s for s in samples if s.counter and s.intent in classes]
    x_counter = _matrix(model, counters) if counters else None
    counter_of = np.array([s.intent for s in counters])
    from scipy.sparse import vstack

    for k, intent in enumerate(classes):
        y = (labels == intent).astype(np.int8)
        x = x_pos
        mine = np.flatnonzero(counter_of == intent) if counters else np.zeros(0, dtype=np.int64)
        if len(mine):
            x = vstack([x_pos, x_counter[mine]]).tocsr()
            y = np.concatenate([y, np.zeros(len(mine), dtype=np.int8)])
        n_pos = int(y.sum())
        n_neg = len(y) - n_pos
        w = np.where(y == 1, len(y) / (2.0 * n_pos) * max(1.0, FEW / n_pos), len(y) / (2.0 * n_neg))
        if len(mine):
            w[len(labels):] *= counter_weight
        clf = LogisticRegression(C=c, solver="liblinear", random_state=0, max_iter=200)
        clf.fit(x, y, sample_weight=w)
        model.weights[:, k] = clf.coef_[0]
        model.bias[k] = clf.intercept_[0]
    return model
