"""http mode: fetching a page without a browser, on aiohttp (no Playwright, no driver process).

- Redirects are followed by hand (at most MAX_REDIRECTS), and every hop is checked before it
  is requested: http(s), the site's domains, and the address its host resolves to.
- The address checked is the address connected to: each client resolves names through
  `CheckedResolver`, which reads the AddressGuard's cache, refuses an address the site's
  PrivateAllowance does not cover (PrivateAddressError) and hands aiohttp only the checked
  addresses, so a DNS answer that changes after the check (rebinding) is never followed.
- Bodies are read in chunks and counted after decompression: a page stops at
  `max_page_bytes` (RefusedContent) and robots.txt at ROBOTS_MAX_BYTES (what was read is
  parsed), so an endless or a gzip-bomb body costs a few chunks of memory, not gigabytes.
- Each site has its own client, and so its own cookies, in a jar bounded per host
  (`BoundedCookieJar`); robots.txt has one client of its own, without any site's cookies.
- The whole response, hops and body, has the politeness `timeout`; connecting has at most
  CONNECT_TIMEOUT of it. A slow drip is a timeout.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from http.cookies import BaseCookie
from urllib.parse import urljoin

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from . import settings as defaults
from .addresses import AddressGuard, PrivateAllowance, non_public
from .errors import (
    FetchError,
    FetchTimeout,
    LastingNetworkError,
    OffDomainError,
    PrivateAddressError,
    RefusedContent,
)
from .fetched import FetchResult, check_target, content_refusal, decode_body, network_error
from .polite import ROBOTS_MAX_BYTES
from .settings import PolitenessSettings
from .sites import Site
from .urls import host_of, is_fetchable

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
ROBOTS_TIMEOUT = 15.0
CHUNK_BYTES = 64 * 1024
ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"


def accept_encoding() -> str:
    """The encodings aiohttp can decode here: brotli only when its module is installed."""
    try:
        import brotli  # noqa: F401
    except ImportError:
        return "gzip, deflate"
    return "gzip, deflate, br"


# ------------------------------------------------------------------ the pinned resolver

class CheckedResolver(AbstractResolver):
    """aiohttp's resolver for one client: names are resolved through the AddressGuard's
    cache, an address the host's allowance does not cover is refused (PrivateAddressError,
    which aiohttp passes on unchanged), and only the checked addresses are returned, so the
    connection goes to exactly an address that passed the guard."""

    def __init__(self, guard: AddressGuard, allowance_for: Callable[[str], PrivateAllowance]):
        self.guard = guard
        self.allowance_for = allowance_for

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        try:
            addresses = await self.guard.addresses(host)
        except (OSError, UnicodeError) as exc:
            raise OSError(f"cannot resolve {host}") from exc  # aiohttp: ClientConnectorDNSError
        allowance = self.allowance_for(host)
        refused = next((address for address in addresses
                        if non_public(address) and not allowance.allows(address)), None)
        if refused is not None:
            raise PrivateAddressError(host, private_reason(host, refused))
        results: list[ResolveResult] = []
        for address in addresses:
            kind = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family in (socket.AF_UNSPEC, kind):
                results.append({"hostname": host, "host": address, "port": port, "family": kind,
                                "proto": 0, "flags": socket.AI_NUMERICHOST})
        if not results:
            raise OSError(f"cannot resolve {host}")
        return results

    async def close(self) -> None:
        pass


def served_headers(raw: tuple[tuple[bytes, bytes], ...]) -> list[tuple[str, str]]:
    """The response's headers as they came: in order, repeats kept, names as spelled."""
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw]


def private_reason(host: str, address: str) -> str:
    """The reason AddressGuard.refusal gives, for a refusal found while connecting."""
    return (f"{host} is a loopback or private address ({address}); "
            "the site file must set crawl.allow_private = true (or list that address)")


# ------------------------------------------------------------------ the bounded cookie jar

