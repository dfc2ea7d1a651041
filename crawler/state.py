"""The crawl's memory between runs: which article URLs are queued, done, failed (and why) or
abandoned, and the lock that keeps two runs off one state file.

One SQLite file, in WAL mode with synchronous=FULL, so a row written before a crash (kill -9
or power loss) is still there afterwards. The crawl writes an article's JSON line first and
marks it done here second: a crash between the two re-fetches the article, never loses it.

The schema is versioned with `PRAGMA user_version`: opening a file of an older version runs
the MIGRATIONS after it, in one transaction; a newer or unreadable file is a StateError.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from .errors import LockHeldError, StateError, StorageError
from .settings import ABANDON_AFTER_RUNS
from .urls import canonical_url

ARTICLES_TABLE = """
CREATE TABLE articles (
    url          TEXT PRIMARY KEY,          -- canonical URL (crawler.urls.canonical_url)
    site         TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('queued', 'done', 'failed', 'abandoned')),
    section      TEXT,                      -- the section it was found in, for its record
    content_hash TEXT,
    fetched_at   TEXT,
    reason       TEXT,                      -- why the last attempt failed; NULL once done
    attempts     INTEGER NOT NULL DEFAULT 0,
    permanent_failures INTEGER NOT NULL DEFAULT 0,  -- runs whose fetch failed for good
    updated_at   TEXT NOT NULL
);
CREATE INDEX articles_site_status ON articles (site, status);
"""
SECTION_WALKS_TABLE = """
CREATE TABLE section_walks (
    site       TEXT NOT NULL,
    url        TEXT NOT NULL,               -- the section's first page (canonical)
    complete   INTEGER NOT NULL,            -- 0 while a walk is under way or after it broke off
    updated_at TEXT NOT NULL,
    PRIMARY KEY (site, url)
);
"""
# Version 2 -> 3: what the archive and re-extraction need (where each article's page is kept,
# its record's revision, whether a failure was the fetch's or the extraction's), and the drift
# alarm's per-run field match counts.
MIGRATE_2_TO_3 = """
ALTER TABLE articles ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;  -- of its last line, 0 when none was written
ALTER TABLE articles ADD COLUMN archive_path TEXT;                    -- the WARC file its page is in
ALTER TABLE articles ADD COLUMN archive_offset INTEGER;               -- and the page's first record
ALTER TABLE articles ADD COLUMN failure_kind TEXT;                    -- 'fetch' or 'extraction'
ALTER TABLE articles ADD COLUMN forgotten_at TEXT;                    -- by `state forget`, until done again
UPDATE articles SET revision = 1 WHERE status = 'done';
CREATE TABLE field_matches (
    site     TEXT NOT NULL,
    run_at   TEXT NOT NULL,                 -- when the run started
    field    TEXT NOT NULL,
    matched  INTEGER NOT NULL,              -- articles where the field's selector matched
    articles INTEGER NOT NULL,              -- articles extracted in the run
    usual    TEXT,                          -- the fallback that matched most often
    PRIMARY KEY (site, run_at, field)
);
"""
# A new file gets the latest schema at once.
SCHEMA = ARTICLES_TABLE + SECTION_WALKS_TABLE + MIGRATE_2_TO_3
KEPT_MATCH_RUNS = 20  # per site: older runs' field match counts are deleted

# Version 0 (no user_version) stored an article found but not fetched yet as a failure whose
# reason was "found in section <name>; not fetched yet", and had no abandoned status.
QUEUED_AS_FAILURE = "status = 'failed' AND reason GLOB 'found in section *; not fetched yet'"
MIGRATE_0_TO_1 = f"""
ALTER TABLE articles RENAME TO articles_v0;
DROP INDEX articles_site_status;
{ARTICLES_TABLE}
INSERT INTO articles (url, site, status, section, content_hash, fetched_at, reason, attempts,
                      permanent_failures, updated_at)
SELECT url, site,
       CASE WHEN {QUEUED_AS_FAILURE} THEN 'queued' ELSE status END,
       CASE WHEN {QUEUED_AS_FAILURE}
            THEN substr(reason, 1 + length('found in section '),
                        length(reason) - length('found in section ') - length('; not fetched yet'))
       END,
       content_hash, fetched_at,
       CASE WHEN {QUEUED_AS_FAILURE} THEN NULL ELSE reason END,
       attempts, 0, updated_at
