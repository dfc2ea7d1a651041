"""Serve a DemoSite on loopback, record every request, and inject faults on demand.

Tests use the request log as their measuring instrument (per-host delay, retries, what
was never fetched), so each request is recorded when it arrives, with the status the
server decided to send. Every injected fault ends by itself: hangs are bounded sleeps that
`stop()` also cuts short.
"""

from __future__ import annotations

import html
import json
import re
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, urlsplit

from .site import SITE_CSS, DemoSite

# The smallest valid PNG (1x1, transparent), so image requests look real.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
# A minimal one-page PDF: enough for a client to see a real PDF, never HTML.
TINY_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
            b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
            b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 3 3]>>endobj\n"
            b"trailer<</Root 1 0 R>>\n%%EOF\n")
SAMPLE_BODIES = {"application/pdf": TINY_PDF, "image/png": TINY_PNG}
DRIP_CHUNKS = 20  # a slow-drip body arrives in this many pieces
DEFAULT_DEMO_PORT = 8765
MAX_FAULT_SLEEP = 60.0  # no injected hang or delay outlives this
CACHEABLE = {"Cache-Control": "max-age=3600"}  # static assets only; pages are always fresh


@dataclass(frozen=True)
class RequestRecord:
    time: float  # time.monotonic() when the request arrived
    path: str  # path and query, as requested
    status: int  # the status the server answered (or, for a hang, will answer)
    user_agent: str = ""


@dataclass
class Fault:
    """One injected misbehaviour for the paths `match` selects (exact path, or a regex)."""

    match: str | re.Pattern[str]
    status_sequence: tuple[int, ...] = ()  # answer these statuses first, then normally
    retry_after: float | None = None  # answer 429 with this Retry-After for the first `times` hits
    hang_seconds: float | None = None  # sleep this long before answering, first `times` hits
    times: int = 1
    redirect_to: str | None = None  # answer every hit with a 302 to this URL
    delay_seconds: float = 0.0  # sleep before every answer
    # Misbehaviours of the answer itself (every hit unless noted):
    redirect_loop: bool = False  # 302 between the path and path?loop=1, forever
    content_type: str | None = None  # answer 200 with a sample body of this type (PDF, PNG, ...)
    pagination_trap: bool = False  # a section whose every page, however far, has a next page
    huge_bytes: int | None = None  # pad the normal page (inside a comment) to this many bytes
    iframe_src: str | None = None  # put an <iframe src=...> at the top of the normal page
    bad_gzip: bool = False  # say Content-Encoding: gzip, send bytes that are not gzip
    attachment: bool = False  # Content-Disposition: attachment (a browser would download it)
    extra_links: tuple[str, ...] = ()  # list these hrefs first in a section page's article list
    script: str | None = None  # run this JavaScript in the page (a hostile page's own script)
    reset_after: int | None = None  # send this many body bytes, then a TCP reset; first `times` hits
    drip_seconds: float | None = None  # send the body in pieces over this long; first `times` hits
    hits: int = 0

    def matches(self, path: str) -> bool:
        if isinstance(self.match, re.Pattern):
            return self.match.search(path) is not None
        return path == self.match or path.split("?", 1)[0] == self.match


class Faults:
    """The faults a server injects. Thread-safe; add faults before or during a crawl."""

    def __init__(self, *faults: Fault):
        self._faults = list(faults)
        self._lock = threading.Lock()

    def add(self, match: str | re.Pattern[str], **behaviour) -> Fault:
        """`faults.add("/robots.txt", status_sequence=[500])`, `faults.add(re.compile(r"^/news/"), hang_seconds=5)`."""
        for name in ("status_sequence", "extra_links"):
            if name in behaviour:
                behaviour[name] = tuple(behaviour[name])
        for name in ("hang_seconds", "delay_seconds", "retry_after", "drip_seconds"):
            value = behaviour.get(name)
            if value is not None and not 0 <= value <= MAX_FAULT_SLEEP:
                raise ValueError(f"{name} must be between 0 and {MAX_FAULT_SLEEP} seconds")
        fault = Fault(match, **behaviour)
        with self._lock:
            self._faults.append(fault)
        return fault

    def hit(self, path: str) -> list[tuple[Fault, int]]:
        """The faults matching `path`, each with its hit number (1 for the first hit)."""
        with self._lock:
            matched = []
            for fault in self._faults:
                if fault.matches(path):
                    fault.hits += 1
                    matched.append((fault, fault.hits))
            return matched


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    sleep: float = 0.0  # seconds to wait before sending
    drip: float = 0.0  # seconds over which the body trickles out
    reset_after: int | None = None  # body bytes sent before the connection is reset


