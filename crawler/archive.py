"""The archive: every fetched page kept as WARC (ISO 28500), so no article is ever lost.

Layout: `{root}/{site}/{date}-{n}.warc.gz` (date UTC YYYY-MM-DD, n from 0). Each record is its
own gzip member, so any record can be read from its offset alone (what `warcio index` and CDX
lookups rely on). A file starts with a `warcinfo` record; once it passes
settings.ARCHIVE_MAX_FILE_BYTES the next page goes to file n+1 (a page is never split).

We write WARC/1.0, not 1.1: it is what Common Crawl (CC-NEWS included), Heritrix and warcio
write by default, and what every replay and indexing tool reads. Nothing we use is new in 1.1
(its gain is sub-second WARC-Date; the fetch time with its fraction is in the JSON line).

What one page becomes (`write_page`):
- with the served body: a `response` record (application/http: the status line, the headers
  and the body as served, with WARC-Block-Digest and WARC-Payload-Digest); and when the page
  was rendered, a `conversion` record (text/html, the DOM extraction read) with WARC-Refers-To
  naming the response. The spec's `conversion` is "an alternative version of another record's
  content created by an archival process", and WARC-Refers-To links such a derived record to
  its original; WARC-Concurrent-To is for records of the same capture event (a request and its
  response). Replay tools also skip `conversion` records, so a URL replays as served.
- without it (browser mode, where Playwright cannot always give the body): a `resource` record
  (text/html, the rendered DOM: "a resource without full protocol response information") and a
  `metadata` record (application/warc-fields) referring to it, which keeps the served status and
  headers. Both shapes are valid WARC; `iter_archive` reads either back as one ArchivedPage.

Every record of one page carries `Newscrawl-Part: i/n`, a WARC extension field. It tells the
start-up repair whether a file ends with a whole page, and the reader which resource and
metadata records are ours.

Durability as in output.py: a page's records go out as ONE append of whole gzip members,
then fsync, so when `write_page` returns they are on disk. A failed write (disk full, read-only)
is cut back, so nothing half-written stays, and raised as StorageError. A crash can only tear
the last page; it is cut off when the file is next opened for writing. One writer at a time: an
exclusive flock on each file (OutputLockedError for a second crawl).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import socket
import threading
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import BinaryIO, Self

from .errors import StorageError
from .fetched import decode_body
from .output import _fsync_dir, _open_locked
from .settings import ARCHIVE_GZIP_LEVEL, ARCHIVE_MAX_FILE_BYTES, ARCHIVE_ROOT

WARC_VERSION = "WARC/1.0"
PART_FIELD = "Newscrawl-Part"  # "i/n": record i of the n records one page was written as
HTML_TYPE = "text/html; charset=utf-8"
FILE_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})-(\d+)\.warc\.gz")
# The framing headers of the stored body are kept under Common Crawl's names when they no longer
# describe it, so that no reader un-chunks or decompresses the stored bytes a second time.
RENAMED_PREFIX = "X-Crawler-"
SCAN_CHUNK = 1024 * 1024
TAIL_WINDOWS = (1 << 20, 16 << 20, 128 << 20)  # how far back to look for the last record's start
GZIP_MAGIC = b"\x1f\x8b\x08"


@dataclass(frozen=True)
class RecordSpan:
    """One record in an archive file: its gzip member's offset and compressed length."""

    offset: int
    length: int
    record_type: str  # "response", "conversion", "resource", "metadata"
    record_id: str  # "<urn:uuid:...>"


@dataclass(frozen=True)
class PageLocation:
    """Where `write_page` put one page: the file and its records (consecutive, in order)."""

    path: Path
    records: tuple[RecordSpan, ...]

    @property
    def offset(self) -> int:
        return self.records[0].offset

    @property
    def length(self) -> int:
        return sum(span.length for span in self.records)


