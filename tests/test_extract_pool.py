"""CPU work kept off the crawl's event loop (issue 9, item 7): section pages with huge link
lists, and extraction in worker processes under a time limit, so that a catastrophic regex in
a selector file costs one article and never the crawl. Real loopback servers, real SQLite,
real worker processes; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import FAST_POLITENESS, ROOT, write_demo_selectors

from crawler.crawl import SiteCrawl, _Budget, _Run, run_crawl
from crawler.demo.server import DemoServer
from crawler.demo.site import DemoSite
from crawler.errors import ExtractionTimeout
from crawler.extract_pool import ExtractPool, extract_article
from crawler.extraction import Page
from crawler.progress import Progress
from crawler.settings import DEFAULT_POLITENESS, MAX_LINKS_PER_PAGE, MAX_URL_LENGTH
from crawler.sites import load_registry, load_site
from crawler.state import CrawlState

# Harmless on every demo paragraph (none has the marker), exponential on the hostile one: after
# the marker, `(\w+\s?)*` can split a run of words in 2^n ways before `$` fails at the full stop.
CATASTROPHIC_CLEAN = r"STUCK\s(\w+\s?)*$"
HOSTILE_PARAGRAPH = "STUCK " + " ".join(["abcdefgh"] * 150) + "."
HOSTILE_ID = 3


class Notes(Progress):
    """Keeps the crawl's notes, and how many articles each section page queued."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.new_links: list[int] = []

    def note(self, text: str) -> None:
        self.notes.append(text)

    def page(self, site, section, number, url, new_links) -> None:
        self.new_links.append(new_links)


class HostileArticleServer(DemoServer):
    """The demo site, one of whose articles carries the paragraph the regex never ends on."""

    def route(self, path: str):
        response = super().route(path)
        if path == self.site.article(HOSTILE_ID).url:
            response.body = response.body.replace(
                b'<div class="article-body">',
                f'<div class="article-body">\n<p>{HOSTILE_PARAGRAPH}</p>'.encode(), 1)
        return response


def hostile_selectors(folder: Path, base_url: str) -> Path:
    """The demo selector file with the catastrophic body `clean`, crawling Politics only."""
    path = write_demo_selectors(folder, base_url) / "demo.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace('paragraphs = "p"\n', f"paragraphs = \"p\"\nclean = ['{CATASTROPHIC_CLEAN}']\n", 1)
    text = text[:text.index("[crawl.sections]")] + (
        f'[crawl.sections]\nPolitics = "{base_url}/section/politics?page=1"\n')
    path.write_text(text, encoding="utf-8")
    return folder


