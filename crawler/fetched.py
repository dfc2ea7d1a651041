"""What every Transport returns (`FetchResult`), and the checks and error mapping that the
browser and http transports share, so both refuse the same pages for the same reasons."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import (
    FetchError,
    LastingNetworkError,
    NetworkError,
    OffDomainError,
    PermanentStatus,
    RefusedContent,
    RetryableStatus,
)
from .pages import decode_html
from .polite import parse_retry_after
from .urls import in_domains, is_fetchable

RETRY_STATUSES = frozenset({408, 429})  # plus every 5xx
HTML_TYPES = ("text/html", "application/xhtml+xml")  # no Content-Type at all is read too
# Network errors that come back the same on every try: not retried.
LASTING_ERRORS = ("ERR_TOO_MANY_REDIRECTS", "ERR_UNSAFE_REDIRECT", "ERR_CONTENT_DECODING_FAILED",
                  "failed to decompress")
DOWNLOAD_STARTING = "Download is starting"


@dataclass
class FetchResult:
    url: str  # as asked for
    final_url: str  # after redirects
    status: int
    html: str  # what extraction reads: the decoded body, or the rendered DOM in browser mode
    headers: dict[str, str]  # lower-cased names, for the checks
    elapsed: float  # seconds, last attempt, without any wait for a key selector
    attempts: int = 1
    # For the archive: the response as served. `body` is de-chunked, and also decoded from its
    # Content-Encoding when `body_decoded`; None when the transport could not get it (the
    # archive then keeps the rendered DOM alone). `raw_headers` keeps order and repeats.
    body: bytes | None = None
    raw_headers: list[tuple[str, str]] = field(default_factory=list)
    body_decoded: bool = False
    http_version: str = "HTTP/1.1"
    rendered: bool = False  # `html` is the DOM a browser drew, not the body as served
    selector_wait: float = 0.0  # seconds spent waiting for a key selector after the page loaded


def status_error(url: str, status: int, headers: dict[str, str]) -> FetchError:
    """The typed error for a non-2xx answer: retried for 5xx, 408, 429; permanent otherwise."""
    retry_after = parse_retry_after(headers.get("retry-after")) if status in (429, 503) else None
    kind = RetryableStatus if status in RETRY_STATUSES or status >= 500 else PermanentStatus
    return kind(url, status, retry_after)


def check_target(url: str, domains: tuple[str, ...], asked: str) -> None:
    """Raise OffDomainError unless `url` is http(s) inside `domains` (`asked` names the page)."""
    if not is_fetchable(url):
        raise OffDomainError(asked, f"not an http(s) URL: {url}")
    if not in_domains(url, domains):
        raise OffDomainError(asked, f"outside the site's domains: {url}")


def content_refusal(headers: dict[str, str], max_bytes: int) -> str | None:
    """Why a 2xx response is no page to read, from its headers alone; None to read it."""
    kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind and kind not in HTML_TYPES:
        return f"not an HTML page: {kind}"
    length = headers.get("content-length", "").strip()
    if length.isdigit() and int(length) > max_bytes:
        return f"page larger than {max_bytes} bytes (Content-Length {length})"
    return None


def decode_body(body: bytes, content_type: str) -> str:
    """Decode a response: the header's charset wins, then what pages.decode_html sniffs."""
    found = re.search(r"charset=([\w-]+)", content_type or "", re.IGNORECASE)
    return decode_html(body, found.group(1) if found else None)


def network_error(url: str, exc: Exception | str) -> FetchError:
    """The typed error for a failed request: retried unless the failure would only repeat."""
    text = str(exc)
    if DOWNLOAD_STARTING in text:
        return RefusedContent(url, "a download, not a page (downloads are disabled)")
    lasting = any(code in text for code in LASTING_ERRORS)
    return (LastingNetworkError if lasting else NetworkError)(url, network_reason(exc))


def network_reason(exc: Exception | str) -> str:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"network error: {first_line[:200]}"
