"""What the user sees while a crawl runs, or `extract` reads WARC files: a rich progress bar
on a terminal, plain log lines otherwise (cron mail, container logs), nothing with --quiet.

The crawl calls the same few methods whichever kind it is given.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Silent. The base of the other two, and what `--quiet` uses."""

    def page(self, site: str, section: str, number: int, url: str, new_links: int) -> None:
        """A section page was fetched and yielded `new_links` articles to fetch."""

    def queued(self, site: str, count: int) -> None:
        """`count` more articles will be fetched."""

    def article(self, site: str, url: str, outcome: str, detail: str = "") -> None:
        """An article ended as "new", "seen" or "failed"."""

    def note(self, text: str) -> None:
        """Anything else worth a line: a section that failed, a robots.txt skip."""

    def close(self) -> None:
        """The crawl is over."""


class LogProgress(Progress):
    """One timestamped line per event, for logs."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr

    def _line(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{stamp} {text}", file=self.stream, flush=True)

    def page(self, site, section, number, url, new_links):
        self._line(f"{site}: section {section} page {number}: {new_links} new  {url}")

    def article(self, site, url, outcome, detail=""):
        self._line(f"{site}: {outcome:6} {url}" + (f"  ({detail})" if detail else ""))

    def note(self, text):
        self._line(text)


class BarProgress(Progress):
    """A rich progress bar on stderr: articles done out of articles found so far."""

    def __init__(self):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress

        self.bar = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(),
                                MofNCompleteColumn(), TextColumn("{task.fields[counts]}"),
                                TimeElapsedColumn(), console=Console(stderr=True), transient=False)
        self.task = self.bar.add_task("crawl", total=0, counts="")
        self.counts = {"new": 0, "seen": 0, "failed": 0}
        self.bar.start()

    def page(self, site, section, number, url, new_links):
        self.bar.update(self.task, description=f"{site} {section} p{number}")

    def queued(self, site, count):
        total = self.bar.tasks[0].total or 0
        self.bar.update(self.task, total=total + count)

    def article(self, site, url, outcome, detail=""):
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        text = "  ".join(f"{name} {number}" for name, number in self.counts.items())
        self.bar.update(self.task, advance=1, counts=text)
        if outcome == "failed":
            self.bar.console.print(f"[red]failed[/red] {url}  {detail}")

    def note(self, text):
        self.bar.console.print(text)

    def close(self):
        self.bar.stop()


def make_progress(quiet: bool = False, stream: TextIO | None = None) -> Progress:
    """The bar on a terminal, log lines elsewhere, silence with `quiet`."""
    if quiet:
        return Progress()
    stream = stream or sys.stderr
    if stream is sys.stderr and stream.isatty():
        return BarProgress()
    return LogProgress(stream)


# ------------------------------------------------------------------ reading WARC files

class ReadProgress:
    """Silent: what `newscrawl extract FILE.warc.gz` shows without a terminal or --progress."""

    def update(self, tally, position: int | None) -> None:
        """`tally` (a WarcTally) after one more page; `position` is the bytes read so far of
        all the files, or None when unchanged."""

    def close(self) -> None:
        """The files are read."""


def _read_counts(tally, elapsed: float) -> str:
    skipped = sum(tally.skipped.values())
    rate = tally.read / elapsed if elapsed > 0 else 0.0
    return (f"{tally.read} read  {tally.extracted} extracted  {skipped} skipped  "
            f"{tally.failed} failed  {rate:.0f} pages/s")


class ReadLogProgress(ReadProgress):
    """A timestamped line every `every` seconds, for logs."""

    def __init__(self, total_bytes: int, stream: TextIO | None = None, every: float = 5.0):
        self.total_bytes, self.stream, self.every = total_bytes, stream or sys.stderr, every
        self.started = self.last = time.monotonic()
        self.position = 0
        self.tally = None

    def update(self, tally, position):
        self.tally, self.position = tally, self.position if position is None else position
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._line()

    def _line(self) -> None:
        share = 100 * self.position / self.total_bytes if self.total_bytes else 100.0
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{stamp} {share:5.1f}%  {_read_counts(self.tally, time.monotonic() - self.started)}",
              file=self.stream, flush=True)

    def close(self):
        if self.tally is not None:
            self.position = self.total_bytes
            self._line()


class ReadBarProgress(ReadProgress):
    """A rich progress bar on stderr: the bytes read of all the files, and the counts."""

    def __init__(self, total_bytes: int):
        from rich.console import Console
        from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        self.bar = RichProgress(TextColumn("[bold]extract"), BarColumn(),
                                TextColumn("{task.percentage:>3.0f}%"), TextColumn("{task.fields[counts]}"),
                                TimeElapsedColumn(), TimeRemainingColumn(),
                                console=Console(stderr=True), transient=False,
                                redirect_stdout=False)  # stdout carries the records
        self.task = self.bar.add_task("extract", total=total_bytes or 1, counts="")
        self.started = time.monotonic()
        self.bar.start()

    def update(self, tally, position):
        counts = _read_counts(tally, time.monotonic() - self.started)
        if position is None:
            self.bar.update(self.task, counts=counts)
        else:
            self.bar.update(self.task, completed=position, counts=counts)

    def close(self):
        self.bar.update(self.task, completed=self.bar.tasks[0].total)
        self.bar.stop()


def make_read_progress(total_bytes: int, *, quiet: bool = False, forced: bool = False) -> ReadProgress:
    """The bar on a terminal (or log lines with `forced` elsewhere), silence with `quiet`."""
    if quiet:
        return ReadProgress()
    if sys.stderr.isatty():
        return ReadBarProgress(total_bytes)
    return ReadLogProgress(total_bytes) if forced else ReadProgress()
