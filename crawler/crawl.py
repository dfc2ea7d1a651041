"""The crawl loop: sections -> article links -> new articles -> extract -> JSON line -> state.

For each site, a discoverer walks the sections (following "next page" up to max_pages, and
stopping early at a page of nothing but seen articles) and queues article URLs that are new,
in the site's domains, matching its article pattern and allowed by robots.txt. Workers (as
many as the site's per-host concurrency) fetch and extract them meanwhile. All sites run at
once, so pages of different hosts are in flight together; each host is paced by its own
HostPacer.

Every fetched page goes to the archive (WARC, crawler/archive.py), whatever its extraction
gives. An article whose required fields come out empty is not written: it is recorded as a
failed extraction, with its archived page, for `newscrawl reextract` once the selector file is
fixed. Otherwise its page (fsynced) and its line (fsynced) are on disk before it is marked done,
so a crash can only cause a re-fetch; `reconcile` at start-up marks lines written just before
a crash as done, so the re-fetch never duplicates them either. At the end of each site the
drift alarm (crawler/drift.py) compares the run's field match shares with recent runs'.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .archive import ArchiveWriter, PageLocation
from .drift import DEFAULT_THRESHOLDS, MATCH_FIELDS, DriftThresholds, FieldTally, drift_warnings
from .errors import ExtractionError, ExtractionTimeout, FetchError, StorageError
from .extract_pool import ExtractPool
from .extraction import (
    Page,
    absolute_url,
    count_missing_fields,
    extraction_failure_reason,
    fallback_values,
    missing_field_lines,
    missing_required,
)
from .fetch import Fetcher, FetchResult
from .output import JsonlWriter
from .polite import HostPacer, RobotsCache
from .preflight import check_crawl_paths
from .progress import Progress
from .recovery import empty_state_warning, reconcile
from .settings import (
    ARCHIVE_FOLDER_NAME,
    ARCHIVE_LISTING_PAGES,
    DEFAULT_POLITENESS,
    EXTRACT_TIMEOUT,
    MAX_LINKS_PER_PAGE,
    MAX_URL_LENGTH,
    OUTPUT_TEMPLATE,
    STATE_FILE_NAME,
    STOP_GRACE,
    STOP_UNWIND,
    USER_AGENT,
    PolitenessSettings,
)
from .sinks import commit_article
from .sites import Site
from .state import CrawlState, run_lock
from .urls import canonical_url, host_of, in_domains, is_fetchable

# ------------------------------------------------------------------ the summary

@dataclass
class SiteSummary:
    site: str
    sections: int = 0
    pages: int = 0  # section pages fetched
    pages_failed: int = 0
    new: int = 0
    seen: int = 0  # article links found that an earlier run already wrote
    failed: int = 0
    retries: int = 0
    robots_skips: int = 0
    archived: int = 0  # pages written to the archive (articles and section pages)
    tally: FieldTally = field(default_factory=FieldTally)  # every article extracted, failed ones too
    # field -> {"count", "layout", "sample_url"}: articles not written because it came out empty
    extraction_failures: dict[str, dict[str, Any]] = field(default_factory=dict)
    drift: list[dict[str, Any]] = field(default_factory=list)  # DriftWarning.to_dict()
    failures: list[dict[str, str]] = field(default_factory=list)

    def match_share(self) -> dict[str, float]:
        """Per field, the share of this run's extracted articles where the selector matched."""
        if not self.tally.articles:
            return {}
        return {name: round(self.tally.share(name), 3) for name in MATCH_FIELDS}

    def alarms(self) -> list[str]:
        """What an operator must hear of even with -q: fields that failed articles, drift."""
        lines = missing_field_lines(self.site, self.extraction_failures, "not written",
                                    "; fix the selector file, then `newscrawl reextract` recovers "
                                    "them from the archive")
        return lines + [warning["message"] for warning in self.drift]

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values.pop("tally")
        values["extracted"] = self.tally.articles
        values["match_share"] = self.match_share()
        return values


