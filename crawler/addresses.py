"""Is a crawl target a private address? Loopback, private, link-local and other non-public
addresses are refused unless a site file sets `crawl.allow_private`, so a hostile link or
DNS record cannot point the crawler at the machine it runs on or at its network.

Names are resolved here (answers cached for a few minutes); a name that does not resolve is
left to the fetch, which reports the DNS error itself. http mode connects through this same
cache (crawler/http_fetch.py's resolver), so the address checked is the address connected
to and a DNS answer that changes in between (rebinding) is not followed. The browser
resolves again on its own, so in browser mode rebinding is not caught: a known limit.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass

CACHE_SECONDS = 300.0


def parse_ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address in `address` (brackets and a zone dropped; IPv4-mapped IPv6 as the IPv4
    inside), or None when it is a name."""
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def non_public(address: str) -> bool:
    """True for an IP address no public web server has: loopback, private, link-local,
    unspecified, reserved or multicast (IPv4-mapped IPv6 is judged as the IPv4 inside)."""
    ip = parse_ip(address)
    if ip is None:
        return False
    return (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_unspecified
            or ip.is_reserved or ip.is_multicast)


@dataclass(frozen=True)
class PrivateAllowance:
    """Which non-public addresses a site may reach: a selector file's `crawl.allow_private`,
    `true` (any), `false` (none) or a list of addresses and networks ("127.0.0.1",
    "10.0.0.0/8"), so an intranet site can be crawled without opening every private range."""

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, value: bool | list[str]) -> PrivateAllowance:
        """From the selector file's value; raises ValueError on an unreadable entry."""
        if value is True:
            return cls((ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")))
        if value is False:
            return cls()
        return cls(tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in value))

    def allows(self, address: str) -> bool:
        ip = parse_ip(address)
        if ip is None:
            return False
        return any(ip.version == net.version and ip in net for net in self.networks)

    @property
    def everything(self) -> bool:
        return any(net.prefixlen == 0 for net in self.networks)

    def __bool__(self) -> bool:
        return bool(self.networks)


class AddressGuard:
    """Answers "which non-public address does this host reach?", caching name lookups."""

    def __init__(self, cache_seconds: float = CACHE_SECONDS):
        self.cache_seconds = cache_seconds
        self._answers: dict[str, tuple[float, str | None]] = {}

    async def refusal(self, host: str, allowance: PrivateAllowance) -> str | None:
        """Why `host` must not be fetched (it reaches a non-public address `allowance` does not
        cover), else None."""
        if allowance.everything:
            return None
        address = await self.private_address(host, allowance)
        if address is None:
            return None
        return (f"{host} is a loopback or private address ({address}); "
                "the site file must set crawl.allow_private = true (or list that address)")

    async def private_address(self, host: str, allowance: PrivateAllowance | None = None) -> str | None:
        """A non-public address `host` is or resolves to that `allowance` does not allow, else
        None (also when it does not resolve: the fetch then fails with the resolver's own
        message)."""
        allowance = allowance or PrivateAllowance()
        host = host.lower().rstrip(".")
        if host == "localhost" or host.endswith(".localhost"):
            return None if allowance.allows("127.0.0.1") else "127.0.0.1"
        if non_public(host):
            return None if allowance.allows(host) else host
        try:
            addresses = await self.addresses(host)
        except (OSError, UnicodeError):
            return None
        return next((address for address in addresses
                     if non_public(address) and not allowance.allows(address)), None)

    async def addresses(self, host: str) -> tuple[str, ...]:
        """Every address `host` resolves to, from the cache while it is fresh (an IP address
        is its own answer; localhost is 127.0.0.1). Raises OSError when it does not resolve."""
        host = host.lower().rstrip(".").strip("[]")
        if host == "localhost" or host.endswith(".localhost"):
            return ("127.0.0.1",)
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            pass
        else:
            return (host,)
        cached = self._answers.get(host)
        if cached is None or cached[0] <= time.monotonic():
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
            found = tuple(dict.fromkeys(info[4][0] for info in infos))
            if not found:
                raise socket.gaierror(socket.EAI_NONAME, f"{host} has no address")
            cached = self._answers[host] = (time.monotonic() + self.cache_seconds, found)
        return cached[1]
