"""Soak, bounded (issue 5, section 5): 300 demo articles in http mode, about 10% of them
faulted, a `newscrawl crawl` SIGKILLed at a random moment, reruns until one ends by itself,
then an incremental run. bench/soak.py runs the 2,000-article browser version and prints
figures; this module asserts on a smaller one built from the same functions.

The seed is random each time (set SOAK_SEED to repeat one); every message names it.
"""

from __future__ import annotations

import math
import os
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import soak  # bench/ is not a package: found through sys.path

ARTICLES = 300


@pytest.fixture(scope="module")
def soaked(tmp_path_factory):
    seed = int(os.environ.get("SOAK_SEED") or random.SystemRandom().randrange(1_000_000))
    result = soak.soak(tmp_path_factory.mktemp("soak"), articles=ARTICLES, render="http", kills=1,
                       seed=seed, timeout=2.0, log=lambda text: print(f"[seed {seed}] {text}"),
                       sample_every=0.25)  # an http run of 300 articles can end within 10 s
    return f"SOAK_SEED={seed}", result


def test_the_kill_landed_mid_crawl_and_a_later_run_finished(soaked):
    seed, result = soaked
    killed, *rest = result.runs
    assert killed.killed and killed.returncode == -9, seed
    assert 0 < killed.lines_after < result.verdict.expected, (seed, killed)
    # The permanent faults make every finished run exit 1 ("some articles failed").
    assert [run.returncode for run in rest] == [1] * len(rest), (seed, rest)


def test_every_fetchable_article_is_written_exactly_once(soaked):
    seed, result = soaked
    verdict = result.verdict
    assert verdict.expected == ARTICLES - len(result.plan.permanent_ids())
    assert verdict.lost == [], seed
    assert verdict.unexpected == [], seed
    assert verdict.duplicates == 0 and verdict.lines == verdict.expected, seed
    assert verdict.bad_lines == 0, seed
    assert verdict.not_seen == [], seed  # every written line is marked done in the state


def test_each_unfetchable_article_is_a_failed_row_with_its_reason(soaked):
    seed, result = soaked
    verdict = result.verdict
    assert len(verdict.failed_rows) == len(result.plan.permanent_ids()) > 0, seed
    assert verdict.missing_failures == [], seed
    assert verdict.unexpected_failures == [], seed  # nothing left "found but not fetched yet"
    assert verdict.wrong_reasons == {}, seed


def test_about_ten_percent_faulted_and_every_fault_kind_was_really_sent(soaked):
    seed, result = soaked
    plan = result.plan
    assert len(plan.kinds) == round(0.10 * ARTICLES)
    sent = plan.responses_injected()
    kinds = {kind for kind, _ in plan.injected}
    assert {kind for kind in kinds if sent[kind] == 0} == set(), (seed, sent)
    assert set(plan.kinds.values()) == set(soak.KIND_CYCLE)  # 30 faults cover all 14 kinds


def test_the_incremental_run_fetches_no_written_article_again(soaked):
    seed, result = soaked
    final = result.runs[-1]
    assert final.lines_after == final.lines_before, seed
    assert result.final_run_article_fetches == 0, seed


def test_memory_stays_flat(soaked):
    seed, result = soaked
    samples = [s for s in result.samples if s.run == soak.flatness(result.samples)["run"]]
    assert len(samples) >= 8, (seed, len(samples))
    python = soak.flatness(result.samples, "python")
    total = soak.flatness(result.samples)
    for figures in (python, total):
        assert not math.isnan(figures["second_quarter_mib"] + figures["last_quarter_mib"]), (seed, figures)
    # PSS of the crawl's Python, and of Python plus the Playwright driver, over the longest run.
    assert python["last_quarter_mib"] <= python["second_quarter_mib"] + 10, (seed, python)
    assert total["last_quarter_mib"] <= total["second_quarter_mib"] * 1.25, (seed, total)


# ------------------------------------------------------------------ the bug the soak found

def test_a_section_walk_cut_short_is_taken_up_to_the_end_next_run(tmp_path, demo_server, demo_config,
                                                                 fast_politeness):
    """The soak lost 74 of 291 articles when the kill landed during discovery: the rerun found
    page 1 all seen and stopped paging, so older pages nobody had read were skipped for good.
    --max-articles cuts a walk short the same way, deterministically."""
    from crawler.crawl import run_crawl

    politics = {"demo": {"Politics": f"{demo_server.base_url}/section/politics?page=1"}}
    options = {"out_template": str(tmp_path / "out" / "{site}.jsonl"), "state_path": tmp_path / "state.sqlite",
               "politeness_overrides": fast_politeness, "render_override": "http",
               "sections_override": politics}
    first = run_crawl([demo_config], max_articles=4, **options)  # page 1 holds 4: the walk stops there
    assert first.total("new") == 4
    second = run_crawl([demo_config], **options)
    third = run_crawl([demo_config], **options)  # the walk reached the end: page 1 is enough now
    politics_ids = demo_server.site.article_ids("politics")
    assert first.total("new") + second.total("new") == len(politics_ids) == 10
    assert third.total("new") == 0 and third.total("pages") == 1
