"""Never lose an article: the archive the crawl writes, failed extractions, the drift alarm,
re-extraction with no network, and the state tools (forget, --rewalk). Real loopback servers,
real Chromium, real SQLite, the CLI in child processes where exit codes and stderr matter."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_demo_selectors
from mounts import fill, needs_mount, tmpfs

from crawler.archive import iter_archive, read_page
from crawler.demo.server import DemoServer
from crawler.demo.site import DemoSite
from crawler.state import CrawlState

EXIT_OK, EXIT_PARTIAL, EXIT_STORAGE = 0, 1, 4
WARCIO = Path(sys.executable).with_name("warcio")
ALL_IDS = range(1, 31)


def crawl_command(newscrawl_command, selectors: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [*newscrawl_command, "crawl", "--selectors", str(selectors),
            "--out", str(tmp_path / "out" / "{site}.jsonl"), "--min-delay", "0", "--jitter", "0",
            *extra]


def run(command, env, timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def records(tmp_path: Path) -> list[dict]:
    path = tmp_path / "out" / "demo.jsonl"
    if not path.exists():
        return []
    text = path.read_text("utf-8")
    assert text == "" or text.endswith("\n"), "a partial last line survived"
    return [json.loads(line) for line in text.splitlines()]


def archive_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "out" / "archive" / "demo").glob("*.warc.gz"))


def urls_of(server: DemoServer, ids) -> set[str]:
    return {server.base_url + server.site.article(i).url for i in ids}


def fix_selectors_for_the_redesign(folder: Path) -> None:
    """What the selector developer does after the relaunch: the new class names as fallbacks."""
    path = folder / "demo.toml"
    text = path.read_text("utf-8")
    text = text.replace('from = [".story .article-body"]', 'from = [".story .article-body", ".story .story-text"]')
    text = text.replace('from = [".story .dateline"]', 'from = [".story .dateline", ".story .timestamp"]')
    path.write_text(text, "utf-8")


# ------------------------------------------------------------------ a redesign mid-crawl

def test_a_redesign_mid_crawl_fails_loudly_then_reextract_recovers_every_article_without_a_request(
        tmp_path, newscrawl_command, child_env):
    site = DemoSite(articles=30, per_page=4, redesign_after=12)
    with DemoServer(site) as server:
        selectors = write_demo_selectors(tmp_path / "selectors", server.base_url)
        summary_path = tmp_path / "summary.json"
        started = time.monotonic()
        crawl = run(crawl_command(newscrawl_command, selectors, tmp_path, "--render", "browser",
                                  "--concurrency", "2", "-q", "--summary-json", str(summary_path)),
                    child_env)
        elapsed = time.monotonic() - started
        assert crawl.returncode == EXIT_PARTIAL, crawl.stderr
        assert crawl.stdout == ""  # -q: no table, yet the alarms below reach stderr
        summary = json.loads(summary_path.read_text())["sites"]["demo"]
        assert summary["new"] == 12 and summary["failed"] == 18, summary
        assert summary["extraction_failures"]["body"]["count"] == 18
        failed_url = summary["extraction_failures"]["body"]["sample_url"]
        assert failed_url in urls_of(server, ALL_IDS)
        assert "body missing (layout 'default')" in crawl.stderr and failed_url in crawl.stderr
        assert {reason["reason"] for reason in summary["failures"]} == {
            "extraction: body missing (layout 'default')"}
        drifted = {warning["field"] for warning in summary["drift"]}
        assert {"body", "dateline"} <= drifted, summary["drift"]
        assert "layout drift? body matched 0%" in crawl.stderr
        assert "`.story .article-body` used to match" in crawl.stderr
        # A missing body container is a page problem, not a struggling host: no back-off, and
        # no 5 s wait per article (18 of them would take 90 s at least).
        assert elapsed < 60, f"the redesigned articles slowed the crawl: {elapsed:.0f}s"
        written = records(tmp_path)
        assert len(written) == 12 and all(record["body"] for record in written)
        with CrawlState(tmp_path / "out" / "state.sqlite") as state:
            assert state.counts("demo") == {"done": 12, "failed": 18}
        # Every fetched article page is in the archive, failed ones too: 30 articles + pages.
        pages = list(iter_archive(archive_files(tmp_path)))
        assert urls_of(server, ALL_IDS) <= {page.url for page in pages}
        assert all(page.rendered_dom for page in pages)  # browser mode: the DOM that was read

        # The next crawl does not fetch them again: the archive has them.
        requests_before = len(server.requests)
        again = run(crawl_command(newscrawl_command, selectors, tmp_path, "--render", "browser", "-q"),
                    child_env)
        assert not [r for r in server.requests[requests_before:] if r.path.startswith("/news/")]
        assert again.returncode == EXIT_OK  # nothing was tried, so nothing new failed

        fix_selectors_for_the_redesign(selectors)
        requests_before = len(server.requests)
        recovered = run([*newscrawl_command, "reextract", "--selectors", str(selectors),
                         "--out", str(tmp_path / "out" / "{site}.jsonl")], child_env)
        assert recovered.returncode == EXIT_OK, recovered.stderr
        assert "18 recovered" in recovered.stdout and "0 still failing" in recovered.stdout
        assert len(server.requests) == requests_before  # not one request
    written = records(tmp_path)
    assert sorted(record["url"] for record in written) == sorted(urls_of(server, ALL_IDS))
    assert all(record["body"] and record["dateline"]["published"] for record in written)
    assert {record["revision"] for record in written} == {1}
    assert all(record["section"] for record in written)  # the section the crawl found it in
    with CrawlState(tmp_path / "out" / "state.sqlite") as state:
        assert state.counts("demo") == {"done": 30, "failed": 0}


def test_reextract_all_writes_a_new_revision_only_where_the_content_changed(
        tmp_path, demo_server, demo_selectors, newscrawl_command, child_env):
    assert run(crawl_command(newscrawl_command, demo_selectors, tmp_path, "--render", "http", "-q"),
               child_env).returncode == EXIT_OK
    assert len(records(tmp_path)) == 30
    reextract = [*newscrawl_command, "reextract", "--all", "--selectors", str(demo_selectors),
                 "--out", str(tmp_path / "out" / "{site}.jsonl")]
    same = run(reextract, child_env)
    assert same.returncode == EXIT_OK, same.stderr
    assert "30 unchanged" in same.stdout and len(records(tmp_path)) == 30
    # A selector change that alters the body: the read-also line is no longer stripped.
    path = demo_selectors / "demo.toml"
    path.write_text(path.read_text("utf-8").replace('".read-also", ', ""), "utf-8")
    changed = run(reextract, child_env)
    assert changed.returncode == EXIT_OK, changed.stderr
    written = records(tmp_path)
    newer = [record for record in written if record["revision"] == 2]
    assert newer and all("Read also" in record["body"] for record in newer)
    assert len(written) == 30 + len(newer)
    assert "rewritten" in changed.stdout and f"{len(newer)} rewritten" in changed.stdout
    # Consumers keep the highest revision per URL: exactly one per article.
    assert len({record["url"] for record in written}) == 30
    assert run(reextract, child_env).stdout.count("30 unchanged") == 1  # nothing changed since


def test_reextract_since_a_later_date_reads_nothing(tmp_path, demo_server, demo_selectors,
                                                   newscrawl_command, child_env):
    site = demo_server.site
    site.redesign_after = 0  # every article fails
    crawl = run(crawl_command(newscrawl_command, demo_selectors, tmp_path, "--render", "http", "-q",
                              "--max-articles", "5"), child_env)
    assert crawl.returncode == EXIT_PARTIAL
    fix_selectors_for_the_redesign(demo_selectors)
    base = [*newscrawl_command, "reextract", "--selectors", str(demo_selectors),
            "--out", str(tmp_path / "out" / "{site}.jsonl")]
    later = run([*base, "--since", "2999-01-01"], child_env)
    assert later.returncode == EXIT_OK and "0 archived articles read" in later.stdout
    today = run([*base, "--since", "2000-01-01", "--site", "demo"], child_env)
    assert "5 recovered" in today.stdout, today.stdout + today.stderr
    bad = run([*base, "--since", "yesterday"], child_env)
    assert bad.returncode == 2 and "not a date" in bad.stderr


# ------------------------------------------------------------------ drift across runs

def test_a_field_that_stops_matching_between_runs_raises_the_drift_alarm(
        tmp_path, newscrawl_command, child_env):
    site = DemoSite(articles=15, per_page=4)
    with DemoServer(site) as server:
        selectors = write_demo_selectors(tmp_path / "selectors", server.base_url)
        # The body selector already knows both templates; the dateline only the old one.
        path = selectors / "demo.toml"
        path.write_text(path.read_text("utf-8").replace(
            'from = [".story .article-body"]', 'from = [".story .article-body", ".story .story-text"]'),
            "utf-8")
        first = run(crawl_command(newscrawl_command, selectors, tmp_path, "--render", "http", "-q"),
                    child_env)
        assert first.returncode == EXIT_OK, first.stderr
        site.publish(15)
        site.redesign_after = 0  # the relaunch, between two runs
        summary_path = tmp_path / "summary.json"
        second = run(crawl_command(newscrawl_command, selectors, tmp_path, "--render", "http", "-q",
                                   "--summary-json", str(summary_path)), child_env)
    assert second.returncode == EXIT_PARTIAL, second.stderr
    summary = json.loads(summary_path.read_text())
    warnings = summary["sites"]["demo"]["drift"]
    # The dateline's class was renamed, and the source line sat inside the renamed body.
    assert [warning["field"] for warning in warnings] == ["dateline", "source"], warnings
    warning = warnings[0]
    assert warning["share"] == 0 and warning["baseline"] == 1 and not warning["within_run"]
    assert warning["usual"] == ".story .dateline" and warning["sample_url"]
    assert summary["totals"]["drift_warnings"] == 2
    assert "layout drift? dateline matched 0% of 15 articles, down from 100% in recent runs" in second.stderr
    assert summary["sites"]["demo"]["new"] == 15  # dateline is not required: written, flagged


# ------------------------------------------------------------------ the archive itself

@pytest.mark.parametrize("render", ["http", "browser"])
def test_the_archive_passes_warcio_check_and_index(tmp_path, demo_server, demo_selectors,
                                                   newscrawl_command, child_env, render):
    crawl = run(crawl_command(newscrawl_command, demo_selectors, tmp_path, "--render", render, "-q",
                              "--max-articles", "6"), child_env)
    assert crawl.returncode == EXIT_OK, crawl.stderr
    files = archive_files(tmp_path)
    assert files
    check = run([str(WARCIO), "check", "-v", *map(str, files)], child_env)
    assert check.returncode == 0, check.stdout + check.stderr
    index = run([str(WARCIO), "index", "-f", "warc-type,warc-target-uri,offset", *map(str, files)],
                child_env)
    assert index.returncode == 0, index.stderr
    entries = [json.loads(line) for line in index.stdout.splitlines()]
    articles = {entry.get("warc-target-uri", "") for entry in entries
                if "/news/" in entry.get("warc-target-uri", "")}
    assert len(articles) == 6
    assert any("/section/" in entry.get("warc-target-uri", "") for entry in entries)  # section pages too
    kinds = {entry["warc-type"] for entry in entries}
    if render == "http":  # the response as served
        assert "response" in kinds and "resource" not in kinds
    else:  # the DOM that was read, with the served status and headers beside it
        assert {"resource", "metadata"} <= kinds
    with CrawlState(tmp_path / "out" / "state.sqlite") as state:  # each done article's page
        rows = state.archived_articles(["demo"], ("done",))
    assert len({row.url for row in rows}) == 6
    for row in rows:
        page = read_page(row.archive_path, row.archive_offset)
        assert page.url == row.url and page.status == 200


def test_no_archive_keeps_no_pages(tmp_path, demo_server, demo_selectors, newscrawl_command, child_env):
    crawl = run(crawl_command(newscrawl_command, demo_selectors, tmp_path, "--render", "http", "-q",
                              "--max-articles", "3", "--no-archive"), child_env)
    assert crawl.returncode == EXIT_OK, crawl.stderr
    assert not (tmp_path / "out" / "archive").exists() and len(records(tmp_path)) == 3


def test_an_archive_elsewhere_is_used_and_a_second_crawl_on_it_is_refused(
        tmp_path, demo_server, demo_selectors, newscrawl_command, child_env):
    archive = tmp_path / "warcs"
    first = subprocess.Popen(
        crawl_command(newscrawl_command, demo_selectors, tmp_path, "--render", "http", "-q",
                      "--archive", str(archive), "--min-delay", "0.3"), env=child_env)
    try:
        deadline = time.monotonic() + 30
        while not list(archive.glob("demo/*.warc.gz")) and time.monotonic() < deadline:
            time.sleep(0.05)
        other = tmp_path / "other"
        second = run(crawl_command(newscrawl_command, demo_selectors, other, "--render", "http", "-q",
                                   "--archive", str(archive)), child_env, timeout=60)
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=60)
    assert second.returncode == 3, second.stderr
    assert "give each its own --archive (or --out) and --state" in second.stderr
    assert list(archive.glob("demo/*.warc.gz")) and not (tmp_path / "out" / "archive").exists()


def test_kill_9_during_archive_writes_then_rerun_loses_and_duplicates_nothing(
        tmp_path, demo_server, demo_selectors, newscrawl_command, child_env):
    command = crawl_command(newscrawl_command, demo_selectors, tmp_path, "--render", "http", "-q")
    for round_number in range(3):  # each kill lands at another point of the writes
        child = subprocess.Popen([*command, "--min-delay", "0.05"], env=child_env)
        try:
            deadline = time.monotonic() + 45
            while len(records(tmp_path)) < 4 * (round_number + 1) and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
        # Readable as it was left: iter_archive skips a torn last page.
        assert all(page.url for page in iter_archive(archive_files(tmp_path)))
    rerun = run(command, child_env)
    assert rerun.returncode == EXIT_OK, rerun.stderr
    urls = [record["url"] for record in records(tmp_path)]
    assert sorted(urls) == sorted(urls_of(demo_server, ALL_IDS))  # none lost, none twice
    check = run([str(WARCIO), "check", *map(str, archive_files(tmp_path))], child_env)
    assert check.returncode == 0, check.stdout + check.stderr  # torn tails were cut at start-up
    with CrawlState(tmp_path / "out" / "state.sqlite") as state:
        rows = state.archived_articles(["demo"], ("done",))
    assert {row.url for row in rows} == set(urls)
    for row in rows:
        assert read_page(row.archive_path, row.archive_offset).url == row.url


@needs_mount
def test_a_full_archive_disk_stops_the_run_and_marks_nothing_done_without_its_page(
        tmp_path, demo_server, demo_selectors, newscrawl_command, child_env):
    with tmpfs(tmp_path / "disk", "2m") as archive:
        child = subprocess.Popen(
            crawl_command(newscrawl_command, demo_selectors, tmp_path, "--render", "http",
                          "--archive", str(archive), "--min-delay", "0.15"),
            env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 45
            while len(records(tmp_path)) < 4 and time.monotonic() < deadline and child.poll() is None:
                time.sleep(0.05)
            fill(archive)
            _, stderr = child.communicate(timeout=60)
        finally:
            if child.poll() is None:  # a hung crawl must not outlive the test (or the tmpfs)
                child.kill()
                child.wait(timeout=10)
        assert child.returncode == EXIT_STORAGE, stderr
        assert "cannot write the archive: No space left on device" in stderr
        assert "Traceback" not in stderr
        written = {record["url"] for record in records(tmp_path)}
        with CrawlState(tmp_path / "out" / "state.sqlite") as state:
            rows = state.archived_articles(["demo"], ("done", "failed"))
            done = {row.url for row in rows if row.status == "done"}
            assert state.counts("demo")["done"] == len(done)
        assert done == written and 4 <= len(done) < 30
        for row in rows:  # every page the state points at is whole
            assert read_page(row.archive_path, row.archive_offset).url == row.url


# ------------------------------------------------------------------ state tools

def test_state_forget_makes_the_next_crawl_fetch_the_article_again(
        tmp_path, demo_server, demo_selectors, newscrawl_command, child_env):
    command = crawl_command(newscrawl_command, demo_selectors, tmp_path, "--render", "http", "-q")
    assert run(command, child_env).returncode == EXIT_OK
    forgotten = demo_server.base_url + demo_server.site.article(29).url
    state_args = ["--out", str(tmp_path / "out" / "{site}.jsonl")]
    forget = run([*newscrawl_command, "state", "forget", forgotten, *state_args], child_env)
    assert forget.returncode == EXIT_OK and "forgot 1 of 1" in forget.stdout, forget.stderr
    unknown = run([*newscrawl_command, "state", "forget", forgotten + "-nope", *state_args], child_env)
    assert unknown.returncode == EXIT_PARTIAL
    before = len(demo_server.requests)
    assert run(command, child_env).returncode == EXIT_OK
    fetched = [r.path for r in demo_server.requests[before:] if r.path.startswith("/news/")]
    assert fetched == [demo_server.site.article(29).url]
    again = [record for record in records(tmp_path) if record["url"] == forgotten]
    assert [record["revision"] for record in again] == [1, 2]  # consumers keep the highest
    both = run([*newscrawl_command, "state", "forget", forgotten, "--site", "demo", *state_args], child_env)
    assert both.returncode == 2
    everything = run([*newscrawl_command, "state", "forget", "--site", "demo", *state_args], child_env)
    assert everything.returncode == EXIT_OK
    with CrawlState(tmp_path / "out" / "state.sqlite") as state:
        assert state.counts("demo") == {"done": 0, "failed": 0, "queued": 30}


def test_rewalk_reads_every_section_page_again_past_pages_of_seen_articles(
        tmp_path, demo_server, demo_selectors, newscrawl_command, child_env):
    command = crawl_command(newscrawl_command, demo_selectors, tmp_path, "--render", "http", "-q",
                            "--max-pages", "10")
    assert run(command, child_env).returncode == EXIT_OK
    section_pages = lambda start: [r.path for r in demo_server.requests[start:] if r.path.startswith("/section/")]
    before = len(demo_server.requests)
    assert run(command, child_env).returncode == EXIT_OK
    assert len(section_pages(before)) == 3  # a first page of seen articles ends each walk
    before = len(demo_server.requests)
    assert run([*command, "--rewalk"], child_env).returncode == EXIT_OK
    pages = demo_server.site.page_count
    assert len(section_pages(before)) == sum(pages(name) for name in demo_server.site.sections) > 3
    assert len(records(tmp_path)) == 30  # and nothing was written twice


# ------------------------------------------------------------------ an existing state file

def test_a_state_file_of_schema_2_is_migrated_and_keeps_working(
        tmp_path, demo_server, demo_selectors, newscrawl_command, child_env):
    from crawler.state import ARTICLES_TABLE, SECTION_WALKS_TABLE

    command = crawl_command(newscrawl_command, demo_selectors, tmp_path, "--render", "http", "-q")
    state_path = tmp_path / "out" / "state.sqlite"
    state_path.parent.mkdir(parents=True)
    done_url = demo_server.base_url + demo_server.site.article(30).url
    with sqlite3.connect(state_path) as db:  # what schema 2 wrote: no revision, no archive
        db.executescript(ARTICLES_TABLE + SECTION_WALKS_TABLE)
        db.execute("INSERT INTO articles (url, site, status, content_hash, attempts, updated_at) "
                   "VALUES (?, 'demo', 'done', 'sha256:x', 1, '2026-01-01T00:00:00+00:00')", (done_url,))
        db.execute("PRAGMA user_version = 2")
    crawl = run(command, child_env)
    assert crawl.returncode == EXIT_OK, crawl.stderr
    assert len(records(tmp_path)) == 29  # the article done before the upgrade is not written again
    with CrawlState(state_path) as state:
        assert state.revision(done_url) == 1 and state.counts("demo")["done"] == 30
    shutil.rmtree(tmp_path / "out" / "archive")  # a moved or deleted archive: reextract says so
    assert run([*newscrawl_command, "reextract", "--all", "--selectors", str(demo_selectors),
                "--out", str(tmp_path / "out" / "{site}.jsonl")], child_env).returncode == EXIT_PARTIAL
