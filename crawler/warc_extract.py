"""`newscrawl extract` over WARC files: every 2xx HTML page of a host with a selector file,
extracted in worker processes, streamed, written in input order.

Reading and choosing happen here, in one process: `iter_archive` yields one page at a time,
a page of a host without a selector file (or not HTML, or not 2xx) is counted and dropped,
and the others are decoded and handed to the crawl's ExtractPool. At most `window` pages are
in flight, so memory stays flat however large the files; each page keeps the pool's time
limit (a catastrophic regex costs one page, not the run). Records come out in input order.
"""

from __future__ import annotations

import asyncio
import gzip
import sys
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from urllib.parse import urlsplit

from .archive import ArchivedPage, iter_archive
from .errors import ExtractionError, UnknownSiteError
from .extract_pool import ExtractPool
from .fetched import HTML_TYPES
from .progress import ReadProgress
from .settings import EXTRACT_TIMEOUT, MAX_PAGE_BYTES
from .sites import Site, SiteRegistry

WARC_SUFFIXES = (".warc", ".warc.gz")
PAGES_PER_WORKER_IN_FLIGHT = 4  # enough that a worker never waits for the reader
# Why a page was not extracted; the summary counts each.
NO_SELECTOR_FILE = "no selector file for its host"
NOT_HTML = "not HTML"
NOT_2XX = "status not 2xx"
TOO_LARGE = f"over {MAX_PAGE_BYTES // (1024 * 1024)} MiB"


def is_warc(path: Path) -> bool:
    """A WARC file by its name (.warc, .warc.gz) or, whatever its name, by its first bytes."""
    if path.name.lower().endswith(WARC_SUFFIXES):
        return True
    try:
        with open(path, "rb") as stream:
            head = stream.read(64)
            if head.startswith(b"\x1f\x8b"):
                stream.seek(0)
                with gzip.GzipFile(fileobj=stream) as inflated:
                    head = inflated.read(8)
    except (OSError, EOFError):
        return False  # missing or unreadable: the saved-page path reports it
    return head.startswith(b"WARC/")


@dataclass
class WarcTally:
    """What one run read, extracted, skipped (per reason) and failed."""

    read: int = 0
    extracted: int = 0
    failed: int = 0  # pages that could not be decoded or extracted, and files that broke
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> pages
    hosts_without_selectors: Counter[str] = field(default_factory=Counter)  # host -> pages

    def summary(self, top_hosts: int = 5) -> list[str]:
        """The lines printed to stderr at the end."""
        skipped = sum(self.skipped.values())
        lines = [f"newscrawl: {self.read} pages read, {self.extracted} extracted, "
                 + f"{skipped} skipped, {self.failed} failed"]
        for reason, count in self.skipped.most_common():
            lines.append(f"  skipped {count:>8}  {reason}")
        if self.hosts_without_selectors:
            hosts = ", ".join(f"{host} ({count})"
                              for host, count in self.hosts_without_selectors.most_common(top_hosts))
            more = len(self.hosts_without_selectors) - top_hosts
            lines.append(f"  hosts without a selector file: {hosts}" + (f" and {more} more" if more > 0 else ""))
        return lines


@dataclass
class PageToExtract:
    site: Site
    html: str
    url: str
    fetched_at: str