class BoundedCookieJar(aiohttp.CookieJar):
    """A site's cookies, at most `max_count` and `max_bytes` (name=value, summed) per host.

    A new cookie that would take its host past either cap is not stored, so a Set-Cookie flood
    keeps the site's first cookies and drops the rest; the Cookie header of any request (which
    may also carry a parent domain's cookies) is cut to the same caps, most specific first.
    Cookies from IP-address hosts are kept, as browsers keep them.
    """

    def __init__(self, max_count: int = defaults.MAX_COOKIES_PER_HOST,
                 max_bytes: int = defaults.MAX_COOKIE_BYTES_PER_HOST):
        super().__init__(unsafe=True)
        self.max_count, self.max_bytes = max_count, max_bytes

    def update_cookies(self, cookies, response_url: URL = URL()) -> None:  # noqa: B008 - aiohttp's signature
        super().update_cookies(cookies, response_url)
        self._trim(response_url.raw_host or "")

    def update_cookies_from_headers(self, headers, response_url: URL) -> None:
        super().update_cookies_from_headers(headers, response_url)
        self._trim(response_url.raw_host or "")

    def filter_cookies(self, request_url: URL = URL()) -> BaseCookie[str]:  # noqa: B008
        chosen = super().filter_cookies(request_url)
        if len(chosen) <= self.max_count and cookie_bytes(chosen.values()) <= self.max_bytes:
            return chosen
        kept: BaseCookie[str] = BaseCookie()
        count = size = 0
        for name, morsel in reversed(list(chosen.items())):  # aiohttp lists the most specific last
            length = len(morsel.key) + len(morsel.coded_value) + 3
            if count + 1 > self.max_count or size + length > self.max_bytes:
                continue
            count, size = count + 1, size + length
            dict.__setitem__(kept, name, morsel)
        return kept

    def _trim(self, host: str) -> None:
        """Drop the newest cookies of `host` (its own and its parent domains') past the caps."""
        if not host:
            return
        count = size = 0
        dropped: set[int] = set()
        for morsel in self:  # in the order they were stored
            domain = (morsel["domain"] or "").lstrip(".")
            if domain and (host == domain or host.endswith("." + domain)):
                length = len(morsel.key) + len(morsel.coded_value) + 3
                if count + 1 > self.max_count or size + length > self.max_bytes:
                    dropped.add(id(morsel))
                    continue
                count, size = count + 1, size + length
        if dropped:
            self.clear(lambda morsel: id(morsel) in dropped)


def cookie_bytes(morsels) -> int:
    """Bytes a Cookie header of these cookies takes: name=value plus "; " between them."""
    return sum(len(morsel.key) + len(morsel.coded_value) + 3 for morsel in morsels)


# ------------------------------------------------------------------ the transport

