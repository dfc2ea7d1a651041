"""Body scoring as the corpus README defines it: word 4-grams of `\\w+` tokens."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_WORD = re.compile(r"\w+")


def ngrams(text: str, n: int = 4) -> Counter:
    tokens = _WORD.findall(text)
    if len(tokens) < n:
        return Counter([tuple(tokens)]) if tokens else Counter()
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


@dataclass
class BodyScore:
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def score_body(extracted: str, expected: str) -> BodyScore:
    got, want = ngrams(extracted), ngrams(expected)
    true_positive = sum((got & want).values())
    if not got and not want:
        return BodyScore(1.0, 1.0)
    precision = true_positive / sum(got.values()) if got else 0.0
    recall = true_positive / sum(want.values()) if want else 0.0
    return BodyScore(precision, recall)


def average(scores: list[BodyScore]) -> BodyScore:
    """Corpus figure: precision and recall averaged over pages, then F1 of the two."""
    if not scores:
        return BodyScore(0.0, 0.0)
    return BodyScore(sum(s.precision for s in scores) / len(scores),
                     sum(s.recall for s in scores) / len(scores))
