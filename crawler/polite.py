"""Politeness: robots.txt, per-host pacing, Retry-After and adaptive slow-down.

`HostPacer` decides WHEN a request to a host may start; `RobotsCache` decides WHETHER a URL
may be fetched at all. Neither fetches pages itself: the fetcher asks for a slot, makes the
request, then reports how it went with `feedback`, which is how the pacer learns to slow
down for a struggling host and to honour Retry-After.
"""

from __future__ import annotations

import asyncio
import errno
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from protego import Protego

from .settings import (
    DEFAULT_POLITENESS,
    EASE_BACK_FACTOR,
    SLOWDOWN_FACTOR,
    USER_AGENT,
    PolitenessSettings,
)
from .urls import canonical_url, is_fetchable

RETRY_AFTER_STATUSES = (429, 503)
ROBOTS_MAX_BYTES = 500 * 1024  # like Google: rules past 500 KiB are ignored


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date.

    None when the header is missing or unreadable; a date in the past gives 0.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # HTTP dates are GMT; a date without a zone is read as UTC
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def is_trouble(status: int | None, elapsed: float, settings: PolitenessSettings) -> bool:
    """A response that says the host is struggling: no response, 5xx, 408, 429, or slow."""
    return (status is None or status >= 500 or status in (408, 429)
            or elapsed > settings.slow_response)


@dataclass
class _HostPace:
    settings: PolitenessSettings
    in_flight: asyncio.Semaphore
    scheduling: asyncio.Lock
    delay: float  # the adaptive delay between request starts, min_delay when all is well
    next_start: float = 0.0  # time.monotonic() before which no request may start
    blocked_until: float = 0.0  # from Retry-After


