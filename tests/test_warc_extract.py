"""`newscrawl extract FILE.warc.gz`: WARC input, ours and Common Crawl's. Every 2xx HTML page
of a host with a selector file is extracted, the rest skipped and counted; --jobs changes
nothing in the output; the exit code says whether anything came out."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.archive import ArchiveWriter
from crawler.cli import main
from crawler.corpus import fundus_pages
from crawler.extract_pool import extract_article
from crawler.pages import read_html
from crawler.sites import load_registry

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
NEWSCRAWL = Path(sys.executable).with_name("newscrawl")
FETCHED = datetime(2025, 12, 2, 8, 30, 15, tzinfo=UTC)
FETCHED_ISO = "2025-12-02T08:30:15+00:00"
HTML = [("Content-Type", "text/html")]  # no charset: the page's own <meta> decides, as read_html does
UNKNOWN_URL = "https://no-selector-file.test/news/1.html"


@pytest.fixture(scope="module")
def registry():
    return load_registry(ROOT / "selectors")


@pytest.fixture(scope="module")
def corpus_pages():
    """Four real pages, each of a different site that has a selector file."""
    chosen, sites = [], set()
    for page in fundus_pages(CORPUS):
        if page.publisher not in sites:
            sites.add(page.publisher)
            chosen.append(page)
        if len(chosen) == 4:
            return chosen
    raise AssertionError("the corpus has fewer than four publishers")


def raw(page) -> bytes:
    return gzip.decompress(page.html_path.read_bytes())


def expected_record(page, registry, fetched_at: str = FETCHED_ISO, html: str | None = None) -> dict:
    """What the crawl itself would write for this page."""
    from urllib.parse import urlsplit

    site = registry.for_host(urlsplit(page.url).hostname)
    return extract_article(html or read_html(page.html_path), page.url, site, fetched_at)[1].to_dict()


def run_extract(capsys, *args) -> tuple[int, list[dict], str]:
    code = main(["extract", "--selectors", str(ROOT / "selectors"), *map(str, args)])
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines()], captured.err


# ------------------------------------------------------------------ the WARCs

def our_archive(root: Path, pages) -> Path:
    """Our own archive: a served page, a browser page with its DOM beside the served body, a
    DOM-only page, and what is no article: another host, a 404, a robots.txt."""
    first, second, third, fourth = pages
    with ArchiveWriter(root) as writer:
        writer.write_page("mixed", url=first.url, status=200, headers=HTML, body=raw(first),
                          fetched_at=FETCHED)
        writer.write_page("mixed", url=second.url, status=200, headers=HTML, fetched_at=FETCHED,
                          body=b"<html><body>the served page before its scripts ran</body></html>",
                          rendered_dom=read_html(second.html_path))
        writer.write_page("mixed", url=third.url, status=200, headers=HTML, body=None,
                          rendered_dom=read_html(third.html_path), fetched_at=FETCHED)
        writer.write_page("mixed", url=UNKNOWN_URL, status=200, headers=HTML,
                          body=b"<html><p>not ours</p></html>", fetched_at=FETCHED)
        writer.write_page("mixed", url=fourth.url + "-gone", status=404, headers=HTML,
                          body=b"<html><p>gone</p></html>", fetched_at=FETCHED)
        robots = fourth.url.split("/", 3)[:3]
        writer.write_page("mixed", url="/".join(robots) + "/robots.txt", status=200,
                          headers=[("Content-Type", "text/plain")], body=b"User-agent: *\n",
                          fetched_at=FETCHED)
        return writer.path_for("mixed")


def chunked(body: bytes, size: int = 4096) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def cc_news_warc(path: Path, pages) -> Path:
    """A CC-NEWS-like file by warcio: WARC/1.1, not gzip'd per record, request, response and
    metadata records per page; one body stored gzip'd, one chunked, one decoded as Common
    Crawl stores them; and a page of a host without a selector file."""
    first, second, third, _ = pages
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=False, warc_version="1.1")
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "StormCrawler"}))
        served = [
            (first.url, gzip.compress(raw(first)), [*HTML, ("Content-Encoding", "gzip")]),
            (second.url, chunked(raw(second)), [*HTML, ("Transfer-Encoding", "chunked")]),
            (third.url, raw(third), [*HTML, ("X-Crawler-Content-Encoding", "gzip")]),
            (UNKNOWN_URL, b"<html><p>not ours</p></html>", HTML),
        ]
        for url, body, headers in served:
            request = writer.create_warc_record(url, "request",
                                                payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n"))
            http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
            response = writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                 length=len(body), http_headers=http)
            response.rec_headers.replace_header("WARC-Date", "2025-12-02T08:30:15.123456Z")
            metadata = writer.create_warc_record(url, "metadata", payload=io.BytesIO(b"fetchTimeMs: 9\r\n"),
                                                 warc_content_type="application/warc-fields")
            for record in (request, response, metadata):
                writer.write_record(record)
    return path


# ------------------------------------------------------------------ what comes out

def test_our_archive_gives_one_record_per_article_page_as_the_crawl_would_write_it(
        tmp_path, capsys, registry, corpus_pages):
    path = our_archive(tmp_path, corpus_pages)
    code, records, _ = run_extract(capsys, path)
    first, second, third, _ = corpus_pages
    assert code == 0
    assert records == [expected_record(page, registry) for page in (first, second, third)]


def test_the_rendered_dom_is_extracted_not_the_body_served_before_the_scripts_ran(
        tmp_path, capsys, corpus_pages):
    _, records, _ = run_extract(capsys, our_archive(tmp_path, corpus_pages))
    assert "the served page before" not in records[1]["body"]
    assert records[1]["title"] and records[1]["body"]


def test_skipped_pages_are_counted_per_reason_with_the_hosts_that_have_no_selector_file(
        tmp_path, capsys, corpus_pages):
    _, _, err = run_extract(capsys, our_archive(tmp_path, corpus_pages))
    assert "6 pages read, 3 extracted, 3 skipped, 0 failed" in err
    assert "skipped        1  no selector file for its host" in err
    assert "skipped        1  status not 2xx" in err
    assert "skipped        1  not HTML" in err
    assert "hosts without a selector file: no-selector-file.test (1)" in err


def test_a_cc_news_file_with_gzip_chunked_and_decoded_bodies_is_extracted(
        tmp_path, capsys, registry, corpus_pages):
    path = cc_news_warc(tmp_path / "CC-NEWS-20251202083015-00001.warc", corpus_pages)
    code, records, err = run_extract(capsys, path)
    assert code == 0
    assert records == [expected_record(page, registry) for page in corpus_pages[:3]]
    assert "4 pages read, 3 extracted, 1 skipped, 0 failed" in err


def test_fetched_at_is_the_warc_date(tmp_path, capsys, corpus_pages):
    _, records, _ = run_extract(capsys, cc_news_warc(tmp_path / "cc.warc", corpus_pages))
    assert {record["fetched_at"] for record in records} == {FETCHED_ISO}


def test_a_warc_is_known_by_its_first_bytes_whatever_its_name(tmp_path, capsys, corpus_pages):
    plain = cc_news_warc(tmp_path / "cc.warc", corpus_pages).rename(tmp_path / "download.bin")
    zipped = tmp_path / "download.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (plain, zipped):
        code, records, _ = run_extract(capsys, path)
        assert (code, len(records)) == (0, 3)


def test_several_files_come_out_in_the_order_given(tmp_path, capsys, registry, corpus_pages):
    ours = our_archive(tmp_path / "archive", corpus_pages)
    theirs = cc_news_warc(tmp_path / "cc.warc", corpus_pages)
    _, records, err = run_extract(capsys, theirs, ours)
    urls = [expected_record(page, registry)["url"] for page in corpus_pages[:3]]
    assert [record["url"] for record in records] == urls + urls
    assert "10 pages read, 6 extracted" in err


# ------------------------------------------------------------------ workers, exit codes, options

def newscrawl(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([str(NEWSCRAWL), "extract", "--selectors", str(ROOT / "selectors"),
                           *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=env, check=False)


def test_two_worker_processes_write_the_same_lines_in_the_same_order_as_one(tmp_path, corpus_pages):
    ours = our_archive(tmp_path / "archive", corpus_pages)
    theirs = cc_news_warc(tmp_path / "cc.warc", corpus_pages)
    files = [ours, theirs, ours, theirs]  # enough pages that two workers overtake each other
    one, two = newscrawl(*files, "--jobs", "1"), newscrawl(*files, "--jobs", "2")
    assert (one.returncode, two.returncode) == (0, 0), one.stderr + two.stderr
    assert len(one.stdout.splitlines()) == 12
    assert two.stdout == one.stdout


def test_a_warc_with_nothing_to_extract_exits_1_and_says_why(tmp_path, capsys):
    with ArchiveWriter(tmp_path) as writer:
        writer.write_page("other", url=UNKNOWN_URL, status=200, headers=HTML,
                          body=b"<html><p>not ours</p></html>", fetched_at=FETCHED)
        path = writer.path_for("other")
    code, records, err = run_extract(capsys, path)
    assert (code, records) == (1, [])
    assert "1 pages read, 0 extracted, 1 skipped" in err


def test_a_body_that_does_not_decode_fails_that_page_only_and_exits_1(tmp_path, capsys, corpus_pages):
    first, second, *_ = corpus_pages
    with ArchiveWriter(tmp_path) as writer:
        writer.write_page("mixed", url=first.url, status=200, body=b"not gzip at all",
                          headers=[*HTML, ("Content-Encoding", "gzip")], fetched_at=FETCHED)
        writer.write_page("mixed", url=second.url, status=200, headers=HTML, body=raw(second),
                          fetched_at=FETCHED)
        path = writer.path_for("mixed")
    code, records, err = run_extract(capsys, path)
    assert code == 1
    assert [record["url"] for record in records] == [second.url]
    assert f"newscrawl: error: {first.url}: cannot decode the body" in err
    assert "2 pages read, 1 extracted, 0 skipped, 1 failed" in err


def test_saved_pages_and_warc_files_in_one_call_are_refused(tmp_path, capsys, corpus_pages):
    path = our_archive(tmp_path, corpus_pages)
    code, records, err = run_extract(capsys, path, corpus_pages[0].html_path)
    assert (code, records) == (2, [])
    assert "not a WARC file: give either saved pages or WARC files" in err


def test_url_and_site_are_for_saved_pages_only(tmp_path, capsys, corpus_pages):
    path = our_archive(tmp_path, corpus_pages)
    for option in (["--url", "https://x.test/"], ["--site", "demo"]):
        code, _, err = run_extract(capsys, path, *option)
        assert code == 2 and "is for saved pages" in err


def test_a_missing_warc_file_exits_2_before_anything_is_read(tmp_path, capsys, corpus_pages):
    path = our_archive(tmp_path, corpus_pages)
    code, records, err = run_extract(capsys, path, tmp_path / "missing.warc.gz")
    assert (code, records) == (2, [])
    assert "missing.warc.gz: (file): no such file" in err


def test_progress_lines_only_when_asked_and_quiet_prints_no_counts(tmp_path, capsys, corpus_pages):
    path = our_archive(tmp_path, corpus_pages)
    _, _, plain = run_extract(capsys, path)
    _, _, asked = run_extract(capsys, path, "--progress")
    _, records, quiet = run_extract(capsys, path, "-q")
    assert "100.0%" not in plain
    assert "100.0%  6 read  3 extracted  3 skipped  0 failed" in asked
    assert (quiet, len(records)) == ("", 3)


def test_saved_pages_are_still_extracted_as_before(capsys, registry, corpus_pages):
    page = corpus_pages[0]  # its URL from the corpus's <name>.json beside it
    code, [record], _ = run_extract(capsys, page.html_path)
    assert code == 0 and record["title"] == expected_record(page, registry)["title"]


def test_a_page_over_the_time_limit_fails_alone_and_the_pages_after_it_are_extracted(tmp_path, capsys):
    from test_extract_pool import HOSTILE_PARAGRAPH, demo_pages, hostile_selectors

    from crawler.warc_extract import extract_warcs

    folder = hostile_selectors(tmp_path / "selectors", "http://127.0.0.1:8765")
    (html, url), (after, after_url) = demo_pages(2)
    hostile = html.replace('<div class="article-body">', f'<div class="article-body"><p>{HOSTILE_PARAGRAPH}</p>', 1)
    with ArchiveWriter(tmp_path / "archive") as writer:
        for body, page_url in ((hostile, url), (after, after_url)):
            writer.write_page("demo", url=page_url, status=200, headers=HTML, body=body.encode(),
                              fetched_at=FETCHED)
        path = writer.path_for("demo")
    records = []
    tally = extract_warcs([path], load_registry(folder), jobs=1, write=records.append, timeout=1.0)
    assert (tally.read, tally.extracted, tally.failed) == (2, 1, 1)
    assert [record["url"] for record in records] == [after_url]
    assert f"newscrawl: error: {url}: extraction: took longer than 1s" in capsys.readouterr().err


def test_with_the_progress_bar_on_a_terminal_the_records_still_go_to_stdout(tmp_path, corpus_pages):
    import pty

    path = our_archive(tmp_path, corpus_pages)
    ours, terminal = pty.openpty()
    try:
        done = subprocess.run([str(NEWSCRAWL), "extract", "--selectors", str(ROOT / "selectors"), str(path)],
                              stdout=subprocess.PIPE, stderr=terminal, timeout=120, check=False,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
        shown = os.read(ours, 1 << 16).decode("utf-8", "replace")
    finally:
        os.close(ours)
        os.close(terminal)
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == 3
    assert "extract" in shown and '"url"' not in shown
