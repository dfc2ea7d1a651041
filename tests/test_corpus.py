"""Every real corpus page whose host has a selector file meets its targets.

Publishers with hand-annotated pages (fundus-eval-dev): body F1 >= 0.99, title exact and the
same publishing instant on every page. All others: body F1 >= 0.97 on every page, and over
the corpus an average F1 >= 0.99 and exact titles and dates on at least 98% of pages.
Related links are compared with lists written by hand in tests/related/.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from crawler.corpus import all_pages, corpus_dir
from crawler.report import (
    CORPUS_BODY_F1,
    KNOWN_CONFLICTS,
    TITLE_DATE_SHARE,
    corpus_figures,
    evaluate,
)
from crawler.sites import load_registry

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = load_registry(ROOT / "selectors")
PAGES = {page.label: page for page in all_pages(corpus_dir())} if corpus_dir().is_dir() else {}


@cache
def result_for(label: str):
    return evaluate(PAGES[label], REGISTRY)


COVERED = [label for label in PAGES if result_for(label) is not None]
STRICT = [label for label in COVERED if PAGES[label].strict]
RELATED: dict[str, list[dict]] = {}
for _path in sorted((ROOT / "tests" / "related").glob("*.json")):
    RELATED.update(json.loads(_path.read_text("utf-8")))

def _conflict_marked(labels):
    return [pytest.param(label, marks=pytest.mark.xfail(strict=True, reason=KNOWN_CONFLICTS[label]))
            if label in KNOWN_CONFLICTS else label for label in labels]


def test_corpus_is_present_and_covered():
    assert PAGES, f"corpus not found at {corpus_dir()}"
    assert STRICT, "no hand-annotated publisher has a selector file"


@pytest.mark.parametrize("label", _conflict_marked(COVERED))
def test_body_f1_meets_the_page_threshold(label):
    result = result_for(label)
    assert result.body.f1 >= result.body_threshold, (
        f"{label}: body P {result.body.precision:.3f} R {result.body.recall:.3f} F1 {result.body.f1:.3f}")


@pytest.mark.parametrize("label", [lb for lb in STRICT if PAGES[lb].title is not None])
def test_title_is_exact_for_annotated_publishers(label):
    result = result_for(label)
    assert result.article.title == result.page.title


@pytest.mark.parametrize("label", [lb for lb in STRICT if PAGES[lb].published is not None])
def test_publishing_date_is_the_same_instant_for_annotated_publishers(label):
    result = result_for(label)
    assert result.date_ok, f"{label}: got {result.article.dateline.published}, want {result.page.published}"


def test_corpus_wide_figures_meet_the_targets():
    figures = corpus_figures([result_for(label) for label in COVERED])
    assert figures.body.f1 >= CORPUS_BODY_F1
    misses = [lb for lb in COVERED if result_for(lb).title_ok is False]
    assert figures.title_share >= TITLE_DATE_SHARE, f"titles missed: {misses}"
    misses = [lb for lb in COVERED if result_for(lb).date_ok is False]
    assert figures.date_share >= TITLE_DATE_SHARE, f"dates missed: {misses}"


@pytest.mark.parametrize("label", sorted(RELATED))
def test_related_links_match_the_list_checked_by_eye(label):
    assert label in PAGES and result_for(label) is not None, f"{label}: no corpus page or no selector file"
    got = [{"title": link.title, "url": link.url} for link in result_for(label).article.related]
    assert got == RELATED[label]
