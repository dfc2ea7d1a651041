"""The `newscrawl` command: parses arguments, calls the modules, sets exit codes.

Exit codes: 0 success; 1 partial failure (a fixture mismatch, a page below threshold,
articles that failed in a crawl); 2 configuration or usage error, or an unreadable state
file (nothing was run); 3 another crawl holds the lock on the state or an output file.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

from . import selectors_dir
from .errors import ConfigError, ExitCode, NewscrawlError
from .settings import OUTPUT_TEMPLATE
from .sites import SiteRegistry, load_registry

EXIT_OK, EXIT_PARTIAL, EXIT_CONFIG = ExitCode.OK, ExitCode.PARTIAL, ExitCode.CONFIG


def _registry(args) -> SiteRegistry:
    return load_registry(args.selectors or selectors_dir())


def cmd_extract(args) -> int:
    from .warc_extract import is_warc

    warcs = [name for name in args.files if is_warc(Path(name))]
    if warcs:
        return _extract_warcs(args, warcs)
    registry = _registry(args)  # a bad selector file stops everything: nothing is extracted
    site = registry.by_name(args.site) if args.site else None
    extracted = 0
    for name in args.files:
        try:
            article = _extract_file(Path(name), args.url, site, registry)
        except (NewscrawlError, OSError) as error:  # this file only: report it, go on
            problem = (error.strerror or str(error)) if isinstance(error, OSError) else str(error)
            where = "" if isinstance(error, ConfigError) else f"{name}: "
            print(f"newscrawl: error: {where}{problem}", file=sys.stderr, flush=True)
            continue
        print(json.dumps(article.to_dict(), ensure_ascii=False, indent=args.indent), flush=True)
        extracted += 1
    if extracted == len(args.files):
        return EXIT_OK
    return EXIT_PARTIAL if extracted else EXIT_CONFIG


def _extract_warcs(args, warcs: list[str]) -> int:
    """`extract` over WARC files (see crawler/warc_extract.py)."""
    from .progress import make_read_progress
    from .warc_extract import extract_warcs

    others = [name for name in args.files if name not in warcs]
    if others:
        raise ConfigError(others[0], "(file)", "not a WARC file: give either saved pages or WARC "
                          "files to one `extract`, not both")
    for option, value in (("--url", args.url), ("--site", args.site)):
        if value:
            raise ConfigError(option, "(option)", "is for saved pages; a WARC names each page's URL "
                              "and its host chooses the selector file")
    if args.jobs < 1:
        raise ConfigError("--jobs", "(option)", f"must be at least 1, not {args.jobs}")
    registry = _registry(args)
    paths = [Path(name) for name in warcs]
    for path in paths:
        if not path.is_file():
            raise ConfigError(str(path), "(file)", "no such file")
    progress = make_read_progress(sum(path.stat().st_size for path in paths),
                                  quiet=args.quiet, forced=args.progress)

    def write(record: dict) -> None:
        print(json.dumps(record, ensure_ascii=False, indent=args.indent), flush=True)

    tally = extract_warcs(paths, registry, jobs=args.jobs, write=write, progress=progress)
    if not args.quiet:
        print("\n".join(tally.summary()), file=sys.stderr)
    return EXIT_OK if tally.extracted and not tally.failed else EXIT_PARTIAL


def _extract_file(path: Path, url: str | None, site, registry: SiteRegistry):
    """One saved page's Article; raises ConfigError or UnknownSiteError naming what is missing."""
    from .extraction import extract_page
    from .pages import read_html, read_sidecar

    if not path.is_file():
        raise ConfigError(str(path), "(file)", "no such file")
    sidecar = read_sidecar(path)
    url = url or sidecar.url
    if not url:
        raise ConfigError(str(path), "--url", "no URL given and no sidecar (<name>.meta.json) holds one")
    site = site or registry.for_host(urlsplit(url).hostname or "")
    return extract_page(read_html(path), url, site, fetched_at=sidecar.fetched_at)