class HttpTransport:
    """Fetches pages over plain HTTP for a whole crawl; `close()` frees every client."""

    def __init__(self, *, user_agent: str = defaults.USER_AGENT,
                 max_page_bytes: int = defaults.MAX_PAGE_BYTES,
                 addresses: AddressGuard | None = None,
                 connect_timeout: float = defaults.CONNECT_TIMEOUT):
        self.user_agent = user_agent
        self.max_page_bytes = max_page_bytes
        self.addresses = addresses or AddressGuard()
        self.connect_timeout = connect_timeout
        self._clients: dict[str, aiohttp.ClientSession] = {}  # per site name
        self._robots: aiohttp.ClientSession | None = None
        self._allowances: dict[str, PrivateAllowance] = {}  # per site name
        self._robots_allowances: dict[str, PrivateAllowance] = {}  # per host, see admit()

    async def close(self) -> None:
        clients = [*self._clients.values(), *([self._robots] if self._robots else [])]
        self._clients, self._robots = {}, None
        for client in clients:
            await client.close()

    async def prepare(self, site: Site) -> None:
        """Nothing slow to open: a client is made on the site's first fetch (the Transport
        interface keeps the call for transports that have start-up to do)."""

    async def prepare_robots(self) -> None:
        """Nothing slow to open, as for `prepare`."""

    def admit(self, host: str, allowance: PrivateAllowance) -> None:
        """`host` passed the guard for a site with `allowance`: its robots.txt, fetched by the
        shared robots client, may reach what that site may (and nothing else non-public)."""
        known = self._robots_allowances.get(host)
        if known is None or not set(allowance.networks) <= set(known.networks):
            networks = tuple(dict.fromkeys((*(known.networks if known else ()), *allowance.networks)))
            self._robots_allowances[host] = PrivateAllowance(networks)

    async def fetch(self, url: str, site: Site, settings: PolitenessSettings,
                    wait_for: str | None = None) -> FetchResult:
        client = self._site_client(site, settings.concurrency)
        allowance = site.crawl.allow_private
        try:
            async with asyncio.timeout(settings.timeout):
                current = url
                for _hop in range(MAX_REDIRECTS + 1):
                    await self._check_hop(current, url, allowance)
                    async with client.get(current, allow_redirects=False,
                                          timeout=self._timeout(settings.timeout)) as response:
                        location = response.headers.get("location")
                        if response.status in REDIRECT_STATUSES and location:
                            current = urljoin(current, location)
                            check_target(current, site.domains, url)  # before the hop is requested
                            continue
                        headers = flat_headers(response.headers)
                        ok = 200 <= response.status < 300
                        refusal = content_refusal(headers, self.max_page_bytes) if ok else None
                        if refusal:
                            raise_refused(response, url, refusal)
                        body = await read_capped(response, self.max_page_bytes)
                        if body is None:
                            raise_refused(response, url, f"page larger than {self.max_page_bytes} bytes")
                        html = decode_body(body, headers.get("content-type", ""))
                        # aiohttp undid the Content-Encoding: the archive is told so.
                        return FetchResult(
                            url, current, response.status, html, headers, 0.0, body=body,
                            raw_headers=served_headers(response.raw_headers), body_decoded=True,
                            http_version=f"HTTP/{response.version.major}.{response.version.minor}")
                raise LastingNetworkError(url, f"more than {MAX_REDIRECTS} redirects")
        except FetchError as exc:
            raise page_error(exc, url) from None
        except TimeoutError as exc:
            raise self._timeout_error(url, exc, settings.timeout) from None
        except aiohttp.ClientError as exc:
            raise client_error(url, exc) from exc

    async def fetch_text(self, url: str, timeout: float = ROBOTS_TIMEOUT,
                         max_bytes: int = ROBOTS_MAX_BYTES) -> tuple[int, str]:
        """(status, text) of a small resource such as robots.txt; redirects followed (each hop
        checked as a page's are), at most `max_bytes` read: a longer body is cut at its last
        whole line, as Google ignores rules past 500 KiB. Raises a FetchError (a refused
        connection's has ConnectionRefusedError as its __cause__)."""
        client = self._robots_client()
        try:
            async with asyncio.timeout(timeout):
                current = url
                for _hop in range(MAX_REDIRECTS + 1):
                    host = host_of(current)
                    await self._check_hop(current, url, self._robots_allowance(host))
                    async with client.get(current, allow_redirects=False,
                                          timeout=self._timeout(timeout)) as response:
                        location = response.headers.get("location")
                        if response.status in REDIRECT_STATUSES and location:
                            current = urljoin(current, location)
                            continue
                        body, cut = await read_prefix(response, max_bytes)
                        if cut:
                            response.close()  # the rest is never read: the connection cannot be reused
                            body = body[:body.rfind(b"\n") + 1] or body
                        return response.status, decode_body(body, response.headers.get("content-type", ""))
                raise LastingNetworkError(url, f"more than {MAX_REDIRECTS} redirects")
        except FetchError as exc:
            raise page_error(exc, url) from None
        except TimeoutError as exc:
            raise self._timeout_error(url, exc, timeout) from None
        except aiohttp.ClientError as exc:
            raise client_error(url, exc) from exc

    # ------------------------------------------------------------ internals

    async def _check_hop(self, current: str, asked: str, allowance: PrivateAllowance) -> None:
        """Refuse a hop that is not http(s) or reaches an address `allowance` does not cover
        (an IP address in the URL never reaches the resolver, so it is judged here too)."""
        if not is_fetchable(current):
            raise OffDomainError(asked, f"not an http(s) URL: {current}")
        refusal = await self.addresses.refusal(host_of(current), allowance)
        if refusal is not None:
            raise PrivateAddressError(asked, refusal)

    def _timeout_error(self, url: str, exc: TimeoutError, total: float) -> FetchTimeout:
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return FetchTimeout(url, f"timeout after {min(self.connect_timeout, total):g}s "
                                     f"connecting to {host_of(url)}")
        return FetchTimeout(url, f"timeout after {total:g}s")

    def _timeout(self, total: float) -> aiohttp.ClientTimeout:
        # The whole response is bounded by asyncio.timeout around it; aiohttp bounds the connect.
        return aiohttp.ClientTimeout(total=None, connect=min(self.connect_timeout, total))

    def _site_client(self, site: Site, concurrency: int) -> aiohttp.ClientSession:
        client = self._clients.get(site.name)
        if client is None:
            self._allowances[site.name] = site.crawl.allow_private
            client = self._clients[site.name] = self._new_client(
                lambda _host, name=site.name: self._allowances[name], BoundedCookieJar(),
                limit_per_host=max(1, concurrency))
        return client

    def _robots_client(self) -> aiohttp.ClientSession:
        if self._robots is None:
            self._robots = self._new_client(self._robots_allowance, aiohttp.DummyCookieJar(),
                                            limit_per_host=1)
        return self._robots

    def _robots_allowance(self, host: str) -> PrivateAllowance:
        return self._robots_allowances.get(host.lower().rstrip("."), PrivateAllowance())

    def _new_client(self, allowance_for: Callable[[str], PrivateAllowance],
                    cookie_jar: aiohttp.abc.AbstractCookieJar, *, limit_per_host: int) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            resolver=CheckedResolver(self.addresses, allowance_for),
            use_dns_cache=False,  # every new connection resolves through the guard's cache
            limit_per_host=limit_per_host, limit=0)
        return aiohttp.ClientSession(
            connector=connector, cookie_jar=cookie_jar, trust_env=False,
            headers={"User-Agent": self.user_agent, "Accept": ACCEPT,
                     "Accept-Encoding": accept_encoding()})