FROM articles_v0;
DROP TABLE articles_v0;
"""


def rekey_urls(db: sqlite3.Connection) -> None:
    """Version 1 -> 2: keys in today's canonical form (w3lib: sorted query, one percent-
    encoding per character, control characters and non-ASCII encoded). Where two old keys
    become one, the row that is done wins, so an article written once is never fetched again."""
    rank = {"done": 0, "abandoned": 1, "failed": 2, "queued": 3}
    rows = db.execute("SELECT url, status FROM articles").fetchall()
    for old, status in rows:
        new = canonical_url(old)
        if new == old:
            continue
        other = db.execute("SELECT status FROM articles WHERE url = ?", (new,)).fetchone()
        if other is not None and rank.get(other[0], 9) <= rank.get(status, 9):
            db.execute("DELETE FROM articles WHERE url = ?", (old,))
            continue
        db.execute("DELETE FROM articles WHERE url = ?", (new,))
        db.execute("UPDATE articles SET url = ? WHERE url = ?", (new, old))
    for site, old in db.execute("SELECT site, url FROM section_walks").fetchall():
        new = canonical_url(old)
        if new != old:
            db.execute("DELETE FROM section_walks WHERE site = ? AND url = ?", (site, new))
            db.execute("UPDATE section_walks SET url = ? WHERE site = ? AND url = ?", (new, site, old))


# MIGRATIONS[n] takes a file from version n to n + 1: an SQL script, or a function of the
# connection for a change SQL cannot make; append one for every schema or key change.
MIGRATIONS = [MIGRATE_0_TO_1, rekey_urls, MIGRATE_2_TO_3]
SCHEMA_VERSION = len(MIGRATIONS)
PENDING = ("queued", "failed")  # statuses the next run fetches
# ... except a failed extraction whose page is archived: `newscrawl reextract` recovers it, and
# a re-fetch would only archive the same page again.
REFETCHED = ("status IN ('queued', 'failed') AND NOT (coalesce(failure_kind, '') = 'extraction' "
             "AND archive_path IS NOT NULL)")


@dataclass(frozen=True)
class ArchivedArticle:
    """An article whose page is in the archive, as `archived_articles` returns it."""

    url: str
    site: str
    status: str
    section: str | None
    content_hash: str | None
    revision: int
    archive_path: str
    archive_offset: int
    reason: str | None


# SQLite's primary result codes for a write the disk refused.
UNWRITABLE_CODES = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR,
                              sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM})


class CrawlState:
    """Seen and failed article URLs in one SQLite file. Each call commits before it returns,
    except inside `transaction()`, which commits once at its end."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: every mark is its own durable transaction, nothing waits in a buffer.
        self._db = sqlite3.connect(self.path, isolation_level=None)
        try:
            with self._readable():
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.execute("PRAGMA busy_timeout=5000")
                self._migrate()
        except BaseException:
            self._db.close()
            raise

    def _migrate(self) -> None:
        with self.transaction():  # BEGIN IMMEDIATE: a second opener waits, then sees our version
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"{self.path} has state schema version {version}, newer than this newscrawl's "
                    f"({SCHEMA_VERSION}): run a newscrawl at least as new, or use another --state")
            if version == SCHEMA_VERSION:
                return
            has_articles = self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'articles'").fetchone()
            steps = MIGRATIONS[version:] if has_articles else [SCHEMA]
            for step in steps:
                if callable(step):
                    step(self._db)
                    continue
                for statement in _statements(step):
                    self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _readable(self) -> Iterator[None]:
        """Turn SQLite's "not a database" and "malformed" into one StateError line, and a write
        that the disk refuses (full, read-only, I/O error) into a StorageError."""
        try:
            yield
        except sqlite3.DatabaseError as error:
            code = getattr(error, "sqlite_errorcode", 0) & 0xFF
            if code in UNWRITABLE_CODES:
                raise StorageError(str(self.path), f"cannot write the state: {error}") from None
            if code not in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
                raise
            raise StateError(
                f"{self.path} is not a readable newscrawl state ({error}): move it aside and run "
                f"`newscrawl state rebuild --state {self.path}` (with the crawl's --out) to "
                "rebuild it from the output") from None

    def _rows(self, query: str, params: tuple | dict = ()) -> list[tuple]:
        with self._readable():
            return self._db.execute(query, params).fetchall()

    def is_empty(self) -> bool:
        """True when no article of any site was ever recorded here."""
        return not self._rows("SELECT 1 FROM articles LIMIT 1")

    def is_seen(self, url: str) -> bool:
        """True when `url` (canonical) was extracted and written by an earlier call or run."""
        return bool(self._rows("SELECT 1 FROM articles WHERE url = ? AND status = 'done'", (url,)))

    def mark_done(self, url: str, site: str, content_hash: str,
                  fetched_at: datetime | str | None = None, *, revision: int | None = None,
                  archived: tuple[str, int] | None = None) -> None:
        """Record `url` as done. Call only after its JSON line (and its archived page) is
        durably written.

        `content_hash` is the record's own (`Article.content_hash`), `revision` the line's
        (None keeps the one recorded, at least 1), `archived` the (file, offset) of its page.
        """
        self._rows(
            """INSERT INTO articles (url, site, status, content_hash, fetched_at, reason,
                                     attempts, updated_at, revision, archive_path, archive_offset,
                                     failure_kind)
               VALUES (:url, :site, 'done', :hash, :fetched_at, NULL, 1, :now,
                       coalesce(:revision, 1), :path, :offset, NULL)
               ON CONFLICT (url) DO UPDATE SET
                   site = excluded.site, status = 'done', content_hash = excluded.content_hash,
                   fetched_at = excluded.fetched_at, reason = NULL, failure_kind = NULL,
                   forgotten_at = NULL,
                   attempts = articles.attempts + 1, updated_at = excluded.updated_at,
                   revision = coalesce(:revision, max(articles.revision, 1)),
                   archive_path = coalesce(:path, articles.archive_path),
                   archive_offset = CASE WHEN :path IS NULL THEN articles.archive_offset
                                         ELSE :offset END""",
            {"url": url, "site": site, "hash": content_hash,
             "fetched_at": _iso(fetched_at) if fetched_at else _now(), "now": _now(),
             "revision": revision, "path": archived[0] if archived else None,
             "offset": archived[1] if archived else None},
        )

    def record_failure(self, url: str, site: str, reason: str, *, permanent: bool = False,
                       abandon_after: int = ABANDON_AFTER_RUNS, kind: str = "fetch",
                       archived: tuple[str, int] | None = None) -> None:
        """Record that `url` failed and why; the next run tries it again.

        A `permanent` failure (one a retry cannot mend, such as HTTP 414) is counted, and in the
        run where the count reaches `abandon_after` the article is abandoned: no later run
        fetches it, and its reason says so. A failure that is not permanent leaves the count as
        it is. An article already done stays done: a later failed re-fetch must not un-see it.
        `kind` is "fetch" or "extraction" (the page came, its required fields did not);
        `archived` the (file, offset) of the page, which `newscrawl reextract` reads.
        """
        with self.transaction():
            rows = self._rows("SELECT status, permanent_failures FROM articles WHERE url = ?", (url,))
            if rows and rows[0][0] in ("done", "abandoned"):
                return
            runs = (rows[0][1] if rows else 0) + int(permanent)
            status = "abandoned" if permanent and runs >= abandon_after else "failed"
            if status == "abandoned":
                reason = f"abandoned after {runs} runs: {reason}"
            self._rows(
                """INSERT INTO articles (url, site, status, reason, attempts, permanent_failures,
                                         updated_at, failure_kind, archive_path, archive_offset)
                   VALUES (:url, :site, :status, :reason, 1, :runs, :now, :kind, :path, :offset)
                   ON CONFLICT (url) DO UPDATE SET
                       status = excluded.status, reason = excluded.reason,
                       attempts = articles.attempts + 1,
                       permanent_failures = excluded.permanent_failures,
                       updated_at = excluded.updated_at, failure_kind = excluded.failure_kind,
                       archive_path = coalesce(:path, articles.archive_path),
                       archive_offset = CASE WHEN :path IS NULL THEN articles.archive_offset
                                             ELSE :offset END""",
                {"url": url, "site": site, "status": status, "reason": reason, "runs": runs,
                 "now": _now(), "kind": kind, "path": archived[0] if archived else None,
                 "offset": archived[1] if archived else None})

    def enqueue(self, site: str, found: list[tuple[str, str | None]]) -> list[str]:
        """Record articles found (url, section) but not fetched yet, in one commit; return the
        URLs the crawl should fetch: new ones, and ones queued or failed before. Done and
        abandoned ones are left as they are. A section already recorded is kept."""
        to_fetch = []
        with self.transaction():
            for url, section in found:
                row = self._rows(f"SELECT status, {REFETCHED} FROM articles WHERE url = ?", (url,))
                if not row:
                    self._rows(
                        """INSERT INTO articles (url, site, status, section, updated_at)
                           VALUES (?, ?, 'queued', ?, ?)""", (url, site, section, _now()))
                elif row[0][1]:  # queued, or failed (not an archived failed extraction)
                    self._rows("UPDATE articles SET section = coalesce(section, ?) WHERE url = ?",
                               (section, url))
                else:
                    continue
                to_fetch.append(url)
        return to_fetch

    def pending(self, site: str) -> list[tuple[str, str | None]]:
        """(url, section) of `site`'s articles queued or failed, oldest first: the next run's.
        A failed extraction whose page is archived is left to `newscrawl reextract`."""
        return [(url, section) for url, section in self._rows(
            f"""SELECT url, section FROM articles WHERE site = ? AND {REFETCHED}
               ORDER BY updated_at, url""", (site,))]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several marks into one durable commit (one fsync instead of one each).

        Inside another transaction it joins that one, which commits them all at its end."""
        if self._db.in_transaction:
            yield
            return
        with self._readable():
            self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self._db.in_transaction:  # SQLite may have rolled back itself (disk full)
                with suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise
        with self._readable():
            self._db.execute("COMMIT")

    def failed_urls(self, site: str) -> list[str]:
        """URLs of `site` whose last attempt failed (not abandoned ones), oldest failure first."""
        return self._urls(site, "failed")

    def abandoned_urls(self, site: str) -> list[str]:
        """URLs of `site` no run fetches again (see `record_failure`), oldest first."""
        return self._urls(site, "abandoned")

    def _urls(self, site: str, status: str) -> list[str]:
        rows = self._rows(
            "SELECT url FROM articles WHERE site = ? AND status = ? ORDER BY updated_at, url",
            (site, status))
        return [url for (url,) in rows]

    def failure_reason(self, url: str) -> str | None:
        """Why `url` last failed or was abandoned; None if it never failed, or is now done."""
        rows = self._rows("SELECT reason FROM articles WHERE url = ?", (url,))
        return rows[0][0] if rows else None

    def archived_articles(self, sites: list[str], statuses: tuple[str, ...],
                          since: str | None = None) -> list[ArchivedArticle]:
        """Articles of `sites` in `statuses` whose page is in the archive, fetched (or, for a
        failure, last tried) at or after `since` (ISO 8601), in the order they were recorded."""
        marks = ", ".join("?" * len(statuses))
        sites_marks = ", ".join("?" * len(sites))
        rows = self._rows(
            f"""SELECT url, site, status, section, content_hash, revision, archive_path,
                       archive_offset, reason
                FROM articles
                WHERE site IN ({sites_marks}) AND status IN ({marks}) AND archive_path IS NOT NULL
                  AND coalesce(fetched_at, updated_at) >= ?
                ORDER BY updated_at, url""", (*sites, *statuses, since or ""))
        return [ArchivedArticle(*row) for row in rows]

    def note_archived(self, urls: tuple[str, ...], site: str, archived: tuple[str, int]) -> None:
        """Record where the articles' page is in the archive before their line is written, so
        an article that `reconcile` marks done after a crash still leads to its page."""
        with self.transaction():
            for url in urls:
                self._rows(
                    """INSERT INTO articles (url, site, status, updated_at, archive_path, archive_offset)
                       VALUES (?, ?, 'queued', ?, ?, ?)
                       ON CONFLICT (url) DO UPDATE SET archive_path = excluded.archive_path,
                                                       archive_offset = excluded.archive_offset""",
                    (url, site, _now(), *archived))

    def revision(self, url: str) -> int:
        """The revision of `url`'s last written line; 0 when none was written."""
        rows = self._rows("SELECT revision FROM articles WHERE url = ?", (url,))
        return rows[0][0] if rows else 0

    # Forgetting queues the article again and notes when: its row (and revision) stays, so the
    # line it already has in the output does not make `reconcile` mark it done again, and its
    # next line gets the next revision.
    FORGET = """UPDATE articles SET status = 'queued', forgotten_at = :now, reason = NULL,
                    failure_kind = NULL, content_hash = NULL, permanent_failures = 0,
                    updated_at = :now"""

    def forget(self, urls: list[str]) -> int:
        """Forget these articles (canonical URLs): the next crawl that finds one fetches and
        writes it again. Returns how many were known."""
        with self.transaction():
            return sum(self._db.execute(self.FORGET + " WHERE url = :url", {"now": _now(), "url": url}).rowcount
                       for url in urls)

    def forget_site(self, site: str) -> int:
        """Forget every article of `site`, its section walks and its drift baselines."""
        with self.transaction():
            count = self._db.execute(self.FORGET + " WHERE site = :site", {"now": _now(), "site": site}).rowcount
            self._db.execute("DELETE FROM section_walks WHERE site = ?", (site,))
            self._db.execute("DELETE FROM field_matches WHERE site = ?", (site,))
        return count

    def forgotten_at(self, url: str) -> str | None:
        """When `url` was forgotten, if it was and has not been written since."""
        rows = self._rows("SELECT forgotten_at FROM articles WHERE url = ?", (url,))
        return rows[0][0] if rows else None

    def record_field_matches(self, site: str, run_at: str,
                             matches: dict[str, tuple[int, int, str | None]]) -> None:
        """One run's {field: (matched, articles, usual fallback)} for the drift alarm; runs past
        the last KEPT_MATCH_RUNS of the site are deleted."""
        with self.transaction():
            for field_name, (matched, articles, usual) in matches.items():
                self._rows(
                    """INSERT OR REPLACE INTO field_matches (site, run_at, field, matched, articles, usual)
                       VALUES (?, ?, ?, ?, ?, ?)""", (site, run_at, field_name, matched, articles, usual))
            self._rows(
                """DELETE FROM field_matches WHERE site = ? AND run_at NOT IN (
                       SELECT DISTINCT run_at FROM field_matches WHERE site = ?
                       ORDER BY run_at DESC LIMIT ?)""", (site, site, KEPT_MATCH_RUNS))

    def field_baseline(self, site: str, runs: int, min_articles: int) -> dict[str, tuple[int, int, str | None]]:
        """{field: (matched, articles, usual)} summed over the site's last `runs` runs that
        extracted at least `min_articles` articles; usual is the fallback most runs named."""
        recent = [run_at for (run_at,) in self._rows(
            """SELECT run_at FROM field_matches WHERE site = ? GROUP BY run_at
               HAVING max(articles) >= ? ORDER BY run_at DESC LIMIT ?""", (site, min_articles, runs))]
        if not recent:
            return {}
        marks = ", ".join("?" * len(recent))
        baseline: dict[str, tuple[int, int, str | None]] = {}
        for field_name, matched, articles in self._rows(
                f"""SELECT field, sum(matched), sum(articles) FROM field_matches
                    WHERE site = ? AND run_at IN ({marks}) GROUP BY field""", (site, *recent)):
            usual = self._rows(
                f"""SELECT usual FROM field_matches WHERE site = ? AND field = ? AND run_at IN ({marks})
                      AND usual IS NOT NULL GROUP BY usual ORDER BY count(*) DESC, max(run_at) DESC
                    LIMIT 1""", (site, field_name, *recent))
            baseline[field_name] = (matched, articles, usual[0][0] if usual else None)
        return baseline

    def section_walk_complete(self, site: str, url: str) -> bool:
        """True when the last walk of the section starting at `url` reached its end (the last
        page, max_pages, or a page of seen articles after a complete walk)."""
        rows = self._rows("SELECT complete FROM section_walks WHERE site = ? AND url = ?",
                          (site, url))
        return bool(rows and rows[0][0])

    def mark_section_walk(self, site: str, url: str, complete: bool) -> None:
        """Record a walk as under way (False, at its start) or as having reached its end."""
        self._rows(
            """INSERT INTO section_walks (site, url, complete, updated_at) VALUES (?, ?, ?, ?)
               ON CONFLICT (site, url) DO UPDATE SET complete = excluded.complete,
                                                     updated_at = excluded.updated_at""",
            (site, url, int(complete), _now()))

    def counts(self, site: str | None = None) -> dict[str, int]:
        """{"done": n, "failed": n}, plus "queued" and "abandoned" when there are any, for one
        site or all of them."""
        query = "SELECT status, COUNT(*) FROM articles"
        params: tuple = ()
        if site is not None:
            query, params = query + " WHERE site = ?", (site,)
        counted = {"done": 0, "failed": 0}
        counted.update(dict(self._rows(query + " GROUP BY status", params)))
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
                "Wait for it to finish, or give this run its own --out and --state."
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


def _statements(script: str) -> list[str]:
    """A script's statements, one by one (executescript would commit our transaction)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return [statement for statement in statements if statement.strip(" \n;")]


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _iso(moment: datetime | str) -> str:
    return moment.isoformat() if isinstance(moment, datetime) else str(moment)
