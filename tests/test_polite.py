"""Politeness: Retry-After parsing, per-host pacing measured in real time, adaptive back-off,
and robots.txt fetched from a real HTTP server on 127.0.0.1."""

import asyncio
import itertools
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crawler.polite import HostPacer, RobotsCache, parse_retry_after
from crawler.settings import USER_AGENT, PolitenessSettings

# ---------------------------------------------------------------- Retry-After


@pytest.mark.parametrize("header,seconds", [
    ("120", 120.0), (" 5 ", 5.0), ("0", 0.0), ("1.5", 1.5),
    (None, None), ("", None), ("soon", None), ("-3", None), ("nan", None),
])
def test_retry_after_in_seconds(header, seconds):
    assert parse_retry_after(header) == seconds


def test_retry_after_as_an_http_date():
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 <= parse_retry_after(later) <= 30
    earlier = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(earlier) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


# ---------------------------------------------------------------- pacing (real time, bounded)


def settings(**overrides):
    return PolitenessSettings(**{"min_delay": 0.0, "jitter": 0.0, "backoff_base": 0.1,
                                 "backoff_max": 0.4, "slow_response": 5.0, **overrides})


async def timed_requests(pacer, host, count, crawl_delay=None, hold=0.0):
    """Start times (monotonic) of `count` requests to `host`, all queued at once."""
    starts = []

    async def request():
        async with pacer.slot(host, crawl_delay):
            starts.append(time.monotonic())
            await asyncio.sleep(hold)

    await asyncio.gather(*(request() for _ in range(count)))
    return sorted(starts)


def gaps(starts):
    return [b - a for a, b in itertools.pairwise(starts)]


def test_requests_to_one_host_start_at_least_min_delay_apart_plus_bounded_jitter():
    pacer = HostPacer(settings(min_delay=0.15, jitter=0.05))
    starts = asyncio.run(timed_requests(pacer, "a.example", 4))
    for gap in gaps(starts):
        assert 0.15 <= gap < 0.15 + 0.05 + 0.15  # slack for a loaded machine


def test_hosts_are_paced_independently():
    pacer = HostPacer(settings(min_delay=0.3))

    async def both():
        t0 = time.monotonic()
        a, b = await asyncio.gather(timed_requests(pacer, "a.example", 2),
                                    timed_requests(pacer, "b.example", 2))
        return t0, a, b

    t0, a, b = asyncio.run(both())
    assert a[0] - t0 < 0.15 and b[0] - t0 < 0.15  # b does not wait 0.3 s behind a
    assert gaps(a)[0] >= 0.3 and gaps(b)[0] >= 0.3


def test_per_host_concurrency_limits_requests_in_flight():
    for limit in (1, 3):
        pacer = HostPacer(settings(concurrency=limit))
        in_flight = peak = 0

        async def request(pacer=pacer):
            nonlocal in_flight, peak
            async with pacer.slot("a.example"):
                in_flight += 1
                peak = max(peak, in_flight)
                await asyncio.sleep(0.05)
                in_flight -= 1

        async def many():
            await asyncio.gather(*(request() for _ in range(8)))

        asyncio.run(many())
        assert peak == limit


def test_a_larger_robots_crawl_delay_wins_and_a_smaller_one_does_not():
    pacer = HostPacer(settings(min_delay=0.1))
    assert min(gaps(asyncio.run(timed_requests(pacer, "a.example", 3, crawl_delay=0.3)))) >= 0.3
    pacer = HostPacer(settings(min_delay=0.25))
    assert min(gaps(asyncio.run(timed_requests(pacer, "b.example", 3, crawl_delay=0.01)))) >= 0.25


def one_more_start_after(pacer, host, status, retry_after):
    """Seconds from a response with `status` and Retry-After to the next request's start."""
    async def run():
        async with pacer.slot(host):
            pass
        answered = time.monotonic()
        pacer.feedback(host, status, 0.01, retry_after)
        async with pacer.slot(host):
            return time.monotonic() - answered
    return asyncio.run(run())


def test_retry_after_on_429_and_503_holds_the_host_back():
    for status in (429, 503):
        pacer = HostPacer(settings())
        assert one_more_start_after(pacer, "a.example", status, 0.5) >= 0.5


def test_retry_after_is_capped():
    pacer = HostPacer(settings(retry_after_cap=0.2))
    assert 0.2 <= one_more_start_after(pacer, "a.example", 429, 3600) < 1.0


def test_retry_after_on_other_statuses_is_ignored():
    pacer = HostPacer(settings(backoff_base=0.05))
    assert one_more_start_after(pacer, "a.example", 500, 5) < 1.0  # 0.05 s back-off, not 5 s


def test_troubled_hosts_slow_down_up_to_backoff_max_and_ease_back_on_success():
    pacer = HostPacer(settings(min_delay=0.1))
    delays = []
    for status in (500, 500, 500, 500):
        pacer.feedback("a.example", status, 0.02)
        delays.append(pacer.delay_of("a.example"))
    assert delays == [0.2, 0.4, 0.4, 0.4]
    pacer.feedback("a.example", 200, 0.02)
    assert pacer.delay_of("a.example") == pytest.approx(0.3)
    for _ in range(10):
        pacer.feedback("a.example", 200, 0.02)
    assert pacer.delay_of("a.example") == 0.1


@pytest.mark.parametrize("status,elapsed,slows", [
    (None, 0.1, True),   # network error or timeout
    (502, 0.1, True), (408, 0.1, True), (429, 0.1, True),
    (200, 6.0, True),    # slower than slow_response
    (200, 0.1, False), (404, 0.1, False), (410, 0.1, False),
])
def test_what_counts_as_a_struggling_host(status, elapsed, slows):
    pacer = HostPacer(settings(min_delay=0.1))
    pacer.feedback("a.example", status, elapsed)
    assert (pacer.delay_of("a.example") > 0.1) is slows


