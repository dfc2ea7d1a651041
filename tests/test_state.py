"""Crawl state: seen and failed URLs in a real SQLite file, and the run lock."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crawler.errors import LockHeldError, StateError
from crawler.state import SCHEMA_VERSION, CrawlState, lock_path_for, run_lock

REPO = Path(__file__).resolve().parent.parent


def test_done_urls_are_seen_and_others_are_not(tmp_path):
    with CrawlState(tmp_path / "state.sqlite") as state:
        state.mark_done("https://a.example/1", "a", "sha256:1", "2025-03-03T10:00:00+00:00")
        assert state.is_seen("https://a.example/1")
        assert not state.is_seen("https://a.example/2")


def test_state_survives_closing_and_reopening(tmp_path):
    path = tmp_path / "nested" / "state.sqlite"
    with CrawlState(path) as state:
        state.mark_done("https://a.example/1", "a", "h1")
        state.record_failure("https://a.example/2", "a", "HTTP 500 after 3 retries")
    with CrawlState(path) as state:
        assert state.is_seen("https://a.example/1")
        assert state.failed_urls("a") == ["https://a.example/2"]
        assert state.failure_reason("https://a.example/2") == "HTTP 500 after 3 retries"


def test_database_uses_wal_and_full_sync(tmp_path):
    path = tmp_path / "state.sqlite"
    CrawlState(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    state = CrawlState(path)
    assert state._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    state.close()


def test_a_failed_url_is_retried_next_run_and_becomes_done(tmp_path):
    with CrawlState(tmp_path / "s.sqlite") as state:
        state.record_failure("https://a.example/x", "a", "timeout")
        state.record_failure("https://a.example/x", "a", "HTTP 503")
        assert state.failed_urls("a") == ["https://a.example/x"]
        assert state.failure_reason("https://a.example/x") == "HTTP 503"
        assert not state.is_seen("https://a.example/x")

        state.mark_done("https://a.example/x", "a", "hash")
        assert state.failed_urls("a") == []
        assert state.is_seen("https://a.example/x")
        attempts = state._db.execute(
            "SELECT attempts FROM articles WHERE url = ?", ("https://a.example/x",)).fetchone()[0]
        assert attempts == 3


def test_a_failure_never_unmarks_a_done_article(tmp_path):
    with CrawlState(tmp_path / "s.sqlite") as state:
        state.mark_done("https://a.example/x", "a", "hash")
        state.record_failure("https://a.example/x", "a", "HTTP 500")
        assert state.is_seen("https://a.example/x")
        assert state.failed_urls("a") == []


def test_failed_urls_and_counts_are_per_site(tmp_path):
    with CrawlState(tmp_path / "s.sqlite") as state:
        state.mark_done("https://a.example/1", "a", "h")
        state.mark_done("https://a.example/2", "a", "h")
        state.record_failure("https://a.example/3", "a", "404")
        state.record_failure("https://b.example/1", "b", "timeout")
        assert state.failed_urls("a") == ["https://a.example/3"]
        assert state.failed_urls("b") == ["https://b.example/1"]
        assert state.counts("a") == {"done": 2, "failed": 1}
        assert state.counts("b") == {"done": 0, "failed": 1}
        assert state.counts() == {"done": 2, "failed": 2}
        assert state.counts("nobody") == {"done": 0, "failed": 0}


MARKER = """
import sys
from crawler.state import CrawlState
state = CrawlState(sys.argv[1])
for n in range(1_000_000):
    state.mark_done(f"https://a.example/{n}", "a", "h")
    print(n, flush=True)   # printed only after mark_done returned (committed)
