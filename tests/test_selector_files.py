"""Selector files are validated on load: every mistake names the file, the key and the
problem, exits with code 2, and runs nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.cli import main

GOOD = '''
domains = ["good.test"]
language = "en"
timezone = "Europe/London"
title = ["h1", "meta:og:title"]
[body]
from = ["article"]
[dateline]
from = ["time @datetime"]
formats = ["iso", "%d %B %Y"]
'''

# (name, file text, key that must be named, words the problem must contain)
MISTAKES = [
    ("toml syntax", 'domains = ["a.test"\ntitle = ["h1"]', "(syntax)", "not valid TOML"),
    ("unknown key", 'colour = "red"\n' + GOOD, "colour", "unknown key"),
    ("misspelled key suggests the right one", GOOD.replace("title =", "titel ="), "titel", "did you mean 'title'"),
    ("misspelled nested key", GOOD.replace('formats =', 'format ='), "dateline.format", "did you mean 'formats'"),
    ("missing domains", GOOD.replace('domains = ["good.test"]', ''), "domains", "missing required key"),
    ("empty domain list", GOOD.replace('["good.test"]', '[]'), "domains", "empty list"),
    ("domain with a scheme", GOOD.replace('"good.test"', '"https://good.test/"'), "domains[0]", "not a host name"),
    ("missing body", GOOD.replace('[body]\nfrom = ["article"]', ''), "body", "missing required key"),
    ("missing title", GOOD.replace('title = ["h1", "meta:og:title"]', ''), "title", "missing required key"),
    ("body table without from", GOOD.replace('from = ["article"]', 'paragraphs = "p"'), "body.from", "missing required key"),
    ("invalid css", GOOD.replace('["h1", ', '["h1[[", '), "title[0]", "does not compile"),
    ("invalid css in strip", 'strip = ["div >> ~"]\n' + GOOD, "strip[0]", "does not compile"),
    ("bad regex", GOOD.replace('[body]\n', '[body]\nclean = ["(unclosed"]\n'), "body.clean[0]", "bad regex"),
    ("impossible date format", GOOD.replace('"%d %B %Y"', '"%H:%M"'), "dateline.formats[1]", "needs a day and a month"),
    ("unknown date directive", GOOD.replace('"%d %B %Y"', '"%d %B %Y %Q"'), "dateline.formats[1]", "directive"),
    ("wrong type", GOOD.replace('language = "en"', 'language = 5'), "language", "expected a language code string, got int"),
    ("wrong type in list", GOOD.replace('"meta:og:title"', '3'), "title[1]", "expected a string"),
    ("unknown timezone", GOOD.replace("Europe/London", "Mars/Olympus"), "timezone", "unknown timezone"),
    ("bad json-ld path", GOOD.replace('"meta:og:title"', '"jsonld:News Article"'), "title[1]", "bad JSON-LD path"),
    ("empty meta name", GOOD.replace('"meta:og:title"', '"meta:"'), "title[1]", "needs a property name"),
    ("site name escaping the output folder", 'name = "../../etc"\n' + GOOD, "name", "no '/', '..'"),
    ("render mode", GOOD + '[crawl]\nrender = "webkit"\n', "crawl.render", "must be"),
    ("section URL not http", GOOD + '[crawl.sections]\nPolitics = "ftp://good.test/p"\n', "crawl.sections.Politics", "not an http(s) URL"),
    ("negative delay", GOOD + '[crawl.politeness]\nmin_delay = -1\n', "crawl.politeness.min_delay", "out of range"),
    ("layout not a table", 'layout = 3\n' + GOOD, "layout", "expected an array"),
    ("unknown key in a layout", GOOD + '[[layout]]\nwhen = "body.x"\nbodyy = ["x"]\n', "layout[0].bodyy", "did you mean 'body'"),
]


@pytest.mark.parametrize("name,text,key,problem", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_mistake_is_reported_with_file_key_and_problem(tmp_path, capsys, name, text, key, problem):
    folder = tmp_path / "selectors"
    folder.mkdir()
    (folder / "bad.toml").write_text(text, "utf-8")
    assert main(["selectors", "lint", "--selectors", str(folder)]) == 2
    message = capsys.readouterr().err
    assert str(folder / "bad.toml") in message
    assert f": {key}: " in message
    assert problem in message


def test_two_files_claiming_one_domain_is_an_error(tmp_path, capsys):
    folder = tmp_path / "selectors"
    folder.mkdir()
    (folder / "one.toml").write_text(GOOD, "utf-8")
    (folder / "two.toml").write_text(GOOD, "utf-8")
    assert main(["selectors", "lint", "--selectors", str(folder)]) == 2
    assert "'good.test' is already claimed by" in capsys.readouterr().err


def test_a_bad_file_stops_extraction_before_anything_runs(tmp_path, capsys):
    folder = tmp_path / "selectors"
    folder.mkdir()
    (folder / "good.toml").write_text(GOOD, "utf-8")
    (folder / "bad.toml").write_text(GOOD.replace("good.test", "bad.test") + "oops = 1\n", "utf-8")
    page = tmp_path / "page.html"
    page.write_text("<h1>x</h1><article><p>y</p></article>", "utf-8")
    code = main(["extract", str(page), "--url", "https://good.test/a", "--selectors", str(folder)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "" and "oops" in captured.err


def test_the_shipped_selector_files_are_all_valid(capsys):
    assert main(["selectors", "lint", "-v", "--selectors", str(Path(__file__).resolve().parents[1] / "selectors")]) == 0
    assert "selector files valid, 0 warnings" in capsys.readouterr().out


def test_the_readme_example_selector_file_is_valid(tmp_path):
    from crawler.sites import load_site

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    example = readme.split("### A complete example")[1].split("```toml")[1].split("```")[0]
    (tmp_path / "example.toml").write_text(example, "utf-8")
    site = load_site(tmp_path / "example.toml")
    assert [layout.name for layout in site.layouts] == ["2019", "2024"]
    assert site.crawl.sections["Politik"] == "https://example.com/politik/"


def test_every_politeness_setting_can_be_overridden_per_site():
    from dataclasses import fields

    from crawler.settings import PolitenessSettings
    from crawler.sites import POLITENESS_KEYS

    assert POLITENESS_KEYS == {f.name for f in fields(PolitenessSettings)}


# ------------------------------------------------------------------ the key as written, and its line

WITH_LAYOUTS = '''domains = ["good.test"]
title = ["h1"]
[body]
from = ["article"]
paragraph = "p"

[[layout]]
name = "old"
[[layout]]
name = "new"
when = "body.new"
'''


def test_a_typo_in_the_top_level_body_under_layouts_is_reported_as_written_with_its_line(tmp_path, capsys):
    folder = tmp_path / "selectors"
    folder.mkdir()
    (folder / "bad.toml").write_text(WITH_LAYOUTS, "utf-8")
    assert main(["selectors", "lint", "--selectors", str(folder)]) == 2
    message = capsys.readouterr().err
    assert f"{folder / 'bad.toml'}:5: body.paragraph: unknown key (did you mean 'paragraphs'?)" in message
    assert "layout[" not in message


def test_a_typo_in_a_layouts_own_body_names_that_layout_and_line(tmp_path, capsys):
    folder = tmp_path / "selectors"
    folder.mkdir()
    text = WITH_LAYOUTS.replace('paragraph = "p"\n', "") + 'body = { from = ["main"], strp = [".ad"] }\n'
    (folder / "bad.toml").write_text(text, "utf-8")
    assert main(["selectors", "lint", "--selectors", str(folder)]) == 2
    assert f"{folder / 'bad.toml'}:11: layout[1].body.strp: unknown key" in capsys.readouterr().err


def test_a_toml_syntax_error_names_its_line(tmp_path, capsys):
    folder = tmp_path / "selectors"
    folder.mkdir()
    (folder / "bad.toml").write_text('domains = ["a.test"]\ntitle = ["h1"\nbody = ["x"]\n', "utf-8")
    assert main(["selectors", "lint", "--selectors", str(folder)]) == 2
    assert f"{folder / 'bad.toml'}:3: (syntax): not valid TOML" in capsys.readouterr().err


KEYS_FILE = '''# title = ["commented out"]
domains = ["x.test"]
title = ["h1", "meta:og:title"]
authors = { from = [".byline"], split = ',' }
source.from = [".source"]
notes = \'\'\'
body = "inside a multi-line string"
\'\'\'
[body]
from = ["article"]

[[layout]]
name = "a"
[[layout]]
name = "b"
[layout.body]
from = ["main"]
[crawl.sections]
"Politik Inland" = "https://x.test/p"
'''


@pytest.mark.parametrize("key,line", [
    ("domains", 2),
    ("title[1]", 3),                       # a list element: the list's line
    ("authors.split", 4),                  # inside an inline table
    ("source.from", 5),                    # a dotted key
    ("body.from", 10),                     # a key in a [table], not the multi-line string
    ("body.paragraphs", 9),                # a key not written: where its table starts
    ("layout[0].name", 13),
    ("layout[1].name", 15),                # [[layout]] tables are counted
    ("layout[1].body.from[0]", 17),        # [layout.body] belongs to the last [[layout]]
    ("layout[1].when", 14),
    ("crawl.sections.Politik Inland", 19),  # a quoted key
    ("language", None),                    # nothing in the file holds it
    ("(syntax)", None),
])
def test_key_line_finds_where_a_key_is_written(key, line):
    from crawler.sites import key_line

    assert key_line(KEYS_FILE, key) == line
