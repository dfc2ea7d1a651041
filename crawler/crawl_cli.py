"""`newscrawl crawl`, `reextract` and `demo-site`: arguments, the --every loop, signals, exit codes.

Exit codes: crawler.errors.ExitCode (0 ok or stopped by a signal, 1 some articles failed,
2 configuration error or an unwritable path found before any fetch, 3 a lock is held, 4 the
output or state could not be written mid-run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from croniter import CroniterBadDateError, CroniterError, croniter

from . import selectors_dir
from .errors import ConfigError, ExitCode, NewscrawlError
from .settings import OUTPUT_TEMPLATE, STOP_GRACE, USER_AGENT

DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def add_commands(commands, selectors_option) -> None:
    crawl = commands.add_parser(
        "crawl", help="crawl site sections into JSON lines (politely, incrementally)",
        description="Visit each site's sections, find articles not seen before, extract them and "
        "append one JSON line each; every fetched page is kept in a WARC archive. An article whose "
        "required fields (title and body by default) come out empty is not written: it is "
        "recorded as failed, and `newscrawl reextract` recovers it once the selector file is "
        "fixed. Exit codes: 0 ok (or stopped by a signal), 1 some articles failed (retried next "
        "run), or a field's selector stopped matching (drift), 2 configuration error or an unwritable path (nothing "
        "fetched), 3 another crawl holds the state's or an output file's lock, 4 the output or "
        "state could not be written mid-run (disk full, read-only).")
    crawl.add_argument("--site", action="append", metavar="NAME",
                       help="crawl only this site, verified or not (repeatable; default: every "
                       "site whose file does not say verified = false: the verified bundled files "
                       "and your own)")
    crawl.add_argument("--include-unverified", action="store_true",
                       help="with no --site, crawl the bundled files marked verified = false too")
    selectors_option(crawl)
    add_storage_options(crawl)
    crawl.add_argument("--no-archive", action="store_true",
                       help="keep no raw pages (reextract and fixtures add --from-archive then "
                       "have nothing to read)")
    crawl.add_argument("--rewalk", action="store_true",
                       help="walk every section on to its last page (up to max_pages) even past "
                       "pages of articles already seen: after fixing `links` or `article_url`")
    crawl.add_argument("--max-articles", type=_positive_int, metavar="N",
                       help="fetch at most N articles this run")
    crawl.add_argument("--max-pages", type=_positive_int, metavar="N",
                       help="section pages to follow per section (default: the site's max_pages)")
    crawl.add_argument("--render", choices=("browser", "http"),
                       help="force browser or http fetching for every site")
    crawl.add_argument("--min-delay", type=_non_negative, metavar="SECONDS",
                       help="minimum delay between two requests to one host (default 1.0)")
    crawl.add_argument("--jitter", type=_non_negative, metavar="SECONDS",
                       help="plus a random 0..SECONDS (default 0.5)")
    crawl.add_argument("--concurrency", type=_positive_int, metavar="N",
                       help="requests in flight per host (default 1)")
    crawl.add_argument("--user-agent-contact", metavar="URL",
                       help="a contact URL or e-mail added to the User-Agent")
    crawl.add_argument("--every", metavar="INTERVAL",
                       help="keep running: an interval (30m, 1h, 1h30m) or a cron expression "
                       "('*/30 * * * *'); SIGTERM/SIGINT finish the article in flight and exit 0")
    crawl.add_argument("--summary-json", metavar="PATH", help="also write the summary as JSON here")
    crawl.add_argument("-q", "--quiet", action="store_true",
                       help="no progress and no summary table (the exit code still tells)")
    crawl.set_defaults(run=cmd_crawl)

    reextract = commands.add_parser(
        "reextract", help="extract archived pages again with today's selector files (no network)",
        description="Read the pages the crawl archived, extract them with today's selector files "
        "and write a record for each that now extracts. --failed (the default): articles whose "
        "extraction failed (a required field came out empty) become done. --all: every archived "
        "article, done ones included; a new line, with revision + 1, is written only where the "
        "content hash changed (consumers keep the highest revision per URL). Never sends a "
        "network request. Takes the state's lock, as a crawl does. Exit codes: 0 every article "
        "chosen now extracts, 1 some still fail, 2 configuration error, 3 lock held.")
    reextract.add_argument("--site", action="append", metavar="NAME",
                           help="only this site (repeatable; default: every selector file)")
    which = reextract.add_mutually_exclusive_group()
    which.add_argument("--failed", dest="all_articles", action="store_false",
                       help="failed articles only (the default)")
    which.add_argument("--all", dest="all_articles", action="store_true",
                       help="every archived article; a new line only where the content changed")
    reextract.add_argument("--since", metavar="DATE", type=_since,
                           help="only articles fetched (or, failed ones, tried) on or after DATE "
                           "(YYYY-MM-DD, or ISO 8601 with a time; UTC when no offset)")
    selectors_option(reextract)
    add_storage_options(reextract)
    reextract.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    reextract.set_defaults(run=cmd_reextract, all_articles=False)

    demo = commands.add_parser("demo-site", help="serve the built-in demo news site on 127.0.0.1",
                               description="Serve the synthetic demo news site (JS-rendered, "
                               "paginated sections; robots.txt) until Ctrl-C.")
    demo.add_argument("--port", type=int, default=8765, help="port (default: %(default)s)")
    demo.add_argument("--articles", type=_positive_int, default=60,
                      help="number of articles (default: %(default)s)")
    demo.set_defaults(run=cmd_demo_site)


def cmd_reextract(args) -> int:
    from .crawl import default_archive_root, default_state_path
    from .reextract import reextract
    from .sites import load_registry

    registry = load_registry(args.selectors or selectors_dir())
    sites = [registry.by_name(name) for name in args.site] if args.site else list(registry.sites.values())
    summary = reextract(
        sites, out_template=args.out,
        state_path=Path(args.state) if args.state else default_state_path(args.out),
        archive_root=Path(args.archive) if args.archive else default_archive_root(args.out),
        all_articles=args.all_articles, since=args.since)
    if not args.quiet:
        print(summary.format(), flush=True)
    for alarm in summary.alarms():
        print(f"newscrawl: warning: {alarm}", file=sys.stderr, flush=True)
    return ExitCode.PARTIAL if summary.still_failing or summary.unreadable else ExitCode.OK


def _since(text: str) -> str:
    """--since: a date or an ISO 8601 instant, as the state's UTC timestamps compare."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (write e.g. 2026-12-01)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def cmd_demo_site(args) -> int:
    from .demo.server import serve_forever

    serve_forever(port=args.port, articles=args.articles)
    return ExitCode.OK


