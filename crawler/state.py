"""The crawl's memory between runs: which article URLs are done, which failed and why, and the
lock that keeps two runs off one state file.

One SQLite file, in WAL mode with synchronous=FULL, so a row written before a crash (kill -9
or power loss) is still there afterwards. The crawl writes an article's JSON line first and
marks it done here second: a crash between the two re-fetches the article, never loses it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from .errors import LockHeldError

SCHEMA = """
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


class CrawlState:
    """Seen and failed article URLs in one SQLite file. Each call commits before it returns,
    except inside `transaction()`, which commits once at its end."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: every mark is its own durable transaction, nothing waits in a buffer.
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)

    def is_seen(self, url: str) -> bool:
        """True when `url` (canonical) was extracted and written by an earlier call or run."""
        row = self._db.execute(
            "SELECT 1 FROM articles WHERE url = ? AND status = 'done'", (url,)).fetchone()
        return row is not None

    def mark_done(self, url: str, site: str, content_hash: str,
                  fetched_at: datetime | str | None = None) -> None:
        """Record `url` as done. Call only after its JSON line is durably written.

        `content_hash` is the record's own (`Article.content_hash`).
        """
        self._db.execute(
            """INSERT INTO articles (url, site, status, content_hash, fetched_at, reason,
                                     attempts, updated_at)
               VALUES (?, ?, 'done', ?, ?, NULL, 1, ?)
               ON CONFLICT (url) DO UPDATE SET
                   site = excluded.site, status = 'done', content_hash = excluded.content_hash,
                   fetched_at = excluded.fetched_at, reason = NULL,
                   attempts = articles.attempts + 1, updated_at = excluded.updated_at""",
            (url, site, content_hash, _iso(fetched_at) if fetched_at else _now(), _now()),
        )

    def record_failure(self, url: str, site: str, reason: str) -> None:
        """Record that `url` failed and why; the next run tries it again.

        An article already done stays done: a later failed re-fetch must not un-see it.
        """
        self._db.execute(
            """INSERT INTO articles (url, site, status, reason, attempts, updated_at)
               VALUES (?, ?, 'failed', ?, 1, ?)
               ON CONFLICT (url) DO UPDATE SET
                   status = 'failed', reason = excluded.reason,
                   attempts = articles.attempts + 1, updated_at = excluded.updated_at
               WHERE articles.status != 'done'""",
            (url, site, reason, _now()),
        )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several marks into one durable commit (one fsync instead of one each)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def failed_urls(self, site: str) -> list[str]:
        """URLs of `site` whose last attempt failed, oldest failure first."""
        rows = self._db.execute(
            "SELECT url FROM articles WHERE site = ? AND status = 'failed' ORDER BY updated_at, url",
            (site,))
        return [url for (url,) in rows]

    def failure_reason(self, url: str) -> str | None:
        """Why `url` last failed, or None if it never failed or is now done."""
        row = self._db.execute("SELECT reason FROM articles WHERE url = ?", (url,)).fetchone()
        return row[0] if row else None

    def section_walk_complete(self, site: str, url: str) -> bool:
        """True when the last walk of the section starting at `url` reached its end (the last
        page, max_pages, or a page of seen articles after a complete walk)."""
        row = self._db.execute("SELECT complete FROM section_walks WHERE site = ? AND url = ?",
                               (site, url)).fetchone()
        return bool(row and row[0])

    def mark_section_walk(self, site: str, url: str, complete: bool) -> None:
        """Record a walk as under way (False, at its start) or as having reached its end."""
        self._db.execute(
            """INSERT INTO section_walks (site, url, complete, updated_at) VALUES (?, ?, ?, ?)
               ON CONFLICT (site, url) DO UPDATE SET complete = excluded.complete,
                                                     updated_at = excluded.updated_at""",
            (site, url, int(complete), _now()))

    def counts(self, site: str | None = None) -> dict[str, int]:
        """{"done": n, "failed": n}, for one site or all of them."""
        query = "SELECT status, COUNT(*) FROM articles"
        params: tuple = ()
        if site is not None:
            query, params = query + " WHERE site = ?", (site,)
        counted = {"done": 0, "failed": 0}
        counted.update(dict(self._db.execute(query + " GROUP BY status", params).fetchall()))
        return counted

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def lock_path_for(state_path: Path) -> Path:
    """The lock file beside a state file: `<state>.lock`."""
    state_path = Path(state_path)
    return state_path.with_name(state_path.name + ".lock")


@contextmanager
def run_lock(state_path: Path) -> Iterator[Path]:
    """Hold the run lock on `state_path` for the `with` block, or raise LockHeldError at once.

    flock is released by the kernel when the holder dies, so a killed run never leaves a
    stale lock behind; the file itself stays and only carries the holder's pid as a hint.
    """
    path = lock_path_for(state_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = _read_pid(fd)
            who = f"process {holder}" if holder else "another process"
            raise LockHeldError(
                f"another crawl is using {state_path}: {who} holds the lock {path}. "
                "Wait for it to finish, or give this run its own --state."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # the pid hint goes with the lock
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _iso(moment: datetime | str) -> str:
    return moment.isoformat() if isinstance(moment, datetime) else str(moment)
