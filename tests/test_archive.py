"""The WARC archive (crawler/archive.py): pages come back exactly as written, the files are
valid WARC for warcio, rotate at their size limit, and survive a kill -9, a full disk and a
second writer; the reader streams any WARC, Common Crawl's included, in flat memory."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mounts import needs_mount, tmpfs
from warcio.archiveiterator import ArchiveIterator as WarcioIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.archive import ArchiveWriter, iter_archive, read_page, repair
from crawler.errors import OutputLockedError, StorageError

WARCIO = Path(sys.executable).with_name("warcio")
FETCHED = datetime(2025, 12, 2, 8, 30, 15, 250000, tzinfo=UTC)
HEADERS = [("Content-Type", "text/html; charset=utf-8"), ("Set-Cookie", "a=1; Path=/"),
           ("Set-Cookie", "b=2; Path=/"), ("X-Title", "Grüße aus Köln"), ("Cache-Control", "max-age=60")]


def page_body(size: int = 2000, seed: int = 0) -> bytes:
    """Bytes no text codec would keep: markup, a blank line, NULs and invalid UTF-8."""
    rng = random.Random(seed)
    filler = bytes(rng.randrange(256) for _ in range(size))
    return b"<html><body><p>Text\r\n\r\nafter a blank line</p>\x00\xff\xfe" + filler + b"</body></html>"


def warc_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.warc.gz"))


def warcio(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(WARCIO), *map(str, args)], capture_output=True, text=True,
                          timeout=120, check=False)


def assert_valid_warc(*paths: Path) -> None:
    checked = warcio("check", "-v", *paths)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    indexed = warcio("index", *paths)
    assert indexed.returncode == 0, indexed.stderr


def warcio_records(path: Path) -> list:
    """(type, headers) of every record, read by warcio, the other library."""
    with open(path, "rb") as stream:
        return [(record.rec_type, dict(record.rec_headers.headers))
                for record in WarcioIterator(stream)]


# ------------------------------------------------------------------ what a page becomes

def test_a_page_comes_back_with_its_bytes_and_headers_as_given(tmp_path):
    body = page_body()
    with ArchiveWriter(tmp_path) as writer:
        where = writer.write_page("demo", url="https://news.test/a?b=1", status=200,
                                  headers=HEADERS, body=body, fetched_at=FETCHED)
    [page] = iter_archive(warc_files(tmp_path))
    assert page.url == "https://news.test/a?b=1"
    assert page.status == 200 and page.http_version == "HTTP/1.1"
    assert page.headers == HEADERS
    assert page.body == body
    assert page.rendered_dom is None
    assert page.fetched_at == FETCHED.replace(microsecond=0)  # WARC/1.0 dates are whole seconds
    assert (page.path, page.records) == (where.path, where.records)


def test_the_response_record_carries_target_uri_date_and_both_digests(tmp_path):
    with ArchiveWriter(tmp_path) as writer:
        where = writer.write_page("demo", url="https://news.test/a", status=200, headers=HEADERS,
                                  body=page_body(), fetched_at=FETCHED)
    types = [kind for kind, _ in warcio_records(where.path)]
    assert types == ["warcinfo", "response"]
    _, fields = warcio_records(where.path)[1]
    assert fields["WARC-Target-URI"] == "https://news.test/a"
    assert fields["WARC-Date"] == "2025-12-02T08:30:15Z"
    assert fields["WARC-Payload-Digest"].startswith("sha1:")
    assert fields["WARC-Block-Digest"].startswith("sha1:")
    assert_valid_warc(where.path)


def test_the_rendered_dom_is_a_conversion_record_that_refers_to_its_response(tmp_path):
    dom = "<html><body><article><h1>Überschrift</h1><p>Rendered</p></article></body></html>"
    with ArchiveWriter(tmp_path) as writer:
        where = writer.write_page("demo", url="https://news.test/a", status=200, headers=HEADERS,
                                  body=page_body(), fetched_at=FETCHED, rendered_dom=dom)
    (_, _), (response_type, response), (dom_type, conversion) = warcio_records(where.path)
    assert (response_type, dom_type) == ("response", "conversion")
    assert conversion["WARC-Refers-To"] == response["WARC-Record-ID"]
    assert conversion["Content-Type"] == "text/html; charset=utf-8"
    assert conversion["WARC-Target-URI"] == response["WARC-Target-URI"]
    assert [span.record_type for span in where.records] == ["response", "conversion"]
    [page] = iter_archive([where.path])
    assert page.rendered_dom == dom and page.body == page_body()
    assert_valid_warc(where.path)


def test_a_page_without_its_served_body_keeps_the_dom_and_the_served_headers(tmp_path):
    dom = "<html><body><p>only the DOM</p></body></html>"
    with ArchiveWriter(tmp_path) as writer:
        where = writer.write_page("demo", url="https://news.test/b", status=203, headers=HEADERS,
                                  body=None, fetched_at=FETCHED, rendered_dom=dom,
                                  http_version="HTTP/2")
    (_, _), (resource_type, resource), (metadata_type, metadata) = warcio_records(where.path)
    assert (resource_type, metadata_type) == ("resource", "metadata")
    assert metadata["WARC-Refers-To"] == resource["WARC-Record-ID"]
    [page] = iter_archive([where.path])
    assert page.body is None and page.rendered_dom == dom
    assert (page.status, page.http_version, page.headers) == (203, "HTTP/2", HEADERS)
    assert_valid_warc(where.path)


def test_a_page_needs_a_body_or_a_dom(tmp_path):
    with ArchiveWriter(tmp_path) as writer, pytest.raises(ValueError, match="body or its rendered DOM"):
        writer.write_page("demo", url="https://news.test/a", status=200, headers=[], body=None,
                          fetched_at=FETCHED)


def test_framing_headers_that_no_longer_describe_the_stored_body_are_renamed(tmp_path):
    body = b"<html>decoded by the transport</html>"
    with ArchiveWriter(tmp_path) as writer:
        where = writer.write_page(
            "demo", url="https://news.test/a", status=200, body=body, fetched_at=FETCHED,
            headers=[("Content-Encoding", "gzip"), ("Content-Length", "21"),
                     ("Transfer-Encoding", "chunked")], body_decoded=True)
    [page] = iter_archive([where.path])
    assert page.headers == [("X-Crawler-Content-Encoding", "gzip"), ("X-Crawler-Content-Length", "21"),
                            ("X-Crawler-Transfer-Encoding", "chunked"), ("Content-Length", str(len(body)))]
    assert page.decoded_body() == body
    assert_valid_warc(where.path)


def test_a_body_stored_with_its_content_encoding_is_decoded_on_request(tmp_path):
    import gzip

    html = b"<html>served compressed</html>"
    with ArchiveWriter(tmp_path) as writer:
        where = writer.write_page("demo", url="https://news.test/a", status=200, fetched_at=FETCHED,
                                  headers=[("Content-Encoding", "gzip")], body=gzip.compress(html))
    [page] = iter_archive([where.path])
    assert page.body == gzip.compress(html, mtime=0) or page.body.startswith(b"\x1f\x8b")
    assert page.decoded_body() == html


def test_a_body_stored_chunked_as_received_is_dechunked_then_decoded_on_request(tmp_path):
    import gzip

    html = b"<html>served chunked and compressed</html>"
    zipped = gzip.compress(html)
    framed = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (5, zipped[:5], len(zipped) - 5, zipped[5:])
    path = tmp_path / "chunked.warc"
    with open(path, "wb") as out:  # warcio keeps the framing, as wget's WARCs do
        writer = WARCWriter(out, gzip=False)
        http = StatusAndHeaders("200 OK", [("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")],
                                protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record("https://news.test/c", "response",
                                                      payload=io.BytesIO(framed), length=len(framed),
                                                      http_headers=http))
    [page] = iter_archive([path])
    assert page.body == framed
    assert page.decoded_body() == html


def test_a_body_said_to_be_chunked_but_stored_dechunked_comes_back_as_stored(tmp_path):
    with ArchiveWriter(tmp_path) as writer:
        where = writer.write_page("demo", url="https://news.test/d", status=200, fetched_at=FETCHED,
                                  headers=[("X-Note", "chunked")], body=b"<html>plain</html>")
    [page] = iter_archive([where.path])
    page.headers.append(("Transfer-Encoding", "chunked"))
    assert page.decoded_body() == b"<html>plain</html>"


def test_a_header_that_would_break_the_record_is_refused(tmp_path):
    with ArchiveWriter(tmp_path) as writer, pytest.raises(ValueError, match="cannot be stored"):
        writer.write_page("demo", url="https://news.test/a", status=200, body=b"x",
                          fetched_at=FETCHED, headers=[("X-Evil", "a\r\nWARC-Type: resource")])


def test_a_location_reads_back_one_page(tmp_path):
    with ArchiveWriter(tmp_path) as writer:
        places = [writer.write_page("demo", url=f"https://news.test/{n}", status=200, headers=HEADERS,
                                    body=page_body(500, n), fetched_at=FETCHED,
                                    rendered_dom=f"<p>{n}</p>") for n in range(3)]
    for n, where in enumerate(places):
        page = read_page(where.path, where.offset)
        assert (page.url, page.body, page.rendered_dom) == (f"https://news.test/{n}", page_body(500, n), f"<p>{n}</p>")
        assert page.records == where.records


def test_warcio_index_lists_each_record_at_the_offset_write_page_returned(tmp_path):
    with ArchiveWriter(tmp_path) as writer:
        places = [writer.write_page("demo", url=f"https://news.test/{n}", status=200, headers=HEADERS,
                                    body=page_body(300, n), fetched_at=FETCHED,
                                    rendered_dom="<p>dom</p>" if n % 2 else None) for n in range(4)]
    indexed = warcio("index", "-f", "offset,length,warc-type", places[0].path)
    rows = [json.loads(line) for line in indexed.stdout.splitlines()]
    assert rows[0]["warc-type"] == "warcinfo"
    expected = [(span.offset, span.length, span.record_type) for where in places for span in where.records]
    assert [(int(row["offset"]), int(row["length"]), row["warc-type"]) for row in rows[1:]] == expected


# ------------------------------------------------------------------ files

def test_files_are_per_site_and_utc_day_each_starting_with_warcinfo(tmp_path):
    now = [datetime(2025, 12, 2, 23, 59, 59, tzinfo=UTC)]
    with ArchiveWriter(tmp_path, clock=lambda: now[0]) as writer:
        first = writer.write_page("demo", url="https://news.test/1", status=200, headers=[],
                                  body=b"one", fetched_at=FETCHED)
        other = writer.write_page("other", url="https://other.test/1", status=200, headers=[],
                                  body=b"two", fetched_at=FETCHED)
        now[0] += timedelta(seconds=2)
        next_day = writer.write_page("demo", url="https://news.test/2", status=200, headers=[],
                                     body=b"three", fetched_at=FETCHED)
    assert first.path == tmp_path / "demo" / "2025-12-02-0.warc.gz"
    assert other.path == tmp_path / "other" / "2025-12-02-0.warc.gz"
    assert next_day.path == tmp_path / "demo" / "2025-12-03-0.warc.gz"
    for path in warc_files(tmp_path):
        assert [kind for kind, _ in warcio_records(path)] == ["warcinfo", "response"]
        assert warcio_records(path)[0][1]["WARC-Filename"] == path.name
    assert_valid_warc(*warc_files(tmp_path))


def test_a_file_past_the_size_limit_is_followed_by_the_next_number(tmp_path):
    limit = 40_000
    with ArchiveWriter(tmp_path, max_file_bytes=limit) as writer:
        places = [writer.write_page("demo", url=f"https://news.test/{n}", status=200, headers=HEADERS,
                                    body=page_body(15_000, n), fetched_at=FETCHED,
                                    rendered_dom="<p>dom</p>") for n in range(8)]
    files = warc_files(tmp_path)
    day = files[0].name[:10]
    assert len(files) >= 3
    assert [path.name for path in files] == [f"{day}-{n}.warc.gz" for n in range(len(files))]
    for path in files[:-1]:
        size = path.stat().st_size
        assert size >= limit
        last_page = max((w for w in places if w.path == path), key=lambda w: w.offset)
        assert last_page.offset < limit  # only the page that passed the limit is past it
    for path in files:
        assert warcio_records(path)[0][0] == "warcinfo"
    pages = list(iter_archive(files))
    assert [page.url for page in pages] == [f"https://news.test/{n}" for n in range(8)]
    assert all(page.rendered_dom == "<p>dom</p>" for page in pages)  # a page is never split
    assert_valid_warc(*files)


def test_a_new_writer_appends_to_the_last_file_of_the_day(tmp_path):
    for n in range(2):
        with ArchiveWriter(tmp_path) as writer:
            writer.write_page("demo", url=f"https://news.test/{n}", status=200, headers=[],
                              body=b"x", fetched_at=FETCHED)
    [path] = warc_files(tmp_path)
    assert [kind for kind, _ in warcio_records(path)] == ["warcinfo", "response", "response"]


def test_a_claimed_file_that_got_no_page_is_removed_at_close(tmp_path):
    with ArchiveWriter(tmp_path) as writer:
        claimed = writer.claim("demo")
        assert claimed.exists() and claimed == writer.path_for("demo")
    assert not claimed.exists()


def test_a_second_writer_on_the_same_file_is_refused(tmp_path):
    with ArchiveWriter(tmp_path) as first:
        first.write_page("demo", url="https://news.test/1", status=200, headers=[], body=b"x",
                         fetched_at=FETCHED)
        with ArchiveWriter(tmp_path) as second:
            with pytest.raises(OutputLockedError, match=f"process {os.getpid()}"):
                second.claim("demo")
            with pytest.raises(OutputLockedError):
                second.write_page("demo", url="https://news.test/2", status=200, headers=[],
                                  body=b"y", fetched_at=FETCHED)
    [page] = iter_archive(warc_files(tmp_path))
    assert page.url == "https://news.test/1"


def test_a_site_name_cannot_leave_the_archive_folder(tmp_path):
    with ArchiveWriter(tmp_path) as writer:
        for name in ("", "..", "a/b"):
            with pytest.raises(ValueError):
                writer.claim(name)


# ------------------------------------------------------------------ crashes and repair

def write_pages(root: Path, count: int, *, dom: bool = True) -> list:
    with ArchiveWriter(root) as writer:
        return [writer.write_page("demo", url=f"https://news.test/{n}", status=200, headers=HEADERS,
                                  body=page_body(4000, n), fetched_at=FETCHED,
                                  rendered_dom="<p>dom</p>" if dom else None) for n in range(count)]


def test_a_torn_last_record_is_cut_off_at_the_next_open(tmp_path):
    places = write_pages(tmp_path, 3)
    path = places[0].path
    whole = path.stat().st_size
    with open(path, "rb") as stream:
        stream.seek(places[1].offset)
        torn_page = stream.read(places[1].length)
    with open(path, "ab") as out:
        out.write(torn_page[: len(torn_page) // 2])  # a crash in the middle of a page
    assert repair(path) == len(torn_page) // 2
    assert path.stat().st_size == whole
    assert [page.url for page in iter_archive([path])] == [f"https://news.test/{n}" for n in range(3)]
    assert_valid_warc(path)


def test_a_page_whose_dom_record_never_came_is_cut_whole(tmp_path):
    places = write_pages(tmp_path, 3)
    path = places[-1].path
    response, _conversion = places[-1].records
    os.truncate(path, response.offset + response.length)  # torn just after the response
    with ArchiveWriter(tmp_path) as writer:  # opening repairs
        writer.claim("demo")
    assert path.stat().st_size == places[-1].offset
    assert [page.url for page in iter_archive([path])] == ["https://news.test/0", "https://news.test/1"]
    assert_valid_warc(path)


def test_a_file_damaged_before_its_end_is_refused_not_cut(tmp_path):
    places = write_pages(tmp_path, 3)
    path = places[0].path
    size = path.stat().st_size
    with open(path, "r+b") as stream:  # bytes flipped inside the first page, not at the end
        stream.seek(places[0].offset + 20)
        stream.write(b"\x00" * 40)
    with open(path, "ab") as out:
        out.write(b"\x1f\x8b\x08 torn")  # and a torn end, so that the quick check fails
    with pytest.raises(StorageError, match="damaged"):
        repair(path)
    assert path.stat().st_size == size + len(b"\x1f\x8b\x08 torn")


def test_the_reader_leaves_out_a_torn_last_record(tmp_path):
    places = write_pages(tmp_path, 3, dom=False)
    path = places[0].path
    os.truncate(path, path.stat().st_size - 10)  # a file a crawl is writing, or a crashed one
    assert [page.url for page in iter_archive([path])] == ["https://news.test/0", "https://news.test/1"]


CHILD_WRITER = textwrap.dedent("""
    import os, sys
    from datetime import UTC, datetime
    from crawler.archive import ArchiveWriter
    root, start = sys.argv[1], int(sys.argv[2])
    with ArchiveWriter(root) as writer:
        for n in range(start, start + 3000):
            body = os.urandom(200_000 + (n % 7) * 50_000)  # large writes, so kills land mid-write
            writer.write_page("demo", url=f"https://news.test/{n}", status=200,
                              headers=[("Content-Type", "text/html")], body=body,
                              fetched_at=datetime.now(UTC), rendered_dom=f"<p>{n}</p>" * 5000)
            print(n, flush=True)