# ------------------------------------------------------------------ reading and errors

async def read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes | None:
    """The decoded body, or None as soon as it passes `max_bytes` (the rest is not read)."""
    body, cut = await read_prefix(response, max_bytes)
    return None if cut else body


async def read_prefix(response: aiohttp.ClientResponse, max_bytes: int) -> tuple[bytes, bool]:
    """(at most `max_bytes` of the decoded body, whether there was more)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(CHUNK_BYTES):
        if size + len(chunk) > max_bytes:
            chunks.append(chunk[:max_bytes - size])
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), False


def raise_refused(response: aiohttp.ClientResponse, url: str, reason: str):
    response.close()  # its body is not read: the connection must not go back to the pool
    raise RefusedContent(url, reason)


def flat_headers(headers) -> dict[str, str]:
    """Lower-case names; a header sent several times is joined with ", "."""
    flat: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        flat[key] = f"{flat[key]}, {value}" if key in flat else value
    return flat


def page_error(exc: FetchError, url: str) -> FetchError:
    """The resolver names the host it refused; the error reports the page `url`."""
    if isinstance(exc, PrivateAddressError) and exc.url != url:
        return PrivateAddressError(url, exc.reason)
    return exc


def client_error(url: str, exc: aiohttp.ClientError) -> FetchError:
    """The typed error for an aiohttp failure, with a reason that names what happened."""
    return network_error(url, client_reason(exc))


def client_reason(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"cannot resolve {exc.host}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        where = f"{exc.host}:{exc.port}"
        if isinstance(exc.os_error, ConnectionRefusedError):
            return f"connection refused by {where}"
        return f"cannot connect to {where}: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.ClientPayloadError):
        text = " ".join(str(exc).split())[:200]
        if "content-encoding" in text.lower() or "decode" in text.lower():
            return f"failed to decompress the body ({text})"
        return f"connection reset mid-body ({text})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "connection reset: the server closed it before answering"
    if isinstance(exc, aiohttp.ClientOSError) and isinstance(exc.__cause__ or exc, ConnectionResetError):
        return "connection reset by the server"
    return f"{type(exc).__name__}: {exc}"

