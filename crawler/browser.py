"""Browser mode: fetching a page with real Chromium through Playwright.

One browser serves the whole crawl, launched (with Playwright's driver) only when the first
browser page is asked for. Each site gets its own browser context and a small pool of
reusable tabs; settings.py says when a tab's JavaScript heap is collected, when a tab is
replaced and when the whole context is, so memory stays flat on long crawls. Images, fonts
and media are refused through CDP `Fetch` before they are requested, which (unlike
`page.route`) leaves the HTTP cache on. A navigation waits for DOMContentLoaded plus the
page's key selector, never for network idle.

Document requests (redirect hops, frames and popups included) are checked against the site's
domains through CDP `Fetch` before Chromium sends them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout
from playwright.async_api import async_playwright

from . import settings as defaults
from .errors import FetchTimeout, NetworkError, OffDomainError, RefusedContent
from .fetched import FetchResult, check_target, content_refusal, network_error, network_reason
from .settings import PolitenessSettings
from .sites import Site
from .urls import in_domains, is_fetchable

SYSTEM_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
BASE_LAUNCH_ARGS = ("--disable-gpu", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-quic")
# The crawler's own browser also skips work a crawl never needs. Images and web fonts are
# never requested at all (the Fetch block patterns still catch media, and images and fonts
# that scripts ask for); the GPU thread runs inside the browser process, one process fewer. Nobody looks at
# the pages, so compositing runs on each renderer's main thread instead of handing every
# frame to a compositor thread: about a sixth less CPU per page (bench/crawl_speed.py).
CRAWL_LAUNCH_ARGS = ("--blink-settings=imagesEnabled=false", "--disable-remote-fonts",
                     "--disable-extensions", "--in-process-gpu", "--disable-threaded-compositing")
SELECTOR_WAIT = 5.0  # seconds to wait for the key selector after DOMContentLoaded
BLOCKED_BY_CLIENT = "ERR_BLOCKED_BY_CLIENT"
# One round trip for the common case: the key element is already in the DOMContentLoaded
# document, so its HTML comes back at once; null means "wait for the selector first".
HTML_WHEN_READY = ("selector => (!selector || document.querySelector(selector))"
                   " ? '<!DOCTYPE html>' + document.documentElement.outerHTML : null")
CLOSE_TIMEOUT = 10.0  # seconds: a close that Chromium never answers must not hang the crawl


def find_chromium() -> str | None:
    """The system Chromium or Chrome, else None (Playwright then uses its own build)."""
    configured = os.environ.get("NEWSCRAWL_CHROMIUM")
    if configured and os.access(configured, os.X_OK):
        return configured
    if os.access(SYSTEM_CHROMIUM, os.X_OK):
        return SYSTEM_CHROMIUM
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def launch_args() -> list[str]:
    # Chromium's sandbox cannot start as root (containers); anywhere else keep it.
    return [*BASE_LAUNCH_ARGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]


def block_patterns(blocked: list[str]) -> list[dict[str, str]]:
    """Fetch.enable patterns: document requests (for the domain guard), then what is refused
    by URL pattern, then images, fonts and media by type (also without a telling extension)."""
    return [{"urlPattern": "*", "resourceType": "Document", "requestStage": "Request"},
            *({"urlPattern": pattern, "requestStage": "Request"} for pattern in blocked),
            *({"urlPattern": "*", "resourceType": kind, "requestStage": "Request"}
              for kind in ("Image", "Font", "Media"))]


@dataclass
class _Tab:
    """A reusable browser tab. `refused` collects document URLs the domain guard blocked;
    `document` is the request of the page being loaded and `document_failed` resolves with
    the reason if that request fails (its body cut off) before DOMContentLoaded."""

    page: Any
    cdp: Any = None  # the tab's own CDP session (domain guard, blocking, garbage collection)
    refused: list[str] = field(default_factory=list)
    served: int = 0
    document: Any = None
    document_failed: asyncio.Future | None = None

    def note_failure(self, request: Any) -> None:
        failed = self.document_failed
        if request is self.document and failed is not None and not failed.done():
            failed.set_result(request.failure or "request failed")


@dataclass
class _SiteContext:
    context: Any
    served: int = 0
    in_use: int = 0
    retired: bool = False
    idle: list[_Tab] = field(default_factory=list)
    # Worn-out tabs kept open until a fresh tab has loaded a page of the site: Chromium then
    # puts the fresh tab in the same, warm renderer process. Closing first would end that
    # process, and a cold one costs about as much CPU as ten pages.
    outgoing: list[_Tab] = field(default_factory=list)


class BrowserTransport:
    """Fetches pages in Chromium for a whole crawl; `close()` ends the browser and driver."""

    def __init__(self, *, user_agent: str = defaults.USER_AGENT,
                 recycle_context_every: int = defaults.RECYCLE_CONTEXT_EVERY,
                 recycle_tab_every: int = defaults.RECYCLE_TAB_EVERY,
                 collect_garbage_every: int = defaults.COLLECT_GARBAGE_EVERY,
                 blocked: tuple[str, ...] = defaults.BLOCKED_RESOURCE_PATTERNS,
                 max_page_bytes: int = defaults.MAX_PAGE_BYTES):
        self.user_agent = user_agent
        self.recycle_context_every = max(1, recycle_context_every)
        self.recycle_tab_every = max(1, recycle_tab_every)
        self.collect_garbage_every = max(1, collect_garbage_every)
        self.blocked = list(blocked)
        self.max_page_bytes = max_page_bytes
        self.contexts_created = 0
        self.tabs_opened = 0
        self._playwright = None
        self._browser = None
        self._browser_lock = asyncio.Lock()
        self._context_lock = asyncio.Lock()
        self._contexts: dict[str, _SiteContext] = {}

    @property
    def launched(self) -> bool:
        return self._browser is not None

    async def close(self) -> None:
        for holder in self._contexts.values():
            await quietly(holder.context.close())
        if self._browser is not None:
            await quietly(self._browser.close())
        if self._playwright is not None:
            await quietly(self._playwright.stop())
        self._contexts, self._browser, self._playwright = {}, None, None

    def browser_pid(self) -> int | None:
        """The browser's process id, for the memory benchmark (None before launch)."""
        process = getattr(getattr(self._browser, "_impl_obj", None), "_browser_process", None)
        return getattr(process, "pid", None)

    async def prepare(self, site: Site) -> None:
        """Nothing to open ahead of the pacer slot: the browser starts with its first page."""

    async def fetch(self, url: str, site: Site, settings: PolitenessSettings,
                    wait_for: str | None) -> FetchResult:
        holder, tab = await self._take_tab(site)
        reusable = False
        try:
            result = await self._navigate(tab, url, site, settings, wait_for)
            reusable = True
            if tab.served == 0 and holder.outgoing:  # a fresh tab has its renderer now
                outgoing, holder.outgoing = holder.outgoing, []
                for old in outgoing:
                    await _close_tab(old)
            return result
        finally:
            await self._give_back(holder, tab, reusable)

    # ------------------------------------------------------------ browser, contexts, tabs

    async def _ensure_browser(self):
        async with self._browser_lock:
            if self._playwright is None:
                self._playwright = await async_playwright().start()
            if self._browser is None:
                # Playwright turns Chromium's popup blocker off; keep it on, so a page script
                # cannot open a window (a new tab outside the domain guard) without a click.
                self._browser = await self._playwright.chromium.launch(
                    executable_path=find_chromium(), headless=True,
                    args=[*launch_args(), *CRAWL_LAUNCH_ARGS],
                    ignore_default_args=["--disable-popup-blocking"])
        return self._browser

    async def _new_context(self) -> _SiteContext:
        browser = await self._ensure_browser()
        context = await browser.new_context(user_agent=self.user_agent, accept_downloads=False,
                                            service_workers="block")
        self.contexts_created += 1
        return _SiteContext(context)

    async def _open_tab(self, holder: _SiteContext, site: Site) -> _Tab:
        page = await holder.context.new_page()
        self.tabs_opened += 1
        tab = _Tab(page)
        page.on("requestfailed", tab.note_failure)  # once per tab: each on/off is a round trip
        cdp = tab.cdp = await holder.context.new_cdp_session(page)

        async def intercept(event: dict) -> None:
            # Every document request, redirect hops included, is checked before it is sent;
            # every image, font or media request is refused.
            target = event["request"]["url"]
            document = event.get("resourceType") == "Document"
            try:
                if document and is_fetchable(target) and in_domains(target, site.domains):
                    await cdp.send("Fetch.continueRequest", {"requestId": event["requestId"]})
                else:
                    if document:
                        tab.refused.append(target)
                    await cdp.send("Fetch.failRequest", {"requestId": event["requestId"],
                                                         "errorReason": "BlockedByClient"})
            except PlaywrightError:
                pass  # the tab closed meanwhile

        cdp.on("Fetch.requestPaused", intercept)
        # The Fetch domain alone, without Network.enable on this session: Network would send
        # this session an event for every request of the page, none of which we need.
        await cdp.send("Fetch.enable", {"patterns": block_patterns(self.blocked)})
        return tab

    async def _take_tab(self, site: Site) -> tuple[_SiteContext, _Tab]:
        async with self._context_lock:  # two tabs must not both replace the context
            if self._browser is not None and not self._browser.is_connected():
                # The browser crashed or was killed: its contexts are gone, start a new one.
                self._browser, self._contexts = None, {}
            holder = self._contexts.get(site.name)
            if holder is None or holder.served >= self.recycle_context_every:
                if holder is not None:
                    await self._retire(holder)
                holder = self._contexts[site.name] = await self._new_context()
        holder.served += 1
        holder.in_use += 1
        try:
            tab = holder.idle.pop() if holder.idle else await self._open_tab(holder, site)
        except BaseException:
            holder.in_use -= 1
            raise
        tab.refused.clear()
        return holder, tab

    async def _give_back(self, holder: _SiteContext, tab: _Tab, reusable: bool) -> None:
        holder.in_use -= 1
        tab.served += 1
        if reusable and tab.served % self.collect_garbage_every == 0:
            # V8 frees old documents only at a full collection, which an idle-looking crawl
            # tab rarely gets: each renderer would grow to ~160 MiB; collected, it stays near 100.
            await quietly(tab.cdp.send("HeapProfiler.collectGarbage"))
        if reusable and not holder.retired and tab.served < self.recycle_tab_every:
            holder.idle.append(tab)
        elif reusable and not holder.retired:
            holder.outgoing.append(tab)
        else:
            await _close_tab(tab)
        if holder.retired and holder.in_use == 0:
            await quietly(holder.context.close())

    async def _retire(self, holder: _SiteContext) -> None:
        holder.retired = True
        for tab in holder.idle + holder.outgoing:
            await _close_tab(tab)
        holder.idle.clear()
        holder.outgoing.clear()
        if holder.in_use == 0:
            await quietly(holder.context.close())

    # ------------------------------------------------------------ one navigation

    async def _navigate(self, tab: _Tab, url: str, site: Site, settings: PolitenessSettings,
                        wait_for: str | None) -> FetchResult:
        page = tab.page
        deadline = time.monotonic() + settings.timeout
        try:
            # Commit first: the headers can refuse the page before its body is loaded, and a
            # body cut off mid-way (reset, bad gzip) fails the request but never fires
            # DOMContentLoaded, so waiting for that alone would wait out the whole timeout.
            response = await page.goto(url, wait_until="commit", timeout=settings.timeout * 1000)
            if response is None:
                raise FetchTimeout(url, "navigation produced no response")
            refusal = content_refusal(response.headers, self.max_page_bytes) if response.ok else None
            if refusal:
                raise RefusedContent(url, refusal)
            failure = await _loaded_or_failed(tab, response.request, deadline)
            if failure:
                raise network_error(url, failure)
        except (PlaywrightTimeout, TimeoutError):
            raise FetchTimeout(url, f"timeout after {settings.timeout:g}s") from None
        except PlaywrightError as exc:
            if BLOCKED_BY_CLIENT in str(exc) and tab.refused:
                raise OffDomainError(url, f"redirected outside the site's domains: {tab.refused[-1]}") from None
            raise network_error(url, exc) from None
        request = response.request
        while request is not None:  # belt and braces: the guard should have refused already
            check_target(request.url, site.domains, url)
            request = request.redirected_from
        headers = response.headers
        try:
            html = await page.evaluate(HTML_WHEN_READY, wait_for if response.ok else None)
            if html is None:  # the key element is drawn by a script: give it a moment
                try:
                    await page.wait_for_selector(wait_for, state="attached",
                                                 timeout=min(SELECTOR_WAIT, settings.timeout) * 1000)
                except PlaywrightTimeout:
                    pass  # extraction will report the missing field; the page itself is fine
                html = await page.content()
        except PlaywrightError as exc:
            raise NetworkError(url, network_reason(exc)) from None
        check_target(page.url, site.domains, url)  # a script may have navigated away
        if len(html) > self.max_page_bytes:
            raise RefusedContent(url, f"page larger than {self.max_page_bytes} bytes")
        return FetchResult(url, page.url, response.status, html, dict(headers), 0.0)


