"""The crawl, end to end: real Chromium, the demo site on a loopback port, real SQLite.

The demo server records every request it receives; these tests read that log to check what
the crawler did (and did not) fetch, and when.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
from conftest import FAST_POLITENESS, write_demo_selectors

from crawler.crawl import run_crawl
from crawler.demo.server import DemoServer
from crawler.demo.site import DemoSite
from crawler.errors import LockHeldError
from crawler.state import CrawlState, run_lock

ALL_DEMO_SECTIONS = ("politics", "economy", "technology")


def crawl_demo(site, tmp_path: Path, politeness: dict, **options):
    """One in-process crawl of the demo site into tmp_path; (summary, output records)."""
    summary = run_crawl([site], out_template=str(tmp_path / "out" / "{site}.jsonl"),
                        state_path=tmp_path / "state.sqlite", politeness_overrides=politeness, **options)
    return summary, read_records(tmp_path / "out" / "demo.jsonl")


def read_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), "a partial last line survived"
    return [json.loads(line) for line in text.splitlines()]


def article_urls(server: DemoServer, ids) -> set[str]:
    return {server.base_url + server.site.article(i).url for i in ids}


def only_section(server: DemoServer, name: str) -> dict:
    return {"demo": {name.capitalize(): f"{server.base_url}/section/{name}?page=1"}}


def article_paths(server: DemoServer) -> list[str]:
    return [r.path for r in server.requests if r.path.startswith("/news/")]


# ------------------------------------------------------------------ sections to articles

def test_browser_crawl_reads_js_rendered_paginated_sections_into_one_record_per_article(tmp_path):
    site = DemoSite(articles=30, per_page=4, noscript=False)  # only a JS-running crawler sees links
    with DemoServer(site) as server:
        config = _config(tmp_path, server)
        summary, records = crawl_demo(config, tmp_path, FAST_POLITENESS, render_override="browser")
        requests = server.requests
    assert {r["url"] for r in records} == article_urls(server, range(1, 31))
    assert len(records) == 30
    assert summary.total("new") == 30 and summary.total("failed") == 0
    assert summary.total("pages") == 9  # 10 articles a section, 4 a page: pages 1, 2 and 3
    for section in ALL_DEMO_SECTIONS:
        for page in (1, 2, 3):
            assert any(r.path == f"/section/{section}?page={page}" for r in requests)
    by_url = {r["url"]: r for r in records}
    first = by_url[server.base_url + site.article(1).url]
    assert first["section"] == "Politics"
    assert first["dateline"]["place"] and first["dateline"]["published"]
    assert len(first["related"]) == 3 and first["paragraphs"]
    assert summary.sites[0].match_share()["body"] == 1.0
    # The article images and web fonts were never requested.
    assert not [r.path for r in requests if r.path.startswith("/img/") or r.path.endswith(".woff2")]


def test_http_mode_finds_nothing_when_lists_exist_only_in_javascript(tmp_path):
    with DemoServer(DemoSite(articles=6, noscript=False)) as server:
        config = _config(tmp_path, server)
        summary, records = crawl_demo(config, tmp_path, FAST_POLITENESS, render_override="http")
    assert records == [] and summary.total("pages") == 3


def test_http_mode_reads_the_noscript_lists(tmp_path, demo_server, demo_config):
    summary, records = crawl_demo(demo_config, tmp_path, FAST_POLITENESS, render_override="http")
    assert {r["url"] for r in records} == article_urls(demo_server, range(1, 31))
    assert summary.total("new") == 30


def test_rerun_fetches_only_new_articles_and_stops_paging_at_a_page_of_seen_ones(
        tmp_path, demo_server, demo_config):
    crawl_demo(demo_config, tmp_path, FAST_POLITENESS, render_override="http")
    before = len(demo_server.requests)
    new_ids = demo_server.site.publish(3)  # one new article in each section
    summary, records = crawl_demo(demo_config, tmp_path, FAST_POLITENESS, render_override="http")
    second_run = [r.path for r in demo_server.requests[before:]]
    assert summary.total("new") == 3
    assert [r["url"] for r in records[30:]] and len(records) == 33
    assert {r["url"] for r in records[30:]} == article_urls(demo_server, new_ids)
    fetched_articles = {p for p in second_run if p.startswith("/news/")}
    assert fetched_articles == {demo_server.site.article(i).url for i in new_ids}
    # Page 1 mixes the new article with seen ones, page 2 is all seen: page 3 is never asked for.
    assert not [p for p in second_run if p.endswith("page=3")]


# ------------------------------------------------------------------ politeness

def test_robots_disallowed_links_are_never_fetched_and_are_counted(tmp_path, demo_server, demo_config):
    summary, _ = crawl_demo(demo_config, tmp_path, FAST_POLITENESS, render_override="http")
    assert demo_server.requests_for(r"^/robots\.txt$")
    assert not demo_server.requests_for(r"^/private/")
    assert summary.total("robots_skips") == 3  # one draft link on each section's first page


def test_requests_to_one_host_are_spaced_by_the_minimum_delay(tmp_path, demo_server, demo_config):
    polite = {**FAST_POLITENESS, "min_delay": 1.0, "jitter": 0.0}
    crawl_demo(demo_config, tmp_path, polite, render_override="http", max_articles=4,
               sections_override=only_section(demo_server, "politics"))
    times = [r.time for r in demo_server.requests]
    assert len(times) == 6  # robots.txt, one section page, four articles
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # The server sees arrivals, not the client's starts: one request delayed in flight on a
    # busy machine shortens the next gap, hence the margin (unpaced gaps are ~0.01 s).
    assert min(gaps) >= 0.6, gaps
    assert sum(gaps) / len(gaps) >= 0.97, gaps


@pytest.mark.parametrize("concurrency", [1, 2])
def test_no_more_article_requests_are_in_flight_than_the_host_concurrency(
        tmp_path, demo_server, demo_config, concurrency):
    # Every article answers after 0.4 s, so the server sees how many overlap. The crawl keeps
    # one worker more than the concurrency (to load a page while another is being written):
    # the pacer must still hold it back.
    demo_server.faults.add(re.compile(r"^/news/"), delay_seconds=0.4)
    polite = {**FAST_POLITENESS, "concurrency": concurrency}
    crawl_demo(demo_config, tmp_path, polite, render_override="browser", max_articles=6,
               sections_override=only_section(demo_server, "politics"))
    arrivals = sorted(r.time for r in demo_server.requests_for("^/news/"))
    assert len(arrivals) == 6
    # An article arriving while `concurrency` earlier ones are still being answered would be
    # one too many; 0.3 s leaves room for a busy machine.
    for index in range(concurrency, len(arrivals)):
        assert arrivals[index] - arrivals[index - concurrency] >= 0.3, arrivals


def test_a_larger_robots_crawl_delay_wins_over_the_minimum_delay(tmp_path):
    with DemoServer(DemoSite(articles=6, crawl_delay=1.2)) as server:
        config = _config(tmp_path, server)
        crawl_demo(config, tmp_path, FAST_POLITENESS, render_override="http", max_articles=2,
                   sections_override=only_section(server, "politics"))
        times = [r.time for r in server.requests if r.path != "/robots.txt"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # As above: arrivals, so a margin below 1.2 s; without the rule the gaps are ~0.01 s.
    assert len(gaps) == 2 and min(gaps) >= 0.8 and sum(gaps) >= 2.35, gaps


def test_429_with_retry_after_is_waited_out_then_fetched(tmp_path, demo_server, demo_config):
    target = demo_server.site.section_page("politics", 1)[0].url
    demo_server.faults.add(target, retry_after=1.5, times=1)
    summary, records = crawl_demo(demo_config, tmp_path, FAST_POLITENESS, render_override="http",
                                  sections_override=only_section(demo_server, "politics"))
    hits = demo_server.requests_for("^" + target + "$")
    assert [h.status for h in hits] == [429, 200]
    assert hits[1].time - hits[0].time >= 1.4  # backoff_base is 0.1: only Retry-After explains this
    assert demo_server.base_url + target in {r["url"] for r in records}
    assert summary.total("retries") == 1 and summary.total("failed") == 0


# ------------------------------------------------------------------ retries and failures

@pytest.mark.parametrize("render", ["http", "browser"])
def test_server_errors_are_retried_until_the_page_comes(tmp_path, demo_server, demo_config, render):
    target = demo_server.site.section_page("economy", 1)[1].url
    demo_server.faults.add(target, status_sequence=[500, 503])
    summary, records = crawl_demo(demo_config, tmp_path, FAST_POLITENESS, render_override=render,
                                  max_articles=3, sections_override=only_section(demo_server, "economy"))
    assert [h.status for h in demo_server.requests_for("^" + target + "$")] == [500, 503, 200]
    assert demo_server.base_url + target in {r["url"] for r in records}
    assert summary.total("retries") == 2 and summary.total("failed") == 0


@pytest.mark.parametrize("render", ["http", "browser"])
def test_a_hanging_response_times_out_and_is_retried(tmp_path, demo_server, demo_config, render):
    target = demo_server.site.section_page("technology", 1)[0].url
    demo_server.faults.add(target, hang_seconds=6, times=1)
    started = time.monotonic()
    summary, records = crawl_demo(demo_config, tmp_path, {**FAST_POLITENESS, "timeout": 1.5},
                                  render_override=render, max_articles=1,
                                  sections_override=only_section(demo_server, "technology"))
    assert time.monotonic() - started < 60  # a bound, not a measurement: machines get busy
    hits = demo_server.requests_for("^" + target + "$")
    assert len(hits) == 2
    assert hits[1].time - hits[0].time < 5.5  # it gave up on the 6 s hang and asked again
    assert [r["url"] for r in records] == [demo_server.base_url + target]
    assert summary.total("retries") == 1


def test_a_404_is_not_retried_but_recorded_and_tried_again_next_run(tmp_path, demo_server, demo_config):
    target = demo_server.site.section_page("politics", 1)[2].url
    demo_server.faults.add(target, status_sequence=[404])
    sections = only_section(demo_server, "politics")
    summary, records = crawl_demo(demo_config, tmp_path, FAST_POLITENESS, render_override="http",
                                  sections_override=sections)
    url = demo_server.base_url + target
    assert len(demo_server.requests_for("^" + target + "$")) == 1
    assert summary.total("failed") == 1 and url not in {r["url"] for r in records}
    with CrawlState(tmp_path / "state.sqlite") as state:
        assert state.failed_urls("demo") == [url]
        assert state.failure_reason(url) == "HTTP 404"
    summary, records = crawl_demo(demo_config, tmp_path, FAST_POLITENESS, render_override="http",
                                  sections_override=sections)
    assert summary.total("new") == 1 and records[-1]["url"] == url
    with CrawlState(tmp_path / "state.sqlite") as state:
        assert state.failed_urls("demo") == [] and state.is_seen(url)


# ------------------------------------------------------------------ staying on the site

@pytest.mark.parametrize("render", ["http", "browser"])
def test_off_domain_redirects_are_refused_before_the_other_host_is_asked(
        tmp_path, demo_server, demo_config, render):
    with DemoServer(DemoSite(articles=3), host="127.0.0.2") as elsewhere:
        target = demo_server.site.section_page("politics", 1)[0].url
        demo_server.faults.add(target, redirect_to=elsewhere.base_url + "/news/politics/1-moved")
        summary, records = crawl_demo(demo_config, tmp_path, FAST_POLITENESS, render_override=render,
                                      max_articles=2, sections_override=only_section(demo_server, "politics"))
        assert elsewhere.requests == []
    assert len(demo_server.requests_for("^" + target + "$")) == 1  # refused, not retried
    failure = summary.sites[0].failures[0]
    assert failure["url"] == demo_server.base_url + target and "outside the site's domains" in failure["reason"]
    assert len(records) == 1


def test_off_site_mailto_and_javascript_links_are_never_queued(tmp_path, demo_server, demo_config):
    crawl_demo(demo_config, tmp_path, FAST_POLITENESS, render_override="http")
    paths = article_paths(demo_server)
    assert not [p for p in paths if "tip" in p or "script" in p]
    with CrawlState(tmp_path / "state.sqlite") as state:
        assert state.counts("demo") == {"done": 30, "failed": 0}
    # Tracking parameters and fragments were dropped: each article was fetched once.
    assert len(paths) == len(set(paths)) == 30


# ------------------------------------------------------------------ crashes, locks, signals

def test_kill_9_mid_crawl_then_rerun_writes_every_article_exactly_once(
        tmp_path, demo_server, demo_selectors, newscrawl_command, child_env):
    out = tmp_path / "out" / "{site}.jsonl"
    command = [*newscrawl_command, "crawl", "--selectors", str(demo_selectors), "--out", str(out),
               "--render", "http", "--jitter", "0", "--quiet"]
    output = tmp_path / "out" / "demo.jsonl"
    child = subprocess.Popen([*command, "--min-delay", "0.1"], env=child_env)
    try:
        _wait_for(lambda: len(read_lines(output)) >= 8, timeout=45)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    assert len(read_lines(output)) < 30, "the crawl finished before the kill"
    rerun = subprocess.run([*command, "--min-delay", "0"], env=child_env, timeout=90, check=False)
    assert rerun.returncode == 0
    urls = [record["url"] for record in read_records(output)]
    assert sorted(urls) == sorted(article_urls(demo_server, range(1, 31)))


def read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []


def test_a_second_run_on_the_same_state_exits_at_once_with_code_3(
        tmp_path, demo_selectors, demo_config, newscrawl_command, child_env):
    state = tmp_path / "out" / "state.sqlite"
    with run_lock(state):
        with pytest.raises(LockHeldError):
            run_crawl([demo_config], out_template=str(tmp_path / "out" / "{site}.jsonl"), state_path=state)
        started = time.monotonic()
        result = subprocess.run(
            [*newscrawl_command, "crawl", "--selectors", str(demo_selectors),
             "--out", str(tmp_path / "out" / "{site}.jsonl"), "--state", str(state)],
            env=child_env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 3
    assert "lock" in result.stderr.lower() and time.monotonic() - started < 30


def test_sigterm_finishes_the_article_in_flight_and_exits_0(
        tmp_path, demo_server, demo_selectors, newscrawl_command, child_env):
    output = tmp_path / "out" / "demo.jsonl"
    summary_path = tmp_path / "summary.json"
    child = subprocess.Popen(
        [*newscrawl_command, "crawl", "--selectors", str(demo_selectors),
         "--out", str(tmp_path / "out" / "{site}.jsonl"), "--render", "browser",
         "--min-delay", "0.2", "--jitter", "0", "--quiet", "--summary-json", str(summary_path)],
        env=child_env)
    try:
        _wait_for(lambda: len(read_lines(output)) >= 3, timeout=60)
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    records = read_records(output)
    summary = json.loads(summary_path.read_text())
    assert summary["stopped"] is True and 3 <= len(records) < 30
    with CrawlState(tmp_path / "out" / "state.sqlite") as state:
        assert state.counts("demo")["done"] == len(records)  # written == marked, nothing half-done
        assert all(state.is_seen(record["url"]) for record in records)


# ------------------------------------------------------------------ the fetcher itself

def test_the_browser_context_is_replaced_every_n_pages(demo_server, demo_config):
    from crawler.fetch import Fetcher
    from crawler.polite import HostPacer
    from crawler.settings import DEFAULT_POLITENESS

    settings = DEFAULT_POLITENESS.merged(**FAST_POLITENESS)
    urls = [demo_server.base_url + demo_server.site.article(i).url for i in range(1, 6)]

    async def fetch_all():
        async with Fetcher(recycle_context_every=2) as fetcher:
            pacer = HostPacer(settings)
            for url in urls:
                result = await fetcher.fetch(url, demo_config, pacer=pacer, settings=settings,
                                             render="browser", wait_for=".article-body")
                assert result.status == 200 and "article-body" in result.html
            return fetcher.browser.contexts_created

    assert asyncio.run(fetch_all()) == 3


def test_a_worn_out_tab_is_replaced_and_closed_once_its_successor_has_loaded(demo_server, demo_config):
    from crawler.fetch import Fetcher
    from crawler.polite import HostPacer
    from crawler.settings import DEFAULT_POLITENESS

    settings = DEFAULT_POLITENESS.merged(**FAST_POLITENESS)
    urls = [demo_server.base_url + demo_server.site.article(i).url for i in range(1, 6)]

    async def fetch_all():
        open_tabs, waiting = [], []
        async with Fetcher(recycle_tab_every=2, collect_garbage_every=1) as fetcher:
            pacer = HostPacer(settings)
            for url in urls:
                result = await fetcher.fetch(url, demo_config, pacer=pacer, settings=settings,
                                             render="browser", wait_for=".article-body")
                assert result.status == 200 and "article-body" in result.html
                (holder,) = fetcher.browser._contexts.values()
                open_tabs.append(len(holder.context.pages))
                waiting.append(sum(not tab.page.is_closed() for tab in holder.outgoing))
            return fetcher.browser.tabs_opened, fetcher.browser.contexts_created, open_tabs, waiting

    tabs, contexts, open_tabs, waiting = asyncio.run(fetch_all())
    assert (tabs, contexts) == (3, 1)  # pages 1-2, 3-4, 5: one context throughout
    # After pages 2 and 4 the worn-out tab stays open, waiting; the next page loads in its
    # successor, and then it is closed.
    assert waiting == [0, 1, 0, 1, 0]
    assert open_tabs == [1, 1, 1, 1, 1]


# Media, fonts and images a page asks for by itself: elements, a CSS font, a script's fetch.
MEDIA_SCRIPT = """
const add = (tag, src) => { const el = document.createElement(tag); el.src = src;
  el.autoplay = true; el.preload = "auto"; document.documentElement.appendChild(el); };
