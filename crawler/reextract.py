"""`newscrawl reextract`: today's selector files over the archived pages, with no network.

The state says where each article's page is in the archive (file and offset). For every
article chosen (failed ones by default, or every archived one with `all_articles`), the page
is read back, extracted in the crawl's worker processes (under the same time limit) and
checked for its required fields, as the crawl does:
- a failed article that now extracts is written and becomes done (its revision 1 if none was
  written before, else one more than the last);
- a done article is written again, with revision + 1, only when its content hash changed;
- one that still misses a required field stays failed, with today's reason.
Lines go to today's output file with the crawl's durability: the line is on disk before the
state is marked; `reconcile` at start-up catches a line written just before a crash.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .archive import read_page
from .errors import ExtractionError
from .extract_pool import ExtractPool
from .extraction import (
    count_missing_fields,
    extraction_failure_reason,
    missing_field_lines,
    missing_required,
)
from .output import JsonlWriter
from .preflight import check_crawl_paths
from .recovery import reconcile
from .settings import EXTRACT_TIMEOUT
from .sinks import commit_article
from .sites import Site
from .state import ArchivedArticle, CrawlState, run_lock


@dataclass
class ReextractSummary:
    considered: int = 0
    recovered: int = 0  # failed articles now written
    rewritten: int = 0  # done articles whose content changed: a line with revision + 1
    unchanged: int = 0
    still_failing: int = 0
    unreadable: int = 0  # the archived page could not be read back
    # site -> field -> {"count", "layout", "sample_url"}
    failures: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # one line per unreadable page

    def alarms(self) -> list[str]:
        lines = [line for site, counts in self.failures.items()
                 for line in missing_field_lines(site, counts, "still not extracted")]
        return lines + self.problems[:10]

    def format(self) -> str:
        return (f"reextract: {self.considered} archived articles read, {self.recovered} recovered, "
                f"{self.rewritten} rewritten (content changed), {self.unchanged} unchanged, "
                f"{self.still_failing} still failing, {self.unreadable} unreadable")


def reextract(sites: list[Site], *, out_template: str, state_path: Path, archive_root: Path,
              all_articles: bool = False, since: str | None = None,
              extract_timeout: float = EXTRACT_TIMEOUT) -> ReextractSummary:
    """Re-extract the archived articles of `sites` (see the module's docstring)."""
    return asyncio.run(_reextract(sites, out_template, Path(state_path), Path(archive_root),
                                  all_articles, since, extract_timeout))


async def _reextract(sites: list[Site], out_template: str, state_path: Path, archive_root: Path,
                     all_articles: bool, since: str | None, extract_timeout: float) -> ReextractSummary:
    writer = JsonlWriter(out_template)
    check_crawl_paths(writer, state_path, [site.name for site in sites])
    summary = ReextractSummary()
    by_name = {site.name: site for site in sites}
    statuses = ("failed", "done") if all_articles else ("failed",)
    with run_lock(state_path), CrawlState(state_path) as state:
        try:
            for site in sites:
                writer.claim(site.name)
            reconcile(writer, state, sites)
            articles = state.archived_articles(list(by_name), statuses, since)
            async with ExtractPool(timeout=extract_timeout) as extractor:
                for article in articles:
                    summary.considered += 1
                    await _one(article, by_name[article.site], state, writer, extractor, summary,
                               archive_root)
        finally:
            writer.close()
    return summary


async def _one(row: ArchivedArticle, site: Site, state: CrawlState, writer: JsonlWriter,
               extractor: ExtractPool, summary: ReextractSummary, archive_root: Path) -> None:
    archived = (row.archive_path, row.archive_offset)
    try:
        page = read_page(_located(row.archive_path, archive_root), row.archive_offset)
        html = page.html()
    except (OSError, ValueError) as error:
        summary.unreadable += 1
        summary.problems.append(f"{row.url}: cannot read its archived page in {row.archive_path} "
                                f"at {row.archive_offset}: {error}")
        return
    fetched_at = page.fetched_at.isoformat(timespec="seconds")
    try:
        key, article = await extractor.extract(site, html, page.url, fetched_at)
    except ExtractionError as error:
        summary.still_failing += 1
        state.record_failure(row.url, site.name, str(error), kind="extraction", archived=archived)
        return
    if row.section is not None:
        article.section, article.provenance["section"] = row.section, "crawl"
    layout, missing = missing_required(article, site)
    if missing:
        summary.still_failing += 1
        count_missing_fields(summary.failures.setdefault(site.name, {}), missing, layout, row.url)
        state.record_failure(row.url, site.name, extraction_failure_reason(layout, missing),
                             kind="extraction", archived=archived)
        return
    if row.status == "done" and article.content_hash == row.content_hash:
        summary.unchanged += 1
        return
    if row.status == "failed" and key != row.url and state.is_seen(key):
        # Another spelling of it was written since: nothing new to write.
        state.mark_done(row.url, site.name, article.content_hash, fetched_at, archived=archived)
        summary.unchanged += 1
        return
    commit_article(writer, state, article, (key, row.url), fetched_at, archived)
    if row.status == "done":
        summary.rewritten += 1
    else:
        summary.recovered += 1


def _located(recorded: str, archive_root: Path) -> Path:
    """The archive file as the state recorded it, or under `archive_root` when the archive
    was moved since (the site folder and file name are kept)."""
    path = Path(recorded)
    if path.exists():
        return path
    moved = archive_root / path.parent.name / path.name
    return moved if moved.exists() else path