class HostPacer:
    """Per-host concurrency, minimum delay plus jitter between request starts, Retry-After
    and adaptive back-off. One pacer serves a whole crawl; hosts never wait for each other.
    """

    def __init__(self, settings: PolitenessSettings = DEFAULT_POLITENESS,
                 rng: random.Random | None = None):
        self.settings = settings
        self._rng = rng or random.Random()
        self._hosts: dict[str, _HostPace] = {}

    def configure(self, host: str, settings: PolitenessSettings) -> None:
        """Give `host` its own settings (a site's overrides). Call before its first slot."""
        host = host.lower()
        pace = self._hosts.get(host)
        if pace is not None and pace.settings.concurrency != settings.concurrency:
            raise ValueError(f"{host}: concurrency cannot change after its first request")
        self._hosts[host] = self._new_pace(settings) if pace is None else pace
        self._hosts[host].settings = settings
        self._hosts[host].delay = max(self._hosts[host].delay, settings.min_delay)

    @asynccontextmanager
    async def slot(self, host: str, crawl_delay: float | None = None) -> AsyncIterator[None]:
        """Wait until a request to `host` may start, and hold one of its concurrency places.

        Request starts are spaced by the host's delay (the larger of the adaptive delay and
        robots.txt's `crawl_delay`) plus a random 0..jitter, and never before a Retry-After
        from the host has passed.
        """
        pace = self._pace(host)
        async with pace.in_flight:
            async with pace.scheduling:
                # Re-check after every sleep: a Retry-After may arrive while we wait.
                while (wait := max(pace.next_start, pace.blocked_until) - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                gap = max(pace.delay, crawl_delay or 0.0)
                if pace.settings.jitter > 0:
                    gap += self._rng.uniform(0, pace.settings.jitter)
                pace.next_start = time.monotonic() + gap
            yield

    def feedback(self, host: str, status: int | None, elapsed: float,
                 retry_after: float | None = None) -> float:
        """Learn from one response (status None: no response at all).

        Returns the seconds before `host` may be asked again.
        """
        pace = self._pace(host)
        settings = pace.settings
        now = time.monotonic()
        if retry_after is not None and status in RETRY_AFTER_STATUSES:
            wait = min(max(retry_after, 0.0), settings.retry_after_cap)
            pace.blocked_until = max(pace.blocked_until, now + wait)
        if is_trouble(status, elapsed, settings):
            slowed = max(pace.delay * SLOWDOWN_FACTOR, settings.backoff_base)
            pace.delay = max(settings.min_delay, min(slowed, settings.backoff_max))
        else:
            eased = pace.delay * EASE_BACK_FACTOR
            # Snap the last few milliseconds, or a min_delay of 0 is only ever approached.
            pace.delay = settings.min_delay if eased < settings.min_delay + 0.01 else eased
        return max(0.0, max(pace.next_start, pace.blocked_until) - now)

    def delay_of(self, host: str) -> float:
        """The host's current adaptive delay (without jitter or Crawl-delay)."""
        return self._pace(host).delay

    def _pace(self, host: str) -> _HostPace:
        host = host.lower()
        pace = self._hosts.get(host)
        if pace is None:
            pace = self._hosts[host] = self._new_pace(self.settings)
        return pace

    @staticmethod
    def _new_pace(settings: PolitenessSettings) -> _HostPace:
        return _HostPace(settings=settings, in_flight=asyncio.Semaphore(max(1, settings.concurrency)),
                         scheduling=asyncio.Lock(), delay=settings.min_delay)


FetchText = Callable[[str], Awaitable[tuple[int, str]]]


@dataclass(frozen=True)
class RobotsRules:
    """What one host's robots.txt allows. `parser` is None when a convention decided."""

    parser: Protego | None
    allow_all: bool
    reason: str  # e.g. "robots.txt HTTP 404: everything allowed"

    def can_fetch(self, url: str, user_agent: str) -> bool:
        return self.allow_all if self.parser is None else self.parser.can_fetch(url, user_agent)

    def crawl_delay(self, user_agent: str) -> float | None:
        return None if self.parser is None else self.parser.crawl_delay(user_agent)


class RobotsCache:
    """robots.txt per host, fetched once per run with `fetch_text(url) -> (status, text)`.

    Conventions (as Google's): 2xx is parsed with protego; any other status below 500 (404,
    403, an unfollowed redirect) means no rules, everything allowed; 5xx, a network error
    or a timeout means the site cannot say, so everything on it is disallowed this run.
    """

    def __init__(self, fetch_text: FetchText, user_agent: str = USER_AGENT,
                 timeout: float = DEFAULT_POLITENESS.timeout):
        self._fetch_text = fetch_text
        self.user_agent = user_agent
        self.timeout = timeout
        self._rules: dict[str, asyncio.Task[RobotsRules]] = {}

    async def allowed(self, url: str) -> bool:
        """May `url` be fetched? Non-http(s) URLs never may."""
        if not is_fetchable(url):
            return False
        return (await self.rules_for(url)).can_fetch(url, self.user_agent)

    async def rules_for(self, url: str) -> RobotsRules:
        """The rules of `url`'s host; concurrent callers share one fetch."""
        origin = _origin(url)
        task = self._rules.get(origin)
        if task is None:
            task = self._rules[origin] = asyncio.ensure_future(self._load(origin))
        return await asyncio.shield(task)  # one caller's cancellation must not cancel the fetch

    def crawl_delay(self, host: str) -> float | None:
        """Crawl-delay for us from `host`'s robots.txt (host name, host:port or URL), if
        already loaded. The largest one when several ports of the host were loaded."""
        wanted = host.lower()
        delays = []
        for origin, task in self._rules.items():
            parts = urlsplit(origin)
            if wanted not in (origin, parts.netloc, parts.hostname) and _origin_or_none(wanted) != origin:
                continue
            if task.done() and not task.cancelled() and task.exception() is None:
                delay = task.result().crawl_delay(self.user_agent)
                if delay is not None:
                    delays.append(delay)
        return max(delays) if delays else None

    def reason(self, url: str) -> str | None:
        """Why `url`'s host allows what it allows (for logs and summaries), once loaded."""
        task = self._rules.get(_origin(url))
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        return task.result().reason

    def unavailable(self, url: str) -> str | None:
        """When `url`'s host's robots.txt could not be read (5xx, unreachable, timed out),
        why: its URLs are refused for now and should be tried again on a later run. None
        when the rules were read, or a 4xx allowed everything, or they are not loaded yet."""
        task = self._rules.get(_origin(url)) if is_fetchable(url) else None
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        rules = task.result()
        return rules.reason if rules.parser is None and not rules.allow_all else None

    async def _load(self, origin: str) -> RobotsRules:
        robots_url = origin + "/robots.txt"
        try:
            status, text = await asyncio.wait_for(self._fetch_text(robots_url), self.timeout)
        except TimeoutError:
            return RobotsRules(None, False, f"{robots_url} timed out: everything disallowed this run")
        except Exception as error:  # noqa: BLE001 - any failure to reach it means the same
            if connection_refused(error):
                return RobotsRules(None, False, f"robots.txt of {urlsplit(origin).netloc} unreachable: "
                                                "connection refused: everything disallowed this run")
            return RobotsRules(None, False, f"{robots_url} unreachable ({failure_reason(error)}): "
                                            "everything disallowed this run")
        if 200 <= status < 300:
            parser = Protego.parse(text[:ROBOTS_MAX_BYTES])
            return RobotsRules(parser, True, f"{robots_url} parsed")
        if status >= 500:
            return RobotsRules(None, False, f"{robots_url} HTTP {status}: everything disallowed this run")
        return RobotsRules(None, True, f"{robots_url} HTTP {status}: no rules, everything allowed")


def connection_refused(error: BaseException) -> bool:
    """Whether `error`, or what caused it, is a refused connection (a closed port)."""
    for _ in range(8):  # a chain of causes, bounded
        if isinstance(error, ConnectionRefusedError) or getattr(error, "errno", None) == errno.ECONNREFUSED:
            return True
        error = error.__cause__ or error.__context__
        if error is None:
            return False
    return False


def failure_reason(error: BaseException) -> str:
    """One line on why a fetch failed: a FetchError's own reason, else the error's first line."""
    reason = getattr(error, "reason", None)
    if isinstance(reason, str) and reason:
        return reason
    first_line = (str(error).strip().splitlines() or [""])[0][:200]  # not a whole call log
    return f"{type(error).__name__}: {first_line}"


def _origin(url: str) -> str:
    parts = urlsplit(canonical_url(url))
    return f"{parts.scheme}://{parts.netloc}"


def _origin_or_none(text: str) -> str | None:
    return _origin(text) if is_fetchable(text) else None
