"""`newscrawl selectors lint [SITE ...]`: quiet when every file is valid, errors and warnings
always shown, a warning for every regex that can take exponential time (issue 9 item 7,
issue 10 section 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DEMO_SELECTORS, ROOT

from crawler.cli import main
from crawler.regex_lint import regex_problems


def demo_folder(tmp_path: Path, *, body_clean: str | None = None, title_pattern: str | None = None) -> Path:
    """A folder holding a copy of the demo selector file, with the regexes given."""
    folder = tmp_path / "selectors"
    folder.mkdir()
    text = DEMO_SELECTORS.read_text(encoding="utf-8")
    if body_clean is not None:
        text = text.replace('paragraphs = "p"\n', f"paragraphs = \"p\"\nclean = ['{body_clean}']\n", 1)
    if title_pattern is not None:
        text = text.replace('title = ["article.story h1.headline", "meta:og:title"]',
                            f'title = {{ from = ["article.story h1.headline"], pattern = \'{title_pattern}\' }}', 1)
    (folder / "demo.toml").write_text(text, encoding="utf-8")
    return folder


def test_lint_prints_nothing_when_every_bundled_file_is_valid(capsys):
    assert main(["selectors", "lint", "--selectors", str(ROOT / "selectors")]) == 0
    assert capsys.readouterr() == ("", "")


def test_lint_verbose_lists_each_file_checked(tmp_path, capsys):
    folder = demo_folder(tmp_path)
    assert main(["selectors", "lint", "-v", "--selectors", str(folder)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"ok  {folder / 'demo.toml'}")
    assert out[-1] == "1 selector file valid, 0 warnings"


def test_lint_warns_on_a_nested_quantifier_naming_file_key_and_pattern_and_exits_0(tmp_path, capsys):
    folder = demo_folder(tmp_path, body_clean=r"^(\w+\s?)*$", title_pattern=r"^(?P<value>(a+)+)")
    assert main(["selectors", "lint", "--selectors", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    warnings = err.splitlines()
    assert len(warnings) == 2
    assert warnings[0].startswith(f"newscrawl: warning: {folder / 'demo.toml'}: title.pattern: nested quantifier")
    assert warnings[0].endswith(repr(r"^(?P<value>(a+)+)"))
    assert f"{folder / 'demo.toml'}: body.clean[0]: nested quantifier" in warnings[1]
    assert warnings[1].endswith(repr(r"^(\w+\s?)*$"))


def test_lint_warns_on_repeated_alternatives_that_match_the_same_text(tmp_path, capsys):
    folder = demo_folder(tmp_path, body_clean=r"(a|a)*x")
    assert main(["selectors", "lint", "--selectors", str(folder)]) == 0
    err = capsys.readouterr().err
    assert "body.clean[0]: repeated alternatives that can match the same text" in err


@pytest.mark.parametrize("pattern", [r"^(\w+\s?)*$", r"(a+)+", r"(?:x+)*y", r"(\s*\w+)*$", r"(.*,)+",
                                     r"(\w+\.?)+$", r"(a|a)*", r"(ab|ab)*c", r"([a-z]+){2,}"])
def test_regexes_that_can_take_exponential_time_are_flagged(pattern):
    assert regex_problems(pattern)


@pytest.mark.parametrize("pattern", [r"^\s*Source:\s*", r"(?:[a-z0-9-]+/)+[a-z0-9-]+\.html$", r"(\d+,)*",
                                     r"(?:/[a-z]+)+", r"(?:\s|,)*", r"(a|ab)*c", r"(a{2}){1,5}",
                                     r"^(?P<place>[A-Z][A-Z .-]+?)\s*(?:,|\()", r"[(]unclosed"])
def test_linear_regexes_are_not_flagged(pattern):
    assert regex_problems(pattern) == []


def test_lint_of_one_site_checks_only_that_file(tmp_path, capsys):
    folder = demo_folder(tmp_path)
    (folder / "broken.toml").write_text('domains = ["broken.example"]\ntitle = "h1"\n', encoding="utf-8")
    assert main(["selectors", "lint", "demo", "--selectors", str(folder)]) == 0
    assert capsys.readouterr() == ("", "")
    assert main(["selectors", "lint", "--selectors", str(folder)]) == 2
    assert "broken.toml: body: missing required key" in capsys.readouterr().err
    assert main(["selectors", "lint", str(folder / "broken.toml")]) == 2


def test_lint_of_an_unknown_site_exits_2(tmp_path, capsys):
    assert main(["selectors", "lint", "nosuch", "--selectors", str(demo_folder(tmp_path))]) == 2
    assert "no selector file for site 'nosuch'" in capsys.readouterr().err
