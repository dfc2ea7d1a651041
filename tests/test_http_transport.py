"""http mode's Transport (crawler/http_fetch.py) against real loopback servers: no browser
and no Playwright driver, addresses pinned, byte caps while streaming (an endless body, an
endless robots.txt, a gzip bomb), a cookie jar bounded per host, and network failures that
say what happened.

`Loopback` serves the demo site with the answers the demo server has no fault for. Every
endless answer is bounded in bytes and time, and ends when the client hangs up.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
import zlib
from collections.abc import Callable
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

import pytest
from conftest import FAST_POLITENESS, write_demo_selectors
from etc_hosts import hosts_entries, needs_hosts

from crawler.crawl import run_crawl
from crawler.demo.server import DemoServer
from crawler.demo.site import DemoSite
from crawler.errors import NetworkError, PrivateAddressError, RefusedContent
from crawler.fetch import Fetcher
from crawler.polite import ROBOTS_MAX_BYTES, HostPacer
from crawler.settings import (
    DEFAULT_POLITENESS,
    MAX_COOKIE_BYTES_PER_HOST,
    MAX_COOKIES_PER_HOST,
    MAX_PAGE_BYTES,
)
from crawler.sites import load_site

MIB = 1024 * 1024
POLITENESS = {**FAST_POLITENESS, "timeout": 8.0, "max_retries": 1}
ENDLESS_SECONDS = 30.0  # no endless answer outlives this
ENDLESS_BYTES = 1024 * MIB  # nor sends more


# ------------------------------------------------------------------ the server

class Loopback:
    """The demo site on a loopback port; `special[path](handler)` answers a path itself."""

    def __init__(self, site: DemoSite, host: str = "127.0.0.1", port: int = 0):
        self.demo = DemoServer(site, host=host)  # never started: its route() renders the pages
        self.site, self.host, self.port = site, host, port
        self.special: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        self.cookies_per_answer = 0  # a Set-Cookie flood: this many new cookies on every answer
        self.cookie_header_limit: int | None = None  # answer 431 to a longer Cookie header
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.sent = 0  # body bytes of the special answers
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._cookie_serial = 0
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, article_id: int) -> str:
        return self.base_url + self.site.article(article_id).url

    def __enter__(self) -> Self:
        self._httpd = ThreadingHTTPServer((self.host, self.port), _handler(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def new_cookies(self) -> list[str]:
        with self._lock:
            first = self._cookie_serial
            self._cookie_serial += self.cookies_per_answer
        return [f"flood{n}={'v' * 200}; Path=/" for n in range(first, first + self.cookies_per_answer)]

    def count(self, sent: int) -> None:
        with self._lock:
            self.sent += sent


def _handler(server: Loopback) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            with server._lock:
                server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            try:
                special = server.special.get(self.path.split("?", 1)[0])
                if special is not None:
                    special(self)
                    return
                cookie = self.headers.get("Cookie", "")
                if server.cookie_header_limit is not None and len(cookie) > server.cookie_header_limit:
                    self._send(431, b"Request Header Fields Too Large", "text/plain", {})
                    return
                response = server.demo.route(self.path)
                self._send(response.status, response.body, response.content_type, response.headers)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _send(self, status: int, body: bytes, content_type: str, headers: dict) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            for cookie in server.new_cookies():
                self.send_header("Set-Cookie", cookie)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:
            pass

    return Handler


def endless(server: Loopback, start: bytes, filler: bytes,
            content_type: str = "text/html; charset=utf-8"):
    """An answer whose body never ends: `start`, then `filler` over and over (no length);
    `server.sent` counts what it sent."""
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        block = start + filler * (64 * 1024 // len(filler))
        sent, deadline = 0, time.monotonic() + ENDLESS_SECONDS
        try:
            while sent < ENDLESS_BYTES and time.monotonic() < deadline and not server.stopping.is_set():
                handler.wfile.write(block)
                sent += len(block)
                block = filler * (64 * 1024 // len(filler))
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            server.count(sent)
    return answer


@cache
def gzip_bomb(decoded: int = 512 * MIB) -> bytes:
    """`decoded` zero bytes, gzip-compressed (about a thousandth of the size)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MIB)
    return b"".join(packer.compress(zeros) for _ in range(decoded // MIB)) + packer.flush()


# ------------------------------------------------------------------ measuring

def own_rss() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def descendants() -> dict[int, bytes]:
    """Command lines of every process below this one."""
    parents, commands = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                parents[int(entry)] = int(handle.read().rsplit(b")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                commands[int(entry)] = handle.read().replace(b"\0", b" ")
        except (OSError, IndexError, ValueError):
            continue
    found, stack = {}, [os.getpid()]
    while stack:
        pid = stack.pop()
        for child, parent in parents.items():
            if parent == pid and child not in found:
                found[child] = commands.get(child, b"")
                stack.append(child)
    return found


class Sampler(threading.Thread):
    """Peak RSS of this process and every child command line seen, every 20 ms."""

    def __init__(self):
        super().__init__(daemon=True)
        self.baseline = own_rss()
        self.peak = self.baseline
        self.children: set[bytes] = set()
        self.done = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + 120
        while not self.done.wait(0.02) and time.monotonic() < deadline:
            self.peak = max(self.peak, own_rss())
            self.children.update(descendants().values())

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.done.set()
        self.join(timeout=5)

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


# ------------------------------------------------------------------ helpers

def demo_site_file(tmp_path: Path, base_url: str, *, allow_private: str = "true"):
    folder = write_demo_selectors(tmp_path / "selectors", base_url)
    path = folder / "demo.toml"
    text = path.read_text(encoding="utf-8").replace("allow_private = true", f"allow_private = {allow_private}")
    host = base_url.split("://", 1)[1].split(":", 1)[0]
    text = re.sub(r"(?m)^domains = .*$", f'domains = ["{host}"]', text)
    path.write_text(text, encoding="utf-8")
    return load_site(path)


def crawl_http(tmp_path: Path, config, **options):
    summary = run_crawl([config], out_template=str(tmp_path / "out" / "{site}.jsonl"),
                        state_path=tmp_path / "state.sqlite", render_override="http",
                        politeness_overrides=POLITENESS, **options)
    out = tmp_path / "out" / "demo.jsonl"
    lines = out.read_text(encoding="utf-8").splitlines() if out.exists() else []
    return summary, lines


def fetch_once(url: str, config, **politeness):
    """One page through the Fetcher in http mode (raises its FetchError)."""
    settings = DEFAULT_POLITENESS.merged(**{**POLITENESS, "max_retries": 0, **politeness})

    async def run():
        async with Fetcher() as fetcher:
            return await fetcher.fetch(url, config, pacer=HostPacer(settings), settings=settings,
                                       render="http")

    return asyncio.run(run())


def failures_of(summary) -> dict[str, str]:
    return {failure["url"]: failure["reason"] for site in summary.sites for failure in site.failures}


# ------------------------------------------------------------------ no browser

def test_an_http_crawl_starts_neither_the_playwright_driver_nor_chromium(tmp_path):
    with DemoServer(DemoSite(articles=12, per_page=6)) as server, Sampler() as sampler:
        summary, lines = crawl_http(tmp_path, demo_site_file(tmp_path, server.base_url))
    assert len(lines) == 12 and summary.total("failed") == 0
    driver_or_browser = [cmd for cmd in sampler.children
                         if b"playwright" in cmd or b"run-driver" in cmd or b"chrom" in cmd.lower()]
    assert driver_or_browser == []


# ------------------------------------------------------------------ byte caps while streaming

def test_an_endless_article_body_is_cut_at_the_byte_cap_and_never_buffered(tmp_path):
    site = DemoSite(articles=6, sections=("politics",), per_page=6)
    with Loopback(site) as server:
        article = site.article(3).url
        server.special[article] = endless(server, b"<!DOCTYPE html><html><body><p>",
                                          b"and on and on " * 64)
        config = demo_site_file(tmp_path, server.base_url)
        started = time.monotonic()
        with Sampler() as sampler:
            summary, lines = crawl_http(tmp_path, config)
        elapsed = time.monotonic() - started
        time.sleep(0.2)  # the server notices the hang-up
        sent = server.sent
    assert elapsed < 30, elapsed
    reason = failures_of(summary)[server.url(3)]
    assert reason == f"page larger than {MAX_PAGE_BYTES} bytes", reason
    assert len(lines) == 5
    # Each of the two tries stops reading at the cap: what was sent is the cap plus what the
    # socket buffers held, not the gigabyte the server would have sent.
    assert sent < 2 * MAX_PAGE_BYTES + 32 * MIB, sent
    assert sampler.growth < 100 * MIB, sampler.growth


def test_an_endless_robots_txt_is_read_to_500_kib_and_its_rules_still_apply(tmp_path):
    site = DemoSite(articles=4, sections=("politics",), per_page=4)
    with Loopback(site) as server:
        rules = site.robots_txt().encode()
        assert b"Disallow" in rules
        server.special["/robots.txt"] = endless(server, rules, b"# more rules follow\n", "text/plain")
        config = demo_site_file(tmp_path, server.base_url)
        started = time.monotonic()
        with Sampler() as sampler:
            summary, lines = crawl_http(tmp_path, config)
        elapsed = time.monotonic() - started
        time.sleep(0.2)
        sent = server.sent
        drafts = [path for path, _ in server.requests if path.startswith("/private/")]
    assert elapsed < 30, elapsed
    assert len(lines) == 4 and summary.total("failed") == 0  # robots.txt was read, not "timed out"
    assert drafts == []  # and its Disallow, in the first 500 KiB, was obeyed
    assert sent < ROBOTS_MAX_BYTES + 32 * MIB, sent
    assert sampler.growth < 100 * MIB, sampler.growth


def test_a_gzip_bomb_is_refused_by_its_decoded_size(tmp_path):
    site = DemoSite(articles=2, sections=("politics",), per_page=2)
    bomb = gzip_bomb()
    with Loopback(site) as server:
        def answer(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Type", "text/html")
            handler.send_header("Content-Encoding", "gzip")
            handler.send_header("Content-Length", str(len(bomb)))  # small: the header check passes
            handler.end_headers()
            try:
                handler.wfile.write(bomb)
            except (BrokenPipeError, ConnectionResetError):
                pass

        server.special[site.article(1).url] = answer
        config = demo_site_file(tmp_path, server.base_url)
        started = time.monotonic()
        with Sampler() as sampler, pytest.raises(RefusedContent) as refused:
            fetch_once(server.url(1), config)
        elapsed = time.monotonic() - started
        encodings = [headers.get("accept-encoding", "") for _, headers in server.requests]
    assert refused.value.reason == f"page larger than {MAX_PAGE_BYTES} bytes"
    assert elapsed < 20, elapsed
    assert sampler.growth < 100 * MIB, sampler.growth
    assert encodings and all("gzip" in accepted for accepted in encodings)


# ------------------------------------------------------------------ cookies

def test_a_set_cookie_flood_keeps_the_cookie_header_under_the_cap_and_every_article_loads(tmp_path):
    site = DemoSite(articles=40, sections=("politics",), per_page=40)
    with Loopback(site) as server:
        server.cookies_per_answer = 8  # 8 new 200-byte cookies on every answer
        server.cookie_header_limit = 8190  # what a common server refuses beyond (HTTP 431)
        config = demo_site_file(tmp_path, server.base_url)
        summary, lines = crawl_http(tmp_path, config)
        cookie_headers = [headers.get("cookie", "") for _, headers in server.requests]
    assert summary.total("failed") == 0, failures_of(summary)
    assert len(lines) == 40
    longest = max(cookie_headers, key=len)
    assert 0 < len(longest) <= MAX_COOKIE_BYTES_PER_HOST, len(longest)
    assert longest.count("=") <= MAX_COOKIES_PER_HOST
    # The site's first cookies are the ones kept: once the cap is reached the header no longer
    # changes, the flood's later cookies are dropped.
    assert cookie_headers[-1] == longest
    assert len(set(cookie_headers[cookie_headers.index(longest):])) == 1


def test_robots_txt_is_asked_without_the_sites_cookies(tmp_path):
    site = DemoSite(articles=2, sections=("politics",), per_page=2)
    with Loopback(site) as server:
        server.cookies_per_answer = 1
        config = demo_site_file(tmp_path, server.base_url)
        settings = DEFAULT_POLITENESS.merged(**POLITENESS)

        async def run():
            async with Fetcher() as fetcher:
                pacer = HostPacer(settings)
                await fetcher.ensure_allowed_target(server.url(1), config)
                for article_id in (1, 2):
                    await fetcher.fetch(server.url(article_id), config, pacer=pacer, settings=settings,
                                        render="http")
                return await fetcher.fetch_text(server.base_url + "/robots.txt")

        status, text = asyncio.run(run())
        by_path = {path: headers for path, headers in server.requests}
    assert status == 200 and "Disallow" in text
    assert "flood0=" in by_path[site.article(2).url].get("cookie", "")  # the site's client keeps them
    assert "cookie" not in by_path["/robots.txt"]
    assert by_path["/robots.txt"]["user-agent"].startswith("newscrawl/")


# ------------------------------------------------------------------ addresses

@needs_hosts
def test_a_name_that_rebinds_after_the_check_is_still_connected_to_the_checked_address(tmp_path):
    """DNS rebinding: the name passes the guard on 127.0.0.1, then answers 127.0.0.11. The
    connection goes where the check went; the server on 127.0.0.11 is never asked."""
    site = DemoSite(articles=2, sections=("politics",), per_page=2)
    with Loopback(site) as checked, Loopback(site, host="127.0.0.11", port=checked.port) as rebound:
        url = f"http://rebind.test:{checked.port}{site.article(1).url}"
        config = demo_site_file(tmp_path, f"http://rebind.test:{checked.port}",
                                allow_private='["127.0.0.1"]')
        settings = DEFAULT_POLITENESS.merged(**POLITENESS)

        async def run():
            async with Fetcher() as fetcher:
                with hosts_entries({"rebind.test": "127.0.0.1"}):
                    await fetcher.ensure_allowed_target(url, config)
                with hosts_entries({"rebind.test": "127.0.0.11"}):
                    return await fetcher.fetch(url, config, pacer=HostPacer(settings),
                                               settings=settings, render="http")

        result = asyncio.run(run())
        asked = [path for path, _ in checked.requests]
    assert result.status == 200
    assert asked == [site.article(1).url]
    assert rebound.requests == []


@needs_hosts
def test_a_private_address_found_while_connecting_is_refused_unchanged(tmp_path):
    site = DemoSite(articles=1, sections=("politics",), per_page=1)
    with Loopback(site, host="127.0.0.11") as private, hosts_entries({"priv.test": "127.0.0.11"}):
        config = demo_site_file(tmp_path, f"http://priv.test:{private.port}",
                                allow_private='["127.0.0.1"]')
        with pytest.raises(PrivateAddressError) as refused:
            fetch_once(f"http://priv.test:{private.port}{site.article(1).url}", config)
    assert "priv.test is a loopback or private address (127.0.0.11)" in refused.value.reason
    assert refused.value.attempts == 1  # never retried
    assert private.requests == []


# ------------------------------------------------------------------ network failures

def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends: nothing listens


def test_a_closed_port_is_reported_as_connection_refused_by_host_and_port(tmp_path):
    port = closed_port()
    config = demo_site_file(tmp_path, f"http://127.0.0.1:{port}")
    with pytest.raises(NetworkError) as failed:
        fetch_once(f"http://127.0.0.1:{port}/news/politics/1-a", config)
    assert failed.value.reason == f"network error: connection refused by 127.0.0.1:{port}"


def test_a_name_that_does_not_resolve_is_reported_as_cannot_resolve(tmp_path):
    config = demo_site_file(tmp_path, "http://news.nosuch.invalid")
    with pytest.raises(NetworkError) as failed:
        fetch_once("http://news.nosuch.invalid/news/politics/1-a", config)
    assert failed.value.reason == "network error: cannot resolve news.nosuch.invalid"
