"""Misbehaving servers and hostile links (issue 5, sections 3 and 4), end to end: real
Chromium, real loopback servers, real SQLite.

Each test crawls a small demo site with faults injected, then checks three things: the crawl
went on, every failure has a reason in the summary and the state, and every article that
could be fetched was written exactly once. A second server on 127.0.0.2 stands for "another
site": its request log proves the crawler never went there.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import FAST_POLITENESS, write_demo_selectors
from etc_hosts import hosts_entries, needs_hosts

from crawler.crawl import crawl, default_state_path, run_crawl
from crawler.demo.server import DemoServer
from crawler.demo.site import OFFSITE_URL, DemoSite
from crawler.errors import OffDomainError
from crawler.fetch import Fetcher
from crawler.output import JsonlWriter
from crawler.polite import HostPacer
from crawler.settings import DEFAULT_POLITENESS
from crawler.sites import load_site
from crawler.state import CrawlState

# Short timeouts and one retry keep the slow faults cheap; the timeout still leaves a busy
# machine room to load a healthy page in Chromium.
FAULT_POLITENESS = {**FAST_POLITENESS, "timeout": 4.0, "max_retries": 1}
TEN_MB = 10 * 1024 * 1024


def one_section_site(articles: int, per_page: int | None = None) -> DemoSite:
    return DemoSite(articles=articles, sections=("politics",), per_page=per_page or articles)


def site_config(tmp_path: Path, server: DemoServer, *, domains: list[str] | None = None,
                allow_private: bool = True, sections: dict[str, str] | None = None):
    folder = write_demo_selectors(tmp_path / "selectors", server.base_url)
    path = folder / "demo.toml"
    text = path.read_text(encoding="utf-8")
    if domains is not None:
        text = re.sub(r"(?m)^domains = .*$", "domains = " + repr(domains).replace("'", '"'), text)
    if not allow_private:
        text = text.replace("allow_private = true", "allow_private = false")
    sections = sections or {"Politics": f"{server.base_url}/section/politics?page=1"}
    if sections:
        text = text[:text.index("[crawl.sections]")] + "[crawl.sections]\n" + "".join(
            f'{name} = "{url}"\n' for name, url in sections.items())
    path.write_text(text, encoding="utf-8")
    return load_site(path)


def crawl_into(tmp_path: Path, config, *, render: str = "http", politeness: dict | None = None,
               **options):
    """One in-process crawl; (summary, records of demo.jsonl)."""
    summary = run_crawl([config], out_template=str(tmp_path / "out" / "{site}.jsonl"),
                        state_path=tmp_path / "state.sqlite", render_override=render,
                        politeness_overrides=politeness or FAULT_POLITENESS, **options)
    return summary, read_records(tmp_path)


def read_records(tmp_path: Path) -> list[dict]:
    import json

    path = tmp_path / "out" / "demo.jsonl"
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), "a partial last line survived"
    return [json.loads(line) for line in text.splitlines()]


def url_of(server: DemoServer, article_id: int) -> str:
    return server.base_url + server.site.article(article_id).url


def failures_by_url(summary) -> dict[str, str]:
    return {failure["url"]: failure["reason"] for site in summary.sites for failure in site.failures}


def state_reasons(tmp_path: Path) -> dict[str, str]:
    with CrawlState(tmp_path / "state.sqlite") as state:
        return {url: state.failure_reason(url) for url in state.failed_urls("demo")}


def assert_written_once(records: list[dict], expected: set[str]) -> None:
    urls = [record["url"] for record in records]
    assert len(urls) == len(set(urls)), "an article was written twice"
    assert set(urls) == expected


# ------------------------------------------------------------------ the fault matrix

# article id -> (fault, reason the failure must give; None: the article must be written)
def matrix_faults(elsewhere: str, here: str) -> dict[int, tuple[dict, str | None]]:
    return {
        1: ({"redirect_loop": True}, r"more than \d+ redirects|ERR_TOO_MANY_REDIRECTS"),
        2: ({"redirect_to": elsewhere + "/news/politics/1-moved"}, r"outside the site's domains"),
        3: ({"huge_bytes": TEN_MB}, r"larger than \d+ bytes"),
        4: ({"drip_seconds": 10.0, "times": 9}, r"timeout after 4s"),
        5: ({"content_type": "application/pdf"}, r"not an HTML page: application/pdf"),
        6: ({"content_type": "image/png"}, r"not an HTML page: image/png"),
        7: ({"reset_after": 300, "times": 1}, None),  # reset once: the retry gets it
        8: ({"reset_after": 300, "times": 9}, r"network error: .*(aborted|RESET|reset)"),
        9: ({"bad_gzip": True}, r"decompress|DECODING_FAILED"),
        10: ({"iframe_src": elsewhere + "/frame-elsewhere"}, None),
        11: ({"iframe_src": here + "/frame-here"}, None),  # the control: frames do load
        12: ({"redirect_to": "file:///etc/passwd"}, r"not an http\(s\) URL|UNSAFE_REDIRECT|ERR_"),
        13: ({"attachment": True}, "browser-only:a download, not a page"),
        14: ({}, None),
    }


@pytest.mark.parametrize("render", ["http", "browser"])
def test_a_crawl_through_every_server_fault_records_each_and_loses_nothing(tmp_path, render):
    with DemoServer(one_section_site(16)) as server, \
            DemoServer(DemoSite(articles=3), host="127.0.0.2") as elsewhere:
        faults = matrix_faults(elsewhere.base_url, server.base_url)
        for article_id, (fault, _) in faults.items():
            if fault:
                server.faults.add(server.site.article(article_id).url, **fault)
        started = time.monotonic()
        summary, records = crawl_into(tmp_path, site_config(tmp_path, server), render=render)
        elapsed = time.monotonic() - started
        time.sleep(0.3)  # a frame request still on its way would show up by now
        elsewhere_requests = [r.path for r in elsewhere.requests]
        here_requests = [r.path for r in server.requests]
    assert elapsed < 90, elapsed  # a bound: the drip and the loop are cut short
    assert elsewhere_requests == []  # not after a redirect, not inside a frame
    if render == "browser":
        assert "/frame-here" in here_requests  # so the frame elsewhere was refused, not skipped

    expected_failures = {}
    for article_id, (_, reason) in faults.items():
        if reason and reason.startswith("browser-only:"):
            reason = reason.removeprefix("browser-only:") if render == "browser" else None
        if reason:
            expected_failures[url_of(server, article_id)] = reason
    written = {url_of(server, i) for i in range(1, 17)} - set(expected_failures)
    assert_written_once(records, written)
    in_summary, in_state = failures_by_url(summary), state_reasons(tmp_path)
    assert set(in_summary) == set(in_state) == set(expected_failures)
    for url, pattern in expected_failures.items():
        assert re.search(pattern, in_summary[url]), (url, in_summary[url])
        assert in_state[url] == in_summary[url]
    # The huge page was refused from its Content-Length: its 10 MB never reached extraction.
    assert summary.total("new") == len(written)


# ------------------------------------------------------------------ traps

def test_an_endless_pagination_trap_stops_at_max_pages(tmp_path):
    with DemoServer(one_section_site(8, per_page=4)) as server:
        server.faults.add(re.compile(r"^/section/politics"), pagination_trap=True)
        config = site_config(tmp_path, server)
        started = time.monotonic()
        summary, records = crawl_into(tmp_path, config)
        pages = server.requests_for(r"^/section/politics")
    assert time.monotonic() - started < 60
    assert 2 <= len(pages) <= config.crawl.max_pages == 5
    assert_written_once(records, {url_of(server, i) for i in range(1, 9)})
    assert summary.total("failed") == 0


def test_one_article_under_many_urls_is_fetched_and_written_once(tmp_path):
    with DemoServer(one_section_site(6)) as server:
        first = server.site.article(6).url  # the newest: listed first
        spellings = [first + "?ref=home", first + "?ref=sidebar#comments",
                     first + "?utm_campaign=spring&fbclid=abc", first.upper().replace("/NEWS/", "/news/", 1)]
        server.faults.add("/section/politics", extra_links=spellings)
        summary, records = crawl_into(tmp_path, site_config(tmp_path, server))
        fetched = server.requests_for("^" + re.escape(first))
    assert_written_once(records, {url_of(server, i) for i in range(1, 7)})
    # Tracking parameters and fragments are gone before the fetch; ?ref= spellings are
    # fetched (they may be other pages) and their canonical link folds them into one.
    assert len(fetched) <= 3, [r.path for r in fetched]
    assert summary.total("failed") == 0
    with CrawlState(tmp_path / "state.sqlite") as state:
        assert state.is_seen(url_of(server, 6)) and state.is_seen(url_of(server, 6) + "?ref=home")


# ------------------------------------------------------------------ hosts that cannot be reached

def test_an_unresolvable_host_is_recorded_and_the_rest_is_crawled(tmp_path):
    with DemoServer(one_section_site(4)) as server:
        ghost = "http://news.nosuch.invalid/section/politics?page=1"  # .invalid never resolves
        config = site_config(tmp_path, server, domains=["127.0.0.1", "nosuch.invalid", "offsite.invalid"],
                             sections={"Politics": f"{server.base_url}/section/politics?page=1",
                                       "Ghost": ghost})
        summary, records = crawl_into(tmp_path, config)
    assert_written_once(records, {url_of(server, i) for i in range(1, 5)})
    failures = failures_by_url(summary)
    assert re.search(r"robots\.txt unreachable.*disallowed this run", failures[ghost]), failures
    # The section lists an article on offsite.invalid, now one of the site's domains: it
    # cannot be fetched this run, so the state keeps it, with the reason, for the next.
    reasons = state_reasons(tmp_path)
    assert re.search(r"offsite\.invalid/robots\.txt unreachable", reasons[OFFSITE_URL]), reasons


@pytest.mark.parametrize(("robots", "allowed"), [
    ({"status_sequence": [503]}, False),  # 5xx: the site cannot say, so not now
    ({"reset_after": 0, "times": 1}, False),  # unreachable: the same
    ({"status_sequence": [404]}, True),  # 4xx: no rules, everything allowed
])
def test_robots_txt_5xx_or_unreachable_means_not_now_and_4xx_means_allowed(tmp_path, robots, allowed):
    with DemoServer(one_section_site(4)) as server:
        server.faults.add("/robots.txt", **robots)
        config = site_config(tmp_path, server)
        summary, records = crawl_into(tmp_path, config)
        first_run = [r.path for r in server.requests]
        everything = {url_of(server, i) for i in range(1, 5)}
        if allowed:
            # No rules at all: even the draft robots.txt would have hidden is fair game.
            draft = server.base_url + server.site.private_article("politics").url
            assert {r["url"] for r in records} == everything | {draft}
            assert summary.ok
            return
        assert first_run == ["/robots.txt"] and records == []
        section = f"{server.base_url}/section/politics?page=1"
        reason = failures_by_url(summary)[section]
        assert re.search(r"robots\.txt (HTTP 503|unreachable).*disallowed this run", reason), reason
        assert not summary.ok
        # The next run, robots.txt answering again, fetches everything: nothing was lost.
        summary, records = crawl_into(tmp_path, config)
    assert_written_once(records, everything)
    assert summary.ok


# ------------------------------------------------------------------ the browser dies

def browser_processes() -> list[int]:
    """Pids of Chromium main processes (not renderers or helpers) descended from this one."""
    parents, commands = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read().decode("utf-8", "replace")
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                commands[int(entry)] = handle.read().split(b"\0")
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])

    def descends(pid: int) -> bool:
        for _ in range(64):
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
            if pid <= 1:
                return False
        return False

    return [pid for pid, argv in commands.items()
            if argv and b"--remote-debugging-pipe" in argv
            and not any(arg.startswith(b"--type=") for arg in argv) and descends(pid)]


def test_a_browser_killed_mid_crawl_is_restarted_and_no_article_is_lost(tmp_path):
    killed: list[int] = []
    written_at_kill: list[int] = []

    def kill_when_three_are_written(stop: threading.Event) -> None:
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            if len(read_records(tmp_path)) >= 3:
                for pid in browser_processes():
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                written_at_kill.append(len(read_records(tmp_path)))
                return
            time.sleep(0.02)

    async def crawl_with_a_killer(config) -> tuple:
        stop = threading.Event()
        killer = threading.Thread(target=kill_when_three_are_written, args=(stop,), daemon=True)
        async with Fetcher() as fetcher:
            killer.start()
            try:
                summary = await crawl([config], out_template=str(tmp_path / "out" / "{site}.jsonl"),
                                      state_path=tmp_path / "state.sqlite", render_override="browser",
                                      politeness_overrides={**FAULT_POLITENESS, "min_delay": 0.3,
                                                            "max_retries": 2},
                                      fetcher=fetcher)
            finally:
                stop.set()
                killer.join(timeout=10)
            return summary, fetcher.browser.contexts_created

    with DemoServer(one_section_site(10)) as server:
        config = site_config(tmp_path, server)
        summary, contexts = asyncio.run(crawl_with_a_killer(config))
    assert len(killed) == 1, "no Chromium process was found to kill"
    assert written_at_kill[0] < 10, "the crawl ended before the kill"
    assert contexts >= 2  # a new browser, a new context
    assert_written_once(read_records(tmp_path), {url_of(server, i) for i in range(1, 11)})
    assert summary.total("failed") == 0 and summary.total("pages_failed") == 0
    assert browser_processes() == []  # the restarted one was closed too


# ------------------------------------------------------------------ security

NOT_HTTP = ("file:///etc/passwd", "ftp://127.0.0.1/news/politics/1-a", "data:text/html,<h1>hi</h1>",
            "javascript:alert(1)", "chrome://settings", "ws://127.0.0.1/news/politics/1-a")


def test_only_http_and_https_are_ever_fetched(demo_config):
    settings = DEFAULT_POLITENESS.merged(**FAST_POLITENESS)

    async def fetch_each():
        async with Fetcher() as fetcher:
            for url in NOT_HTTP:
                for render in ("browser", "http"):
                    with pytest.raises(OffDomainError, match=r"not an http\(s\) URL"):
                        await fetcher.fetch(url, demo_config, pacer=HostPacer(settings),
                                            settings=settings, render=render)
            assert not fetcher.browser.launched  # refused before a browser was even needed

    asyncio.run(fetch_each())


def test_private_addresses_are_refused_unless_the_site_file_allows_them(tmp_path):
    hostname = socket.gethostname()
    try:
        resolves_to_loopback = socket.gethostbyname(hostname).startswith("127.")
    except OSError:
        resolves_to_loopback = False
    with DemoServer(one_section_site(3)) as server:
        port = server.port
        sections = {"Literal": f"http://127.0.0.1:{port}/section/politics?page=1",
                    "Localhost": f"http://localhost:{port}/section/politics?page=1"}
        if resolves_to_loopback:  # a plain name whose address is loopback (here: /etc/hosts)
            sections["Named"] = f"http://{hostname}:{port}/section/politics?page=1"
        domains = ["127.0.0.1", "localhost", hostname]
        refused = site_config(tmp_path / "refused", server, domains=domains, allow_private=False,
                              sections=sections)
        summary, records = crawl_into(tmp_path / "refused", refused)
        assert server.requests == []  # not even robots.txt was asked for
        assert records == [] and not summary.ok
        reasons = failures_by_url(summary)
        assert set(reasons) == set(sections.values())
        for reason in reasons.values():
            assert re.search(r"loopback or private address .*crawl\.allow_private = true", reason), reason
        allowed = site_config(tmp_path / "allowed", server, domains=domains, allow_private=True,
                              sections={"Literal": sections["Literal"]})
        summary, records = crawl_into(tmp_path / "allowed", allowed)
    assert_written_once(records, {url_of(server, i) for i in range(1, 4)})


def test_a_page_script_cannot_take_the_browser_off_the_site(tmp_path):
    """Script navigations and popups are documents too: the other host is never asked."""
    with DemoServer(one_section_site(2)) as server, \
            DemoServer(DemoSite(articles=1), host="127.0.0.2") as elsewhere:
        away = elsewhere.base_url + "/news/politics/1-away"
        server.faults.add(server.site.article(2).url, script=(
            f'window.open("{away}?popup");'
            f'setTimeout(() => {{ location.href = "{away}?navigate"; }}, 0);'))
        server.faults.add(server.site.article(1).url, iframe_src=f"{away}?frame")
        settings = DEFAULT_POLITENESS.merged(**FAULT_POLITENESS)
        config = site_config(tmp_path, server)

        async def fetch_both():
            async with Fetcher() as fetcher:
                for article_id in (2, 1):
                    try:
                        await fetcher.fetch(url_of(server, article_id), config,
                                            pacer=HostPacer(settings), settings=settings, render="browser")
                    except OffDomainError:
                        pass  # a script navigation may end the visit: that is a refusal too
                await asyncio.sleep(1.0)  # time for anything a script scheduled

        asyncio.run(fetch_both())
        assert elsewhere.requests == []


def test_output_and_state_paths_from_site_names_stay_in_their_folders(tmp_path):
    writer = JsonlWriter(str(tmp_path / "out" / "{site}" / "{date}.jsonl"))
    for name in ("..", ".", "../etc", "a/../../b", "a\\..\\b", "", "bad\0name", "/abs"):
        with pytest.raises(ValueError):
            writer.path_for(name)
    flat = JsonlWriter(str(tmp_path / "out" / "{site}.jsonl"))
    (tmp_path / "out").mkdir(exist_ok=True)
    (tmp_path / "out" / "linked.jsonl").symlink_to(tmp_path / "outside.jsonl")  # planted link
    with pytest.raises(ValueError, match="escapes the output root"):
        flat.path_for("linked")
    assert writer.path_for("demo").is_relative_to(tmp_path / "out")
    assert default_state_path(str(tmp_path / "out" / "{site}" / "{date}.jsonl")) == \
        (tmp_path / "out" / "state.sqlite").resolve()
    # Names reach the writer only through a selector file, which refuses them first.
    bad = tmp_path / "selectors" / "evil.toml"
    bad.parent.mkdir()
    bad.write_text('name = "../../etc"\ndomains = ["example.com"]\ntitle = ["h1"]\n'
                   '[body]\nfrom = ["article"]\n', encoding="utf-8")
    from crawler.errors import ConfigError

    with pytest.raises(ConfigError, match="name"):
        load_site(bad)


# ------------------------------------------------------------------ redirects, addresses, refusals (http)

@needs_hosts
def test_a_redirect_to_an_allowed_name_on_a_private_address_is_refused_in_http_mode(tmp_path):
    """pub.test (127.0.0.1, allowed) redirects to priv.test: one of the site's domains, but on
    127.0.0.11, which the site file does not allow. The hop is refused with its reason and the
    server on 127.0.0.11 is never asked."""
    with DemoServer(one_section_site(4)) as server, \
            DemoServer(one_section_site(4), host="127.0.0.11") as private, \
            hosts_entries({"pub.test": "127.0.0.1", "priv.test": "127.0.0.11"}):
        moved = f"http://priv.test:{private.port}{private.site.article(2).url}"
        server.faults.add(server.site.article(2).url, redirect_to=moved)
        folder = write_demo_selectors(tmp_path / "selectors", f"http://pub.test:{server.port}")
        path = folder / "demo.toml"
        text = re.sub(r"(?m)^domains = .*$", 'domains = ["pub.test", "priv.test"]',
                      path.read_text(encoding="utf-8"))
        path.write_text(text.replace("allow_private = true", 'allow_private = ["127.0.0.1"]'),
                        encoding="utf-8")
        summary, records = crawl_into(tmp_path, load_site(path), render="http")
        private_requests = [r.path for r in private.requests]
    assert private_requests == []
    pub = f"http://pub.test:{server.port}"
    asked = pub + server.site.article(2).url
    reason = failures_by_url(summary)[asked]
    assert reason == ("priv.test is a loopback or private address (127.0.0.11); "
                      "the site file must set crawl.allow_private = true (or list that address)")
    assert state_reasons(tmp_path)[asked] == reason
    assert_written_once(records, {pub + server.site.article(i).url for i in (1, 3, 4)})


def test_a_closed_port_says_connection_refused_and_names_the_host(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens once the probe is closed
    with DemoServer(one_section_site(2)) as server:
        closed = f"http://127.0.0.1:{port}/section/politics?page=1"
        sections = {"Politics": f"{server.base_url}/section/politics?page=1", "Closed": closed}
        config = site_config(tmp_path, server, sections=sections)
        summary, records = crawl_into(tmp_path, config)
    assert_written_once(records, {url_of(server, i) for i in (1, 2)})
    reason = failures_by_url(summary)[closed]
    assert reason.endswith(f"robots.txt of 127.0.0.1:{port} unreachable: connection refused: "
                           "everything disallowed this run"), reason
