"""URL hygiene for the crawl: one canonical form per article, and the checks that keep the
crawler on http(s) and inside a site's domains.

The canonical form is the state's primary key, so two spellings of one article (a tracking
parameter, a fragment, an upper-case host, a default port) must map to one string.
"""

from __future__ import annotations

from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

from w3lib.url import canonicalize_url, safe_url_string

FETCHABLE_SCHEMES = ("http", "https")

# Query parameters that only say where a click came from; they never change the article.
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "igshid", "twclid", "ttclid",
    "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id",
    "vero_id", "wickedid", "ocid", "cmpid", "ito",
})
TRACKING_PREFIXES = ("utm_", "pk_", "hsa_")

DEFAULT_PORTS = {"http": 80, "https": 443}


def is_fetchable(url: str) -> bool:
    """True for an absolute http(s) URL with a host; False for mailto:, javascript:, data:..."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises on a port out of range, which canonical_url cannot take
        return parts.scheme.lower() in FETCHABLE_SCHEMES and bool(parts.hostname)
    except ValueError:  # a malformed IPv6 literal or port
        return False


def host_of(url: str) -> str:
    """The lower-case host name of `url`, without port; "" when it has none."""
    try:
        return (urlsplit(url.strip()).hostname or "").rstrip(".")
    except ValueError:
        return ""


def in_domains(url: str, domains) -> bool:
    """True when `url`'s host is one of `domains` or a subdomain of one.

    A domain written with a port ("127.0.0.1:8765") matches only that port; one without a
    port matches any port, as in the selector files' `domains` list.
    """
    host = host_of(url)
    if not host:
        return False
    try:
        port = urlsplit(url.strip()).port
    except ValueError:
        return False
    for domain in domains:
        domain = domain.lower().rstrip(".")
        name, _, domain_port = domain.partition(":")
        if domain_port and (port is None or str(port) != domain_port):
            continue
        if host == name or host.endswith("." + name):
            return True
    return False


def canonical_url(url: str, canonical_link: str | None = None) -> str:
    """The one spelling of `url` the crawl state stores.

    Drops the fragment and tracking parameters, lower-cases scheme and host, drops a default
    port and gives an empty path "/". A `<link rel="canonical">` (absolute or relative) is
    used instead of `url` when it points at the same site; a canonical link elsewhere is
    ignored, so a syndicated copy cannot claim another site's article.
    """
    base = _normalise(url)
    if canonical_link and canonical_link.strip():
        try:
            candidate = urljoin(base, canonical_link.strip())
        except ValueError:
            return base
        if is_fetchable(candidate) and _same_site(host_of(candidate), host_of(base)):
            return _normalise(candidate)
    return base


def safe_url(url: str) -> str:
    """`url` with control characters, spaces and non-ASCII (U+FFFD included) percent-encoded
    as UTF-8 and an international host name in its ASCII form, as browsers send them, so no
    record or state key carries raw bytes a consumer cannot store or print."""
    if url.isascii() and url.isprintable() and " " not in url:
        return url  # the common case, without w3lib's parse
    try:
        return safe_url_string(url)
    except ValueError:  # an unencodable host: leave it to is_fetchable to refuse
        return url


def _normalise(url: str) -> str:
    parts = urlsplit(safe_url(url.strip()))
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:  # IPv6 literal: urlsplit strips the brackets, put them back
        host = f"[{host}]"
    netloc = host
    if parts.port is not None and parts.port != DEFAULT_PORTS.get(scheme):
        netloc = f"{host}:{parts.port}"
    # Tracking parameters go first (w3lib knows no prefixes such as utm_); then w3lib sorts
    # the query and gives each character one percent-encoding, so `?b=2&a=1` and `?a=1&b=2`
    # are one article. User:password is dropped.
    query = "&".join(
        piece for piece in parts.query.split("&")
        if piece and not _is_tracking(unquote_plus(piece.partition("=")[0]))
    )
    return canonicalize_url(urlunsplit((scheme, netloc, parts.path or "/", query, "")))


def _is_tracking(key: str) -> bool:
    key = key.lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def _same_site(host: str, other: str) -> bool:
    """Same host, allowing a "www." on either side (example.com and www.example.com)."""
    return host.removeprefix("www.") == other.removeprefix("www.")
