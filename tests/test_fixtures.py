"""The selector developer's loop: `newscrawl fixtures check` diffs each fixture against its
approved record, exits 1 on a change, and `--update` approves after review."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from crawler.cli import main

ROOT = Path(__file__).resolve().parents[1]

SITE = '''
domains = ["fx.test"]
title = ["h1"]
[body]
from = ["article"]
[dateline]
from = ["time @datetime"]
'''
PAGE = ('<h1>Budget passes</h1><time datetime="2025-03-01T10:00:00+02:00">1 March</time>'
        '<article><p>First paragraph.</p><p>Second paragraph.</p></article>')


@pytest.fixture()
def workspace(tmp_path):
    (tmp_path / "selectors").mkdir()
    (tmp_path / "selectors" / "fx.toml").write_text(SITE, "utf-8")
    folder = tmp_path / "fixtures" / "fx"
    folder.mkdir(parents=True)
    (folder / "budget.html.gz").write_bytes(gzip.compress(PAGE.encode()))
    (folder / "budget.meta.json").write_text(json.dumps(
        {"url": "https://fx.test/budget", "fetched_at": "2025-03-01T12:00:00+00:00"}), "utf-8")
    return tmp_path


def run(workspace: Path, *extra: str) -> int:
    return main(["fixtures", "check", *extra, "--fixtures", str(workspace / "fixtures"),
                 "--selectors", str(workspace / "selectors")])


def test_new_fixture_is_reported_until_approved_then_passes(workspace, capsys):
    assert run(workspace) == 1
    assert "no approved record yet" in capsys.readouterr().out
    assert run(workspace, "--update") == 0
    approved = json.loads((workspace / "fixtures" / "fx" / "budget.json").read_text("utf-8"))
    assert approved["paragraphs"] == ["First paragraph.", "Second paragraph."]
    assert approved["fetched_at"] == "2025-03-01T12:00:00+00:00"
    assert run(workspace) == 0
    assert "1 fixtures, 0 changed" in capsys.readouterr().out


def test_a_selector_change_shows_a_per_field_diff_and_exits_1(workspace, capsys):
    run(workspace, "--update")
    capsys.readouterr()
    (workspace / "selectors" / "fx.toml").write_text(SITE.replace('["h1"]', '["h2", "title"]'), "utf-8")
    assert run(workspace, "fx") == 1
    out = capsys.readouterr().out
    assert "CHANGED" in out and "title:" in out and "- 'Budget passes'" in out and "+ None" in out
    assert "paragraphs" not in out  # unchanged fields are not shown


def test_extract_command_takes_the_url_from_the_sidecar(workspace, capsys):
    page = workspace / "fixtures" / "fx" / "budget.html.gz"
    assert main(["extract", str(page), "--selectors", str(workspace / "selectors")]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["url"] == "https://fx.test/budget"
    assert record["dateline"]["published"] == "2025-03-01T10:00:00+02:00"


def test_extract_without_url_or_sidecar_is_a_usage_error(tmp_path, capsys):
    page = tmp_path / "lonely.html"
    page.write_text(PAGE, "utf-8")
    assert main(["extract", str(page)]) == 2
    assert "--url" in capsys.readouterr().err


def test_the_projects_own_fixtures_match_their_approved_records(capsys):
    if not any((ROOT / "fixtures").glob("*/*.html*")):
        pytest.skip("no fixtures committed yet")
    assert main(["fixtures", "check", "--fixtures", str(ROOT / "fixtures"),
                 "--selectors", str(ROOT / "selectors")]) == 0, capsys.readouterr().out


def test_extract_for_a_host_without_a_selector_file_exits_2(tmp_path, capsys):
    page = tmp_path / "page.html"
    page.write_text(PAGE, "utf-8")
    assert main(["extract", str(page), "--url", "https://unknown.example/a"]) == 2
    assert "no selector file serves host 'unknown.example'" in capsys.readouterr().err


# ------------------------------------------------------------------ what a change looks like


def test_a_changed_fixture_leads_with_each_fields_provenance_before_and_after(workspace, capsys):
    run(workspace, "--update")
    capsys.readouterr()
    (workspace / "selectors" / "fx.toml").write_text(SITE.replace('["article"]', '["main"]'), "utf-8")
    assert run(workspace) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("CHANGED")
    assert lines[1] == "  body: article → missing"
    assert "  paragraphs:" in lines
    assert "    - First paragraph." in lines and "    - Second paragraph." in lines


def test_a_changed_paragraph_is_a_unified_diff_with_a_little_context(workspace, capsys):
    page = "<h1>Budget passes</h1><article>" + "".join(
        f"<p>Paragraph {n}.</p>" for n in range(1, 11)) + "</article>"
    (workspace / "fixtures" / "fx" / "budget.html.gz").write_bytes(gzip.compress(page.encode()))
    run(workspace, "--update")
    capsys.readouterr()
    (workspace / "selectors" / "fx.toml").write_text(
        SITE.replace('from = ["article"]', "from = [\"article\"]\ndrop = ['^Paragraph 6']"), "utf-8")
    assert run(workspace) == 1
    out = capsys.readouterr().out
    assert "  body: article (same fallback, different value)" in out
    diff = out.split("  paragraphs:\n")[1].splitlines()[:6]
    assert diff == ["    @@ 4-8 → 4-7 @@", "      Paragraph 4.", "      Paragraph 5.",
                    "    - Paragraph 6.", "      Paragraph 7.", "      Paragraph 8."]
    assert "Paragraph 2." not in out  # far from the change: not shown


def test_a_long_changed_line_is_shortened_around_where_it_changes():
    from crawler.fixtures import shorten_pair

    same = "word " * 60
    old, new = shorten_pair(same + "the end.", same + "a new end.", width=40)
    assert old.startswith("…") and old.endswith("the end.") and new.endswith("a new end.")
    assert len(old) <= 42 and len(new) <= 42


def test_a_new_fixture_shows_its_extraction_with_provenance(workspace, capsys):
    assert run(workspace) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("NEW")
    assert "  title     Budget passes  ← h1" in lines
    assert "  dateline  2025-03-01T10:00:00+02:00  ← time @datetime" in lines
    assert "  authors   -  ← missing" in lines
    assert "  body      2 paragraphs  ← article" in lines
    assert lines[-3:-1] == ["    | First paragraph.", "    | Second paragraph."]
    assert lines[-1].startswith("1 fixtures, 0 changed, 1 new")