def cmd_fixtures_check(args) -> int:
    from .fixtures import DEFAULT_FIXTURES_DIR, approve, check_fixture, fixture_pages

    registry = _registry(args)
    fixtures_dir = Path(args.fixtures or DEFAULT_FIXTURES_DIR)
    if args.site and not (fixtures_dir / args.site).is_dir():
        raise ConfigError(str(fixtures_dir / args.site), "SITE", "no fixtures folder for this site")
    pages = fixture_pages(fixtures_dir, args.site) if fixtures_dir.is_dir() else []
    failed = new = 0
    for site_name, html_path in pages:
        result = check_fixture(site_name, html_path, registry)
        if result.ok:
            print(f"ok       {html_path}")
            continue
        if args.update:
            approve(result)
            print(f"approved {html_path} -> {result.approved_path.name}")
            continue
        failed += 1
        new += result.is_new
        print(f"{'NEW' if result.is_new else 'CHANGED':<8} {html_path}")
        for difference in result.differences:
            print("  " + difference.replace("\n", "\n  "))
    print(f"{len(pages)} fixtures, {failed - new} changed" + (f", {new} new" if new else "") + (
          "" if not failed else "; review the diff, then run `newscrawl fixtures check --update` to approve"))
    return EXIT_PARTIAL if failed else EXIT_OK


def cmd_selectors_lint(args) -> int:
    from .regex_lint import lint_selector_file

    sites = _lint_targets(args)
    warnings = 0
    for site in sites:
        if args.verbose:
            print(f"ok  {site.path}  ({len(site.layouts)} layout{'s' if len(site.layouts) > 1 else ''}, "
                  f"{', '.join(site.domains)})")
        for warning in lint_selector_file(site.path):
            warnings += 1
            print(f"newscrawl: warning: {warning}", file=sys.stderr)
    if args.verbose:
        print(f"{len(sites)} selector file{'' if len(sites) == 1 else 's'} valid, "
              f"{warnings} warning{'' if warnings == 1 else 's'}")
    return EXIT_OK


def _lint_targets(args) -> list:
    """The files named (a site name, or a path ending in .toml), else every file of the folder."""
    from .sites import load_site

    if not args.sites:
        return list(_registry(args).sites.values())
    folder = Path(args.selectors or selectors_dir())
    chosen, registry = [], None
    for name in args.sites:
        path = Path(name) if name.endswith(".toml") else folder / f"{name}.toml"
        if path.is_file():
            chosen.append(load_site(path))
        else:  # a site whose `name` differs from its file name
            registry = registry or _registry(args)
            chosen.append(registry.by_name(name))
    return chosen


def cmd_selectors_report(args) -> int:
    from .corpus import all_pages, corpus_dir
    from .report import corpus_figures, evaluate, format_table

    registry = _registry(args)
    chosen = [registry.by_name(name) for name in args.site or []]  # a misspelt name exits 2
    root = Path(args.corpus) if args.corpus else corpus_dir()
    if not root.is_dir():
        raise ConfigError(str(root), "--corpus", "corpus folder not found")
    pages = all_pages(root)
    if chosen:  # extract only the pages one of them could serve
        pages = [page for page in pages if any(site.serves(urlsplit(page.url).hostname or "")
                                               for site in chosen)]
    results = []
    for page in pages:
        result = evaluate(page, registry)
        if result and (not args.site or result.site in args.site):
            results.append(result)
    scored = {result.site for result in results}
    unscored = [site for site in chosen if site.name not in scored]
    for site in unscored:
        print(f"newscrawl: no corpus pages for site {site.name!r} in {root} (no page is on "
              f"{', '.join(site.domains)}); nothing to score", file=sys.stderr)
    if not chosen and not results:
        print(f"newscrawl: no page in the corpus {root} is served by a selector file; nothing to score",
              file=sys.stderr)
    if not results:
        return EXIT_PARTIAL  # nothing scored is no pass: a check on it must not come out green
    print(format_table(results))
    if args.verbose:
        for r in results:
            if not r.passed:
                print(f"\n== {r.page.label}: title {r.article.title!r} date {r.article.dateline.published}")
    # Corpus-wide shares only mean something over the whole corpus, not one site.
    met = (all(r.passed or r.known_conflict for r in results) if args.site
           else corpus_figures(results).met)
    return EXIT_OK if met and not unscored else EXIT_PARTIAL


def _wanted_from_args(args):
    """The wanted text: a record / corpus expectation file, or --body/--title/--date."""
    from datetime import datetime

    from .infer import Wanted

    title, published, paragraphs = args.title, args.date, []
    if args.expected:
        data = json.loads(Path(args.expected).read_text("utf-8"))
        data = data.get("expected", data)  # corpus expectation files nest it
        paragraphs = data.get("paragraphs") or data.get("body_paragraphs") or \
            [p for p in str(data.get("body") or "").split("\n\n") if p.strip()]
        title = title or data.get("title")
        published = published or (data.get("dateline") or {}).get("published") or data.get("publishing_date")
    if args.body:
        paragraphs = [p for p in Path(args.body).read_text("utf-8").split("\n\n") if p.strip()]
    if not paragraphs:
        raise ConfigError("--body", "(input)", "no wanted body text: pass --expected RECORD.json or --body TEXTFILE")
    moment = None
    if published:
        try:
            moment = datetime.fromisoformat(str(published))
        except ValueError:
            raise ConfigError("--date", "(input)", f"{published!r} is not an ISO 8601 date") from None
    return Wanted(paragraphs=paragraphs, title=title, published=moment)


