"""Is a crawl target a private address? Loopback, private, link-local and other non-public
addresses are refused unless a site file sets `crawl.allow_private`, so a hostile link or
DNS record cannot point the crawler at the machine it runs on or at its network.

Names are resolved here (answers cached for a few minutes); a name that does not resolve is
left to the fetch, which reports the DNS error itself. The browser resolves again on its
own, so a DNS answer that changes in between (rebinding) is not caught: a known limit.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time

CACHE_SECONDS = 300.0


def non_public(address: str) -> bool:
    """True for an IP address no public web server has: loopback, private, link-local,
    unspecified, reserved or multicast (IPv4-mapped IPv6 is judged as the IPv4 inside)."""
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_unspecified
            or ip.is_reserved or ip.is_multicast)


class AddressGuard:
    """Answers "which non-public address does this host reach?", caching name lookups."""

    def __init__(self, cache_seconds: float = CACHE_SECONDS):
        self.cache_seconds = cache_seconds
        self._answers: dict[str, tuple[float, str | None]] = {}

    async def private_address(self, host: str) -> str | None:
        """A non-public address `host` is or resolves to, else None (also when it does not
        resolve: the fetch then fails with the resolver's own message)."""
        host = host.lower().rstrip(".")
        if host == "localhost" or host.endswith(".localhost"):
            return "127.0.0.1"
        if non_public(host):
            return host
        cached = self._answers.get(host)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return None
        found = next((info[4][0] for info in infos if non_public(info[4][0])), None)
        self._answers[host] = (time.monotonic() + self.cache_seconds, found)
        return found