add("video", "/media/clip.mp4"); add("audio", "/media/clip"); add("img", "/pictures/lead");
fetch("/static/font.woff2").catch(() => {});
"""


def test_images_fonts_and_media_are_refused_before_they_are_requested(demo_server, demo_config):
    from crawler.fetch import Fetcher
    from crawler.polite import HostPacer
    from crawler.settings import DEFAULT_POLITENESS

    settings = DEFAULT_POLITENESS.merged(**FAST_POLITENESS)
    url = demo_server.base_url + demo_server.site.article(1).url
    demo_server.faults.add(demo_server.site.article(1).url, script=MEDIA_SCRIPT)

    async def fetch_one():
        async with Fetcher() as fetcher:
            result = await fetcher.fetch(url, demo_config, pacer=HostPacer(settings), settings=settings,
                                         render="browser", wait_for=".article-body")
            await asyncio.sleep(1.0)  # time for the page to ask for what it wants
            return result

    assert asyncio.run(fetch_one()).status == 200
    paths = [r.path for r in demo_server.requests]
    assert any(p == demo_server.site.article(1).url for p in paths)
    assert not [p for p in paths if p.startswith(("/media/", "/pictures/", "/img/")) or p.endswith(".woff2")]


def test_every_accepts_intervals_and_cron_expressions():
    from crawler.crawl_cli import parse_schedule
    from crawler.errors import ConfigError

    assert parse_schedule("30m").seconds_until_next(datetime.now()) == 1800
    assert parse_schedule("1h30m").seconds_until_next(datetime.now()) == 5400
    friday = datetime(2025, 3, 7, 10, 40, 12)
    assert parse_schedule("*/30 * * * *").next_after(friday) == datetime(2025, 3, 7, 11, 0)
    assert parse_schedule("0 6 * * 1-5").next_after(friday) == datetime(2025, 3, 10, 6, 0)
    with pytest.raises(ConfigError):
        parse_schedule("every half hour")


# ------------------------------------------------------------------ helpers

def _config(tmp_path: Path, server: DemoServer):
    from crawler.sites import load_site

    return load_site(write_demo_selectors(tmp_path / "selectors", server.base_url) / "demo.toml")


def _wait_for(condition, timeout: float, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
