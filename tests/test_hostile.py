"""Probe cases from issue 9, browser mode: real Chromium, real loopback servers.

Names under `.test` are put in /etc/hosts for a test (tests/etc_hosts.py): `pub.test` is
127.0.0.1, where the site's server runs, and `priv.test` is 127.0.0.11, where a second
server listens. Both names are in the site's domains, and the site allows 127.0.0.1 only, so
whatever the crawler sends to priv.test shows up in the second server's request log.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import FAST_POLITENESS, write_demo_selectors
from etc_hosts import hosts_entries, needs_hosts

from crawler.crawl import crawl
from crawler.demo.server import DemoServer
from crawler.demo.site import DemoSite
from crawler.errors import PrivateAddressError
from crawler.fetch import Fetcher
from crawler.polite import HostPacer
from crawler.settings import DEFAULT_POLITENESS
from crawler.sites import load_site
from crawler.state import CrawlState

PUBLIC, PRIVATE = "127.0.0.1", "127.0.0.11"
HOSTS = {"pub.test": PUBLIC, "priv.test": PRIVATE}
POLITENESS = {**FAST_POLITENESS, "timeout": 8.0, "max_retries": 1}


def politics_site(articles: int) -> DemoSite:
    return DemoSite(articles=articles, sections=("politics",), per_page=articles)


def named_site(tmp_path: Path, server: DemoServer, *, allow_private: str = f'["{PUBLIC}"]',
               name: str = "pub.test"):
    """The demo selector file, reached as http://<name>:<port>, on domains `name`, pub.test
    and priv.test, allowing only the addresses in `allow_private`."""
    base = f"http://{name}:{server.port}"
    path = write_demo_selectors(tmp_path / "selectors", base) / "demo.toml"
    text = path.read_text(encoding="utf-8")
    domains = ", ".join(f'"{domain}"' for domain in dict.fromkeys([name, "pub.test", "priv.test"]))
    text = re.sub(r"(?m)^domains = .*$", f"domains = [{domains}]", text)
    text = re.sub(r"(?m)^allow_private = .*$", f"allow_private = {allow_private}", text)
    text = text[:text.index("[crawl.sections]")] + f'[crawl.sections]\nPolitics = "{base}/section/politics?page=1"\n'
    path.write_text(text, encoding="utf-8")
    return load_site(path)


def pub_url(server: DemoServer, article_id: int) -> str:
    return f"http://pub.test:{server.port}{server.site.article(article_id).url}"


def records_in(path: Path) -> list[dict]:
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), "a partial last line survived"
    return [json.loads(line) for line in text.splitlines()]


def crawl_named(tmp_path: Path, config, **options):
    """One in-process browser crawl into tmp_path; (summary, records)."""
    out = tmp_path / "out"
    summary = asyncio.run(crawl([config], out_template=str(out / "{site}.jsonl"),
                                state_path=tmp_path / "state.sqlite", render_override="browser",
                                politeness_overrides=options.pop("politeness", POLITENESS), **options))
    return summary, records_in(out / "demo.jsonl")


def lines_written(path: Path) -> int:
    """Whole lines in `path` so far (safe to call while a crawl appends to it)."""
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def failures_by_url(summary) -> dict[str, str]:
    return {failure["url"]: failure["reason"] for site in summary.sites for failure in site.failures}


# ------------------------------------------------------------------ item 1: private addresses

@needs_hosts
def test_a_redirect_to_a_private_address_is_refused_in_browser_mode_and_never_sent(tmp_path):
    with DemoServer(politics_site(3)) as server, DemoServer(politics_site(3), host=PRIVATE) as private, \
            hosts_entries(HOSTS):
        moved = f"http://priv.test:{private.port}{private.site.article(2).url}"
        server.faults.add(server.site.article(2).url, redirect_to=moved)
        config = named_site(tmp_path, server)
        summary, records = crawl_named(tmp_path, config)

        settings = DEFAULT_POLITENESS.merged(**POLITENESS)

        async def fetch_the_redirect():
            async with Fetcher() as fetcher:
                with pytest.raises(PrivateAddressError) as refused:
                    await fetcher.fetch(pub_url(server, 2), config, pacer=HostPacer(settings),
                                        settings=settings, render="browser")
                return refused.value

        refusal = asyncio.run(fetch_the_redirect())
        time.sleep(0.3)  # a request still on its way would show up by now
        private_requests = [r.path for r in private.requests]
    assert private_requests == []
    assert {r["url"] for r in records} == {pub_url(server, 1), pub_url(server, 3)}
    reason = failures_by_url(summary)[pub_url(server, 2)]
    assert re.search(rf"redirected to {re.escape(moved)}: priv\.test is a loopback or private "
                     rf"address \({re.escape(PRIVATE)}\)", reason), reason
    assert refusal.reason == reason and not refusal.retryable


# What a hostile page asks of the private host: a parser-inserted script and stylesheet, ones
# a script adds, fetch(), a frame, and a fetch from a dedicated worker (the demo server
# records GET and HEAD requests).
SUBRESOURCE_SCRIPT = """
const base = "__BASE__";
document.write('<link rel="stylesheet" href="' + base + '/static/written.css">'
               + '<script src="' + base + '/static/written.js"></scr' + 'ipt>');
