"""The drift alarm: a field whose selector stops matching after a site's redesign.

Each run counts, per site and field, the articles extracted and those where the field's
selector matched (`FieldTally`), failed extractions included: an article whose body came out
empty is the clearest drift there is. The state keeps those counts for the last runs. A field
whose share in this run falls DRIFT_DROP_POINTS or more below its baseline, over at least
DRIFT_MIN_ARTICLES articles, raises a `DriftWarning`. The baseline is the site's last
DRIFT_BASELINE_RUNS runs; a site without any (its first run) is compared with itself: the
run's first DRIFT_MIN_ARTICLES articles against its last ones, so a layout that changes in the
middle of the very first crawl is caught too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from .record import MISSING, Article
from .settings import DRIFT_BASELINE_RUNS, DRIFT_DROP_POINTS, DRIFT_MIN_ARTICLES

MATCH_FIELDS = ("title", "dateline", "body", "authors", "source", "related", "section")


@dataclass
class FieldTally:
    """One site's articles in one run, field by field, in the order they were extracted."""

    articles: int = 0
    matched: Counter = field(default_factory=Counter)  # field -> articles where it matched
    fallbacks: dict[str, Counter] = field(default_factory=dict)  # field -> fallback -> articles
    last_missing: dict[str, str] = field(default_factory=dict)  # field -> the last URL where it missed
    order: list[int] = field(default_factory=list)  # per article, a bit per field that matched

    def add(self, url: str, article: Article) -> None:
        self.articles += 1
        bits = 0
        for index, name in enumerate(MATCH_FIELDS):
            fallback = article.provenance.get(name, MISSING)
            if fallback == MISSING:
                self.last_missing[name] = url
                continue
            bits |= 1 << index
            self.matched[name] += 1
            self.fallbacks.setdefault(name, Counter())[fallback] += 1
        self.order.append(bits)

    def share(self, name: str) -> float:
        return self.matched[name] / self.articles if self.articles else 0.0

    def usual(self, name: str) -> str | None:
        """The fallback that matched this field most often."""
        counted = self.fallbacks.get(name)
        return counted.most_common(1)[0][0] if counted else None

    def counts(self) -> dict[str, tuple[int, int, str | None]]:
        """{field: (matched, articles, usual fallback)}, as the state stores a run."""
        return {name: (self.matched[name], self.articles, self.usual(name)) for name in MATCH_FIELDS}

    def window_share(self, name: str, start: int, stop: int) -> float:
        bit = 1 << MATCH_FIELDS.index(name)
        window = self.order[start:stop]
        return sum(1 for bits in window if bits & bit) / len(window) if window else 0.0


@dataclass(frozen=True)
class DriftThresholds:
    drop_points: float = DRIFT_DROP_POINTS  # percentage points below the baseline
    min_articles: int = DRIFT_MIN_ARTICLES  # in this run, for a share to mean anything
    baseline_runs: int = DRIFT_BASELINE_RUNS


DEFAULT_THRESHOLDS = DriftThresholds()


@dataclass(frozen=True)
class DriftWarning:
    site: str
    field: str
    share: float  # this run's (or, within a run, its last articles')
    baseline: float
    articles: int  # that the share is over
    usual: str | None  # the fallback that used to match
    sample_url: str | None  # an article where it did not
    within_run: bool  # compared with the run's own first articles (no earlier run to go by)

    @property
    def message(self) -> str:
        since = "this run's first articles" if self.within_run else "recent runs"
        used = f"; `{self.usual}` used to match" if self.usual else ""
        sample = f"; e.g. {self.sample_url}" if self.sample_url else ""
        return (f"{self.site}: layout drift? {self.field} matched {self.share:.0%} of {self.articles} "
                f"articles, down from {self.baseline:.0%} in {since}{used}{sample}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.message}


def drift_warnings(site: str, tally: FieldTally, baseline: dict[str, tuple[int, int, str | None]],
                   thresholds: DriftThresholds = DEFAULT_THRESHOLDS) -> list[DriftWarning]:
    """The fields of `site` whose match share fell well below `baseline` (the state's
    `field_baseline`); with no baseline, the run's last articles against its first."""
    drop = thresholds.drop_points / 100
    warnings = []
    if baseline:
        if tally.articles < thresholds.min_articles:
            return []
        for name in MATCH_FIELDS:
            matched, articles, usual = baseline.get(name, (0, 0, None))
            if not articles:
                continue
            before, now = matched / articles, tally.share(name)
            if before - now >= drop:
                warnings.append(DriftWarning(site, name, now, before, tally.articles, usual,
                                             tally.last_missing.get(name), within_run=False))
        return warnings
    size = thresholds.min_articles
    if tally.articles < 2 * size:
        return []
    first_bits = tally.order[:size]
    for name in MATCH_FIELDS:
        before = tally.window_share(name, 0, size)
        now = tally.window_share(name, tally.articles - size, tally.articles)
        if before - now >= drop and any(bits & (1 << MATCH_FIELDS.index(name)) for bits in first_bits):
            warnings.append(DriftWarning(site, name, now, before, size, tally.usual(name),
                                         tally.last_missing.get(name), within_run=True))
    return warnings
