"""Browser mode: fetching a page with real Chromium through Playwright.

One browser serves the whole crawl, launched (with Playwright's driver) only when the first
browser page is asked for. Each site gets its own browser context and a small pool of
reusable tabs; settings.py says when a tab's JavaScript heap is collected, when a tab is
replaced and when the whole context is, so memory stays flat on long crawls. Images, fonts
and media are refused through CDP `Fetch` before they are requested, which (unlike
`page.route`) leaves the HTTP cache on. A navigation waits for DOMContentLoaded plus the
page's key selector, never for network idle.

Requests are checked through CDP `Fetch` before Chromium sends them. Document requests
(redirect hops, frames and popups included) must stay in the site's domains and reach an
address the site allows (the Fetcher's AddressGuard, `crawl.allow_private`); sub-resources
(scripts, CSS, XHR and fetch(), anything) must reach an allowed address too. A site that
allows every address has only its documents and blocked resources paused. Chromium resolves
names itself (it reads /etc/hosts too), so a DNS answer that changes between our check and
its connection (rebinding) is not caught: a known limit. WebSocket connections are not
paused by `Fetch` and are not checked.

Every browser call is bounded: a navigation by the politeness timeout, anything else by
BROWSER_CALL_TIMEOUT. A call past its bound means a wedged browser; it is killed (its whole
process group), its contexts are dropped, and the next fetch launches a new one
(`BrowserWedged` is retried). The browser and the driver are launched without Playwright's
signal handlers, so a terminal's Ctrl-C reaches only the crawl, which stops on its own terms.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout
from playwright.async_api import async_playwright

from . import settings as defaults
from .addresses import AddressGuard
from .errors import (
    BrowserWedged,
    FetchError,
    FetchTimeout,
    NetworkError,
    OffDomainError,
    PrivateAddressError,
    RefusedContent,
)
from .fetched import FetchResult, check_target, content_refusal, network_error, network_reason
from .settings import PolitenessSettings
from .sites import Site
from .urls import host_of, in_domains, is_fetchable

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
LOADED_SELECTOR_GRACE = 0.5  # after the load event, for a script that draws the key element
BLOCKED_BY_CLIENT = "ERR_BLOCKED_BY_CLIENT"
BLOCKED_TYPES = ("Image", "Font", "Media")  # refused by resource type, whatever the URL says
# The page's HTML in one round trip. Null means "wait for the key selector first". Before
# serialising, a walk over the DOM adds up what the HTML must at least hold (text, comments,
# tags, attributes) and stops as soon as that passes the byte cap: a page that a script grew
# to gigabytes is refused with its measure (a number) instead of being copied as a string
# through the renderer, the browser, the driver and Python.
PAGE_HTML = """([selector, cap]) => {
  if (selector && !document.querySelector(selector)) return null;
  const root = document.documentElement;
  if (!root) return '<!DOCTYPE html>';
  const show = NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT | NodeFilter.SHOW_COMMENT;
  const trees = [root];  // a <template>'s content is serialised too, but is not in the tree
  let size = 0;
  while (trees.length && size <= cap) {
    const walker = document.createTreeWalker(trees.pop(), show);
    for (let node = walker.currentNode; node !== null && size <= cap; node = walker.nextNode()) {
      if (node.nodeType !== 1) { size += node.data ? node.data.length : 0; continue; }
      size += 2 * node.localName.length + 5;
      for (const attribute of node.attributes) size += attribute.name.length + attribute.value.length + 4;
      if (node.localName === 'template' && node.content) trees.push(node.content);
    }
  }
  return size > cap ? size : '<!DOCTYPE html>' + root.outerHTML;
}"""


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


def fetch_patterns(blocked: list[str], every_request: bool) -> list[dict[str, str]]:
    """Fetch.enable patterns. `every_request`: pause every request (its address is checked);
    otherwise only documents (for the domain guard), what is refused by URL pattern, and
    images, fonts and media by type (also without a telling extension)."""
    if every_request:
        return [{"urlPattern": "*", "requestStage": "Request"}]
    return [{"urlPattern": "*", "resourceType": "Document", "requestStage": "Request"},
            *({"urlPattern": pattern, "requestStage": "Request"} for pattern in blocked),
            *({"urlPattern": "*", "resourceType": kind, "requestStage": "Request"}
              for kind in BLOCKED_TYPES)]


def url_pattern_regex(patterns: list[str]) -> re.Pattern[str]:
    """One regex for CDP URL patterns (`*` any run, `?` one character, `\\` escapes), to be
    fullmatched against a whole URL as Chromium matches them."""
    alternatives = []
    for pattern in patterns:
        parts, escaped = [], False
        for char in pattern:
            if escaped:
                parts.append(re.escape(char))
                escaped = False
            elif char == "\\":
                escaped = True
            else:
                parts.append(".*" if char == "*" else "." if char == "?" else re.escape(char))
        alternatives.append("".join(parts))
    return re.compile("|".join(f"(?:{alternative})" for alternative in alternatives) or "(?!)", re.DOTALL)


@dataclass
class _Tab:
    """A reusable browser tab. `refused` collects the document requests the guard blocked
    (the error class and its reason); `document` is the request of the page being loaded and
    `document_failed` resolves with the reason if that request fails (its body cut off)
    before DOMContentLoaded."""

    page: Any
    cdp: Any = None  # the tab's own CDP session (request guard, blocking, garbage collection)
    refused: list[tuple[type[FetchError], str]] = field(default_factory=list)
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
    browser: Any  # the browser it lives in: a relaunch leaves it behind
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
                 max_page_bytes: int = defaults.MAX_PAGE_BYTES,
                 addresses: AddressGuard | None = None,
                 call_timeout: float = defaults.BROWSER_CALL_TIMEOUT):
        self.user_agent = user_agent
        self.recycle_context_every = max(1, recycle_context_every)
        self.recycle_tab_every = max(1, recycle_tab_every)
        self.collect_garbage_every = max(1, collect_garbage_every)
        self.blocked = list(blocked)
        self.blocked_url = url_pattern_regex(self.blocked)
        self.max_page_bytes = max_page_bytes
        self.addresses = addresses or AddressGuard()
        self.call_timeout = call_timeout
        self.contexts_created = 0
        self.tabs_opened = 0
        self.relaunches = 0  # browsers killed as wedged
        self._playwright = None
        self._browser = None
        self._browser_pid: int | None = None
        self._browser_lock = asyncio.Lock()
        self._context_lock = asyncio.Lock()
        self._contexts: dict[str, _SiteContext] = {}

    @property
    def launched(self) -> bool:
        return self._browser is not None

    async def close(self) -> None:
        """Close the browser and the driver, each call bounded; a browser that does not close
        in time is killed."""
        browser, pid = self._browser, self._browser_pid
        self._contexts, self._browser, self._browser_pid = {}, None, None
        if browser is not None and not await quietly(browser.close(), self.call_timeout):
            kill_browser(pid)
        if self._playwright is not None:
            await quietly(self._playwright.stop(), self.call_timeout)
        self._playwright = None

    def browser_pid(self) -> int | None:
        """The browser's main process id (None before launch): the leader of its process group."""
        return self._browser_pid

    async def prepare(self, site: Site) -> None:
        """Nothing to open ahead of the pacer slot: the browser starts with its first page."""

    async def fetch(self, url: str, site: Site, settings: PolitenessSettings,
                    wait_for: str | None) -> FetchResult:
        try:
            holder, tab = await self._take_tab(site, url)
        except PlaywrightError as exc:  # the browser or the driver went away meanwhile
            self._forget_disconnected()
            raise NetworkError(url, f"browser: {network_reason(exc)}") from None
        reusable = False
        try:
            result = await self._navigate(tab, url, site, settings, wait_for)
            reusable = True
            if tab.served == 0 and holder.outgoing:  # a fresh tab has its renderer now
                outgoing, holder.outgoing = holder.outgoing, []
                for old in outgoing:
                    await self._close_tab(old)
            return result
        finally:
            await self._give_back(holder, tab, reusable)

    # ------------------------------------------------------------ bounded calls, a wedged browser

    async def _call(self, awaitable: Awaitable, url: str, what: str, timeout: float | None = None,
                    tab: _Tab | None = None):
        """Await one browser call within `timeout` (BROWSER_CALL_TIMEOUT). A call past it means
        the browser is wedged: it is killed, and BrowserWedged (retried) raised. A call in
        `tab` may instead be held up by the page itself (a script that never yields): if the
        tab still closes in time the browser is fine, and the page has timed out."""
        bound = self.call_timeout if timeout is None else timeout
        browser = self._browser
        try:
            return await asyncio.wait_for(awaitable, bound)
        except TimeoutError:
            if tab is not None and await quietly(tab.page.close(), self.call_timeout):
                raise FetchTimeout(url, f"the page did not answer ({what}) within {bound:g}s") from None
            self._abandon_browser(browser)
            raise BrowserWedged(url, f"the browser did not answer ({what}) within {bound:g}s; "
                                "it was killed and is relaunched") from None

    def _abandon_browser(self, browser: Any) -> None:
        """Treat `browser` as crashed: kill its processes and forget it and its contexts, so
        the next fetch launches a new one."""
        if browser is None or browser is not self._browser:
            return  # already abandoned (another tab found it wedged first)
        kill_browser(self._browser_pid)
        self._browser, self._browser_pid, self._contexts = None, None, {}
        self.relaunches += 1

    def _forget_disconnected(self) -> None:
        if self._browser is not None and not self._browser.is_connected():
            # The browser crashed or was killed: its contexts are gone, start a new one.
            kill_browser(self._browser_pid)  # whatever of it is left
            self._browser, self._browser_pid, self._contexts = None, None, {}

    # ------------------------------------------------------------ browser, contexts, tabs

    async def _ensure_browser(self, url: str):
        async with self._browser_lock:
            if self._browser is None:
                try:
                    await self._call(self._launch(), url, "launch")
                except BaseException:
                    # A driver that cannot launch (it died, or hangs) is replaced as well.
                    playwright, self._playwright = self._playwright, None
                    if playwright is not None:
                        await quietly(playwright.stop(), self.call_timeout)
                    raise
        return self._browser

    async def _launch(self) -> None:
        if self._playwright is None:
            self._playwright = await async_playwright().start()
        # Playwright turns Chromium's popup blocker off; keep it on, so a page script cannot
        # open a window (a new tab outside the request guard) without a click. Playwright's
        # signal handlers would close the browser on the terminal's Ctrl-C before the crawl
        # could finish its article; the crawl handles signals itself and closes the browser.
        browser = await self._playwright.chromium.launch(
            executable_path=find_chromium(), headless=True,
            args=[*launch_args(), *CRAWL_LAUNCH_ARGS],
            ignore_default_args=["--disable-popup-blocking"],
            handle_sigint=False, handle_sigterm=False, handle_sighup=False,
            timeout=self.call_timeout * 1000)
        try:
            session = await browser.new_browser_cdp_session()
            processes = (await session.send("SystemInfo.getProcessInfo"))["processInfo"]
            await session.detach()
        except BaseException:
            await quietly(browser.close(), self.call_timeout)
            raise
        self._browser_pid = next((p["id"] for p in processes if p["type"] == "browser"), None)
        self._browser = browser

    async def _new_context(self, url: str) -> _SiteContext:
        browser = await self._ensure_browser(url)
        context = await self._call(browser.new_context(
            user_agent=self.user_agent, accept_downloads=False, service_workers="block"),
            url, "new context")
        self.contexts_created += 1
        return _SiteContext(context, browser)

    async def _open_tab(self, holder: _SiteContext, site: Site, url: str) -> _Tab:
        page = await self._call(holder.context.new_page(), url, "new tab")
        self.tabs_opened += 1
        tab = _Tab(page)
        page.on("requestfailed", tab.note_failure)  # once per tab: each on/off is a round trip
        cdp = tab.cdp = await self._call(holder.context.new_cdp_session(page), url, "CDP session")
        every_request = not site.crawl.allow_private.everything

        async def intercept(event: dict) -> None:
            # Every request the patterns pause is decided here before Chromium sends it.
            request_id = event["requestId"]
            try:
                refusal = await self._request_refusal(event["request"]["url"],
                                                      event.get("resourceType"), site)
            except Exception as exc:  # noqa: BLE001 - refuse what could not be checked
                refusal = (NetworkError, f"request check failed: {exc}")
            try:
                if refusal is None:
                    await asyncio.wait_for(cdp.send("Fetch.continueRequest", {"requestId": request_id}),
                                           self.call_timeout)
                else:
                    if event.get("resourceType") == "Document":
                        tab.refused.append(refusal)
                    await asyncio.wait_for(cdp.send("Fetch.failRequest", {
                        "requestId": request_id, "errorReason": "BlockedByClient"}), self.call_timeout)
            except (PlaywrightError, TimeoutError):
                pass  # the tab closed meanwhile, or the browser is wedged (the page call finds out)

        cdp.on("Fetch.requestPaused", intercept)
        # The Fetch domain alone, without Network.enable on this session: Network would send
        # this session an event for every request of the page, none of which we need.
        await self._call(cdp.send("Fetch.enable", {"patterns": fetch_patterns(self.blocked, every_request)}),
                         url, "Fetch.enable")
        return tab

    async def _request_refusal(self, target: str, kind: str | None,
                               site: Site) -> tuple[type[FetchError], str] | None:
        """Why Chromium must not send this request, as (error class, reason); None to send it.
        A document must stay on the site; anything must reach an address the site allows."""
        if kind == "Document":
            if not (is_fetchable(target) and in_domains(target, site.domains)):
                return OffDomainError, f"redirected outside the site's domains: {target}"
        elif kind in BLOCKED_TYPES or self.blocked_url.fullmatch(target):
            return RefusedContent, "a blocked resource"
        elif not is_fetchable(target):
            return None  # data: and blob: URLs never leave the renderer
        # The guard caches its answers, so a host seen before is decided without a lookup.
        reason = await self.addresses.refusal(host_of(target), site.crawl.allow_private)
        if reason is None:
            return None
        return PrivateAddressError, f"redirected to {target}: {reason}"

    async def _take_tab(self, site: Site, url: str) -> tuple[_SiteContext, _Tab]:
        async with self._context_lock:  # two tabs must not both replace the context
            self._forget_disconnected()
            holder = self._contexts.get(site.name)
            if holder is None or holder.served >= self.recycle_context_every:
                if holder is not None:
                    await self._retire(holder)
                holder = self._contexts[site.name] = await self._new_context(url)
        holder.served += 1
        holder.in_use += 1
        try:
            tab = holder.idle.pop() if holder.idle else await self._open_tab(holder, site, url)
        except BaseException:
            holder.in_use -= 1
            raise
        tab.refused.clear()
        return holder, tab

    async def _give_back(self, holder: _SiteContext, tab: _Tab, reusable: bool) -> None:
        holder.in_use -= 1
        tab.served += 1
        if holder.browser is not self._browser:
            return  # its browser was killed or closed: nothing of it is left to close
        if reusable and tab.served % self.collect_garbage_every == 0:
            # V8 frees old documents only at a full collection, which an idle-looking crawl
            # tab rarely gets: each renderer would grow to ~160 MiB; collected, it stays near 100.
            await quietly(tab.cdp.send("HeapProfiler.collectGarbage"), self.call_timeout)
        if reusable and not holder.retired and tab.served < self.recycle_tab_every:
            holder.idle.append(tab)
        elif reusable and not holder.retired:
            holder.outgoing.append(tab)
        else:
            await self._close_tab(tab)
        if holder.retired and holder.in_use == 0:
            await quietly(holder.context.close(), self.call_timeout)

    async def _retire(self, holder: _SiteContext) -> None:
        holder.retired = True
        for tab in holder.idle + holder.outgoing:
            await self._close_tab(tab)
        holder.idle.clear()
        holder.outgoing.clear()
        if holder.in_use == 0:
            await quietly(holder.context.close(), self.call_timeout)

    async def _close_tab(self, tab: _Tab) -> None:
        await quietly(tab.page.close(), self.call_timeout)  # its CDP session ends with it

    # ------------------------------------------------------------ one navigation

    async def _navigate(self, tab: _Tab, url: str, site: Site, settings: PolitenessSettings,
                        wait_for: str | None) -> FetchResult:
        page = tab.page
        deadline = time.monotonic() + settings.timeout
        # Playwright's own timeouts run in the driver; this outer bound also ends a
        # navigation that a wedged driver or browser never answers.
        navigation_bound = settings.timeout + self.call_timeout
        try:
            # Commit first: the headers can refuse the page before its body is loaded, and a
            # body cut off mid-way (reset, bad gzip) fails the request but never fires
            # DOMContentLoaded, so waiting for that alone would wait out the whole timeout.
            response = await self._call(page.goto(url, wait_until="commit", timeout=settings.timeout * 1000),
                                        url, "navigation", navigation_bound, tab)
            if response is None:
                raise FetchTimeout(url, "navigation produced no response")
            refusal = content_refusal(response.headers, self.max_page_bytes) if response.ok else None
            if refusal:
                raise RefusedContent(url, refusal)
            failure = await self._call(_loaded_or_failed(tab, response.request, deadline), url,
                                       "DOMContentLoaded", navigation_bound, tab)
            if failure:
                raise network_error(url, failure)
        except (PlaywrightTimeout, TimeoutError):
            raise FetchTimeout(url, f"timeout after {settings.timeout:g}s") from None
        except PlaywrightError as exc:
            if BLOCKED_BY_CLIENT in str(exc) and tab.refused:
                kind, reason = tab.refused[-1]
                raise kind(url, reason) from None
            raise network_error(url, exc) from None
        request = response.request
        while request is not None:  # belt and braces: the guard should have refused already
            check_target(request.url, site.domains, url)
            request = request.redirected_from
        headers = response.headers
        cap = self.max_page_bytes
        selector_wait = 0.0
        try:
            html = await self._call(page.evaluate(PAGE_HTML, [wait_for if response.ok else None, cap]),
                                    url, "reading the page", tab=tab)
            if html is None:  # the key element may be drawn by a script: give it a moment
                waited_from = time.monotonic()
                await self._wait_for_key_selector(tab, url, wait_for, settings)
                selector_wait = time.monotonic() - waited_from
                html = await self._call(page.evaluate(PAGE_HTML, [None, cap]), url, "reading the page",
                                        tab=tab)
        except PlaywrightError as exc:
            raise NetworkError(url, network_reason(exc)) from None
        check_target(page.url, site.domains, url)  # a script may have navigated away
        if not isinstance(html, str) or len(html) > cap:  # measured in the page, or after
            raise RefusedContent(url, f"page larger than {cap} bytes")
        return FetchResult(url, page.url, response.status, html, dict(headers), 0.0, rendered=True,
                           selector_wait=selector_wait)

    async def _wait_for_key_selector(self, tab: _Tab, url: str, wait_for: str,
                                     settings: PolitenessSettings) -> None:
        """Wait up to SELECTOR_WAIT for `wait_for`, but no longer than the page takes to load:
        a selector missing from a loaded page (a redesign renamed it) is a page problem, and
        waiting it out would only slow the crawl."""
        wait = min(SELECTOR_WAIT, settings.timeout)
        page = tab.page
        appeared = asyncio.ensure_future(page.wait_for_selector(wait_for, state="attached", timeout=wait * 1000))
        loaded = asyncio.ensure_future(page.wait_for_load_state("load", timeout=wait * 1000))
        try:
            await self._call(asyncio.wait({appeared, loaded}, return_when=asyncio.FIRST_COMPLETED),
                             url, "waiting for the key selector", wait + self.call_timeout, tab)
            if loaded.done() and not appeared.done():  # loaded: a script may still draw it, briefly
                await asyncio.wait({appeared}, timeout=min(LOADED_SELECTOR_GRACE, wait))
        finally:
            for waiter in (appeared, loaded):
                waiter.cancel()
            await asyncio.gather(appeared, loaded, return_exceptions=True)


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


def kill_browser(pid: int | None) -> None:
    """SIGKILL a browser we launched and every process under it. Playwright starts Chromium
    as the leader of its own process group, so the group is killed; processes that left it
    (none should) are found through /proc. Nothing is done unless `pid` is still a Chromium
    driven by a pipe (a pid the system has reused belongs to someone else)."""
    if pid is None or b"--remote-debugging-pipe" not in _command_line(pid):
        return
    below = _descendants(pid)
    for kill, target in ((os.killpg, pid), (os.kill, pid), *((os.kill, child) for child in below)):
        try:
            kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _command_line(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [root]
    while frontier and len(found) < 10_000:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


async def quietly(awaitable: Awaitable, timeout: float = defaults.BROWSER_CALL_TIMEOUT) -> bool:
    """Await a close or free, bounded by `timeout`, ignoring errors (it may be gone); True
    if it finished in time without an error."""
    try:
        await asyncio.wait_for(awaitable, timeout)
    except Exception:  # noqa: BLE001 - closing something that is already gone
        return False
    return True
