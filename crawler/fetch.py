"""Fetching one page for the crawl: the address and domain guard, pacing and retries, in
front of a Transport that does the fetching itself.

Two transports share this one path: `BrowserTransport` (real Chromium, crawler/browser.py)
and `HttpTransport` (plain HTTP, crawler/http_fetch.py). Each is started on first use, so a
crawl that needs no browser never starts one. A Transport has `prepare(site)` (open what a
request needs, before the pacer slot is taken), `fetch(url, site, settings, wait_for) ->
FetchResult` (one attempt, raising a typed FetchError) and `close()`.

Every attempt goes through the site's HostPacer (delay, concurrency, Retry-After, back-off).
Which failures are retried is decided by the error's class (crawler/errors.py): timeouts,
network errors, 5xx, 408 and 429 are; other 4xx and refused pages are not.
"""

from __future__ import annotations

import time
from typing import Self

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from . import settings as defaults
from .addresses import AddressGuard
from .browser import BrowserTransport
from .errors import FetchError, PrivateAddressError
from .fetched import FetchResult, check_target, status_error
from .http_fetch import ROBOTS_TIMEOUT, HttpTransport
from .polite import HostPacer
from .settings import PolitenessSettings
from .sites import Site
from .urls import host_of

__all__ = ["FetchError", "FetchResult", "Fetcher"]


class Fetcher:
    """Fetches pages for a whole crawl. Use as `async with Fetcher() as fetcher:`."""

    def __init__(self, *, user_agent: str = defaults.USER_AGENT,
                 recycle_context_every: int = defaults.RECYCLE_CONTEXT_EVERY,
                 recycle_tab_every: int = defaults.RECYCLE_TAB_EVERY,
                 collect_garbage_every: int = defaults.COLLECT_GARBAGE_EVERY,
                 blocked: tuple[str, ...] = defaults.BLOCKED_RESOURCE_PATTERNS,
                 max_page_bytes: int = defaults.MAX_PAGE_BYTES):
        self.user_agent = user_agent
        self.addresses = AddressGuard()
        self.browser = BrowserTransport(
            user_agent=user_agent, recycle_context_every=recycle_context_every,
            recycle_tab_every=recycle_tab_every, collect_garbage_every=collect_garbage_every,
            blocked=blocked, max_page_bytes=max_page_bytes,
            addresses=self.addresses)  # every request the browser sends is checked too
        self.http = HttpTransport(user_agent=user_agent, max_page_bytes=max_page_bytes,
                                  addresses=self.addresses)  # one cache: checked = connected

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.close()
        await self.browser.close()

    def transport(self, render: str) -> BrowserTransport | HttpTransport:
        return self.browser if render == "browser" else self.http

    async def fetch(self, url: str, site: Site, *, pacer: HostPacer, settings: PolitenessSettings,
                    render: str | None = None, wait_for: str | None = None,
                    crawl_delay: float | None = None) -> FetchResult:
        """Fetch `url` for `site`, paced and retried. Raises FetchError after the last attempt."""
        await self.ensure_allowed_target(url, site)
        transport = self.transport(render or site.crawl.render)
        attempts = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(settings.max_retries + 1),
            wait=wait_exponential_jitter(multiplier=settings.backoff_base, max=settings.backoff_max,
                                         jitter=settings.backoff_base),
            retry=retry_if_exception(lambda exc: isinstance(exc, FetchError) and exc.retryable),
            reraise=True)
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    result = await self._attempt(transport, url, site, pacer, settings, wait_for,
                                                 crawl_delay)
                    result.attempts = attempts
                    return result
        except FetchError as exc:
            exc.attempts = attempts
            if attempts > 1 and exc.retryable:
                exc.reason = f"{exc.reason} (after {attempts} attempts)"
            raise
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def ensure_allowed_target(self, url: str, site: Site) -> None:
        """Raise OffDomainError unless `url` is http(s), in `site`'s domains and (unless the
        site allows private addresses) reaches a public address."""
        check_target(url, site.domains, url)
        refusal = await self.addresses.refusal(host_of(url), site.crawl.allow_private)
        if refusal is not None:
            raise PrivateAddressError(url, refusal)
        self.http.admit(host_of(url), site.crawl.allow_private)  # for its robots.txt client

    async def fetch_text(self, url: str, timeout: float = ROBOTS_TIMEOUT) -> tuple[int, str]:
        """(status, text) of a small resource such as robots.txt, over plain HTTP."""
        return await self.http.fetch_text(url, timeout)

    async def _attempt(self, transport, url: str, site: Site, pacer: HostPacer,
                       settings: PolitenessSettings, wait_for: str | None,
                       crawl_delay: float | None) -> FetchResult:
        host = host_of(url)
        await transport.prepare(site)
        async with pacer.slot(host, crawl_delay):
            started = time.monotonic()
            try:
                result = await transport.fetch(url, site, settings, wait_for)
            except FetchError as exc:
                # Only a failure that may pass (no answer, a timeout, a reset) says the host
                # struggles; a refused page (off the site, not HTML, too large, a redirect
                # loop) came back promptly and must not double the host's delay.
                if exc.retryable:
                    pacer.feedback(host, exc.status, time.monotonic() - started,
                                   getattr(exc, "retry_after", None))
                raise
            result.elapsed = time.monotonic() - started
            error = None if 200 <= result.status < 300 else status_error(url, result.status, result.headers)
            # Waiting for a key selector is the page's matter, not the host's response time.
            pacer.feedback(host, result.status, result.elapsed - result.selector_wait,
                           getattr(error, "retry_after", None))
        if error is not None:
            raise error
        return result