const script = document.createElement("script"); script.src = base + "/static/added.js";
document.head.appendChild(script);
const sheet = document.createElement("link"); sheet.rel = "stylesheet"; sheet.href = base + "/static/added.css";
document.head.appendChild(sheet);
fetch(base + "/api/simple").catch(() => {});
const frame = document.createElement("iframe"); frame.src = base + "/frame";
document.documentElement.appendChild(frame);
new Worker(URL.createObjectURL(new Blob(['fetch("' + base + '/api/worker").catch(() => {})'])));
"""


@needs_hosts
@pytest.mark.parametrize("allowed", [False, True], ids=["private-refused", "private-allowed"])
def test_scripts_stylesheets_and_fetches_aimed_at_a_private_address_are_never_sent(tmp_path, allowed):
    with DemoServer(politics_site(2)) as server, DemoServer(politics_site(1), host=PRIVATE) as private, \
            hosts_entries(HOSTS):
        base = f"http://priv.test:{private.port}"
        server.faults.add(server.site.article(2).url, script=SUBRESOURCE_SCRIPT.replace("__BASE__", base))
        allowance = f'["{PUBLIC}", "{PRIVATE}"]' if allowed else f'["{PUBLIC}"]'
        summary, records = crawl_named(tmp_path, named_site(tmp_path, server, allow_private=allowance))
        time.sleep(0.5)  # a request still on its way would show up by now
        private_requests = sorted({r.path for r in private.requests})
    assert {r["url"] for r in records} == {pub_url(server, 1), pub_url(server, 2)}  # written all the same
    assert summary.total("failed") == 0
    if allowed:  # the control: the page does ask for all of these
        assert {"/static/written.css", "/static/written.js", "/static/added.js", "/static/added.css",
                "/api/simple", "/frame"} <= set(private_requests), private_requests
    else:
        assert private_requests == []


# ------------------------------------------------------------------ item 6: a wedged browser

def descendants(root: int) -> dict[int, list[bytes]]:
    """{pid: argv} of every process below `root`."""
    parents, commands = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                parents[int(entry)] = int(handle.read().rsplit(b")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                commands[int(entry)] = handle.read().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = {}, [root]
    while frontier and len(found) < 1000:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = commands.get(pid, [])
                frontier.append(pid)
    return found


def renderers_and_zygotes(browser_pid: int) -> list[int]:
    # Chromium's helpers rewrite their command line as one string: match inside it.
    return [pid for pid, argv in descendants(browser_pid).items()
            if any(kind in b" ".join(argv) for kind in (b"--type=renderer", b"--type=zygote"))]


def test_a_browser_whose_renderers_and_zygote_die_is_relaunched_and_every_article_written_once(tmp_path):
    killed: list[int] = []
    written_at_kill: list[int] = []
    output = tmp_path / "out" / "demo.jsonl"

    def wedge_when_three_are_written(fetcher: Fetcher, done: threading.Event) -> None:
        deadline = time.monotonic() + 60
        while not done.is_set() and time.monotonic() < deadline:
            pid = fetcher.browser.browser_pid()
            if pid is not None and lines_written(output) >= 3:
                # All at once, leaving the browser process itself alive: it can no longer
                # start a renderer, so a new tab never opens.
                for child in renderers_and_zygotes(pid):
                    try:
                        os.kill(child, signal.SIGKILL)
                        killed.append(child)
                    except ProcessLookupError:
                        pass
                written_at_kill.append(lines_written(output))
                return
            time.sleep(0.02)

    async def crawl_with_a_wedge(config):
        done = threading.Event()
        async with Fetcher() as fetcher:
            fetcher.browser.call_timeout = 4.0  # the bound under test, short for the test's sake
            killer = threading.Thread(target=wedge_when_three_are_written, args=(fetcher, done), daemon=True)
            killer.start()
            try:
                summary = await asyncio.wait_for(crawl(
                    [config], out_template=str(tmp_path / "out" / "{site}.jsonl"),
                    state_path=tmp_path / "state.sqlite", render_override="browser", fetcher=fetcher,
                    politeness_overrides={**POLITENESS, "min_delay": 0.3, "max_retries": 3}), 120)
            finally:
                done.set()
                killer.join(timeout=10)
            return summary, fetcher.browser.relaunches

    with DemoServer(politics_site(10)) as server:
        config = named_site(tmp_path, server, allow_private="true", name=PUBLIC)
        started = time.monotonic()
        summary, relaunches = asyncio.run(crawl_with_a_wedge(config))
        elapsed = time.monotonic() - started
    assert killed, "no renderer or zygote was found to kill"
    assert written_at_kill[0] < 10, "the crawl ended before the kill"
    assert relaunches >= 1  # the wedged browser was killed and a new one launched
    assert elapsed < 120
    urls = [record["url"] for record in records_in(output)]
    assert len(urls) == len(set(urls)) == 10
    assert summary.total("failed") == 0 and summary.total("pages_failed") == 0


# ------------------------------------------------------------------ SIGINT and SIGTERM

STOPPING_LINE = ("stopping… (finishing the articles in flight; a second signal or 15 s ends at once)")


def crawl_command(tmp_path: Path, server: DemoServer, *extra: str) -> list[str]:
    selectors = write_demo_selectors(tmp_path / "selectors", server.base_url)
    return [sys.executable, "-m", "crawler.cli", "crawl", "--selectors", str(selectors),
            "--out", str(tmp_path / "out" / "{site}.jsonl"), "--render", "browser",
            "--min-delay", "0", "--jitter", "0", *extra]


def start_crawl(command: list[str], tmp_path: Path, child_env: dict, name: str) -> subprocess.Popen:
    """The crawl in a child process that leads its own process group, as a terminal's
    foreground job does; stdout and stderr go to files beside the output."""
    with open(tmp_path / f"{name}.stdout", "wb") as stdout, open(tmp_path / f"{name}.stderr", "wb") as stderr:
        return subprocess.Popen(command, env=child_env, stdout=stdout, stderr=stderr,
                                start_new_session=True)


def wait_until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout}s"
        time.sleep(0.05)


def ended_within(child: subprocess.Popen, seconds: float) -> float:
    """Seconds the child took to exit (it is killed, and the test fails, past `seconds`)."""
    started = time.monotonic()
    try:
        child.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        raise AssertionError(f"still running {seconds}s after the signal") from None
    return time.monotonic() - started


def test_ctrl_c_stops_the_browser_crawl_cleanly_and_a_rerun_writes_the_rest_exactly_once(tmp_path, child_env):
    output = tmp_path / "out" / "demo.jsonl"
    with DemoServer(DemoSite(articles=30, per_page=10)) as server:
        server.faults.add(re.compile(r"^/news/"), delay_seconds=0.8)  # an article is always in flight
        command = crawl_command(tmp_path, server)
        child = start_crawl(command, tmp_path, child_env, "first")
        try:
            wait_until(lambda: lines_written(output) >= 3, timeout=90)
            os.killpg(child.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
            seconds = ended_within(child, 15.0)
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=10)
        stderr = (tmp_path / "first.stderr").read_text(encoding="utf-8")
        written = records_in(output)  # every line whole
        assert child.returncode == 0, stderr[-3000:]
        assert seconds < 15.0  # the article in flight finished well within the grace
        assert stderr.count(STOPPING_LINE) == 1, stderr[-3000:]
        assert "Traceback" not in stderr and "TargetClosedError" not in stderr, stderr[-3000:]
        assert 3 <= len(written) < 30
        with CrawlState(tmp_path / "out" / "state.sqlite") as state:
            assert state.counts("demo")["done"] == len(written)
            assert all(state.is_seen(record["url"]) for record in written)
        rerun = subprocess.run([*command, "--quiet"], env=child_env, timeout=180, check=False,
                               capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    urls = [record["url"] for record in records_in(output)]
    assert len(urls) == len(set(urls)) == 30


@pytest.mark.parametrize("second_signal", [False, True], ids=["one-signal", "two-signals"])
def test_sigterm_during_an_article_that_never_finishes_exits_within_the_grace(
        tmp_path, child_env, second_signal):
    with DemoServer(DemoSite(articles=6, per_page=6)) as server:
        server.faults.add(re.compile(r"^/news/"), hang_seconds=60, times=100)
        summary_path = tmp_path / "summary.json"
        child = start_crawl(crawl_command(tmp_path, server, "--summary-json", str(summary_path)),
                            tmp_path, child_env, "hang")
        try:
            wait_until(lambda: server.requests_for("^/news/"), timeout=90)
            time.sleep(0.5)
            child.send_signal(signal.SIGTERM)
            if second_signal:
                time.sleep(1.0)
                child.send_signal(signal.SIGTERM)
                seconds = ended_within(child, 10.0)  # at once: closing the browser is all
            else:
                seconds = ended_within(child, 15.0 + 8.0)  # the grace, plus closing
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=10)
        stderr = (tmp_path / "hang.stderr").read_text(encoding="utf-8")
    assert child.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert stderr.count(STOPPING_LINE) == 1
    if not second_signal:
        assert seconds > 10.0  # it did wait for the article, for the grace
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        assert summary["stopped"] is True and summary["totals"]["failed"] == 0
    assert records_in(tmp_path / "out" / "demo.jsonl") == []


# ------------------------------------------------------------------ item 8: a script-grown DOM

# 96 text nodes of one shared 1 MiB string in a hidden box: cheap for the page to hold (and
# never laid out), 96 MiB once serialised.
GROW_SCRIPT = """
const chunk = "x".repeat(1 << 20);
const box = document.createElement("div"); box.hidden = true;
for (let i = 0; i < 96; i++) box.appendChild(document.createTextNode(chunk));
document.documentElement.appendChild(box);
"""
SMALL_CAP = 256 * 1024


def resident_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class PeakMemory(threading.Thread):
    """Peak resident memory of this process plus the Playwright driver (the two that would
    hold a serialised page), sampled every 20 ms."""

    def __init__(self):
        super().__init__(daemon=True)
        self.done = threading.Event()
        self.peak = self.start_bytes = self.total()

    def total(self) -> int:
        drivers = [pid for pid, argv in descendants(os.getpid()).items() if b"run-driver" in b" ".join(argv)]
        return resident_bytes(os.getpid()) + sum(resident_bytes(pid) for pid in drivers)

    def run(self) -> None:
        while not self.done.wait(0.02):
            self.peak = max(self.peak, self.total())


def test_a_script_grown_page_is_refused_before_it_is_serialised_and_the_crawl_goes_on(tmp_path):
    with DemoServer(politics_site(3)) as server:
        server.faults.add(server.site.article(2).url, script=GROW_SCRIPT)
        config = named_site(tmp_path, server, allow_private="true", name=PUBLIC)

        async def crawl_with_a_small_cap():
            async with Fetcher(max_page_bytes=SMALL_CAP) as fetcher:
                await fetcher.browser._ensure_browser("about:blank")  # the driver's own size first
                sampler = PeakMemory()
                sampler.start()
                try:
                    summary = await crawl([config], out_template=str(tmp_path / "out" / "{site}.jsonl"),
                                          state_path=tmp_path / "state.sqlite", render_override="browser",
                                          politeness_overrides=POLITENESS, fetcher=fetcher)
                finally:
                    sampler.done.set()
                    sampler.join(timeout=10)
                return summary, sampler.peak - sampler.start_bytes

        summary, growth = asyncio.run(crawl_with_a_small_cap())
    records = records_in(tmp_path / "out" / "demo.jsonl")
    assert {r["url"] for r in records} == {f"{server.base_url}{server.site.article(i).url}" for i in (1, 3)}
    grown = f"{server.base_url}{server.site.article(2).url}"
    assert failures_by_url(summary) == {grown: f"page larger than {SMALL_CAP} bytes"}
    with CrawlState(tmp_path / "state.sqlite") as state:
        assert state.failure_reason(grown) == f"page larger than {SMALL_CAP} bytes"
    # A serialised copy would be 96 MiB in Python alone, and more in the driver.
    assert growth < 48 * 2**20, f"{growth / 2**20:.0f} MiB"
