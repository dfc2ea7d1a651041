"""Crawl state: seen and failed URLs in a real SQLite file, and the run lock."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crawler.errors import LockHeldError
from crawler.state import CrawlState, lock_path_for, run_lock

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