def _date_check(got: str | None, wanted) -> str:
    from datetime import datetime

    if got is None:
        return "date MISSING"
    if wanted is None:
        return f"date {got}"
    return "date ok" if datetime.fromisoformat(got) == wanted else f"date DIFFERS ({got})"


def cmd_selectors_infer(args) -> int:
    from .extraction import extract_page
    from .fixtures import fixture_pages
    from .infer import infer, load_draft
    from .pages import page_stem, read_html, read_sidecar
    from .score import score_body

    path = Path(args.page)
    if not path.is_file():
        raise ConfigError(args.page, "(file)", "no such file")
    url = args.url or read_sidecar(path).url
    if not url:
        raise ConfigError(args.page, "--url", "no URL given and no sidecar holds one")
    wanted = _wanted_from_args(args)
    host = urlsplit(url).hostname or ""
    name = args.name or re.sub(r"[^a-z0-9]+", "", host.removeprefix("www.").split(".")[0]) or "site"
    html = read_html(path)
    draft = infer(html, url, wanted, name=name, domain=host.removeprefix("www."),
                  language=args.language, timezone=args.timezone, source=path.name)
    print(draft)
    site = load_draft(draft, name)
    article = extract_page(html, url, site)
    score = score_body(article.body, "\n\n".join(wanted.paragraphs))
    checks = [f"title {'ok' if article.title == wanted.title else 'MISSING'}" if wanted.title else "",
              _date_check(article.dateline.published, wanted.published)]
    print(f"# on {path.name}: body P {score.precision:.3f} R {score.recall:.3f} F1 {score.f1:.3f}; "
          + "; ".join(c for c in checks if c), file=sys.stderr)
    fixtures_dir = Path(args.fixtures or "fixtures")
    if (fixtures_dir / name).is_dir():
        for _, other in fixture_pages(fixtures_dir, name):
            approved = other.with_name(page_stem(other) + ".json")
            if other == path or not approved.is_file():
                continue
            expected = json.loads(approved.read_text("utf-8"))
            got = extract_page(read_html(other), expected["url"], site)
            other_score = score_body(got.body, expected.get("body", ""))
            print(f"# on fixture {other.name}: body P {other_score.precision:.3f} "
                  f"R {other_score.recall:.3f} F1 {other_score.f1:.3f}", file=sys.stderr)
    if args.write:
        target = Path(args.selectors or selectors_dir()) / f"{name}.toml"
        if target.exists():
            raise ConfigError(str(target), "(file)", "exists already: add the draft to it as a [[layout]] by hand")
        target.write_text(draft, "utf-8")
        print(f"# written to {target}", file=sys.stderr)
    return EXIT_OK


def cmd_state_rebuild(args) -> int:
    from .crawl import default_state_path
    from .recovery import rebuild
    from .state import CrawlState, run_lock

    state_path = Path(args.state) if args.state else default_state_path(args.out)
    with run_lock(state_path), CrawlState(state_path) as state:
        rebuilt = rebuild(args.out, state)
    skipped = f"; {rebuilt.skipped} lines that are not records skipped" if rebuilt.skipped else ""
    print(f"{state_path}: read {rebuilt.files} output files, {rebuilt.records} records, "
          f"{rebuilt.marked} newly marked done{skipped}")
    return EXIT_OK


