"""`newscrawl selectors infer` drafts a selector file from one page and the wanted text.
The drafts never see the project's selector files; they are judged on other pages."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest

from crawler.cli import main
from crawler.corpus import all_pages, corpus_dir
from crawler.extraction import extract_page
from crawler.infer import Wanted, infer, load_draft
from crawler.pages import read_html
from crawler.score import score_body

PAGES = {page.label: page for page in all_pages(corpus_dir())} if corpus_dir().is_dir() else {}
PUBLISHERS = sorted({page.publisher for page in PAGES.values() if page.label.startswith("fundus-eval-dev/")})
# Their two annotated pages are different layouts (a live blog and a story; a gallery-style page).
DIFFERENT_LAYOUTS = {"TheTelegraph", "TheIndependent"}


def draft_from(page, with_title_and_date=True):
    wanted = Wanted(page.paragraphs, page.title if with_title_and_date else None,
                    page.published if with_title_and_date else None)
    host = urlsplit(page.url).hostname
    text = infer(read_html(page.html_path), page.url, wanted, name="draft", domain=host)
    return load_draft(text, "draft")


@pytest.mark.parametrize("publisher", [p for p in PUBLISHERS if p not in DIFFERENT_LAYOUTS])
def test_draft_from_one_page_extracts_the_publishers_other_page(publisher):
    first, second = PAGES[f"fundus-eval-dev/{publisher}_0"], PAGES[f"fundus-eval-dev/{publisher}_1"]
    site = draft_from(first)
    article = extract_page(read_html(second.html_path), second.url, site)
    score = score_body(article.body, "\n\n".join(second.paragraphs))
    assert score.f1 >= 0.9, f"{publisher}: P {score.precision:.3f} R {score.recall:.3f}"


STRICT_FUNDUS = [label for label, page in PAGES.items() if page.strict and page.title and page.published]


@pytest.mark.parametrize("label", STRICT_FUNDUS)
def test_draft_finds_the_exact_title_and_date(label):
    page = PAGES[label]
    article = extract_page(read_html(page.html_path), page.url, draft_from(page))
    assert article.title == page.title
    want = page.published if page.published.tzinfo else page.published.replace(tzinfo=UTC)
    assert article.dateline.published and datetime.fromisoformat(article.dateline.published) == want


def test_cli_prints_a_valid_draft_and_its_score(tmp_path, capsys):
    page = PAGES["fundus/us/APNews_2024_09_03"]
    expected = page.html_path.with_name(page.html_path.name.replace(".html.gz", ".json"))
    selectors = tmp_path / "selectors"
    selectors.mkdir()
    args = ["selectors", "infer", str(page.html_path), "--expected", str(expected), "--name", "ap",
            "--selectors", str(selectors), "--fixtures", str(tmp_path)]
    assert main([*args, "--write"]) == 0
    out, err = capsys.readouterr()
    assert "[body]" in out and "title ok" in err and "date ok" in err
    f1 = float(err.split("F1 ")[1].split(";")[0])
    assert f1 >= 0.95
    assert main(["selectors", "lint", "--selectors", str(selectors)]) == 0
    assert main([*args, "--write"]) == 2  # never overwrites
    assert "exists already" in capsys.readouterr().err


def test_cli_without_wanted_text_is_a_usage_error(tmp_path, capsys):
    page = tmp_path / "p.html"
    page.write_text("<h1>x</h1>", "utf-8")
    assert main(["selectors", "infer", str(page), "--url", "https://x.test/a"]) == 2
    assert "--expected" in capsys.readouterr().err