@dataclass
class CrawlSummary:
    sites: list[SiteSummary] = field(default_factory=list)
    elapsed: float = 0.0
    stopped: bool = False  # ended early by a signal (the article in flight was finished)
    storage_error: str | None = None  # the output or state could not be written: the run stopped

    def total(self, name: str) -> int:
        return sum(getattr(site, name) for site in self.sites)

    @property
    def ok(self) -> bool:
        return not (self.total("failed") or self.total("pages_failed") or self.alarms())

    def alarms(self) -> list[str]:
        return [line for site in self.sites for line in site.alarms()]

    def to_dict(self) -> dict[str, Any]:
        totals = {name: self.total(name) for name in
                  ("sections", "pages", "pages_failed", "new", "seen", "failed", "retries", "robots_skips",
                   "archived")}
        totals["drift_warnings"] = sum(len(site.drift) for site in self.sites)
        return {"elapsed_seconds": round(self.elapsed, 2), "stopped": self.stopped,
                "storage_error": self.storage_error, "totals": totals,
                "sites": {site.site: site.to_dict() for site in self.sites}}

    def format_table(self) -> str:
        columns = ("sections", "pages", "new", "seen", "failed", "retries", "robots_skips")
        header = ["site", *columns]
        rows = [[site.site, *(str(getattr(site, c)) for c in columns)] for site in self.sites]
        rows.append(["total", *(str(self.total(c)) for c in columns)])
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                           enumerate(zip(row, widths))) for row in [header, *rows]]
        for site in self.sites:
            share = site.match_share()
            if share:
                lines.append(f"{site.site} selector matches: " +
                             ", ".join(f"{name} {value:.0%}" for name, value in share.items()))
            for failure in site.failures[:10]:
                lines.append(f"  failed {failure['url']}: {failure['reason']}")
            if len(site.failures) > 10:
                lines.append(f"  ... and {len(site.failures) - 10} more failures")
        lines.extend(self.alarms())
        if self.storage_error:
            lines.append(f"run stopped: {self.storage_error}")
        lines.append(f"{self.elapsed:.1f}s" + ("  (stopped early by a signal)" if self.stopped else ""))
        return "\n".join(lines)


# ------------------------------------------------------------------ helpers

def site_politeness(site: Site, overrides: dict[str, Any] | None = None) -> PolitenessSettings:
    """Defaults, then the site's [crawl.politeness], then the command line."""
    return DEFAULT_POLITENESS.merged(**asdict(site.crawl.politeness)).merged(**(overrides or {}))


def default_state_path(out_template: str) -> Path:
    """The state lives beside the output: in the template's fixed leading folder."""
    return JsonlWriter(out_template).root / STATE_FILE_NAME


def default_archive_root(out_template: str) -> Path:
    """The archive lives beside the output too: `{output folder}/archive/{site}/...`."""
    return JsonlWriter(out_template).root / ARCHIVE_FOLDER_NAME


def section_selector(site: Site) -> str:
    """What a section page must show before its links are read (lists may be drawn by JS)."""
    return site.crawl.wait_for or site.crawl.links


def article_selector(site: Site) -> str | None:
    """What an article page must show before it is read: its first body container."""
    for layout in site.layouts:
        for container in layout.body.containers:
            if container.kind == "css":
                return container.target
    return None


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _Budget:
    """--max-articles, shared by every site of the run."""

    def __init__(self, limit: int | None):
        self.limit = self.left = limit

    def take(self) -> bool:
        if self.left is None:
            return True
        if self.left <= 0:
            return False
        self.left -= 1
        return True

    @property
    def spent(self) -> bool:
        return self.left is not None and self.left <= 0


# ------------------------------------------------------------------ one site