def worker_pids(parent: int) -> set[int]:
    """Extraction workers whose parent is `parent`, from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = re.search(r"^PPid:\s+(\d+)", status, re.MULTILINE)
        if ppid and int(ppid.group(1)) == parent and b"_worker_main" in cmdline:
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = re.search(r"^State:\s+(\S)", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)
    except OSError:
        return False
    return bool(state) and state.group(1) != "Z"


def wait_for(condition, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def read_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ------------------------------------------------------------------ huge link lists

def site_crawl(site) -> SiteCrawl:
    """A SiteCrawl for calling its page readers directly: nothing is fetched."""
    run = _Run(fetcher=None, state=None, writer=None, progress=Progress(), budget=_Budget(None),
               stop=asyncio.Event(), user_agent="test", extractor=None)
    return SiteCrawl(site, run, sections={}, settings=DEFAULT_POLITENESS, render="http", max_pages=1)


def test_a_section_page_of_40000_links_is_read_in_under_two_seconds_up_to_the_cap(demo_config):
    base = "http://127.0.0.1:8765"
    hrefs = [f"/news/politics/{i}-story" for i in range(1, 40_001)]
    hrefs[1] = hrefs[0] + "?utm_source=list"  # a repeat, in another spelling
    hrefs[2] = "/news/politics/9-" + "x" * MAX_URL_LENGTH  # too long to keep
    items = "".join(f'<li><a href="{href}">story</a></li>' for href in hrefs)
    page = Page(f'<html><body><ul class="article-list">{items}</ul></body></html>', base + "/section/politics")
    crawl = site_crawl(demo_config)
    result: list = []
    reader = threading.Thread(target=lambda: result.append(crawl.article_links(page, page.url)), daemon=True)
    started = time.monotonic()
    reader.start()
    reader.join(timeout=10)
    elapsed = time.monotonic() - started
    assert result, "article_links was still running after 10 s"
    links, dropped = result[0]
    assert elapsed < 2.0
    assert links[:2] == [base + hrefs[0], base + hrefs[3]]  # page order, the repeat and the long one gone
    assert len(links) == MAX_LINKS_PER_PAGE - 2
    assert links[-1] == base + hrefs[MAX_LINKS_PER_PAGE - 1]
    assert dropped == 40_000 - MAX_LINKS_PER_PAGE + 1  # past the cap, and the long URL


def test_a_crawl_of_a_section_page_with_40000_links_applies_the_cap_and_says_so(tmp_path):
    site = DemoSite(articles=40_000, sections=("politics",), per_page=10)
    with DemoServer(site) as server:
        # Old slugs of real articles: each redirects to its article, as a real site's would.
        server.faults.add("/section/politics", extra_links=[f"/news/politics/{i}-s" for i in range(1, 40_001)])
        folder = write_demo_selectors(tmp_path / "selectors", server.base_url)
        config = load_site(folder / "demo.toml")
        sections = {"demo": {"Politics": f"{server.base_url}/section/politics?page=1"}}
        notes = Notes()
        started = time.monotonic()
        summary = run_crawl([config], out_template=str(tmp_path / "out" / "{site}.jsonl"),
                            state_path=tmp_path / "state.sqlite", politeness_overrides=FAST_POLITENESS,
                            render_override="http", sections_override=sections, max_articles=3,
                            progress=notes)
        elapsed = time.monotonic() - started
    assert summary.total("new") == 3 and summary.total("failed") == 0
    assert elapsed < 30  # with a list to de-duplicate, 84 s
    dropped = [int(m.group(1)) for n in notes.notes if (m := re.search(r"(\d+) links dropped", n))]
    assert len(dropped) == 1 and dropped[0] >= 40_000 - MAX_LINKS_PER_PAGE
    assert notes.new_links == [MAX_LINKS_PER_PAGE]  # each a distinct old slug


# ------------------------------------------------------------------ the pool itself

def test_every_bundled_selector_file_survives_the_trip_to_a_worker():
    for site in load_registry(ROOT / "selectors").sites.values():
        assert pickle.loads(pickle.dumps(site)) == site, site.path


def demo_pages(count: int) -> list[tuple[str, str]]:
    demo = DemoSite(articles=count)
    return [(demo.render_article(demo.article(i)), "http://127.0.0.1:8765" + demo.article(i).url)
            for i in range(1, count + 1)]


def test_workers_extract_exactly_what_the_crawl_process_would(demo_config):
    pages = demo_pages(12)

    async def through_pool():
        async with ExtractPool(processes=2, timeout=30) as pool:
            return await asyncio.gather(*(pool.extract(demo_config, html, url, "2025-01-01T00:00:00+00:00")
                                          for html, url in pages))

    results = asyncio.run(through_pool())
    assert results == [extract_article(html, url, demo_config, "2025-01-01T00:00:00+00:00")
                       for html, url in pages]


def test_a_site_is_sent_to_each_worker_once_not_with_every_page(demo_config, monkeypatch):
    from multiprocessing.connection import Connection

    sent_sites: list[bool] = []
    send = Connection.send

    def counting_send(self, message):
        if isinstance(message, tuple) and len(message) == 5:
            sent_sites.append(message[1] is not None)
        return send(self, message)

    monkeypatch.setattr(Connection, "send", counting_send)

    async def extract_all():
        async with ExtractPool(processes=2, timeout=30) as pool:
            await asyncio.gather(*(pool.extract(demo_config, html, url, None) for html, url in demo_pages(20)))
            return pool.started

    started = asyncio.run(extract_all())
    assert len(sent_sites) == 20
    assert sum(sent_sites) == started <= 2


def test_a_page_over_the_time_limit_kills_its_worker_and_the_next_page_is_extracted(tmp_path):
    config = load_site(hostile_selectors(tmp_path / "selectors", "http://127.0.0.1:8765") / "demo.toml")
    (html, url), = demo_pages(1)
    hostile = html.replace('<div class="article-body">', f'<div class="article-body"><p>{HOSTILE_PARAGRAPH}</p>', 1)

    async def extract_both():
        async with ExtractPool(processes=1, timeout=1.0) as pool:
            await pool.extract(config, html, url, None)  # the worker is up
            stuck = pool.pids
            started = time.monotonic()
            with pytest.raises(ExtractionTimeout, match=r"^extraction: took longer than 1s$"):
                await pool.extract(config, hostile, url, None)
            waited = time.monotonic() - started
            _, article = await pool.extract(config, html, url, None)
            return stuck, pool.pids, waited, article

    stuck, now, waited, article = asyncio.run(extract_both())
    assert 1.0 <= waited < 5
    assert article.paragraphs and not any(alive(pid) for pid in stuck) and set(now).isdisjoint(stuck)


def test_closing_the_pool_ends_every_worker(demo_config):
    async def open_and_close():
        pool = ExtractPool(processes=2, timeout=30)
        pool.start()
        await asyncio.gather(*(pool.extract(demo_config, html, url, None) for html, url in demo_pages(8)))
        pids = pool.pids
        pool.close()
        return pids

    pids = asyncio.run(open_and_close())
    assert pids and not any(alive(pid) for pid in pids)
    assert not worker_pids(os.getpid())


# ------------------------------------------------------------------ crawls with a catastrophic regex

def test_a_catastrophic_clean_regex_fails_that_article_only_and_the_crawl_ends(tmp_path):
    site = DemoSite(articles=6, sections=("politics",), per_page=6)
    with HostileArticleServer(site) as server:
        config = load_site(hostile_selectors(tmp_path / "selectors", server.base_url) / "demo.toml")
        started = time.monotonic()
        summary = run_crawl([config], out_template=str(tmp_path / "out" / "{site}.jsonl"),
                            state_path=tmp_path / "state.sqlite", politeness_overrides=FAST_POLITENESS,
                            render_override="http", extract_timeout=1.0)
        elapsed = time.monotonic() - started
    hostile_url = server.base_url + site.article(HOSTILE_ID).url
    records = read_records(tmp_path / "out" / "demo.jsonl")
    assert {r["url"] for r in records} == {server.base_url + site.article(i).url
                                           for i in range(1, 7) if i != HOSTILE_ID}
    assert summary.total("failed") == 1
    assert summary.sites[0].failures == [{"url": hostile_url, "reason": "extraction: took longer than 1s"}]
    with CrawlState(tmp_path / "state.sqlite") as state:
        assert state.failure_reason(hostile_url) == "extraction: took longer than 1s"
    assert elapsed < 30
    assert not worker_pids(os.getpid()), "a worker outlived the crawl"


def start_hostile_crawl(tmp_path: Path, server: DemoServer, newscrawl_command, child_env):
    folder = hostile_selectors(tmp_path / "selectors", server.base_url)
    return subprocess.Popen(
        [*newscrawl_command, "crawl", "--selectors", str(folder), "--out", str(tmp_path / "out" / "{site}.jsonl"),
         "--render", "http", "--min-delay", "0", "--jitter", "0", "--quiet",
         "--summary-json", str(tmp_path / "summary.json")], env=child_env)


def stuck_in_extraction(server: DemoServer, child: subprocess.Popen) -> set[int]:
    """Once the hostile article was fetched and a moment passed: the crawl's workers."""
    path = server.site.article(HOSTILE_ID).url
    assert wait_for(lambda: server.requests_for(re.escape(path) + "$"), timeout=60), "never fetched"
    time.sleep(1.0)  # into the regex
    workers = worker_pids(child.pid)
    assert workers and child.poll() is None
    return workers


