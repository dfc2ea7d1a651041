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
from crawler.report import CORPUS_BODY_F1, TITLE_DATE_SHARE, corpus_figures, evaluate
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

# Pages where no correct reading meets the target, with the reason. Each is a strict xfail:
# if a page starts passing, the test says so and the entry must go.
KNOWN_CONFLICTS = {
    "fundus/us/Reuters_2024_03_07":
        "the hand-annotated Reuters pages keep the 'Reporting by ...; Editing by ...' credit line "
        "(Reuters_0 fails without it); Fundus's expectation for this page drops it: F1 0.98992",
    "fundus-eval-dev/TheIndependent_0":
        "its hand annotation keeps the standfirst, which TheIndependent_1 and the Fundus page "
        "drop (keeping it costs them F1 0.931 and 0.954); dropping it leaves this page at 0.978",
    "fundus/tr/NTVTR_2024_04_30":
        "one long <p> broken into lines with <br>; the expectation glues the lines together "
        "('BULUŞTUGalatasaray'), which costs a correct reading F1 0.960",
    "fundus/de/WinFuture_2024_04_29":
        "the expectation misses the real paragraph after an ad slot ('Rechnen wir es durch: ...'): "
        "a correct reading scores F1 0.894",
    "fundus/us/RollingStone_2024_04_25":
        "the expectation glues the in-text 'Trending' box (four headlines of other stories) onto "
        "the last paragraph; the article text alone scores F1 0.944 (P 0.993)",
    "fundus/us/RollingStone_2024_08_27":
        "the expectation glues the in-text 'Editor's picks', 'Related' and 'Trending' boxes onto "
        "the paragraphs before them; the article text alone scores F1 0.923 (P 0.991)",
    "fundus/kr/HankookIlbo_2026_01_29":
        "not a conflict but a limit: the text is only inside Next.js flight data "
        "(self.__next_f.push scripts), in no element a selector can reach",
}


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