@dataclass
class _Run:
    """What every site of one crawl shares."""

    fetcher: Fetcher
    state: CrawlState
    writer: JsonlWriter
    progress: Progress
    budget: _Budget
    stop: asyncio.Event
    user_agent: str
    extractor: ExtractPool
    archive: ArchiveWriter | None = None  # None with --no-archive
    archive_listing_pages: bool = ARCHIVE_LISTING_PAGES
    halted: StorageError | None = None  # the first write that failed; nothing more is fetched

    @property
    def stopping(self) -> bool:
        return self.stop.is_set() or self.halted is not None

    def halt(self, error: StorageError) -> None:
        """Stop the whole run: with the output or state unwritable, every fetch would be lost."""
        if self.halted is None:
            self.halted = error
            self.progress.note(f"stopping: {error}")


class SiteCrawl:
    def __init__(self, site: Site, run: _Run, *, sections: dict[str, str], settings: PolitenessSettings,
                 render: str, max_pages: int, rewalk: bool = False):
        self.site, self.run, self.rewalk = site, run, rewalk
        self.sections, self.settings, self.render, self.max_pages = sections, settings, render, max_pages
        self.summary = SiteSummary(site.name)
        self.pacer = HostPacer(settings)
        self.robots = RobotsCache(self._robots_text, run.user_agent)
        self.queue: asyncio.Queue[tuple[str, str | None] | None] = asyncio.Queue()
        self.queued: set[str] = set()
        self.counted_seen: set[str] = set()
        self.robots_skipped: set[str] = set()
        self.article_wait = article_selector(site)
        self.section_wait = section_selector(site)

    async def _robots_text(self, url: str) -> tuple[int, str]:
        await self.run.fetcher.ensure_allowed_target(url, self.site)  # a refused host is not asked at all
        await self.run.fetcher.http.prepare_robots()  # before the slot, which spaces the request itself
        async with self.pacer.slot(host_of(url)):
            return await self.run.fetcher.fetch_text(url)

    async def fetch(self, url: str, wait_for: str | None) -> FetchResult:
        await self.run.fetcher.ensure_allowed_target(url, self.site)  # before its robots.txt is asked for
        await self.robots.allowed(url)  # loads robots.txt (and its Crawl-delay) for the host first
        return await self.run.fetcher.fetch(
            url, self.site, pacer=self.pacer, settings=self.settings, render=self.render,
            wait_for=wait_for, crawl_delay=self.robots.crawl_delay(host_of(url)))

    async def crawl(self) -> SiteSummary:
        # One worker more than the host's concurrency: the extra one waits in the pacer for a
        # free slot, so it takes the slot (and starts loading the next page) the moment another
        # worker's page has arrived, while that worker extracts and writes. The pacer still
        # keeps at most `concurrency` requests in flight.
        workers = [asyncio.create_task(self._worker()) for _ in range(max(1, self.settings.concurrency) + 1)]
        try:
            for name, url in self.sections.items():
                if self.run.stopping or self.run.budget.spent:
                    break
                await self._crawl_section(name, url)
            # Articles that failed, or were found but not fetched, in an earlier run come last.
            self._enqueue(self.run.state.pending(self.site.name))
        except StorageError as error:
            self.run.halt(error)
        except asyncio.CancelledError:  # the stop's grace is over: the articles in flight end too
            for worker in workers:
                worker.cancel()
            raise
        finally:
            for _ in workers:
                self.queue.put_nowait(None)
            await asyncio.gather(*workers)
        return self.summary

    # -------------------------------------------------------------- sections

    async def _crawl_section(self, name: str, url: str) -> None:
        # A walk that broke off (kill -9, stop, a failed page, --max-articles) left older pages
        # unread, so until a walk reaches the end a page of seen articles does not end paging.
        self.summary.sections += 1
        start, state = canonical_url(url), self.run.state
        trust_seen = not self.rewalk and state.section_walk_complete(self.site.name, start)
        state.mark_section_walk(self.site.name, start, complete=False)
        if await self._walk_section(name, start, trust_seen):
            state.mark_section_walk(self.site.name, start, complete=True)

    async def _walk_section(self, name: str, start: str, trust_seen: bool) -> bool:
        """Follow the section's pages; True when the walk reached its end."""
        visited: set[str] = set()
        page_url: str | None = start
        for number in range(1, self.max_pages + 1):
            if self.run.stopping:
                return False
            if page_url is None or page_url in visited:
                return True
            visited.add(page_url)
            try:
                await self.run.fetcher.ensure_allowed_target(page_url, self.site)
                if not await self._allowed(page_url):
                    not_now = self.robots.unavailable(page_url)
                    if not_now is None:
                        self.run.progress.note(f"{self.site.name}: robots.txt disallows section page {page_url}")
                        return True
                    raise FetchError(page_url, not_now)
                result = await self.fetch(page_url, self.section_wait)
            except FetchError as exc:
                self.summary.pages_failed += 1
                self.summary.retries += exc.attempts - 1
                self.summary.failures.append({"url": page_url, "reason": f"section page: {exc.reason}"})
                self.run.progress.note(f"{self.site.name}: section {name} page {number} failed: {exc.reason}")
                return False
            self.summary.pages += 1
            self.summary.retries += result.attempts - 1
            if self.run.archive_listing_pages:
                await self._archive(result, datetime.now(UTC))
            page = Page(result.html, result.final_url)
            links, dropped = self.article_links(page, result.final_url)
            if dropped:
                self.run.progress.note(
                    f"{self.site.name}: section {name} page {number}: {dropped} links dropped (past the "
                    f"first {MAX_LINKS_PER_PAGE}, or longer than {MAX_URL_LENGTH} characters)")
            allowed = []
            for link in links:
                if await self._allowed(link):
                    allowed.append(link)
                elif (not_now := self.robots.unavailable(link)) and not self.run.state.is_seen(link):
                    self._record_failure(link, not_now)  # kept in the state for a later run
            fresh = []
            for link in allowed:
                if self.run.state.is_seen(link):
                    if link not in self.counted_seen:
                        self.counted_seen.add(link)
                        self.summary.seen += 1
                elif link not in self.queued:
                    fresh.append((link, name))
            self.run.progress.page(self.site.name, name, number, page_url, len(fresh))
            self._enqueue(fresh, remember=True)
            if self.run.budget.limit is not None and len(self.queued) >= self.run.budget.limit:
                return False  # enough articles queued for --max-articles
            if not allowed:
                return True
            if trust_seen and all(self.run.state.is_seen(link) for link in allowed):
                return True  # nothing here we have not written before: older pages are seen too
            page_url = self.next_page(page, result.final_url)
        return True  # max_pages

    def article_links(self, page: Page, base: str) -> tuple[list[str], int]:
        """Canonical article URLs of a section page, in page order, without repeats; and how
        many links were dropped: those past the first MAX_LINKS_PER_PAGE, and those longer
        than MAX_URL_LENGTH."""
        links: dict[str, None] = {}  # insertion-ordered, and a repeat is found without a scan
        nodes = page.css(self.site.crawl.links)
        dropped = max(0, len(nodes) - MAX_LINKS_PER_PAGE)
        pattern = self.site.crawl.article_url
        for node in nodes[:MAX_LINKS_PER_PAGE]:
            href = node.attributes.get("href")
            if href is None:  # the selector named a container: take its first link
                inner = page.css_first("a[href]", node)
                href = inner.attributes.get("href") if inner is not None else None
            href = href or ""
            url = absolute_url(base, href) if len(href) <= MAX_URL_LENGTH else None
            if url is None or not is_fetchable(url) or not in_domains(url, self.site.domains):
                dropped += len(href) > MAX_URL_LENGTH
                continue
            if len(url) > MAX_URL_LENGTH:  # a short href on a long base
                dropped += 1
                continue
            if pattern is not None and not pattern.search(url):
                continue
            links.setdefault(canonical_url(url))
        return list(links), dropped

    def next_page(self, page: Page, base: str) -> str | None:
        for fallback in self.site.crawl.next_page:
            for value in fallback_values(page, fallback):
                url = absolute_url(base, value)
                if url and in_domains(url, self.site.domains):
                    return canonical_url(url)
        return None

    async def _allowed(self, url: str) -> bool:
        """robots.txt allows `url`. A refusal because robots.txt could not be read is not
        counted as a skip: the caller records it as a failure, to try again later."""
        if await self.robots.allowed(url):
            return True
        if self.robots.unavailable(url) is None and url not in self.robots_skipped:
            self.robots_skipped.add(url)
            self.summary.robots_skips += 1
        return False

    def _record_failure(self, url: str, reason: str, attempts: int = 1, permanent: bool = False,
                        kind: str = "fetch", archived: PageLocation | None = None) -> None:
        """Count a failed article, say why, and keep it in the state for the next run (a
        `permanent` failure, in enough runs, abandons the article: see ABANDON_AFTER_RUNS).
        A failed extraction (`kind`) with its page `archived` waits for `newscrawl reextract`."""
        self.summary.retries += attempts - 1
        self.summary.failed += 1
        self.summary.failures.append({"url": url, "reason": reason})
        self.run.state.record_failure(url, self.site.name, reason, permanent=permanent, kind=kind,
                                      archived=_where(archived))
        self.run.progress.article(self.site.name, url, "failed", reason)

    def _enqueue(self, items: list[tuple[str, str | None]], remember: bool = False) -> None:
        fresh: dict[str, str | None] = {}  # url -> section, the first one found
        for url, section in items:
            if url not in self.queued and url not in fresh:
                fresh[url] = section
        if remember:
            # Paging stops at a page of seen articles, so an article found on a later page
            # must survive a crash or a stop until it is fetched: recorded (in one commit)
            # before it is queued. An abandoned one is not queued again.
            to_fetch = set(self.run.state.enqueue(self.site.name, list(fresh.items())))
            fresh = {url: section for url, section in fresh.items() if url in to_fetch}
        for url, section in fresh.items():
            self.queued.add(url)
            self.queue.put_nowait((url, section))
        if fresh:
            self.run.progress.queued(self.site.name, len(fresh))

    # -------------------------------------------------------------- articles

    async def _worker(self) -> None:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            if self.run.stopping or not self.run.budget.take():
                continue  # drain the queue without fetching
            try:
                await self._crawl_article(*item)
            except StorageError as error:
                self.run.halt(error)

    async def _crawl_article(self, url: str, section: str | None) -> None:
        state, name = self.run.state, self.site.name
        if state.is_seen(url):  # another spelling of it was written since it was queued
            self.summary.seen += 1
            return
        if not await self._allowed(url):  # a failed URL from an earlier run, now disallowed
            not_now = self.robots.unavailable(url)
            if not_now:
                self._record_failure(url, not_now)
            return
        try:
            result = await self.fetch(url, self.article_wait)
        except FetchError as exc:
            if exc.retryable and self.run.stop.is_set():
                return  # cut short by the stop (the browser closing, say): not a failure, fetched next run
            self._record_failure(url, exc.reason, exc.attempts, permanent=exc.permanent)
            return
        self.summary.retries += result.attempts - 1
        await asyncio.sleep(0)  # let the worker waiting for the slot start the next page first
        fetched = datetime.now(UTC)
        fetched_at = fetched.isoformat(timespec="seconds")
        # The page goes to the archive (in a thread, fsync included) while it is extracted.
        archiving = asyncio.ensure_future(self._archive(result, fetched))
        try:  # in a worker process, under the time limit: the key and the record
            key, article = await self.run.extractor.extract(self.site, result.html, result.final_url,
                                                            fetched_at)
        except ExtractionError as exc:  # over the time limit, or its worker died
            archived = await archiving
            # A page over the limit will be over it on every run: abandoned in time, as a 414 is.
            self._record_failure(url, str(exc), permanent=isinstance(exc, ExtractionTimeout),
                                 kind="extraction", archived=archived)
            return
        except BaseException:
            await asyncio.wait({archiving})  # a write under way is finished, never torn
            raise
        archived = await archiving  # StorageError: the run stops, nothing is marked done
        if state.is_seen(key):  # another spelling of an article already written
            state.mark_done(url, name, article.content_hash, fetched_at, archived=_where(archived))
            self.summary.seen += 1
            self.run.progress.article(name, url, "seen", f"same as {key}")
            return
        if section is not None:
            article.section, article.provenance["section"] = section, "crawl"
        self.summary.tally.add(url, article)
        layout, missing = missing_required(article, self.site)
        if missing:  # an empty body is a broken selector, not an article: kept for reextract
            count_missing_fields(self.summary.extraction_failures, missing, layout, url)
            self._record_failure(url, extraction_failure_reason(layout, missing), kind="extraction",
                                 archived=archived)
            return
        commit_article(self.run.writer, state, article, (key, url), fetched_at, _where(archived))
        self.summary.new += 1
        self.run.progress.article(name, key, "new")

    async def _archive(self, result: FetchResult, fetched: datetime) -> PageLocation | None:
        """Write a fetched page to the archive, durably, off the event loop; None without one."""
        archive = self.run.archive
        if archive is None:
            return None
        # A transport that could not give the served body leaves the DOM it read as the page.
        rendered = result.html if result.rendered or result.body is None else None
        headers = result.raw_headers or list(result.headers.items())
        location = await asyncio.to_thread(
            archive.write_page, self.site.name, url=result.final_url, status=result.status,
            headers=headers, body=result.body, fetched_at=fetched, rendered_dom=rendered,
            http_version=result.http_version, body_decoded=result.body_decoded)
        self.summary.archived += 1
        return location

    def finish(self, thresholds: DriftThresholds, run_at: str) -> None:
        """At the site's end: the drift alarm, then this run's field match counts stored."""
        state, tally = self.run.state, self.summary.tally
        if not tally.articles:
            return
        baseline = state.field_baseline(self.site.name, thresholds.baseline_runs, thresholds.min_articles)
        warnings = drift_warnings(self.site.name, tally, baseline, thresholds)
        self.summary.drift = [warning.to_dict() for warning in warnings]
        state.record_field_matches(self.site.name, run_at, tally.counts())


