"""Extraction speed: our extraction vs selectolax parsing alone vs trafilatura.extract.

Benchmark, not a test: prints ms per page and the ratios. Runs in one process over every
corpus page whose host has a selector file (`--all` uses every fundus page with one).
    .venv/bin/python bench/extract_speed.py [--repeat N] [--skip-trafilatura]
Targets: extraction <= 2.5x the bare parse; >= 10x faster than trafilatura.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from selectolax.lexbor import LexborHTMLParser

from crawler.corpus import corpus_dir, fundus_pages
from crawler.errors import UnknownSiteError
from crawler.extraction import extract_page
from crawler.pages import read_html
from crawler.sites import load_registry


def best_of(repeat: int, work) -> float:
    """Best wall time of `repeat` runs, in seconds: the least disturbed by other processes."""
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        timings.append(time.perf_counter() - start)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-trafilatura", action="store_true")
    args = parser.parse_args()

    registry = load_registry(ROOT / "selectors")
    cases = []
    for page in fundus_pages(corpus_dir()):
        try:
            site = registry.for_host(urlsplit(page.url).hostname or "")
        except UnknownSiteError:
            continue
        cases.append((read_html(page.html_path), page.url, site))
    if not cases:
        sys.exit("no corpus page has a selector file")

    def parse_all():
        for html, _, _ in cases:
            LexborHTMLParser(html).root  # noqa: B018  (touch the tree)

    def extract_all():
        for html, url, site in cases:
            extract_page(html, url, site)

    extract_all()  # warm caches (compiled selectors, imports)
    # Alternate the two so that a burst of load elsewhere hits both alike.
    parse_s = ours_s = float("inf")
    for _ in range(args.repeat):
        parse_s = min(parse_s, best_of(1, parse_all))
        ours_s = min(ours_s, best_of(1, extract_all))
    n = len(cases)
    print(f"pages: {n} (fundus corpus pages with a selector file), best of {args.repeat} runs")
    print(f"selectolax parse only : {parse_s / n * 1000:8.2f} ms/page")
    print(f"newscrawl extraction  : {ours_s / n * 1000:8.2f} ms/page   "
          f"= {ours_s / parse_s:.2f}x bare parse (target <= 2.5x)")
    if not args.skip_trafilatura:
        import trafilatura

        def trafilatura_all():
            for html, url, _ in cases:
                trafilatura.extract(html, url=url)

        trafilatura_all()
        traf_s = best_of(max(1, args.repeat // 2), trafilatura_all)
        print(f"trafilatura.extract   : {traf_s / n * 1000:8.2f} ms/page   "
              f"= newscrawl is {traf_s / ours_s:.1f}x faster (target >= 10x)")
    sizes = [len(html) for html, _, _ in cases]
    print(f"page size: median {statistics.median(sizes) / 1024:.0f} KiB, max {max(sizes) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