@dataclass
class ArchivedPage:
    """One page read back from a WARC file (ours or anyone's)."""

    url: str
    status: int | None  # None for a resource record whose served headers were not kept
    headers: list[tuple[str, str]]  # the HTTP headers as stored, in order, repeats kept
    body: bytes | None  # the HTTP payload as stored; None when only the rendered DOM was kept
    fetched_at: datetime  # the WARC-Date (UTC, whole seconds in WARC/1.0)
    path: Path
    records: tuple[RecordSpan, ...]
    rendered_dom: str | None = None
    http_version: str = "HTTP/1.1"
    record_id: str = ""  # of the response (or resource) record

    def header(self, name: str) -> str | None:
        """The first header called `name` (any case), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def html(self, max_body_bytes: int | None = None) -> str | None:
        """What extraction reads: the rendered DOM when one was kept, else the body decoded as
        the crawl's http transport decodes it. None when the body is over `max_body_bytes`."""
        if self.rendered_dom is not None:
            return self.rendered_dom
        body = self.decoded_body() or b""
        if max_body_bytes is not None and len(body) > max_body_bytes:
            return None
        return decode_body(body, self.header("Content-Type") or "")

    def decoded_body(self) -> bytes | None:
        """The body with its Transfer-Encoding (chunked) and Content-Encoding (gzip, deflate,
        br) undone: what a browser reads.

        Files that store bodies decoded (ours when the transport decoded them, Common Crawl's)
        have neither left, and the body comes back as stored. A WARC may keep the chunked
        framing (the spec's "as received"; wget and warcio's capture do).
        """
        if self.body is None:
            return None
        body = self.body
        if "chunked" in (self.header("Transfer-Encoding") or "").lower():
            body = _dechunked(body)
        encodings = [part.strip().lower() for part in (self.header("Content-Encoding") or "").split(",")]
        for encoding in reversed([e for e in encodings if e and e != "identity"]):
            if encoding in ("gzip", "x-gzip"):
                body = gzip.decompress(body)
            elif encoding == "deflate":
                try:
                    body = zlib.decompress(body)
                except zlib.error:  # raw deflate, as some servers send it
                    body = zlib.decompress(body, -zlib.MAX_WBITS)
            elif encoding == "br":
                import brotli

                body = brotli.decompress(body)
            else:
                raise ValueError(f"{self.url}: unknown Content-Encoding {encoding!r}")
        return body


def _dechunked(body: bytes) -> bytes:
    """`body` without its HTTP/1.1 chunked framing; as stored when it is not framed so (some
    writers de-chunk but keep the header, as warcio's reader also allows)."""
    chunks, position = [], 0
    while True:
        line_end = body.find(b"\r\n", position)
        size_text = body[position:line_end].split(b";", 1)[0].strip() if line_end >= 0 else b""
        try:
            size = int(size_text, 16)
        except ValueError:
            return body
        if size == 0:
            return b"".join(chunks)
        start = line_end + 2
        if start + size > len(body):
            return b"".join(chunks) + body[start:]  # cut short: what came of the last chunk
        chunks.append(body[start:start + size])
        position = start + size + 2  # past the chunk's CRLF


