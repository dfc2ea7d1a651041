"""`make demo` (`python -m crawler.demo.run`): the main job on the embedded demo site.

Serves the demo news site on 127.0.0.1, crawls it with Chromium into `out/`, prints the
summary, then crawls again to show that an incremental run fetches nothing it has seen.
No internet is needed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

from .. import selectors_dir
from ..crawl import default_state_path, run_crawl
from ..progress import make_progress
from ..sites import Site, load_site
from .server import DEFAULT_DEMO_PORT, DemoServer
from .site import DemoSite

SITE_NAME = "demo"
# The server is our own and local, so the demo waits less than the 1 s default; the
# pacing, robots and retry machinery are the same as for a real site.
DEMO_MIN_DELAY = 0.2
DEMO_JITTER = 0.1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m crawler.demo.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=DEFAULT_DEMO_PORT,
                        help=f"port for the demo server (default {DEFAULT_DEMO_PORT}; 0 = any free port)")
    parser.add_argument("--articles", type=int, default=60, help="articles on the demo site (default 60)")
    parser.add_argument("--out", default="out/{site}/{date}.jsonl", help="output path template")
    parser.add_argument("--state", default=None, help="state file (default: beside the output, as for crawl)")
    parser.add_argument("--render", choices=("browser", "http"), default=None,
                        help="override demo.toml's render mode (browser)")
    parser.add_argument("--min-delay", type=float, default=DEMO_MIN_DELAY,
                        help=f"seconds between requests to the demo server (default {DEMO_MIN_DELAY})")
    return parser.parse_args(argv)


def sections_at(site: Site, base_url: str) -> dict[str, str]:
    """demo.toml's section URLs, moved to wherever the server really listens."""
    moved = {}
    for name, url in site.crawl.sections.items():
        parts = urlsplit(url)
        moved[name] = base_url + parts.path + (f"?{parts.query}" if parts.query else "")
    return moved


def start_server(site: DemoSite, port: int) -> DemoServer:
    try:
        return DemoServer(site, port=port).start()
    except OSError as exc:  # the port is taken: any free one will do, the sections follow it
        print(f"port {port} is busy ({exc.strerror}); using a free port instead", file=sys.stderr)
        return DemoServer(site, port=0).start()


def run_once(label: str, site: Site, server: DemoServer, args: argparse.Namespace, state_path: Path):
    print(f"\n== {label} ==", flush=True)
    first_request = len(server.requests)
    summary = run_crawl(
        [site], out_template=args.out, state_path=state_path,
        politeness_overrides={"min_delay": args.min_delay, "jitter": min(DEMO_JITTER, args.min_delay)},
        sections_override={SITE_NAME: sections_at(site, server.base_url)},
        render_override=args.render, progress=make_progress(),
    )
    print(summary.format_table(), flush=True)
    requests = server.requests[first_request:]
    articles_fetched = sum(1 for r in requests if r.path.startswith("/news/"))
    section_pages = sum(1 for r in requests if r.path.startswith("/section/"))
    private = sum(1 for r in requests if r.path.startswith("/private/"))
    print(f"the server saw {len(requests)} requests: {section_pages} section pages, "
          f"{articles_fetched} article pages, {private} under /private/ (robots.txt forbids them)")
    return summary, articles_fetched


def output_files(template: str) -> list[Path]:
    folder = Path(template.format(site=SITE_NAME, date="x")).parent
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def count_lines(files: list[Path]) -> tuple[int, int]:
    """(lines, distinct article URLs) over the demo's output files; every line must parse."""
    lines, urls = 0, set()
    for path in files:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                lines += 1
                urls.add(json.loads(line)["url"])
    return lines, len(urls)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    site = load_site(selectors_dir() / f"{SITE_NAME}.toml")
    state_path = Path(args.state) if args.state else default_state_path(args.out)
    server = start_server(DemoSite(articles=args.articles), args.port)
    try:
        print(f"Demo News is being served at {server.base_url}/ "
              f"({args.articles} articles; robots.txt disallows /private/)")
        first, fetched_first = run_once("first run: every article is new", site, server, args, state_path)
        second, fetched_second = run_once("second run: incremental, nothing new to fetch",
                                          site, server, args, state_path)
    finally:
        server.stop()
    lines, distinct = count_lines(output_files(args.out))
    print(f"\noutput: {', '.join(map(str, output_files(args.out))) or 'none'}: "
          f"{lines} lines, {distinct} distinct articles; state: {state_path}")
    if fetched_second:
        print(f"unexpected: the second run fetched {fetched_second} article pages again")
        return 1
    print(f"the second run fetched no article pages (the first fetched {fetched_first})")
    if not first.total("new"):
        print(f"(the state at {state_path} already knew every article from an earlier demo; "
              "delete out/ to watch the first crawl again)")
    return 0 if first.ok and second.ok and lines == distinct else 1


if __name__ == "__main__":
    sys.exit(main())
