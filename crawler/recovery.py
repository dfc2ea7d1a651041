"""Recovery: the state made to agree with the output, after a crash or when the state is lost.

The crawl writes an article's line before it marks the article done, so a crash can leave a
few lines the state does not know; a rerun would fetch and write them again. `reconcile`, at
the start of every crawl, reads today's and yesterday's files backwards and marks those lines
done. It stops after DONE_RUN_TO_STOP records in a row that the state already has, far more
than are ever in flight at once, so with an intact state it reads a few hundred lines, and
with an empty one it reads both files whole. `rebuild` (`newscrawl state rebuild`) reads every
file the output template can name. Both stream: memory grows with the longest line, not the
file.
"""

from __future__ import annotations

import glob
import json
import re
import shlex
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .output import JsonlWriter
from .sites import Site
from .state import CrawlState
from .urls import canonical_url

DONE_RUN_TO_STOP = 256  # records in a row already done: nothing older can be missing
READ_CHUNK = 64 * 1024
MARKS_PER_COMMIT = DONE_RUN_TO_STOP  # one fsync per this many marks, not one each
FIELD_SHAPES = {"site": r"[^/]+", "date": r"\d{4}-\d{2}-\d{2}"}


@dataclass
class Rebuilt:
    """What `rebuild` read and marked."""

    files: int = 0
    records: int = 0
    marked: int = 0  # records the state did not have as done before
    skipped: int = 0  # lines that are not a record with a url and a site (a torn last line)


def reconcile(writer: JsonlWriter, state: CrawlState, sites: Iterable[Site]) -> int:
    """Mark done every record in today's and yesterday's files of `sites` that the state does
    not have as done (a crash between the write and the mark). Returns how many it marked."""
    now = datetime.now(UTC)
    paths: dict[Path, None] = {}  # in order, once each: sites may share a file
    for site in sites:
        for moment in (now - timedelta(days=1), now):
            day = JsonlWriter(writer.template, clock=lambda moment=moment: moment)
            paths[day.path_for(site.name)] = None
    marked = 0
    for path in paths:
        try:
            lines = lines_backwards(path)
            marked += _mark_done(state, lines, stop_after_done=DONE_RUN_TO_STOP).marked
        except FileNotFoundError:
            continue
    return marked


def rebuild(template: str, state: CrawlState) -> Rebuilt:
    """Mark done every record of every file `template` can name, oldest line first."""
    total = Rebuilt()
    for path in output_files(template):
        with open(path, "rb") as handle:
            counted = _mark_done(state, handle, stop_after_done=None)
        total.files += 1
        total.records += counted.records
        total.marked += counted.marked
        total.skipped += counted.skipped
    return total


def empty_state_warning(state: CrawlState, state_path: Path, template: str) -> str | None:
    """One line for a crawl that starts with a state knowing no article beside output files
    that hold some: everything older than yesterday would be fetched and written again."""
    if not state.is_empty():
        return None
    written = [path for path in output_files(template) if path.stat().st_size > 0]
    if not written:
        return None
    return (f"warning: the state {state_path} is empty, but {template} names {len(written)} output "
            "file(s) with articles; a crawl reads only today's and yesterday's, so older articles "
            "would be written again: stop it and run "
            f"`newscrawl state rebuild --out {shlex.quote(template)} --state {shlex.quote(str(state_path))}`")


def output_files(template: str) -> list[Path]:
    """Every existing file `template` can name, {site} and {date} standing for any value."""
    JsonlWriter(template)  # refuses a template with unknown placeholders
    pattern, shape = "", ""
    for literal, name, _, _ in string.Formatter().parse(template):
        pattern, shape = pattern + glob.escape(literal), shape + re.escape(literal)
        if name is not None:
            pattern, shape = pattern + "*", shape + FIELD_SHAPES[name]
    return sorted(Path(found) for found in glob.glob(pattern)
                  if re.fullmatch(shape, found) and Path(found).is_file())


def lines_backwards(path: Path, chunk: int = READ_CHUNK) -> Iterator[bytes]:
    """The lines of `path`, last first, without their newlines; a line of any length."""
    with open(path, "rb") as handle:
        end = handle.seek(0, 2)
        later: list[bytes] = []  # the pieces read so far of the line being gathered, last first
        while end > 0:
            start = max(0, end - chunk)
            handle.seek(start)
            *whole, first = reversed(handle.read(end - start).split(b"\n"))
            for piece in whole:  # every piece but the block's first ends at a newline
                yield b"".join([piece, *reversed(later)])
                later = []
            later.append(first)
            end = start
        yield b"".join(reversed(later))


def _mark_done(state: CrawlState, lines: Iterable[bytes], *, stop_after_done: int | None) -> Rebuilt:
    """Mark done each record among `lines` the state does not have as done; with
    `stop_after_done`, stop after that many records in a row that it has."""
    counted = Rebuilt()
    done_in_a_row = 0
    written = (found for found in (_written(line, counted) for line in lines) if found)
    for batch in _batches(written, MARKS_PER_COMMIT):
        with state.transaction():
            for url, site, content_hash, fetched_at, revision in batch:
                counted.records += 1
                # A line of a revision the state does not have yet (reextract --all, cut short
                # before its mark) counts as unmarked too, so it is never written twice.
                if state.is_seen(url) and state.revision(url) >= revision:
                    done_in_a_row += 1
                    if stop_after_done is not None and done_in_a_row >= stop_after_done:
                        return counted
                    continue
                done_in_a_row = 0
                forgotten = state.forgotten_at(url)
                if forgotten is not None and (fetched_at or "") < forgotten:
                    continue  # a line from before `state forget`: the article is to be fetched again
                state.mark_done(url, site, content_hash, fetched_at, revision=revision)
                counted.marked += 1
    return counted


def _written(line: bytes, counted: Rebuilt) -> tuple[str, str, str, str | None, int] | None:
    """(url, site, content_hash, fetched_at, revision) of the record on `line`; None for a line
    that is not a record (counted as skipped, unless it is blank)."""
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except ValueError:  # a torn last line; the writer's repair cuts it
        record = None
    if isinstance(record, dict) and isinstance(record.get("url"), str) \
            and isinstance(record.get("site"), str):
        fetched_at = record.get("fetched_at")
        revision = record.get("revision")
        # An older newscrawl may have written the URL in an older canonical form, and no revision.
        return (canonical_url(record["url"]), record["site"], str(record.get("content_hash") or ""),
                fetched_at if isinstance(fetched_at, str) else None,
                revision if isinstance(revision, int) and not isinstance(revision, bool) else 1)
    counted.skipped += 1
    return None


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