class ArchiveWriter:
    """Appends pages to `{root}/{site}/{date}-{n}.warc.gz`; one open file per site."""

    def __init__(self, root: Path | str = ARCHIVE_ROOT, *, max_file_bytes: int = ARCHIVE_MAX_FILE_BYTES,
                 gzip_level: int = ARCHIVE_GZIP_LEVEL,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.root = Path(root)
        self.max_file_bytes = max_file_bytes
        self.gzip_level = gzip_level
        self._clock = clock
        self._open: dict[str, _OpenFile] = {}
        # The crawl writes pages from worker threads, so the disk's wait overlaps the event loop;
        # records are compressed outside the lock, appended one page at a time under it.
        self._lock = threading.Lock()

    def path_for(self, site: str) -> Path:
        """The file a page of `site` written now goes to (the open one, or the next to open)."""
        with self._lock:
            current = self._current(site)
            if current is not None:
                return current.path
        day = self._day()
        return self._folder(site) / f"{day}-{_last_number(self._folder(site), day)}.warc.gz"

    def claim(self, site: str) -> Path:
        """Take the file a page of `site` written now goes to: lock it and repair it.

        Claimed before the crawl's first fetch, so a clash with another crawl ends the run
        before any site was asked for anything. Raises OutputLockedError.
        """
        with self._lock:
            return self._file(site).path

    def write_page(self, site: str, *, url: str, status: int, headers: list[tuple[str, str]],
                   body: bytes | None, fetched_at: datetime, rendered_dom: str | None = None,
                   http_version: str = "HTTP/1.1", body_decoded: bool = False) -> PageLocation:
        """Archive one fetched page; durable when this returns. Returns where its records went.

        `headers` and `body` as served: the body de-chunked (every HTTP client does that; a
        Transfer-Encoding header is kept as X-Crawler-Transfer-Encoding). `body_decoded=True`
        says the transport also undid the Content-Encoding (Playwright does): Content-Encoding
        and Content-Length are then kept as X-Crawler-... and a true Content-Length is added,
        as Common Crawl does. `rendered_dom` is the DOM extraction read, in browser mode.
        `body=None` (the body was not available) needs `rendered_dom`. Raises StorageError when
        the disk refuses the write, with nothing of the page left in the file.
        """
        if body is None and rendered_dom is None:
            raise ValueError(f"{url}: a page needs its body or its rendered DOM")
        if fetched_at.tzinfo is None:
            raise ValueError(f"{url}: fetched_at must be timezone-aware")
        date = fetched_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        served = _served_headers(headers, body, body_decoded)
        status_line = f"{http_version} {status} {_reason(status)}"
        if body is not None:
            first = _record("response", url, date, _http_block(status_line, served, body),
                            "application/http; msgtype=response", payload=body)
            linked = [] if rendered_dom is None else [
                _record("conversion", url, date, rendered_dom.encode("utf-8"), HTML_TYPE,
                        refers_to=first.record_id)]
        else:
            first = _record("resource", url, date, rendered_dom.encode("utf-8"), HTML_TYPE)
            linked = [_record("metadata", url, date, _served_fields(status_line, served),
                              "application/warc-fields", refers_to=first.record_id)]
        records = [first, *linked]
        for number, record in enumerate(records, 1):
            record.fields.append((PART_FIELD, f"{number}/{len(records)}"))
        return self._append(site, records)

    def close(self) -> None:
        """Release every file; one claimed but never written to is removed, not left empty."""
        with self._lock:
            for opened in self._open.values():
                opened.release()
            self._open.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ files

    def _append(self, site: str, records: list[_Record]) -> PageLocation:
        members = [(record, _gzip_member(record.to_bytes(), self.gzip_level)) for record in records]
        with self._lock:
            return self._append_members(site, members)

    def _append_members(self, site: str, members: list[tuple[_Record, bytes]]) -> PageLocation:
        opened = self._file(site)
        size_before = os.fstat(opened.fd).st_size
        if size_before == 0:  # a new file: its warcinfo goes out with its first page
            info = _warcinfo(opened.path.name, site)
            members.insert(0, (info, _gzip_member(info.to_bytes(), self.gzip_level)))
        blob = b"".join(member for _, member in members)
        try:
            _write_all(opened.fd, blob)
            os.fsync(opened.fd)
        except BaseException as exc:
            try:
                os.ftruncate(opened.fd, size_before)
            except OSError:
                pass  # a disk gone read-only: what stayed is cut at the next open, as after a crash
            if isinstance(exc, OSError):  # disk full, read-only, I/O error: the run must stop
                raise StorageError(str(opened.path),
                                   f"cannot write the archive: {exc.strerror or exc}") from None
            raise
        spans, offset = [], size_before
        for record, member in members:
            if record.record_type != "warcinfo":
                spans.append(RecordSpan(offset, len(member), record.record_type, record.record_id))
            offset += len(member)
        if offset >= self.max_file_bytes:
            opened.full = True
        return PageLocation(opened.path, tuple(spans))

    def _current(self, site: str) -> _OpenFile | None:
        opened = self._open.get(site)
        if opened is not None and (opened.full or opened.day != self._day()):
            opened.release()
            del self._open[site]
            return None
        return opened

    def _file(self, site: str) -> _OpenFile:
        opened = self._current(site)
        if opened is not None:
            return opened
        folder, day = self._folder(site), self._day()
        folder.mkdir(parents=True, exist_ok=True)
        number = _last_number(folder, day)
        while True:
            path = folder / f"{day}-{number}.warc.gz"
            fd, created = _open_locked(path, create=True, flags="--archive (or --out) and --state")
            try:
                repair_locked(fd, path)
                if created:
                    _fsync_dir(folder)  # so the new file's name survives a crash too
                full = os.fstat(fd).st_size >= self.max_file_bytes
            except BaseException:
                os.close(fd)
                raise
            opened = _OpenFile(path, fd, day)
            if not full:
                self._open[site] = opened
                return opened
            opened.release()
            number += 1

    def _folder(self, site: str) -> Path:
        if not site or site in (".", "..") or "/" in site or "\\" in site or "\0" in site:
            raise ValueError(f"site name {site!r} cannot be part of an archive path")
        return self.root / site

    def _day(self) -> str:
        return self._clock().astimezone(UTC).strftime("%Y-%m-%d")


@dataclass
class _OpenFile:
    path: Path
    fd: int
    day: str
    full: bool = False

    def release(self) -> None:
        try:
            if os.fstat(self.fd).st_size == 0:
                self.path.unlink(missing_ok=True)  # still under our lock: nobody writes it
        finally:
            os.close(self.fd)  # and with it the lock


def _last_number(folder: Path, day: str) -> int:
    """The highest n of `{day}-{n}.warc.gz` in `folder`, or 0 when there is none."""
    numbers = [int(match[2]) for entry in (os.listdir(folder) if folder.is_dir() else ())
               if (match := FILE_NAME.fullmatch(entry)) and match[1] == day]
    return max(numbers, default=0)


def _write_all(fd: int, blob: bytes) -> None:
    view = memoryview(blob)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(f"short write: {len(view)} bytes not written")
        view = view[written:]


# ------------------------------------------------------------------ records

@dataclass
class _Record:
    record_type: str
    record_id: str  # "<urn:uuid:...>"
    fields: list[tuple[str, str]]  # after WARC-Type and WARC-Record-ID, in order
    block: bytes
    payload: bytes | None = None  # the HTTP body of a response, for its WARC-Payload-Digest

    def to_bytes(self) -> bytes:
        """The record, serialised by FastWARC (which adds Content-Length and the block digest)."""
        from fastwarc.warc import WarcRecord, WarcRecordType

        record = WarcRecord()
        record.init_headers(getattr(WarcRecordType, self.record_type),
                            self.record_id[len("<urn:"):-1].encode("ascii"))
        record.headers.status_line = WARC_VERSION
        for name, value in self.fields:
            record.headers[name] = value
        record.set_bytes_content(self.block)
        out = io.BytesIO()
        record.write(out, checksum_data=True,
                     payload_digest=None if self.payload is None else hashlib.sha1(self.payload).digest())
        return out.getvalue()


def _record(record_type: str, url: str | None, date: str, block: bytes, content_type: str, *,
            payload: bytes | None = None, refers_to: str | None = None) -> _Record:
    fields = [("WARC-Date", date)]
    if url is not None:
        fields.append(("WARC-Target-URI", url))
    if refers_to is not None:
        fields.append(("WARC-Refers-To", refers_to))
    fields.append(("Content-Type", content_type))
    return _Record(record_type, f"<urn:uuid:{uuid.uuid4()}>", fields, block, payload)


def _warcinfo(filename: str, site: str) -> _Record:
    info = [("software", f"newscrawl/{_version('newscrawl')} (FastWARC {_version('fastwarc')})"),
            ("format", "WARC File Format 1.0"),
            ("conformsTo", "http://bibnum.bnf.fr/WARC/WARC_ISO_28500_version1_latestdraft.pdf"),
            ("hostname", socket.gethostname()), ("isPartOf", site)]
    block = "".join(f"{name}: {value}\r\n" for name, value in info).encode("utf-8")
    record = _record("warcinfo", None, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), block,
                     "application/warc-fields")
    record.fields.insert(1, ("WARC-Filename", filename))
    return record