class DemoServer:
    """`with DemoServer(DemoSite()) as server: ... server.base_url ... server.requests`."""

    def __init__(self, site: DemoSite, host: str = "127.0.0.1", port: int = 0,
                 faults: Faults | None = None):
        self.site = site
        self.host = host
        self.port = port
        self.faults = faults if faults is not None else Faults()
        self._requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every request so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, pattern: str) -> list[RequestRecord]:
        """The requests whose path matches the regex `pattern`."""
        compiled = re.compile(pattern)
        return [record for record in self.requests if compiled.search(record.path)]

    def start(self) -> DemoServer:
        self._stopping.clear()
        self._httpd = _QuietHTTPServer((self.host, self.port), _handler_for(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="demo-server",
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes injected hangs
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ------------------------------------------------------------ answering

    def answer(self, method: str, path: str, user_agent: str) -> Response:
        arrived = time.monotonic()
        response = self._with_faults(path)
        with self._lock:
            self._requests.append(RequestRecord(arrived, path, response.status, user_agent))
        return response

    def _with_faults(self, path: str) -> Response:
        sleep = 0.0
        override: Response | None = None
        matched = self.faults.hit(path)
        for fault, hit in matched:
            sleep += fault.delay_seconds
            if fault.hang_seconds is not None and hit <= fault.times:
                sleep += fault.hang_seconds
            if override is not None:
                continue
            if hit <= len(fault.status_sequence):
                status = fault.status_sequence[hit - 1]
                override = Response(status, f"injected status {status}\n".encode(), "text/plain")
            elif fault.retry_after is not None and hit <= fault.times:
                override = Response(429, b"slow down\n", "text/plain",
                                    {"Retry-After": f"{fault.retry_after:g}"})
            elif fault.redirect_to is not None:
                override = Response(302, b"", "text/plain", {"Location": fault.redirect_to})
            elif fault.redirect_loop:
                override = Response(302, b"", "text/plain", {"Location": _loop_partner(path)})
            elif fault.content_type is not None:
                override = Response(200, SAMPLE_BODIES.get(fault.content_type, b"\0" * 64),
                                    fault.content_type)
            elif fault.pagination_trap:
                override = self._trap_page(path)
        response = override or self.route(path)
        for fault, hit in matched:
            _misbehave(response, fault, hit)
        response.sleep = min(sleep, MAX_FAULT_SLEEP)
        return response

    def _trap_page(self, path: str) -> Response:
        """Page N of a section for every N: the real lists, round and round, each with a next link."""
        parts = urlsplit(path)
        found = re.fullmatch(r"/section/([a-z0-9-]+)", parts.path)
        if not found or found.group(1) not in self.site.sections:
            return _not_found()
        section = found.group(1)
        try:
            page = max(1, int(parse_qs(parts.query).get("page", ["1"])[0]))
        except ValueError:
            page = 1
        real = (page - 1) % self.site.page_count(section) + 1
        listing = self.site.render_section(section, real)
        following = f'<a class="next" href="{self.site.section_url(section, page + 1)}">Next page</a>'
        return _html(listing.replace("</main>", f"<nav>{following}</nav></main>", 1))

    def route(self, path: str) -> Response:
        """The demo site itself, without faults."""
        parts = urlsplit(path)
        route = parts.path
        query = parse_qs(parts.query)
        site = self.site
        if route in ("/", "/index.html"):
            return _html(site.render_home())
        if route == "/robots.txt":
            return Response(200, site.robots_txt().encode(), "text/plain; charset=utf-8")
        if route == "/static/site.css":
            return Response(200, SITE_CSS.encode(), "text/css", dict(CACHEABLE))
        if route.startswith("/static/") and route.endswith(".woff2"):
            return Response(200, b"wOF2" + bytes(64), "font/woff2", dict(CACHEABLE))
        if re.fullmatch(r"/img/\d+\.png", route):
            return Response(200, TINY_PNG, "image/png", dict(CACHEABLE))
        found = re.fullmatch(r"/(section|api/section)/([a-z0-9-]+)", route)
        if found and found.group(2) in site.sections:
            return self._section(found.group(1), found.group(2), query)
        found = re.fullmatch(r"(/private)?/news/([a-z0-9-]+)/(\d+)-([a-z0-9-]*)", route)
        if found:
            article = site.article(int(found.group(3)))
            if article is None or article.private != bool(found.group(1)):
                return _not_found()
            if route != article.url:  # an old slug or a wrong section: moved permanently
                return Response(301, b"", "text/plain", {"Location": article.url})
            return _html(site.render_article(article))
        return _not_found()

    def _section(self, kind: str, section: str, query: dict[str, list[str]]) -> Response:
        try:
            page = int(query.get("page", ["1"])[0])
        except ValueError:
            return _not_found()
        if not 1 <= page <= self.site.page_count(section):
            return _not_found()
        if kind == "api/section":
            body = json.dumps(self.site.section_items(section, page)).encode()
            return Response(200, body, "application/json")
        return _html(self.site.render_section(section, page))


def _loop_partner(path: str) -> str:
    """path -> path?loop=1 -> path -> ...: a redirect loop of two URLs."""
    bare, _, query = path.partition("?")
    return bare if "loop=1" in query else bare + "?loop=1"


def _misbehave(response: Response, fault: Fault, hit: int) -> None:
    """Spoil `response` the way `fault` says (the body-level and transport-level kinds)."""
    if fault.iframe_src is not None:
        frame = f'<iframe src="{fault.iframe_src}" width="300" height="200"></iframe>'.encode()
        response.body = response.body.replace(b"<body>", b"<body>" + frame, 1)
    if fault.script is not None:
        response.body = response.body.replace(b"</head>", f"<script>{fault.script}</script></head>".encode(), 1)
    if fault.extra_links:
        items = "".join(f'<li><a href="{html.escape(href)}">Also here</a></li>' for href in fault.extra_links)
        response.body = re.sub(rb'(<ul class="article-list"[^>]*>)', lambda m: m.group(1) + items.encode(),
                               response.body, count=1)
    if fault.huge_bytes is not None and len(response.body) < fault.huge_bytes:
        filler = b"<!-- " + b"x" * (fault.huge_bytes - len(response.body)) + b" -->"
        response.body = response.body.replace(b"</body>", filler + b"</body>", 1)
    if fault.bad_gzip:
        response.headers["Content-Encoding"] = "gzip"
        response.body = b"this is not gzip data " * 40
    if fault.attachment:
        response.headers["Content-Disposition"] = 'attachment; filename="article.html"'
    if fault.reset_after is not None and hit <= fault.times:
        response.reset_after = fault.reset_after
    if fault.drip_seconds is not None and hit <= fault.times:
        response.drip = min(fault.drip_seconds, MAX_FAULT_SLEEP)


def _html(text: str) -> Response:
    return Response(200, text.encode("utf-8"))


def _not_found() -> Response:
    return Response(404, b"<!DOCTYPE html><title>Not found</title><h1>Not found</h1>")


class _QuietHTTPServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        # Clients resetting or dropping a connection is routine here (faults, timeouts, a
        # killed browser); anything else is still printed.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(server: DemoServer) -> type[BaseHTTPRequestHandler]:
    class DemoHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real sites do; every answer has a length
        disable_nagle_algorithm = True  # else headers and body meet delayed ACKs: 40 ms a page
        server_version = "DemoNews/1.0"

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _answer(self, send_body: bool) -> None:
            response = server.answer(self.command, self.path, self.headers.get("User-Agent", ""))
            if response.sleep and server._stopping.wait(response.sleep):
                self.close_connection = True
                return
            try:
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(response.body)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if send_body:
                    self._send_body(response)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (e.g. timed out on a hang)

        def _send_body(self, response: Response) -> None:
            body = response.body
            if response.reset_after is not None:
                self.wfile.write(body[:response.reset_after])
                # SO_LINGER 0: close() sends a TCP reset instead of a polite FIN.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                return
            if not response.drip:
                self.wfile.write(body)
                return
            piece = max(1, -(-len(body) // DRIP_CHUNKS))
            for start in range(0, len(body), piece):
                self.wfile.write(body[start:start + piece])
                if server._stopping.wait(response.drip / DRIP_CHUNKS):
                    self.close_connection = True
                    return

        def log_message(self, format: str, *args) -> None:
            pass  # the request log is `server.requests`; stderr stays quiet

    return DemoHandler


def serve_forever(port: int = DEFAULT_DEMO_PORT, articles: int = 60, host: str = "127.0.0.1") -> None:
    """`newscrawl demo-site`: serve the demo site until Ctrl-C."""
    site = DemoSite(articles=articles)
    with DemoServer(site, host=host, port=port) as server:
        print(f"Demo News: {server.base_url}/ ({articles} articles in "
              f"{', '.join(site.sections)}); Ctrl-C stops it", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopped", flush=True)
