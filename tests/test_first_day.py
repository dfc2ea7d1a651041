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