def test_sigterm_while_an_article_is_stuck_in_a_regex_stops_the_crawl_promptly(
        tmp_path, newscrawl_command, child_env):
    site = DemoSite(articles=6, sections=("politics",), per_page=6)
    with HostileArticleServer(site) as server:
        child = start_hostile_crawl(tmp_path, server, newscrawl_command, child_env)
        try:
            workers = stuck_in_extraction(server, child)
            child.send_signal(signal.SIGTERM)
            started = time.monotonic()
            code = child.wait(timeout=15)  # the time limit is 20 s; the stop grace 2 s
            waited = time.monotonic() - started
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=10)
    assert code == 0 and waited < 10
    assert json.loads((tmp_path / "summary.json").read_text())["stopped"] is True
    assert wait_for(lambda: not any(alive(pid) for pid in workers), timeout=5), "orphaned workers"


def test_workers_die_with_a_crawl_killed_by_sigkill(tmp_path, newscrawl_command, child_env):
    site = DemoSite(articles=6, sections=("politics",), per_page=6)
    with HostileArticleServer(site) as server:
        child = start_hostile_crawl(tmp_path, server, newscrawl_command, child_env)
        try:
            workers = stuck_in_extraction(server, child)
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=10)
    # The stuck one too: the kernel kills a worker whose crawl is gone (PR_SET_PDEATHSIG).
    assert wait_for(lambda: not any(alive(pid) for pid in workers), timeout=5), "orphaned workers"