def cmd_crawl(args) -> int:
    from .sites import load_registry

    folder = args.selectors or selectors_dir()
    registry = load_registry(folder)
    if args.site:  # a file named is crawled, verified or not
        sites = [registry.by_name(name) for name in args.site]
    else:
        sites, skipped = default_sites(list(registry.sites.values()), args.include_unverified)
        if skipped and not args.quiet:
            print(f"newscrawl: {skipped_note(skipped)}", file=sys.stderr, flush=True)
        if skipped and not sites:
            raise ConfigError(str(folder), "crawl.verified", "every selector file with sections says "
                              "verified = false: pass --include-unverified, or --site NAME")
    sites = [site for site in sites if site.crawl.sections]
    if not sites:
        raise ConfigError(str(folder), "crawl.sections", "no selected site lists any sections to crawl")
    schedule = parse_schedule(args.every) if args.every else None
    return asyncio.run(_crawl_until_done(sites, args, schedule))


async def _crawl_until_done(sites, args, schedule: Schedule | None) -> int:
    from .crawl import crawl
    from .progress import make_progress

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    this_run = asyncio.current_task()

    def on_signal() -> None:
        # The first signal lets the articles in flight finish (crawl() cancels them after
        # STOP_GRACE); a second one ends the run at once. The browser and the driver do not
        # see a terminal's Ctrl-C (crawler/browser.py), so they are closed by the crawl.
        if stop.is_set():
            this_run.cancel()
            return
        stop.set()
        if not args.quiet:
            print(f"stopping… (finishing the articles in flight; a second signal or {STOP_GRACE:g} s "
                  "ends at once)", file=sys.stderr, flush=True)

    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, on_signal)
    overrides = {"min_delay": args.min_delay, "jitter": args.jitter, "concurrency": args.concurrency}
    while True:
        try:
            summary = await crawl(
                sites, out_template=args.out, state_path=args.state, max_articles=args.max_articles,
                max_pages=args.max_pages, politeness_overrides=overrides, render_override=args.render,
                progress=make_progress(args.quiet), stop_event=stop,
                user_agent=user_agent_with(args.user_agent_contact), archive_root=args.archive,
                archive=not args.no_archive, rewalk=args.rewalk)
        except asyncio.CancelledError:  # a second signal: the tabs, the browser and the lock are let go
            return ExitCode.OK
        except NewscrawlError as error:
            if schedule is None:
                raise
            # A full disk or a held lock fails this run, not the loop: the next tick tries again.
            print(f"newscrawl: error: this run failed: {error}", file=sys.stderr, flush=True)
            summary = None
        if summary is not None:
            report_summary(summary, args)
        if stop.is_set():
            return ExitCode.OK  # asked to stop: what was in flight is written, nothing is lost
        if schedule is None:
            return run_exit_code(summary)
        wait = schedule.seconds_until_next(datetime.now())
        if not args.quiet:
            print(f"next run in {wait:.0f}s", flush=True)
        try:
            await asyncio.wait_for(stop.wait(), timeout=wait)
            return ExitCode.OK
        except TimeoutError:
            continue