def cmd_state_forget(args) -> int:
    from .crawl import default_state_path
    from .state import CrawlState, run_lock
    from .urls import canonical_url

    if bool(args.urls) == bool(args.site):
        raise ConfigError("state forget", "URL or --site", "name the articles' URLs, or --site NAME (not both)")
    state_path = Path(args.state) if args.state else default_state_path(args.out)
    if not state_path.exists():
        raise ConfigError(str(state_path), "--state", "no such state file")
    with run_lock(state_path), CrawlState(state_path) as state:
        if args.site:
            forgotten = state.forget_site(args.site)
            what = f"every article of {args.site} ({forgotten}), its section walks and drift baselines"
        else:
            forgotten = state.forget([canonical_url(url) for url in args.urls])
            what = f"{forgotten} of {len(args.urls)} articles named"
    print(f"{state_path}: forgot {what}; the next crawl that finds them fetches and writes them "
          "again, with the next revision (lines already written stay in the output)")
    return EXIT_OK if args.site or forgotten == len(args.urls) else EXIT_PARTIAL


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newscrawl",
        description="Crawl news sites into JSON lines, with per-site selector files.",
        epilog="Exit codes: 0 ok, 1 partial failure, 2 configuration error or unreadable state, "
        "3 lock held.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def selectors_option(sub):
        sub.add_argument("--selectors", metavar="DIR",
                         help="folder of selector files (default: $NEWSCRAWL_SELECTORS or ./selectors)")

    extract = commands.add_parser(
        "extract", help="extract saved pages or WARC files, one JSON line per article",
        description="Extract saved article pages (.html or .html.gz) and print one JSON record per "
        "file. A file that cannot be extracted (missing, unreadable, no URL, no selector file for "
        "its host) is reported on stderr, one line each, and the others are still extracted. "
        "Exits 0 when every file was extracted, 1 when some were and some were not, 2 when none "
        "was (or a selector file or --site is wrong: then nothing is extracted). "
        "WARC files (.warc, .warc.gz, or any file that starts as a WARC; Common Crawl's CC-NEWS "
        "included) are read as a stream: every 2xx HTML page of a host that has a selector file "
        "is extracted (the rendered DOM where our archive kept one), one JSON line each, in the "
        "order of the files, with the canonical URL as the crawl files it and fetched_at from "
        "the WARC-Date; other pages are skipped and counted, and the counts (per reason, with "
        "the top hosts without a selector file) go to stderr at the end. One call takes saved "
        "pages or WARC files, not both (exit 2). With WARC files it exits 0 when articles were "
        "extracted and no page failed; 1 when a page could not be decoded or extracted, a file "
        "was damaged, or nothing in the files could be extracted; 2 when a file is missing or "
        "a selector file is wrong (nothing is read).")
    extract.add_argument("files", nargs="+", metavar="FILE")
    extract.add_argument("--url", help="the page's URL (default: from the sidecar <name>.meta.json)")
    extract.add_argument("--site", help="selector file name (default: chosen by the URL's host)")
    extract.add_argument("--indent", type=int, default=None, help="pretty-print with this indent")
    extract.add_argument("--jobs", type=int, default=1, metavar="N",
                         help="WARC input: extract in N worker processes (default: %(default)s; "
                         "output stays in input order whatever N)")
    extract.add_argument("--progress", action="store_true",
                         help="WARC input: progress lines on stderr even when it is not a terminal "
                         "(on a terminal there is a progress bar anyway)")
    extract.add_argument("-q", "--quiet", action="store_true",
                         help="WARC input: no progress and no skip counts (errors still go to stderr)")
    selectors_option(extract)
    extract.set_defaults(run=cmd_extract)

    fixtures = commands.add_parser("fixtures", help="check saved fixture pages against approved records")
    fixtures_commands = fixtures.add_subparsers(dest="fixtures_command", required=True, metavar="ACTION")
    check = fixtures_commands.add_parser(
        "check", help="extract every fixture and diff against its approved record",
        description="Extract every fixtures/<site>/<name>.html[.gz] and print a per-field diff "
        "against <name>.json. Exits 1 on any mismatch.")
    check.add_argument("site", nargs="?", metavar="SITE", help="only this site's fixtures")
    check.add_argument("--update", action="store_true",
                       help="write the current extraction as the approved record (after review)")
    check.add_argument("--fixtures", metavar="DIR", help="fixtures folder (default: ./fixtures)")
    selectors_option(check)
    check.set_defaults(run=cmd_fixtures_check)

    selectors = commands.add_parser("selectors", help="validate and score selector files")
    selectors_commands = selectors.add_subparsers(dest="selectors_command", required=True, metavar="ACTION")
    lint = selectors_commands.add_parser(
        "lint", help="validate selector files, warn on slow regexes (exit 2 on error)",
        description="Validate every selector file, or only the SITEs named, and warn on regexes "
        "that can take exponential time (nested quantifiers). Prints nothing when all is well; "
        "errors and warnings are always shown. Exits 2 on an invalid file; warnings do not fail.")
    lint.add_argument("sites", nargs="*", metavar="SITE",
                      help="a site name or a selector file's path (default: every file)")
    lint.add_argument("-v", "--verbose", action="store_true", help="list every file checked")
    selectors_option(lint)
    lint.set_defaults(run=cmd_selectors_lint)
    report = selectors_commands.add_parser(
        "report", help="score selector files on the real-page corpus",
        description="Per corpus page: title and date match, body precision/recall/F1; "
        "then the corpus figures. Exits 1 when a page is below threshold, and when a --site has "
        "no corpus pages: a site with nothing scored has not passed, so a check that scores it "
        "fails rather than pass on no evidence. Exits 2 when no selector file has that name.")
    report.add_argument("--site", action="append", help="only this site (repeatable)")
    report.add_argument("--corpus", metavar="DIR", help="corpus folder (default: ../shared/corpus)")
    report.add_argument("-v", "--verbose", action="store_true", help="show what failing pages extracted")
    selectors_option(report)
    report.set_defaults(run=cmd_selectors_report)

    infer = selectors_commands.add_parser(
        "infer", help="draft a selector file from a saved page and the text wanted from it",
        description="Find short, stable selectors for the title, date and body of PAGE, and strip "
        "rules for what sits inside the body but is not wanted. Prints the draft (TOML) and its "
        "precision and recall on the page and on the site's other fixtures.")
    infer.add_argument("page", metavar="PAGE", help="saved page, .html or .html.gz")
    infer.add_argument("--url", help="the page's URL (default: from its sidecar)")
    infer.add_argument("--expected", metavar="RECORD.json",
                       help="wanted output: an approved record, or a corpus expectation file")
    infer.add_argument("--body", metavar="TEXTFILE", help="wanted body: paragraphs separated by blank lines")
    infer.add_argument("--title", help="wanted title")
    infer.add_argument("--date", help="wanted publication time, ISO 8601")
    infer.add_argument("--name", help="site name for the draft (default: from the host)")
    infer.add_argument("--language", default="en")
    infer.add_argument("--timezone", default="UTC")
    infer.add_argument("--fixtures", metavar="DIR", help="fixtures folder to score the draft on")
    infer.add_argument("--write", action="store_true", help="write selectors/<name>.toml (never overwrites)")
    selectors_option(infer)
    infer.set_defaults(run=cmd_selectors_infer)

    state = commands.add_parser("state", help="look after the crawl's state file")
    state_commands = state.add_subparsers(dest="state_command", required=True, metavar="ACTION")
    rebuild = state_commands.add_parser(
        "rebuild", help="mark every article in the output files done in the state",
        description="Read every output file the --out template can name ({site} and {date} "
        "standing for any value) and mark each record's URL done in the state, with its content "
        "hash and fetch time, so the next crawl writes none of them again. For a state that was "
        "lost, or moved aside because it was unreadable. Takes the state's lock.")
    rebuild.add_argument("--out", metavar="TEMPLATE", default=OUTPUT_TEMPLATE,
                         help="the crawl's output path template (default: %(default)s)")
    rebuild.add_argument("--state", metavar="PATH",
                         help="SQLite state file (default: state.sqlite beside the output)")
    rebuild.set_defaults(run=cmd_state_rebuild)
    forget = state_commands.add_parser(
        "forget", help="make the crawler forget articles, so the next crawl fetches them again",
        description="Forget the articles named (any spelling of their URL), or every article "
        "of --site NAME (with its section walks, so the next walk reads every page, and its "
        "drift baselines). The next crawl that finds them fetches and writes them again, with "
        "the next revision; lines already written stay in the output. Takes the state's lock. "
        "Exits 1 when some URL named was not known.")
    forget.add_argument("urls", nargs="*", metavar="URL")
    forget.add_argument("--site", metavar="NAME", help="every article of this site")
    forget.add_argument("--out", metavar="TEMPLATE", default=OUTPUT_TEMPLATE,
                        help="the crawl's output path template (default: %(default)s)")
    forget.add_argument("--state", metavar="PATH",
                        help="SQLite state file (default: state.sqlite beside the output)")
    forget.set_defaults(run=cmd_state_forget)

    _add_crawl_commands(commands, selectors_option)
    return parser


def _add_crawl_commands(commands, selectors_option) -> None:
    """The crawl and demo-site commands are defined beside the crawl loop."""
    from .crawl_cli import add_commands

    add_commands(commands, selectors_option)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except NewscrawlError as exc:  # each kind carries its exit code (crawler.errors.ExitCode)
        print(f"newscrawl: {'' if exc.exit_code == ExitCode.LOCKED else 'error: '}{exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