def _where(location: PageLocation | None) -> tuple[str, int] | None:
    """An archived page's (file, offset), as the state keeps it."""
    return None if location is None else (str(location.path), location.offset)


# ------------------------------------------------------------------ the whole crawl

async def crawl(sites: list[Site], *, out_template: str = OUTPUT_TEMPLATE,
                state_path: Path | str | None = None, max_articles: int | None = None,
                max_pages: int | None = None, politeness_overrides: dict[str, Any] | None = None,
                sections_override: dict[str, dict[str, str]] | None = None,
                render_override: str | None = None, progress: Progress | None = None,
                stop_event: asyncio.Event | None = None, user_agent: str = USER_AGENT,
                fetcher: Fetcher | None = None, extract_timeout: float = EXTRACT_TIMEOUT,
                stop_grace: float = STOP_GRACE, archive_root: Path | str | None = None,
                archive: bool = True, archive_listing_pages: bool = ARCHIVE_LISTING_PAGES,
                rewalk: bool = False, drift: DriftThresholds = DEFAULT_THRESHOLDS) -> CrawlSummary:
    """Crawl `sites` once. Raises LockHeldError when another run holds the state's lock, and
    OutputLockedError when another crawl is writing one of today's output files.

    `sections_override` replaces a site's sections ({site: {name: url}}); `render_override`
    forces "browser" or "http" for every site; `stop_event`, once set, lets the articles in
    flight finish (for `stop_grace` seconds at most, then they are cancelled) and fetches
    nothing more. A `fetcher` may be shared between runs. An article whose extraction takes
    longer than `extract_timeout` seconds fails.

    Pages are archived under `archive_root` (default: `archive/` beside the output) unless
    `archive` is False; `archive_listing_pages` archives section pages too. `rewalk` walks
    every section on (up to max_pages) past pages of articles already seen. `drift` holds the
    drift alarm's thresholds.
    """
    started = asyncio.get_running_loop().time()
    writer = JsonlWriter(out_template)
    state_path = Path(state_path) if state_path is not None else default_state_path(out_template)
    stop = stop_event or asyncio.Event()
    progress = progress or Progress()
    summary = CrawlSummary()
    archive_writer = None
    if archive:
        archive_writer = ArchiveWriter(archive_root if archive_root is not None
                                       else default_archive_root(out_template))
    run_at = _now_iso()
    # exit 2, nothing fetched
    check_crawl_paths(writer, state_path, [site.name for site in sites], archive_writer)
    with run_lock(state_path), CrawlState(state_path) as state:
        extractor = ExtractPool(timeout=extract_timeout, stop=stop)
        try:
            for site in sites:  # before any fetch: a crawl sharing our output stops us here
                writer.claim(site.name)
                if archive_writer is not None:
                    archive_writer.claim(site.name)
            if warning := empty_state_warning(state, state_path, out_template):
                print(warning, file=sys.stderr, flush=True)
            reconcile(writer, state, sites)
            own_fetcher = fetcher is None
            fetcher = fetcher or Fetcher(user_agent=user_agent)
            extractor.start()  # its first worker starts while the browser does
            if own_fetcher:
                await fetcher.__aenter__()
            try:
                run = _Run(fetcher, state, writer, progress, _Budget(max_articles), stop, user_agent,
                           extractor, archive_writer, archive_listing_pages)
                crawls = [SiteCrawl(site, run,
                                    sections=(sections_override or {}).get(site.name, site.crawl.sections),
                                    settings=site_politeness(site, politeness_overrides),
                                    render=render_override or site.crawl.render,
                                    max_pages=max_pages or site.crawl.max_pages, rewalk=rewalk)
                          for site in sites]
                summary.sites = await _crawl_sites(crawls, stop, stop_grace)
                if run.halted is None:
                    try:
                        for site_crawl in crawls:
                            site_crawl.finish(drift, run_at)
                    except StorageError as error:
                        run.halt(error)
                if run.halted is not None:
                    summary.storage_error = str(run.halted)
            finally:
                if own_fetcher:
                    await fetcher.close()
        finally:
            extractor.close()  # every worker process ends with the crawl
            writer.close()
            if archive_writer is not None:
                archive_writer.close()
            progress.close()
    summary.stopped = stop.is_set()
    summary.elapsed = asyncio.get_running_loop().time() - started
    return summary


async def _crawl_sites(crawls: list[SiteCrawl], stop: asyncio.Event, grace: float) -> list[SiteSummary]:
    """Every site's crawl, all at once. Once `stop` is set the articles in flight have `grace`
    seconds to finish; then the site crawls are cancelled (an article not written is fetched
    next run), as they are when this is cancelled itself (a second signal)."""
    tasks = [asyncio.create_task(site_crawl.crawl()) for site_crawl in crawls]
    everything = asyncio.gather(*tasks, return_exceptions=True)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({everything, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not everything.done():
            await asyncio.wait({everything}, timeout=grace)
    finally:
        stopping.cancel()
        unfinished = [task for task in tasks if not task.done()]
        for task in unfinished:
            task.cancel()  # a site's crawl cancels its workers in turn
        if unfinished:
            await asyncio.wait(unfinished, timeout=STOP_UNWIND)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()
    return [site_crawl.summary for site_crawl in crawls]


def run_crawl(sites: list[Site], **options: Any) -> CrawlSummary:
    """`crawl` for callers without an event loop (the demo, scripts)."""
    return asyncio.run(crawl(sites, **options))


def print_summary(summary: CrawlSummary, stream=None) -> None:
    print(summary.format_table(), file=stream or sys.stdout)