"""


def test_every_mark_done_that_returned_survives_kill_9(tmp_path):
    path = tmp_path / "state.sqlite"
    child = subprocess.Popen([sys.executable, "-c", MARKER, str(path)], cwd=REPO,
                             stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 5
        last = -1
        while last < 50 and time.monotonic() < deadline:
            last = int(child.stdout.readline())
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=5)
        child.stdout.close()
    assert last >= 50, "the writer made too little progress in 5 s"
    with CrawlState(path) as state:
        assert all(state.is_seen(f"https://a.example/{n}") for n in range(last + 1))
        assert state.counts("a")["done"] >= last + 1


def test_a_second_lock_on_the_same_state_fails_at_once(tmp_path):
    state_path = tmp_path / "state.sqlite"
    with run_lock(state_path) as lock_file:
        assert lock_file == lock_path_for(state_path) == tmp_path / "state.sqlite.lock"
        started = time.monotonic()
        with pytest.raises(LockHeldError) as raised, run_lock(state_path):
            pass
        assert time.monotonic() - started < 1
        assert str(state_path) in str(raised.value)
        assert f"process {os.getpid()}" in str(raised.value)
        # Sharing --out with a separate --state doubles every line: never advise that alone.
        assert str(raised.value).endswith("Wait for it to finish, or give this run its own --out and --state.")
    with run_lock(state_path):  # released on exit: a later run gets it
        pass


HOLDER = """
import sys, time
from crawler.state import run_lock
with run_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(10)
"""


def test_lock_held_by_another_process_names_it_and_dies_with_it(tmp_path):
    state_path = tmp_path / "state.sqlite"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(state_path)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with (pytest.raises(LockHeldError, match=f"process {holder.pid} holds the lock"),
              run_lock(state_path)):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)  # a killed holder must not leave a stale lock
        holder.wait(timeout=5)
        holder.stdout.close()
    with run_lock(state_path):
        pass


def test_a_transaction_commits_all_its_marks_at_once_or_none(tmp_path):
    path = tmp_path / "state.sqlite"
    with CrawlState(path) as state:
        with state.transaction():
            state.record_failure("https://a.example/1", "a", "found; not fetched yet")
            state.record_failure("https://a.example/2", "a", "found; not fetched yet")
            # Another connection sees nothing before the commit.
            other = sqlite3.connect(path)
            assert other.execute("SELECT COUNT(*) FROM articles").fetchone()[0] == 0
        assert other.execute("SELECT COUNT(*) FROM articles").fetchone()[0] == 2
        other.close()
        with pytest.raises(RuntimeError), state.transaction():
            state.record_failure("https://a.example/3", "a", "found; not fetched yet")
            raise RuntimeError("the section page could not be read")
        assert state.failed_urls("a") == ["https://a.example/1", "https://a.example/2"]


# ------------------------------------------------------------------ queued, abandoned

def test_articles_found_but_not_fetched_are_queued_not_failed(tmp_path):
    with CrawlState(tmp_path / "s.sqlite") as state:
        to_fetch = state.enqueue("a", [("https://a.example/1", "World"), ("https://a.example/2", None)])
        assert to_fetch == ["https://a.example/1", "https://a.example/2"]
        assert state.failed_urls("a") == []
        assert state.failure_reason("https://a.example/1") is None
        assert state.pending("a") == [("https://a.example/1", "World"), ("https://a.example/2", None)]
        assert state.counts("a") == {"done": 0, "failed": 0, "queued": 2}
        state.mark_done("https://a.example/1", "a", "h")
        assert state.pending("a") == [("https://a.example/2", None)]


def test_a_queued_article_that_fails_keeps_its_section_for_the_retry(tmp_path):
    with CrawlState(tmp_path / "s.sqlite") as state:
        state.enqueue("a", [("https://a.example/1", "World")])
        state.record_failure("https://a.example/1", "a", "HTTP 503")
        assert state.failed_urls("a") == ["https://a.example/1"]
        assert state.failure_reason("https://a.example/1") == "HTTP 503"
        # Found again on a section page: still failed, with its reason, and fetched again.
        assert state.enqueue("a", [("https://a.example/1", "Politics")]) == ["https://a.example/1"]
        assert state.failure_reason("https://a.example/1") == "HTTP 503"
        assert state.pending("a") == [("https://a.example/1", "World")]


def test_enqueue_leaves_done_articles_alone_and_pending_lists_oldest_first(tmp_path):
    with CrawlState(tmp_path / "s.sqlite") as state:
        state.mark_done("https://a.example/done", "a", "h")
        state.record_failure("https://a.example/old", "a", "timeout")
        time.sleep(0.002)  # updated_at has millisecond resolution
        assert state.enqueue("a", [("https://a.example/done", "S"), ("https://a.example/new", "S")]) \
            == ["https://a.example/new"]
        assert state.is_seen("https://a.example/done")
        assert state.pending("a") == [("https://a.example/old", None), ("https://a.example/new", "S")]
        assert state.pending("b") == []


def test_permanent_failures_in_enough_runs_abandon_the_article_with_its_reason(tmp_path):
    url = "https://a.example/long"
    with CrawlState(tmp_path / "s.sqlite") as state:
        state.enqueue("a", [(url, "World")])
        for run in range(1, 3):
            state.record_failure(url, "a", "HTTP 414", permanent=True, abandon_after=3)
            state.record_failure(url, "a", "timeout")  # not permanent: counts nothing
            assert state.pending("a") == [(url, "World")], run
        state.record_failure(url, "a", "HTTP 414", permanent=True, abandon_after=3)
        assert state.failure_reason(url) == "abandoned after 3 runs: HTTP 414"
        assert state.pending("a") == [] and state.failed_urls("a") == []
        assert state.abandoned_urls("a") == [url] and state.abandoned_urls("b") == []
        assert state.counts("a") == {"done": 0, "failed": 0, "abandoned": 1}
        # Never fetched again: not re-queued when found again, not revived by a later failure.
        assert state.enqueue("a", [(url, "World")]) == []
        state.record_failure(url, "a", "timeout")
        assert state.failure_reason(url) == "abandoned after 3 runs: HTTP 414"
        assert not state.is_seen(url)


def test_abandon_after_defaults_to_the_setting(tmp_path):
    from crawler.settings import ABANDON_AFTER_RUNS

    with CrawlState(tmp_path / "s.sqlite") as state:
        for _ in range(ABANDON_AFTER_RUNS - 1):
            state.record_failure("https://a.example/x", "a", "HTTP 410", permanent=True)
        assert state.failed_urls("a") == ["https://a.example/x"]
        state.record_failure("https://a.example/x", "a", "HTTP 410", permanent=True)
        assert state.failed_urls("a") == []
        assert state.failure_reason("https://a.example/x").startswith(
            f"abandoned after {ABANDON_AFTER_RUNS} runs: ")


# ------------------------------------------------------------------ schema versions

# The schema of every state file written before schema versions (user_version 0), verbatim.
SCHEMA_V0 = """
CREATE TABLE IF NOT EXISTS articles (
    url          TEXT PRIMARY KEY,          -- canonical URL (crawler.urls.canonical_url)
    site         TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    content_hash TEXT,
    fetched_at   TEXT,
    reason       TEXT,                      -- why the last attempt failed; NULL once done
    attempts     INTEGER NOT NULL DEFAULT 0,
    updated_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_site_status ON articles (site, status);
CREATE TABLE IF NOT EXISTS section_walks (
    site       TEXT NOT NULL,
    url        TEXT NOT NULL,               -- the section's first page (canonical)
    complete   INTEGER NOT NULL,            -- 0 while a walk is under way or after it broke off
    updated_at TEXT NOT NULL,
    PRIMARY KEY (site, url)
);
"""


def write_version_0_state(path):
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V0)
    db.executemany(
        "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [("https://a.example/done", "a", "done", "sha256:1", "2025-03-03T10:00:00+00:00", None, 1,
          "2025-03-03T10:00:01.000+00:00"),
         ("https://a.example/failed", "a", "failed", None, None, "HTTP 500 after 3 retries", 4,
          "2025-03-03T10:00:02.000+00:00"),
         ("https://a.example/queued", "a", "failed", None, None,
          "found in section World; not fetched yet", 1, "2025-03-03T10:00:03.000+00:00")])
    db.execute("INSERT INTO section_walks VALUES ('a', 'https://a.example/world', 1, "
               "'2025-03-03T10:00:00.000+00:00')")
    db.commit()
    db.close()


def test_a_state_file_from_before_schema_versions_is_migrated_with_its_rows(tmp_path):
    path = tmp_path / "state.sqlite"
    write_version_0_state(path)
    with CrawlState(path) as state:
        assert state.is_seen("https://a.example/done")
        assert state.failed_urls("a") == ["https://a.example/failed"]
        assert state.failure_reason("https://a.example/failed") == "HTTP 500 after 3 retries"
        assert state.pending("a") == [("https://a.example/failed", None),
                                      ("https://a.example/queued", "World")]
        assert state.failure_reason("https://a.example/queued") is None
        assert state.counts("a") == {"done": 1, "failed": 1, "queued": 1}
        assert state.section_walk_complete("a", "https://a.example/world")
        state.record_failure("https://a.example/failed", "a", "HTTP 414", permanent=True, abandon_after=1)
        assert state.failed_urls("a") == []
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT attempts FROM articles WHERE url = 'https://a.example/failed'").fetchone() == (5,)
    with CrawlState(path) as state:  # opening a current file again changes nothing
        assert state.counts("a") == {"done": 1, "failed": 0, "queued": 1, "abandoned": 1}


def test_a_new_state_file_gets_the_current_schema_version(tmp_path):
    CrawlState(tmp_path / "state.sqlite").close()
    with sqlite3.connect(tmp_path / "state.sqlite") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 1


def test_a_state_file_from_a_newer_newscrawl_is_refused_naming_both_versions(tmp_path):
    path = tmp_path / "state.sqlite"
    CrawlState(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 4}")
    with pytest.raises(StateError) as raised:
        CrawlState(path)
    message = str(raised.value)
    assert str(path) in message and "\n" not in message
    assert f"version {SCHEMA_VERSION + 4}, newer than this newscrawl's ({SCHEMA_VERSION})" in message


def corrupt_state(path, kind):
    if kind == "random bytes":
        path.write_bytes(os.urandom(64 * 1024))
        return
    with CrawlState(path) as state, state.transaction():
        for n in range(5000):
            state.mark_done(f"https://a.example/{n}", "a", "sha256:" + "0" * 64)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    whole = path.read_bytes()
    path.write_bytes(whole[:len(whole) // 2])  # a copy cut short, a disk that filled up


@pytest.mark.parametrize("kind", ["random bytes", "truncated"])
def test_a_corrupt_state_file_is_one_line_naming_it_and_how_to_rebuild(tmp_path, kind):
    path = tmp_path / "state.sqlite"
    corrupt_state(path, kind)
    with pytest.raises(StateError) as raised, CrawlState(path) as state:
        state.counts()
    message = str(raised.value)
    assert message.startswith(f"{path} is not a readable newscrawl state (")
    assert f"move it aside and run `newscrawl state rebuild --state {path}`" in message
    assert "\n" not in message


@pytest.mark.parametrize("kind", ["random bytes", "truncated"])
def test_crawl_with_a_corrupt_state_prints_that_line_and_exits_2(tmp_path, kind, newscrawl_command, child_env):
    path = tmp_path / "state.sqlite"
    corrupt_state(path, kind)
    result = subprocess.run([*newscrawl_command, "crawl", "--site", "demo", "-q", "--render", "http",
                             "--out", str(tmp_path / "out/{site}/{date}.jsonl"), "--state", str(path)],
                            cwd=REPO, env=child_env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    with pytest.raises(StateError) as raised, CrawlState(path):
        pass
    assert result.stderr == f"newscrawl: error: {raised.value}\n"


# ------------------------------------------------------------------ the statuses, through a crawl

def politics_crawl(tmp_path, demo_server, fast_politeness):
    return {"out_template": str(tmp_path / "out" / "{site}.jsonl"), "state_path": tmp_path / "state.sqlite",
            "politeness_overrides": fast_politeness, "render_override": "http",
            "sections_override": {"demo": {"Politics": f"{demo_server.base_url}/section/politics?page=1"}}}


def test_a_crawl_cut_short_leaves_articles_queued_not_failed_and_the_next_fetches_them_in_their_section(
        tmp_path, demo_server, demo_config, fast_politeness):
    from crawler.crawl import run_crawl

    options = politics_crawl(tmp_path, demo_server, fast_politeness)
    first = run_crawl([demo_config], max_articles=2, **options)  # page 1 lists 4: 2 are left
    assert first.total("new") == 2 and first.total("failed") == 0 and first.ok
    with CrawlState(options["state_path"]) as state:
        assert state.failed_urls("demo") == []
        assert state.counts("demo") == {"done": 2, "failed": 0, "queued": 2}
        assert [section for _, section in state.pending("demo")] == ["Politics", "Politics"]
    options["sections_override"] = {"demo": {}}  # no section walked: only what the state holds
    second = run_crawl([demo_config], **options)
    assert second.total("new") == 2 and second.total("failed") == 0
    records = [json.loads(line) for line in (tmp_path / "out/demo.jsonl").read_text().splitlines()]
    assert len(records) == 4 and {r["section"] for r in records} == {"Politics"}
    with CrawlState(options["state_path"]) as state:
        assert state.counts("demo") == {"done": 4, "failed": 0}


def test_an_abandoned_article_is_never_fetched_again(tmp_path, demo_server, demo_config, fast_politeness):
    from crawler.crawl import run_crawl

    options = politics_crawl(tmp_path, demo_server, fast_politeness)
    first_id = demo_server.site.article_ids("politics")[0]
    article = demo_server.site.article(first_id)
    with CrawlState(options["state_path"]) as state:
        state.record_failure(demo_server.base_url + article.url, "demo", "HTTP 414", permanent=True,
                             abandon_after=1)
    summary = run_crawl([demo_config], **options)
    assert summary.total("new") == 9 and summary.total("failed") == 0 and summary.ok
    assert demo_server.requests_for(f"^{article.url}$") == []


def test_keys_of_an_older_state_are_moved_to_todays_canonical_form_keeping_done_rows(tmp_path):
    path = tmp_path / "state.sqlite"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V0)
    db.executemany(
        "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [("https://a.example/p?b=2&a=1", "a", "done", "sha256:1", None, None, 1, "2025-03-03"),
         ("https://a.example/p?a=1&b=2", "a", "failed", None, None, "HTTP 500", 1, "2025-03-03"),
         ("https://a.example/caf\u00e9", "a", "done", "sha256:2", None, None, 1, "2025-03-03")])
    db.execute("INSERT INTO section_walks VALUES ('a', 'https://a.example/s?y=1&x=2', 1, '2025-03-03')")
    db.commit()
    db.close()
    with CrawlState(path) as state:
        assert state.is_seen("https://a.example/p?a=1&b=2")  # the done spelling won
        assert state.is_seen("https://a.example/caf%C3%A9")
        assert state.counts("a")["done"] == 2 and state.counts("a")["failed"] == 0
        assert state.section_walk_complete("a", "https://a.example/s?x=2&y=1")
