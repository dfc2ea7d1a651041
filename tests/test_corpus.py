"""Every real corpus page whose host has a selector file meets its targets: body F1 >= 0.99,
title exact, publishing date the same instant, and the related links we checked by eye."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pytest

from crawler.corpus import all_pages, corpus_dir
from crawler.report import BODY_F1_THRESHOLD, evaluate
from crawler.sites import load_registry

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = load_registry(ROOT / "selectors")
PAGES = all_pages(corpus_dir()) if corpus_dir().is_dir() else []


@lru_cache(maxsize=None)
def result_for(label: str):
    page = next(p for p in PAGES if p.label == label)
    return evaluate(page, REGISTRY)


COVERED = [p.label for p in PAGES if result_for(p.label) is not None]


def expected_related() -> dict[str, list[dict]]:
    expected: dict[str, list[dict]] = {}
    for path in sorted((ROOT / "tests" / "related").glob("*.json")):
        expected.update(json.loads(path.read_text("utf-8")))
    return expected


RELATED = expected_related()


def test_corpus_is_present_and_covered():
    assert PAGES, f"corpus not found at {corpus_dir()}"
    assert COVERED, "no corpus page has a selector file"


# The corpus contradicts itself here: the hand-annotated Reuters pages (fundus-eval-dev) keep
# the "Reporting by ...; Editing by ..." credit line, and Reuters_0 fails without it; Fundus's
# expectation for this page drops it, which costs F1 0.98992. We follow the hand annotations.
KNOWN_CONFLICTS = {"fundus/us/Reuters_2024_03_07"}


def _conflict_marked(labels):
    return [pytest.param(label, marks=pytest.mark.xfail(strict=True, reason="corpus conflict, see above"))
            if label in KNOWN_CONFLICTS else label for label in labels]


@pytest.mark.parametrize("label", _conflict_marked(COVERED))
def test_body_f1_meets_threshold(label):
    result = result_for(label)
    assert result.body.f1 >= BODY_F1_THRESHOLD, (
        f"{label}: body P {result.body.precision:.3f} R {result.body.recall:.3f} F1 {result.body.f1:.3f}")


@pytest.mark.parametrize("label", [lb for lb in COVERED if result_for(lb).page.title is not None])
def test_title_is_exact(label):
    result = result_for(label)
    assert result.article.title == result.page.title


@pytest.mark.parametrize("label", [lb for lb in COVERED if result_for(lb).page.published is not None])
def test_publishing_date_is_the_same_instant(label):
    result = result_for(label)
    assert result.date_ok, f"{label}: got {result.article.dateline.published}, want {result.page.published}"


@pytest.mark.parametrize("label", sorted(RELATED))
def test_related_links_match_the_list_checked_by_eye(label):
    result = result_for(label)
    assert result is not None, f"{label}: no corpus page or no selector file"
    got = [{"title": link.title, "url": link.url} for link in result.article.related]
    assert got == RELATED[label]