@cache
def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


def _served_headers(headers: list[tuple[str, str]], body: bytes | None,
                    body_decoded: bool) -> list[tuple[str, str]]:
    """The headers to store beside `body`: as served, but for framing that no longer holds."""
    renamed = {"transfer-encoding"}
    if body_decoded:
        renamed |= {"content-encoding", "content-length"}
    served = []
    for name, value in headers:
        if any(char in name + value for char in "\r\n") or ":" in name or not name.strip():
            raise ValueError(f"header {name!r}: {value!r} cannot be stored in a WARC record")
        served.append((RENAMED_PREFIX + name if name.lower() in renamed else name, value))
    if body_decoded and body is not None:
        served.append(("Content-Length", str(len(body))))
    return served


def _http_block(status_line: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    lines = [status_line, *(f"{name}: {value}" for name, value in headers)]
    # surrogateescape: a header aiohttp decoded from bytes that are not UTF-8 goes back as it came
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


def _served_fields(status_line: str, headers: list[tuple[str, str]]) -> bytes:
    """The served status and headers as application/warc-fields, for a page without its body."""
    lines = [f"HTTP-Status-Line: {status_line}", *(f"HTTP-Header: {name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8", "surrogateescape")


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _gzip_member(record: bytes, level: int) -> bytes:
    """`record` as one gzip member, by FastWARC's gzip (measured 40% less CPU than zlib's)."""
    from fastwarc.stream_io import GzipWriter

    sink = _Sink()
    member = GzipWriter(sink, compression_level=level)
    member.write(record)
    member.close()  # ends the member; the sink stays open
    return bytes(sink.data)


class _Sink:
    """A byte buffer whose close() keeps its bytes (io.BytesIO's drops them)."""

    def __init__(self):
        self.data = bytearray()

    def write(self, chunk: bytes) -> int:
        self.data += chunk
        return len(chunk)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


# ------------------------------------------------------------------ repair

def repair(path: Path) -> int:
    """Make `path` end with a whole page after a crash; return the bytes removed.

    Raises OutputLockedError while a writer holds the file.
    """
    try:
        fd, _ = _open_locked(Path(path), create=False)
    except FileNotFoundError:
        return 0
    try:
        return repair_locked(fd, path)
    finally:
        os.close(fd)


def repair_locked(fd: int, path: Path | str) -> int:
    """`repair` on a file this process holds the lock of.

    The common case is quick: the last gzip member is found from the end, and when it is whole
    and the last record of its page, the file is whole. Otherwise (after a crash) the members
    are read from the start and the file is cut after the last whole page.
    """
    size = os.fstat(fd).st_size
    if size == 0:
        return 0
    last = _last_member(fd, size)
    if last is not None and _ends_page(last):
        return 0
    keep = _end_of_last_whole_page(fd, size, str(path))
    os.ftruncate(fd, keep)
    os.fsync(fd)
    return size - keep


def _ends_page(record_head: bytes) -> bool:
    """Whether a record (its WARC header) is the last of its page, or stands alone."""
    match = re.search(rb"\r\n" + PART_FIELD.encode() + rb":\s*(\d+)/(\d+)\r\n", record_head)
    return match is None or match[1] == match[2]


def _last_member(fd: int, size: int) -> bytes | None:
    """The WARC header of the file's last gzip member when that member is whole and ends the
    file, found by looking back from the end; None when there is no such member."""
    for window in TAIL_WINDOWS:
        start = max(0, size - window)
        tail = os.pread(fd, size - start, start)
        position = len(tail)
        while (position := tail.rfind(GZIP_MAGIC, 0, position)) >= 0:
            head = _whole_member_head(tail[position:])
            if head is not None:
                return head
        if start == 0:
            return None
    return None


def _whole_member_head(data: bytes) -> bytes | None:
    """The WARC header of `data` when it is exactly one whole gzip member holding one whole
    WARC record, else None."""
    inflater = zlib.decompressobj(31)
    try:
        text = inflater.decompress(data)
    except zlib.error:
        return None
    if not inflater.eof or inflater.unused_data or not _is_whole_record(text):
        return None
    return _record_head(text)


def _is_whole_record(text: bytes, *, exact: bool = True) -> bool:
    """A WARC record whose block is as long as its Content-Length says, and its two CRLFs after
    it (`exact`: and nothing more, as in a gzip member of its own)."""
    end = text.find(b"\r\n\r\n")
    if not text.startswith(b"WARC/") or end < 0:
        return False
    length = re.search(rb"\r\nContent-Length:\s*(\d+)\s*\r\n", text[:end + 2], re.IGNORECASE)
    if length is None:
        return False
    needed = end + 4 + int(length[1]) + 4
    return len(text) == needed if exact else len(text) >= needed


def _end_of_last_whole_page(fd: int, size: int, path: str) -> int:
    """Read the gzip members from the start; the offset after the last one that ends a page.

    Raises StorageError when a whole record follows a broken one: that is damage inside the
    file, not a torn end, and cutting there would lose whole pages.
    """
    keep = member_start = position = 0
    inflater, text, unread = zlib.decompressobj(31), bytearray(), b""
    while True:
        if not unread:
            if position >= size:
                return keep  # the end, between members or inside a torn one
            unread = os.pread(fd, min(SCAN_CHUNK, size - position), position)
            position += len(unread)
        try:
            text += inflater.decompress(unread)
        except zlib.error:
            break
        if not inflater.eof:
            unread = b""
            continue
        unread = inflater.unused_data
        if not _is_whole_record(bytes(text)):
            break
        member_start = position - len(unread)
        if _ends_page(_record_head(text)):
            keep = member_start
        inflater, text = zlib.decompressobj(31), bytearray()
    if _whole_member_after(fd, member_start, size):
        raise StorageError(path, f"the archive file is damaged at byte {member_start}, before its "
                           "end; move it aside and run again (the archive then starts a new file)")
    return keep


def _whole_member_after(fd: int, start: int, size: int) -> bool:
    """Whether a whole gzip member holding a WARC record starts anywhere after `start`."""
    position = start + 1
    while position < size:
        window = os.pread(fd, min(SCAN_CHUNK, size - position), position)
        found = window.find(GZIP_MAGIC)
        if found < 0:
            position += max(1, len(window) - len(GZIP_MAGIC) + 1)
            continue
        if _starts_whole_member(fd, position + found, size):
            return True
        position += found + 1
    return False


def _starts_whole_member(fd: int, start: int, size: int) -> bool:
    inflater, text, position = zlib.decompressobj(31), bytearray(), start
    while position < size and not inflater.eof:
        chunk = os.pread(fd, min(SCAN_CHUNK, size - position), position)
        position += len(chunk)
        try:
            text += inflater.decompress(chunk)
        except zlib.error:
            return False
    return inflater.eof and _is_whole_record(bytes(text))


def _record_head(text: bytes | bytearray) -> bytes:
    return bytes(text[:text.index(b"\r\n\r\n") + 2])


# ------------------------------------------------------------------ reading

def iter_archive(paths: Iterable[Path | str]) -> Iterator[ArchivedPage]:
    """Every page in the WARC files `paths`, in order, streaming (one record in memory at a time).

    Any WARC, gzip'd per record or not, ours or another crawler's (Common Crawl's CC-NEWS
    included): `response` records over HTTP are pages; our rendered-DOM records are joined to
    their page; every other record is skipped. A torn last record (a file still being written,
    or a crash not yet repaired) is left out.
    """
    for path in paths:
        yield from _iter_file(Path(path))


def read_page(path: Path | str, offset: int) -> ArchivedPage:
    """The page whose first record starts at `offset` in `path` (a PageLocation's offset)."""
    with open(path, "rb") as stream:
        stream.seek(offset)
        page = next(_iter_stream(Path(path), stream), None)
    if page is None:
        raise ValueError(f"{path}: no page at offset {offset}")
    return page


def _iter_file(path: Path) -> Iterator[ArchivedPage]:
    with open(path, "rb") as stream:
        yield from _iter_stream(path, stream)


def _iter_stream(path: Path, stream: BinaryIO) -> Iterator[ArchivedPage]:
    from fastwarc.warc import ArchiveIterator

    pending: ArchivedPage | None = None  # a page whose linked records may still follow
    spans: list[RecordSpan] = []  # of the pending page; the last one's length still unknown
    last_offset: int | None = None
    for record in ArchiveIterator(stream, parse_http=True):
        offset = record.stream_pos  # in the file, wherever the stream started
        if spans and spans[-1].length < 0:  # the previous record ends where this one starts
            spans[-1] = _ended(spans[-1], offset)
        last_offset = offset
        kind = str(record.record_type)
        span = RecordSpan(offset, -1, kind, record.record_id or "")
        if pending is not None and _joins(record, kind, pending):
            _join(pending, record, kind)
            spans.append(span)
            continue
        if pending is not None:
            pending.records = tuple(spans)
            yield pending
        pending = _page(path, record, kind)
        spans = [span] if pending is not None else []
    if pending is None or last_offset is None:
        return
    size = os.fstat(stream.fileno()).st_size
    if spans[-1].length < 0:
        spans[-1] = _ended(spans[-1], size)
        if not _tail_is_whole(stream, last_offset, size):
            return  # the page's last record is torn
    pending.records = tuple(spans)
    yield pending


def _ended(span: RecordSpan, end: int) -> RecordSpan:
    return RecordSpan(span.offset, end - span.offset, span.record_type, span.record_id)


def _page(path: Path, record, kind: str) -> ArchivedPage | None:
    url = record.headers.get("WARC-Target-URI") or ""
    if kind == "response" and record.is_http:
        http = record.http_headers
        status_line = http.status_line or ""
        return ArchivedPage(
            url=url, status=http.status_code, headers=_header_pairs(http.items_bytes()),
            body=record.reader.read(), fetched_at=record.record_date, path=path, records=(),
            http_version=status_line.split(" ", 1)[0] or "HTTP/1.1", record_id=record.record_id)
    if kind == "resource" and PART_FIELD in record.headers:
        return ArchivedPage(
            url=url, status=None, headers=[], body=None, fetched_at=record.record_date, path=path,
            records=(), rendered_dom=record.reader.read().decode("utf-8", "replace"),
            record_id=record.record_id)
    return None


def _joins(record, kind: str, pending: ArchivedPage) -> bool:
    return (kind in ("conversion", "metadata") and PART_FIELD in record.headers
            and record.headers.get("WARC-Refers-To") == pending.record_id)


def _join(page: ArchivedPage, record, kind: str) -> None:
    content = record.reader.read()
    if kind == "conversion":
        page.rendered_dom = content.decode("utf-8", "replace")
        return
    for line in content.decode("utf-8", "surrogateescape").split("\r\n"):
        name, _, value = line.partition(": ")
        if name == "HTTP-Status-Line":
            version, _, rest = value.partition(" ")
            page.http_version = version
            page.status = int(rest.split(" ", 1)[0]) if rest[:3].isdigit() else None
        elif name == "HTTP-Header":
            header_name, _, header_value = value.partition(": ")
            page.headers.append((header_name, header_value))


def _header_pairs(items: tuple[tuple[bytes, bytes], ...]) -> list[tuple[str, str]]:
    return [(name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
            for name, value in items]


def _tail_is_whole(stream: BinaryIO, offset: int, size: int) -> bool:
    """Whether the file's last record, from `offset`, is whole (a torn one is not yielded)."""
    data = os.pread(stream.fileno(), size - offset, offset)
    if data.startswith(GZIP_MAGIC):
        return _whole_member_head(data) is not None
    if data.startswith(b"WARC/"):
        return _is_whole_record(data, exact=False)
    return True  # not a record of its own (a file gzip'd whole): nothing to check it by