""")


def test_kill_9_mid_write_leaves_every_acknowledged_page_once_and_no_torn_record(tmp_path, child_env):
    """Rounds of: a child writes pages in a loop and is killed at a random moment; the next open
    repairs. About one kill in ten lands inside a write, so rounds go on (at most 12, 20 s)
    until one torn tail was cut; every round checks that nothing was lost or doubled."""
    acknowledged: list[int] = []
    start, torn_cut, rounds = 0, 0, 0
    began = time.monotonic()
    while rounds < 12 and (not torn_cut or rounds < 3) and time.monotonic() - began < 20:
        child = subprocess.Popen([sys.executable, "-c", CHILD_WRITER, str(tmp_path), str(start)],
                                 env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        written = []
        while len(written) < 3 + rounds:
            line = child.stdout.readline()
            if not line:
                break
            written.append(int(line))
        time.sleep(random.Random(rounds).uniform(0, 0.05))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        written += [int(line) for line in child.stdout.read().split()]
        assert written, child.stderr.read()
        acknowledged += written
        rounds += 1
        start = written[-1] + 2  # the page after the last acknowledged one may or may not be there
        path = max(warc_files(tmp_path))
        torn_cut += repair(path) > 0  # what the next run's first open does
        numbers = [int(page.url.rsplit("/", 1)[1]) for page in iter_archive(warc_files(tmp_path))]
        assert len(numbers) == len(set(numbers)), "a page is in the archive twice"
        assert set(acknowledged) <= set(numbers), "an acknowledged page was lost"
        assert len(set(numbers) - set(acknowledged)) <= rounds  # at most the one in flight per kill
    pages = list(iter_archive(warc_files(tmp_path)))
    assert all(page.rendered_dom == f"<p>{page.url.rsplit('/', 1)[1]}</p>" * 5000 for page in pages)
    assert_valid_warc(*warc_files(tmp_path))


def test_a_write_that_fails_halfway_leaves_nothing_of_the_page(tmp_path, monkeypatch):
    from crawler import archive

    places = write_pages(tmp_path, 2)
    path = places[0].path
    size = path.stat().st_size
    real_write = os.write

    def half_then_full(fd, data):
        if len(data) > 1000:
            real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    with ArchiveWriter(tmp_path) as writer:
        monkeypatch.setattr(archive.os, "write", half_then_full)
        with pytest.raises(StorageError) as failed:
            writer.write_page("demo", url="https://news.test/x", status=200, headers=HEADERS,
                              body=page_body(5000), fetched_at=FETCHED)
        monkeypatch.undo()
    assert str(failed.value) == f"{path}: cannot write the archive: No space left on device"
    assert path.stat().st_size == size
    assert_valid_warc(path)


# ------------------------------------------------------------------ a real full disk

@needs_mount
def test_a_disk_that_fills_mid_write_is_a_storage_error_and_the_file_stays_whole(tmp_path):
    with tmpfs(tmp_path / "disk", "1m") as disk:
        written, size_after_last = [], 0
        with ArchiveWriter(disk) as writer, pytest.raises(StorageError) as failed:
            for n in range(1000):
                where = writer.write_page("demo", url=f"https://news.test/{n}", status=200,
                                          headers=HEADERS, body=os.urandom(60_000),
                                          fetched_at=FETCHED, rendered_dom="<p>dom</p>")
                written.append(where.path)
                size_after_last = where.path.stat().st_size
        path = written[0]
        assert str(failed.value) == f"{path}: cannot write the archive: No space left on device"
        assert "\n" not in str(failed.value)
        assert path.stat().st_size == size_after_last  # nothing of the refused page stayed
        assert [page.url for page in iter_archive([path])] == [
            f"https://news.test/{n}" for n in range(len(written))]
        assert_valid_warc(path)


# ------------------------------------------------------------------ reading other WARCs

def common_crawl_style_warc(path: Path, count: int) -> list[str]:
    """A WARC as Common Crawl writes CC-NEWS: warcinfo, then request, response and metadata
    records per page, linked by WARC-Concurrent-To; the body stored decoded."""
    urls = []
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True, warc_version="1.0")
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "StormCrawler"}))
        for n in range(count):
            url = f"https://cc.test/news/{n}.html"
            request = writer.create_warc_record(
                url, "request", payload=io.BytesIO(b"GET / HTTP/1.1\r\nHost: cc.test\r\n\r\n"))
            body = f"<html><p>story {n}</p></html>".encode()
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html"),
                                               ("X-Crawler-Content-Encoding", "gzip"),
                                               ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
            response = writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                 length=len(body), http_headers=http)
            response.rec_headers.add_header("WARC-Concurrent-To", request.rec_headers.get_header("WARC-Record-ID"))
            metadata = writer.create_warc_record(url, "metadata", payload=io.BytesIO(b"fetchTimeMs: 12\r\n"),
                                                 warc_content_type="application/warc-fields")
            metadata.rec_headers.add_header("WARC-Concurrent-To", response.rec_headers.get_header("WARC-Record-ID"))
            for record in (request, response, metadata):
                writer.write_record(record)
            urls.append(url)
    return urls


def test_the_reader_takes_the_responses_of_a_common_crawl_news_file(tmp_path):
    path = tmp_path / "CC-NEWS-20251202083015-00001.warc.gz"
    urls = common_crawl_style_warc(path, 5)
    pages = list(iter_archive([path]))
    assert [page.url for page in pages] == urls
    assert [page.body for page in pages] == [f"<html><p>story {n}</p></html>".encode() for n in range(5)]
    assert all(page.rendered_dom is None and page.status == 200 for page in pages)
    assert all(len(page.records) == 1 and page.records[0].record_type == "response" for page in pages)


def test_the_reader_takes_an_uncompressed_warc(tmp_path):
    path = tmp_path / "plain.warc"
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=False)
        http = StatusAndHeaders("404 Not Found", [("Content-Type", "text/html")], protocol="HTTP/1.0")
        writer.write_record(writer.create_warc_record("https://plain.test/", "response",
                                                      payload=io.BytesIO(b"<p>gone</p>\r\n"),
                                                      length=13, http_headers=http))
    [page] = iter_archive([path])
    assert (page.url, page.status, page.http_version, page.body) == (
        "https://plain.test/", 404, "HTTP/1.0", b"<p>gone</p>\r\n")


MEMORY_PROBE = textwrap.dedent("""
    import json, resource, sys
    from crawler.archive import iter_archive
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pages = body_bytes = 0
    for page in iter_archive([sys.argv[1]]):
        pages += 1
        body_bytes += len(page.body)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"pages": pages, "bytes": body_bytes, "grew_kib": after - before}))
""")


@pytest.mark.slow
def test_the_reader_streams_a_200_mb_file_in_flat_memory(tmp_path, child_env):
    page_bytes, count = 1 << 20, 200
    with ArchiveWriter(tmp_path, gzip_level=1) as writer:
        for n in range(count):
            where = writer.write_page("demo", url=f"https://news.test/{n}", status=200, headers=HEADERS,
                                      body=os.urandom(page_bytes), fetched_at=FETCHED)
    assert where.path.stat().st_size > 200 * 10**6
    done = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(where.path)], env=child_env,
                          capture_output=True, text=True, timeout=300, check=True)
    figures = json.loads(done.stdout)
    assert (figures["pages"], figures["bytes"]) == (count, count * page_bytes)
    assert figures["grew_kib"] < 32 * 1024, figures  # a few pages' worth, not the file's 200 MB