class PageChooser:
    """Decides, page by page, what is extracted; counts what is not."""

    def __init__(self, registry: SiteRegistry, tally: WarcTally):
        self.registry, self.tally = registry, tally
        self._sites: dict[str, Site | None] = {}  # host -> its site; a few thousand hosts at most

    def choose(self, page: ArchivedPage) -> PageToExtract | None:
        """The page ready for a worker, or None when it is skipped. Raises what decoding its
        body raises (a broken gzip, an unknown Content-Encoding)."""
        host = (urlsplit(page.url).hostname or "").lower()
        site = self._site_for(host)
        reason = self._skip_reason(page, site)
        if reason is not None:
            self.tally.skipped[reason] += 1
            if reason == NO_SELECTOR_FILE:
                self.tally.hosts_without_selectors[host or "(no host)"] += 1
            return None
        html = page.html(MAX_PAGE_BYTES)  # our browser-mode archive: the DOM extraction read
        if html is None:
            self.tally.skipped[TOO_LARGE] += 1
            return None
        fetched_at = page.fetched_at.astimezone(UTC).isoformat(timespec="seconds")
        return PageToExtract(site, html, page.url, fetched_at)

    def _site_for(self, host: str) -> Site | None:
        if host not in self._sites:
            try:
                self._sites[host] = self.registry.for_host(host)
            except UnknownSiteError:
                self._sites[host] = None
        return self._sites[host]

    @staticmethod
    def _skip_reason(page: ArchivedPage, site: Site | None) -> str | None:
        if site is None:
            return NO_SELECTOR_FILE
        # A DOM-only record without its served status (none of ours lacks it) is read as 2xx.
        if page.status is not None and not 200 <= page.status < 300:
            return NOT_2XX
        if page.rendered_dom is None:
            kind = (page.header("Content-Type") or "").split(";", 1)[0].strip().lower()
            if kind and kind not in HTML_TYPES:  # no Content-Type at all is read, as the crawl does
                return NOT_HTML
        return None


def extract_warcs(paths: list[Path], registry: SiteRegistry, *, jobs: int,
                  write: Callable[[dict], None], progress: ReadProgress | None = None,
                  timeout: float = EXTRACT_TIMEOUT) -> WarcTally:
    """Extract every chosen page of `paths` in `jobs` worker processes; `write` gets each
    record (`Article.to_dict()`) in input order. Failures go to stderr, one line each."""
    tally = WarcTally()
    asyncio.run(_extract_in_order(paths, PageChooser(registry, tally), tally, jobs=jobs,
                                  write=write, progress=progress or ReadProgress(), timeout=timeout))
    return tally


async def _extract_in_order(paths: list[Path], chooser: PageChooser, tally: WarcTally, *, jobs: int,
                            write: Callable[[dict], None], progress: ReadProgress, timeout: float) -> None:
    window = max(1, jobs) * PAGES_PER_WORKER_IN_FLIGHT
    in_flight: deque[tuple[str, asyncio.Task]] = deque()

    async def write_oldest() -> None:
        url, task = in_flight.popleft()
        try:
            _, article = await task
        except ExtractionError as exc:  # over the time limit, or its worker died
            _report_failure(tally, url, str(exc))
            return
        except Exception as exc:  # noqa: BLE001  one page's failure: reported, the run goes on
            _report_failure(tally, url, f"extraction: {type(exc).__name__}: {exc}")
            return
        write(article.to_dict())
        tally.extracted += 1

    async with ExtractPool(processes=jobs, timeout=timeout) as pool:
        try:
            for page, position in _pages(paths, tally):
                tally.read += 1
                try:
                    chosen = chooser.choose(page)
                except Exception as exc:  # noqa: BLE001  a body anyone served: it may not decode
                    _report_failure(tally, page.url, f"cannot decode the body: {exc}")
                    chosen = None
                progress.update(tally, position)
                if chosen is None:
                    continue
                task = asyncio.ensure_future(pool.extract(chosen.site, chosen.html, chosen.url,
                                                          chosen.fetched_at))
                in_flight.append((chosen.url, task))
                await asyncio.sleep(0)  # the task sends its page to a free worker now
                while len(in_flight) >= window or (in_flight and in_flight[0][1].done()):
                    await write_oldest()
            while in_flight:
                await write_oldest()
                progress.update(tally, None)
        finally:
            for _, task in in_flight:
                task.cancel()
            progress.close()


def _pages(paths: list[Path], tally: WarcTally) -> Iterator[tuple[ArchivedPage, int]]:
    """Each page with the bytes read so far over all files (its record's offset)."""
    done_bytes = 0
    for path in paths:
        try:
            for page in iter_archive([path]):
                yield page, done_bytes + (page.records[0].offset if page.records else 0)
        except Exception as exc:  # noqa: BLE001  a damaged file: what was read stays; the next file is read
            _report_failure(tally, str(path), f"cannot read the WARC file past this point: {exc}")
        done_bytes += path.stat().st_size


def _report_failure(tally: WarcTally, where: str, reason: str) -> None:
    tally.failed += 1
    print(f"newscrawl: error: {where}: {reason}", file=sys.stderr, flush=True)
