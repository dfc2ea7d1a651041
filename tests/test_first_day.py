"""The first day, tried as a new user would: what `crawl`, `extract`, `fixtures check` and
`selectors report` say and exit with when the user's setup is not what the project expects."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from crawler.errors import ConfigError

# ------------------------------------------------------------------ --every with cron


def test_every_reads_cron_day_and_month_names():
    from crawler.crawl_cli import parse_schedule

    friday = datetime(2025, 3, 7, 10, 40, 12)
    assert parse_schedule("0 6 * * mon-fri").next_after(friday) == datetime(2025, 3, 10, 6, 0)
    assert parse_schedule("30 7 1 jan *").next_after(friday) == datetime(2026, 1, 1, 7, 30)


def test_every_keeps_crons_rule_that_either_restricted_day_field_matches():
    from crawler.crawl_cli import parse_schedule

    friday = datetime(2025, 3, 7, 10, 40, 12)
    # the 1st of the month or a Friday: the next Friday comes first
    assert parse_schedule("0 0 1 * 5").next_after(friday) == datetime(2025, 3, 14, 0, 0)


def test_every_with_a_cron_expression_that_never_comes_is_refused_at_once():
    from crawler.crawl_cli import parse_schedule

    with pytest.raises(ConfigError) as caught:
        parse_schedule("0 0 31 2 *")
    assert caught.value.file == "--every" and "never matches" in caught.value.problem


@pytest.mark.parametrize("text", ["61 * * * *", "* 24 * * *", "*/0 * * * *", "a b c d e"])
def test_every_with_a_bad_cron_field_is_a_config_error_naming_every(text):
    from crawler.crawl_cli import parse_schedule

    with pytest.raises(ConfigError) as caught:
        parse_schedule(text)
    assert str(caught.value).startswith(f"--every: {text}: not a cron expression")


def test_every_with_six_fields_is_refused_not_read_as_seconds():
    from crawler.crawl_cli import parse_schedule

    with pytest.raises(ConfigError, match="five fields"):
        parse_schedule("0 */30 * * * *")


# ------------------------------------------------------------------ the section's provenance


def test_a_section_named_by_the_crawl_has_provenance_crawl(tmp_path, demo_server, demo_config):
    import json

    import jsonschema
    from conftest import FAST_POLITENESS

    from crawler.crawl import run_crawl

    sections = {"demo": {"Politics": f"{demo_server.base_url}/section/politics?page=1"}}
    run_crawl([demo_config], out_template=str(tmp_path / "out" / "{site}.jsonl"),
              state_path=tmp_path / "state.sqlite", politeness_overrides=FAST_POLITENESS,
              render_override="http", max_articles=2, sections_override=sections)
    records = [json.loads(line) for line in (tmp_path / "out" / "demo.jsonl").read_text("utf-8").splitlines()]
    schema = json.loads((Path(__file__).resolve().parents[1] / "crawler" / "article.schema.json").read_text())
    assert len(records) == 2
    for record in records:
        assert record["section"] == "Politics" and record["provenance"]["section"] == "crawl"
        jsonschema.validate(record, schema)


# ------------------------------------------------------------------ crawl with no --site

SITE_FILE = '''
domains = ["{name}.test"]
title = ["h1"]
body = ["article"]
[crawl]
{verified}
[crawl.sections]
News = "https://{name}.test/news"
'''


@pytest.fixture
def selector_folder(tmp_path):
    folder = tmp_path / "selectors"
    folder.mkdir()
    for name, verified in [("checked", "verified = true"), ("guessed", "verified = false"),
                           ("guessed2", "verified = false"), ("mine", "")]:
        (folder / f"{name}.toml").write_text(SITE_FILE.format(name=name, verified=verified), "utf-8")
    (folder / "nosections.toml").write_text('domains = ["n.test"]\ntitle = ["h1"]\nbody = ["article"]\n'
                                            '[crawl]\nverified = false\n', "utf-8")
    return folder


@pytest.fixture
def crawled(monkeypatch):
    """The sites `newscrawl crawl` would crawl, without crawling them."""
    from crawler import crawl_cli

    names: list[str] = []

    async def pretend(sites, args, schedule):
        names.extend(site.name for site in sites)
        return 0

    monkeypatch.setattr(crawl_cli, "_crawl_until_done", pretend)
    return names


def test_a_file_without_a_verified_line_is_neither_verified_nor_unverified(selector_folder):
    from crawler.sites import load_site

    assert load_site(selector_folder / "mine.toml").crawl.verified is None
    assert load_site(selector_folder / "checked.toml").crawl.verified is True
    assert load_site(selector_folder / "guessed.toml").crawl.verified is False


def test_crawl_without_site_skips_unverified_files_and_names_them_in_one_line(
        selector_folder, crawled, capsys):
    from crawler.cli import main

    assert main(["crawl", "--selectors", str(selector_folder)]) == 0
    assert sorted(crawled) == ["checked", "mine"]
    err = capsys.readouterr().err
    assert err == ("newscrawl: skipped 2 unverified selector files (guessed, guessed2); "
                   "--include-unverified crawls them\n")


def test_crawl_include_unverified_crawls_every_file_with_sections(selector_folder, crawled, capsys):
    from crawler.cli import main

    assert main(["crawl", "--include-unverified", "--selectors", str(selector_folder)]) == 0
    assert sorted(crawled) == ["checked", "guessed", "guessed2", "mine"]
    assert "skipped" not in capsys.readouterr().err


def test_crawl_site_crawls_the_named_file_even_when_unverified(selector_folder, crawled, capsys):
    from crawler.cli import main

    assert main(["crawl", "--site", "guessed", "--selectors", str(selector_folder)]) == 0
    assert crawled == ["guessed"]
    assert capsys.readouterr().err == ""


def test_crawl_where_every_file_is_unverified_says_how_to_crawl_them(tmp_path, crawled, capsys):
    from crawler.cli import main

    folder = tmp_path / "selectors"
    folder.mkdir()
    (folder / "guessed.toml").write_text(SITE_FILE.format(name="guessed", verified="verified = false"))
    assert main(["crawl", "--selectors", str(folder)]) == 2
    assert crawled == []
    assert "--include-unverified" in capsys.readouterr().err.splitlines()[-1]


# ------------------------------------------------------------------ selectors report


@pytest.fixture
def tiny_corpus(tmp_path):
    """A corpus of one page, from news.test, that the `news` selector file reads exactly."""
    import gzip
    import json

    root = tmp_path / "corpus"
    (root / "fundus-eval-dev").mkdir(parents=True)
    (root / "fundus-eval-dev" / "ground_truth.json").write_text("{}", "utf-8")
    (root / "fundus" / "xx").mkdir(parents=True)
    page = "<h1>Budget passes</h1><article><p>First paragraph.</p><p>Second one.</p></article>"
    (root / "fundus" / "xx" / "News_2025_03_01.html.gz").write_bytes(gzip.compress(page.encode()))
    (root / "fundus" / "xx" / "News_2025_03_01.json").write_text(json.dumps({
        "url": "https://news.test/budget",
        "expected": {"title": "Budget passes", "body_paragraphs": ["First paragraph.", "Second one."]}}))
    folder = tmp_path / "selectors"
    folder.mkdir()
    for name in ("news", "quiet"):
        (folder / f"{name}.toml").write_text(
            f'domains = ["{name}.test"]\ntitle = ["h1"]\nbody = ["article"]\n', "utf-8")
    return root, folder


def report(corpus, *sites: str) -> int:
    from crawler.cli import main

    root, folder = corpus
    return main(["selectors", "report", "--corpus", str(root), "--selectors", str(folder),
                 *[arg for site in sites for arg in ("--site", site)]])


def test_report_on_a_site_with_corpus_pages_scores_them(tiny_corpus, capsys):
    assert report(tiny_corpus, "news") == 0
    assert "F1 1.000" in capsys.readouterr().out


def test_report_on_a_site_without_corpus_pages_says_so_and_exits_1(tiny_corpus, capsys):
    assert report(tiny_corpus, "quiet") == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # no table of nothing, no "F1 0.000"
    assert "no corpus pages for site 'quiet'" in captured.err and "quiet.test" in captured.err


def test_report_on_two_sites_one_without_pages_scores_the_other_and_exits_1(tiny_corpus, capsys):
    assert report(tiny_corpus, "news", "quiet") == 1
    captured = capsys.readouterr()
    assert "F1 1.000" in captured.out and "no corpus pages for site 'quiet'" in captured.err


def test_report_on_a_site_no_selector_file_has_exits_2(tiny_corpus, capsys):
    assert report(tiny_corpus, "nwes") == 2
    assert "no selector file for site 'nwes'" in capsys.readouterr().err


# ------------------------------------------------------------------ extract over several files

PAGE = "<h1>Budget passes</h1><article><p>First paragraph.</p></article>"


@pytest.fixture
def pages(tmp_path):
    import json

    folder = tmp_path / "selectors"
    folder.mkdir()
    (folder / "news.toml").write_text('domains = ["news.test"]\ntitle = ["h1"]\nbody = ["article"]\n')
    for stem, url in [("good", "https://news.test/a"), ("other", "https://elsewhere.test/b"),
                      ("fine", "https://news.test/c")]:
        (tmp_path / f"{stem}.html").write_text(PAGE, "utf-8")
        (tmp_path / f"{stem}.meta.json").write_text(json.dumps({"url": url}), "utf-8")
    (tmp_path / "nourl.html").write_text(PAGE, "utf-8")
    return tmp_path


def extract(folder: Path, *names: str) -> int:
    from crawler.cli import main

    return main(["extract", *[str(folder / name) for name in names],
                 "--selectors", str(folder / "selectors")])


def test_extract_reports_each_bad_file_in_one_line_and_goes_on_then_exits_1(pages, capsys):
    import json

    assert extract(pages, "good.html", "missing.html", "other.html", "nourl.html", "fine.html") == 1
    captured = capsys.readouterr()
    assert [json.loads(line)["url"] for line in captured.out.splitlines()] == [
        "https://news.test/a", "https://news.test/c"]
    errors = captured.err.splitlines()
    assert len(errors) == 3
    assert "missing.html" in errors[0] and "no such file" in errors[0]
    assert "other.html" in errors[1] and "no selector file serves host 'elsewhere.test'" in errors[1]
    assert "nourl.html" in errors[2] and "--url" in errors[2]


def test_extract_where_no_file_could_be_read_exits_2(pages, capsys):
    assert extract(pages, "missing.html", "nourl.html") == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 2


def test_extract_where_every_file_is_read_exits_0(pages, capsys):
    assert extract(pages, "good.html", "fine.html") == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


# ------------------------------------------------------------------ split, then clean, in list fields


def _authors(tmp_path, byline: str, rule: str) -> list[str]:
    from crawler.extraction import extract_page
    from crawler.sites import load_site

    (tmp_path / "by.toml").write_text(
        f'domains = ["by.test"]\ntitle = ["h1"]\nbody = ["article"]\nauthors = {rule}\n', "utf-8")
    page = f'<h1>T</h1><p class="byline">{byline}</p><article><p>Text.</p></article>'
    return extract_page(page, "https://by.test/a", load_site(tmp_path / "by.toml")).authors


def test_list_fields_split_first_so_an_anchored_clean_applies_to_every_name(tmp_path):
    rule = """{ from = [".byline"], split = '\\s*,\\s*', clean = ['^By\\s+'] }"""
    assert _authors(tmp_path, "By Ann Lee, By Bo Chan", rule) == ["Ann Lee", "Bo Chan"]


def test_list_fields_drop_a_part_that_clean_leaves_empty(tmp_path):
    rule = """{ from = [".byline"], split = '\\s*(?:,|\\band\\b)\\s*', clean = ['^(Reuters|AP)$'] }"""
    assert _authors(tmp_path, "Ann Lee and Bo Chan, Reuters", rule) == ["Ann Lee", "Bo Chan"]


def test_list_fields_apply_pattern_to_each_part_after_clean(tmp_path):
    rule = """{ from = [".byline"], split = ';', clean = ['^\\s*By\\s+'], pattern = '^(?P<value>[^(]+)' }"""
    assert _authors(tmp_path, "By Ann Lee (Berlin); By Bo Chan (Rome)", rule) == ["Ann Lee", "Bo Chan"]