async def _close_tab(tab: _Tab) -> None:
    await quietly(tab.page.close())  # its CDP session ends with it


async def _loaded_or_failed(tab: _Tab, request: Any, deadline: float) -> str | None:
    """Wait for DOMContentLoaded; the failure text instead if the document's own request
    fails first (its body cut off). Raises PlaywrightTimeout at the deadline."""
    tab.document, tab.document_failed = request, asyncio.get_running_loop().create_future()
    loaded = asyncio.ensure_future(tab.page.wait_for_load_state(
        "domcontentloaded", timeout=max(1.0, deadline - time.monotonic()) * 1000))
    try:
        if request.failure:  # it failed before we listened
            return request.failure
        await asyncio.wait((loaded, tab.document_failed), return_when=asyncio.FIRST_COMPLETED)
        if tab.document_failed.done():
            return tab.document_failed.result()
        loaded.result()  # raises a timeout
        return request.failure
    finally:
        tab.document, tab.document_failed = None, None
        if not loaded.done():
            loaded.cancel()
        await asyncio.gather(loaded, return_exceptions=True)


async def quietly(awaitable) -> None:
    """Await a close or free, bounded by CLOSE_TIMEOUT, ignoring errors (it may be gone)."""
    try:
        await asyncio.wait_for(awaitable, CLOSE_TIMEOUT)
    except Exception:  # noqa: BLE001, S110 - closing something that is already gone
        pass