def default_sites(sites: list, include_unverified: bool = False) -> tuple[list, list]:
    """The sites a crawl without --site visits, and the unverified ones it skips: files that
    say `verified = false` are skipped, the verified ones and the user's own (no `verified`
    line) are not. Files without sections are crawled by nobody, so they are not "skipped"."""
    if include_unverified:
        return sites, []
    chosen, skipped = [], []
    for site in sites:
        (skipped if site.crawl.verified is False and site.crawl.sections else chosen).append(site)
    return chosen, skipped


def skipped_note(skipped: list) -> str:
    names = ", ".join(sorted(site.name for site in skipped))
    files = "file" if len(skipped) == 1 else "files"
    return (f"skipped {len(skipped)} unverified selector {files} ({names}); "
            "--include-unverified crawls them")


def add_storage_options(parser) -> None:
    """--out, --state and --archive: the same flags, with the same defaults, for every command
    that reads or writes what a crawl keeps."""
    parser.add_argument("--out", metavar="TEMPLATE", default=OUTPUT_TEMPLATE,
                        help="output path template with {site} and {date} (default: %(default)s)")
    parser.add_argument("--state", metavar="PATH",
                        help="SQLite state file (default: state.sqlite beside the output)")
    parser.add_argument("--archive", metavar="DIR",
                        help="WARC archive folder (default: archive/ beside the output)")


def report_summary(summary, args) -> None:
    """The table on stdout (unless -q), the JSON file if asked for; on stderr, which -q never
    silences, a write failure that stopped the run, failed extractions and drift warnings."""
    if not args.quiet:
        print(summary.format_table(), flush=True)
    for alarm in summary.alarms():
        print(f"newscrawl: warning: {alarm}", file=sys.stderr, flush=True)
    if summary.storage_error:
        print(f"newscrawl: error: run stopped: {summary.storage_error}", file=sys.stderr, flush=True)
    if args.summary_json:
        path = Path(args.summary_json)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(summary.to_dict(), indent=2) + "\n", encoding="utf-8")
        except OSError as error:  # the summary may live on the disk that just filled
            print(f"newscrawl: error: {path}: cannot write the summary: {error.strerror or error}",
                  file=sys.stderr, flush=True)


def run_exit_code(summary) -> int:
    if summary.storage_error:
        return ExitCode.STORAGE
    return ExitCode.OK if summary.ok else ExitCode.PARTIAL


def user_agent_with(contact: str | None) -> str:
    """The crawler's User-Agent, with the operator's contact inside its comment."""
    if not contact:
        return USER_AGENT
    if USER_AGENT.endswith(")"):
        return f"{USER_AGENT[:-1]}; {contact})"
    return f"{USER_AGENT} ({contact})"


# ------------------------------------------------------------------ --every

class Schedule:
    def seconds_until_next(self, now: datetime) -> float:
        raise NotImplementedError


@dataclass
class Interval(Schedule):
    """Run again `seconds` after the previous run ended."""

    seconds: float

    def seconds_until_next(self, now: datetime) -> float:
        return self.seconds


@dataclass
class Cron(Schedule):
    """A five-field cron expression (minute hour day-of-month month day-of-week), local time.
    croniter reads it: ranges, steps, lists, names (mon, jan), and cron's rule that a day
    matches when either restricted day field does."""

    expression: str

    def next_after(self, now: datetime) -> datetime:
        try:
            return croniter(self.expression, now).get_next(datetime)
        except CroniterBadDateError:
            raise ConfigError("--every", self.expression, "the expression never matches a date") from None

    def seconds_until_next(self, now: datetime) -> float:
        return max(0.0, (self.next_after(now) - now).total_seconds())


CRON_FIELDS = "minute 0-59, hour 0-23, day-of-month 1-31, month 1-12, day-of-week 0-7"


def parse_schedule(text: str) -> Schedule:
    """'30m', '1h30m', '45s' -> Interval; five space-separated fields -> Cron."""
    text = text.strip()
    if DURATION_PART.fullmatch(text) or re.fullmatch(rf"(?:{DURATION_PART.pattern})+", text):
        seconds = sum(float(n) * DURATION_UNITS[unit] for n, unit in DURATION_PART.findall(text))
        if seconds <= 0:
            raise ConfigError("--every", text, "the interval must be longer than 0")
        return Interval(seconds)
    if len(text.split()) != 5:
        raise ConfigError("--every", text, "expected an interval like 30m or 1h, or a cron "
                          "expression of five fields like '*/30 * * * *'")
    try:
        croniter(text)
    except CroniterError as exc:
        raise ConfigError("--every", text, f"not a cron expression ({CRON_FIELDS}): {exc}") from None
    schedule = Cron(" ".join(text.split()))
    schedule.next_after(datetime.now())  # '0 0 31 2 *' parses, but never comes: say so now
    return schedule


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError(text)
    return value


_positive_int.__name__ = "positive integer"  # argparse names the type in its error message
_non_negative.__name__ = "non-negative number"
