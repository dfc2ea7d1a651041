"""http mode: fetching a page without a browser.

Redirects are followed by hand, so every hop is checked against the site's domains before
it is requested. Each site has its own client (and so its own cookies); robots.txt has one
of its own, without any site's cookies.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout
from playwright.async_api import async_playwright

from . import settings as defaults
from .browser import quietly
from .errors import FetchTimeout, LastingNetworkError, RefusedContent
from .fetched import FetchResult, check_target, content_refusal, decode_body, network_error
from .settings import PolitenessSettings
from .sites import Site

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
ROBOTS_TIMEOUT = 15.0
ROBOTS_CLIENT = "_robots"  # robots.txt has its own HTTP client, without any site's cookies


class HttpTransport:
    """Fetches pages over plain HTTP for a whole crawl; `close()` frees every client."""

    def __init__(self, *, user_agent: str = defaults.USER_AGENT,
                 max_page_bytes: int = defaults.MAX_PAGE_BYTES):
        self.user_agent = user_agent
        self.max_page_bytes = max_page_bytes
        self._playwright = None
        self._clients: dict[str, Any] = {}
        self._disposing: set = set()

    async def close(self) -> None:
        for client in self._clients.values():
            await quietly(client.dispose())
        if self._playwright is not None:
            await quietly(self._playwright.stop())
        self._clients, self._playwright = {}, None

    async def prepare(self, site: Site) -> None:
        """Open the site's client before a pacer slot is taken, so its start-up does not
        delay the request the slot spaces."""
        await self._client(site.name)

    async def prepare_robots(self) -> None:
        """Open the robots.txt client ahead of its pacer slot, as `prepare` does for a site."""
        await self._client(ROBOTS_CLIENT)

    async def fetch(self, url: str, site: Site, settings: PolitenessSettings,
                    wait_for: str | None = None) -> FetchResult:
        client = await self._client(site.name)
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                response = await client.get(current, max_redirects=0, timeout=settings.timeout * 1000,
                                            fail_on_status_code=False)
            except PlaywrightTimeout:
                raise FetchTimeout(url, f"timeout after {settings.timeout:g}s") from None
            except PlaywrightError as exc:
                raise network_error(url, exc) from None
            try:
                headers = response.headers
                location = headers.get("location")
                if response.status in REDIRECT_STATUSES and location:
                    current = urljoin(current, location)
                    check_target(current, site.domains, url)  # before the hop is requested
                    continue
                refusal = content_refusal(headers, self.max_page_bytes) if response.ok else None
                if refusal:
                    raise RefusedContent(url, refusal)
                body = await response.body()
            except PlaywrightError as exc:
                raise network_error(url, exc) from None
            finally:
                quietly_later(self._disposing, response.dispose())
            if len(body) > self.max_page_bytes:
                raise RefusedContent(url, f"page larger than {self.max_page_bytes} bytes")
            html = decode_body(body, headers.get("content-type", ""))
            return FetchResult(url, current, response.status, html, dict(headers), 0.0)
        raise LastingNetworkError(url, f"more than {MAX_REDIRECTS} redirects")

    async def fetch_text(self, url: str, timeout: float = ROBOTS_TIMEOUT) -> tuple[int, str]:
        """(status, text) of a small resource such as robots.txt; redirects followed.
        Raises on network errors (RobotsCache treats that as "unreachable")."""
        client = await self._client(ROBOTS_CLIENT)
        response = await client.get(url, timeout=timeout * 1000, fail_on_status_code=False)
        try:
            body = await response.body()
            return response.status, decode_body(body, response.headers.get("content-type", ""))
        finally:
            await quietly(response.dispose())

    async def _client(self, key: str):
        client = self._clients.get(key)
        if client is None:
            if self._playwright is None:
                self._playwright = await async_playwright().start()
            client = await self._playwright.request.new_context(user_agent=self.user_agent)
            self._clients[key] = client
        return client


def quietly_later(pending: set, awaitable) -> None:
    """Free a response's body without waiting a round trip for the answer."""
    import asyncio

    task = asyncio.ensure_future(quietly(awaitable))
    pending.add(task)
    task.add_done_callback(pending.discard)