def test_backoff_starts_from_backoff_base_when_min_delay_is_zero():
    pacer = HostPacer(settings(min_delay=0.0, backoff_base=0.1))
    pacer.feedback("a.example", 503, 0.01)
    assert pacer.delay_of("a.example") == 0.1
    for _ in range(20):
        pacer.feedback("a.example", 200, 0.01)
    assert pacer.delay_of("a.example") == 0.0


def test_a_slowed_host_really_spaces_its_requests_further():
    pacer = HostPacer(settings(min_delay=0.05, backoff_base=0.05, backoff_max=1.0))
    for _ in range(3):
        pacer.feedback("a.example", 500, 0.01)  # 0.05 -> 0.1 -> 0.2 -> 0.4
    assert min(gaps(asyncio.run(timed_requests(pacer, "a.example", 3)))) >= 0.4


def test_configure_gives_one_host_its_own_settings():
    pacer = HostPacer(settings(min_delay=0.0))
    pacer.configure("slow.example", settings(min_delay=0.3))
    assert min(gaps(asyncio.run(timed_requests(pacer, "SLOW.example", 2)))) >= 0.3
    assert max(gaps(asyncio.run(timed_requests(pacer, "fast.example", 3)))) < 0.2


# ---------------------------------------------------------------- robots.txt, real server


class RobotsServer:
    """A real HTTP server on 127.0.0.1 whose /robots.txt answers as told; counts requests."""

    def __init__(self, status=200, body="", hang=0.0):
        self.status, self.body, self.hang = status, body, hang
        self.robots_requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/robots.txt":
                    server.robots_requests += 1
                    time.sleep(server.hang)
                    payload = server.body.encode()
                    self.send_response(server.status)
                else:
                    payload = b"<html></html>"
                    self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except BrokenPipeError:  # the client gave up on a hanging answer: expected
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


async def fetch_text(url):
    """A real (tiny) HTTP/1.0 client on asyncio streams, so a timeout can cancel it."""
    rest = url.split("://", 1)[1]
    netloc, _, path = rest.partition("/")
    host, _, port = netloc.partition(":")
    reader, writer = await asyncio.open_connection(host, int(port or 80))
    try:
        writer.write(f"GET /{path} HTTP/1.0\r\nHost: {netloc}\r\nUser-Agent: {USER_AGENT}\r\n\r\n"
                     .encode())
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


ROBOTS = """
User-agent: *
Disallow: /private/
Crawl-delay: 2

User-agent: otherbot
Disallow: /
"""


def test_robots_disallow_is_obeyed_and_fetched_once_per_host():
    with RobotsServer(body=ROBOTS) as server:
        robots = RobotsCache(fetch_text, USER_AGENT)

        async def ask():
            return await asyncio.gather(
                robots.allowed(server.base_url + "/news/politics/1-a"),
                robots.allowed(server.base_url + "/private/2-b"),
                robots.allowed(server.base_url + "/private"),
                robots.allowed(server.base_url + "/news/x#frag"),
            )

        assert asyncio.run(ask()) == [True, False, True, True]
        assert server.robots_requests == 1
        assert robots.crawl_delay("127.0.0.1") == 2.0
        assert robots.crawl_delay(server.base_url) == 2.0
        assert robots.crawl_delay("elsewhere.example") is None
        assert robots.reason(server.base_url + "/x").endswith("parsed")


def test_a_group_naming_our_crawler_applies_to_it():
    body = "User-agent: *\nDisallow:\n\nUser-agent: newscrawl\nDisallow: /not-for-newscrawl/\n"
    with RobotsServer(body=body) as server:
        robots = RobotsCache(fetch_text, USER_AGENT)
        assert not asyncio.run(robots.allowed(server.base_url + "/not-for-newscrawl/1"))
        assert asyncio.run(RobotsCache(fetch_text, "otherbot/1.0")
                           .allowed(server.base_url + "/not-for-newscrawl/1"))


@pytest.mark.parametrize("status,allowed", [(404, True), (403, True), (410, True),
                                            (500, False), (503, False)])
def test_robots_status_conventions(status, allowed):
    with RobotsServer(status=status, body="User-agent: *\nDisallow: /\n") as server:
        robots = RobotsCache(fetch_text, USER_AGENT)
        assert asyncio.run(robots.allowed(server.base_url + "/news/1")) is allowed
        assert f"HTTP {status}" in robots.reason(server.base_url)


def test_unreachable_robots_disallows_the_host_for_this_run():
    with RobotsServer() as server:
        base_url = server.base_url
    # The server is gone: the port refuses connections.
    robots = RobotsCache(fetch_text, USER_AGENT)
    assert asyncio.run(robots.allowed(base_url + "/news/1")) is False
    assert "unreachable" in robots.reason(base_url)


def test_a_hanging_robots_times_out_and_disallows():
    with RobotsServer(body="User-agent: *\nDisallow:\n", hang=2.0) as server:
        robots = RobotsCache(fetch_text, USER_AGENT, timeout=0.2)
        started = time.monotonic()
        assert asyncio.run(robots.allowed(server.base_url + "/news/1")) is False
        assert time.monotonic() - started < 1.5
        assert "timed out" in robots.reason(server.base_url)


def test_non_http_urls_are_never_allowed():
    robots = RobotsCache(fetch_text, USER_AGENT)
    for url in ("mailto:desk@example.com", "javascript:void(0)", "ftp://example.com/x"):
        assert asyncio.run(robots.allowed(url)) is False
