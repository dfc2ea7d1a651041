"""WARC extraction speed: `newscrawl extract FILE.warc.gz` with --jobs 1 and --jobs 2.

Benchmark, not a test: prints pages/s, pages/s per worker, pages per CPU second (of the whole
process tree: the reader and its workers) and the tree's peak RSS. The WARC is built in a temp
dir from every fundus corpus page whose host has a selector file (our archive's format: one
gzip'd response record each), repeated to N pages; each run is `.venv/bin/newscrawl extract`
as a child process, its output thrown away.
    .venv/bin/python bench/warc_extract_speed.py [--pages N] [--jobs 1 2]
Wall time moves with other work on the machine; CPU per page is the figure to compare.

Measured (2 cores shared with other work, `--pages 2000`, 119 MiB):
    jobs   pages/s  pages/s/worker  pages/CPU-s  CPU ms/page  peak RSS MiB (tree)
       1     141.2           141.2        117.8         8.49                  159
       2     153.6            76.8        108.0         9.26                  206
--jobs 2 gains little here: the two workers and the reader (which reads, decodes and sends
each page, about 3.5 ms of the 8.5) share two busy cores. Memory is flat: with --jobs 1 the
tree peaked at 159 MiB for 8,000 pages (477 MiB) and 161 MiB for 17,000 (1,014 MiB).
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from proctree import process_tree

from crawler.archive import ArchiveWriter, iter_archive
from crawler.corpus import corpus_dir, fundus_pages
from crawler.errors import UnknownSiteError
from crawler.sites import load_registry

NEWSCRAWL = ROOT / ".venv" / "bin" / "newscrawl"
FETCHED = datetime(2025, 12, 2, 8, 30, 15, tzinfo=UTC)


def build_warc(folder: Path, pages: int) -> tuple[Path, int]:
    """A WARC of `pages` corpus pages (the corpus repeated); returns it and the corpus size."""
    registry = load_registry(ROOT / "selectors")
    with ArchiveWriter(folder / "base", gzip_level=6) as writer:
        for page in fundus_pages(corpus_dir()):
            try:
                registry.for_host(urlsplit(page.url).hostname or "")
            except UnknownSiteError:
                continue
            where = writer.write_page("bench", url=page.url, status=200, fetched_at=FETCHED,
                                      headers=[("Content-Type", "text/html")],
                                      body=gzip.decompress(page.html_path.read_bytes()))
    base = where.path.read_bytes()
    spans = [(page.records[0].offset, sum(span.length for span in page.records))
             for page in iter_archive([where.path])]
    target = folder / "bench.warc.gz"
    with open(target, "wb") as out:  # whole gzip members, copied: a valid multi-member file
        for n in range(pages):
            offset, length = spans[n % len(spans)]
            out.write(base[offset:offset + length])
    return target, len(spans)


def tree_rss_kib(root: int) -> int:
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        except (OSError, StopIteration, ValueError):
            continue
    return total


def run(path: Path, jobs: int) -> dict:
    """One extraction: wall seconds, CPU seconds of the tree, peak tree RSS, lines written."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    child = subprocess.Popen([str(NEWSCRAWL), "extract", str(path), "--jobs", str(jobs), "-q"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak, lines = [0], [0]

    def sample() -> None:
        while child.poll() is None:
            peak[0] = max(peak[0], tree_rss_kib(child.pid))
            time.sleep(0.05)

    def count() -> None:
        lines[0] = sum(1 for _ in child.stdout)

    threads = [threading.Thread(target=sample), threading.Thread(target=count)]
    for thread in threads:
        thread.start()
    stderr = child.stderr.read()
    child.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers are reaped by newscrawl
    if child.returncode != 0:
        sys.exit(f"newscrawl extract --jobs {jobs} exited {child.returncode}: {stderr.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "peak_mib": peak[0] / 1024, "lines": lines[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=2000, help="pages in the WARC (default: %(default)s)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="worker counts to run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="warc-extract-bench-") as folder:
        path, distinct = build_warc(Path(folder), args.pages)
        size_mib = path.stat().st_size / 1024 ** 2
        print(f"pages: {args.pages} ({distinct} fundus corpus pages with a selector file, repeated); "
              f"WARC {size_mib:.0f} MiB gzip'd per record; {os.cpu_count()} cores")
        print(f"{'jobs':>4}  {'pages/s':>8}  {'pages/s/worker':>14}  {'pages/CPU-s':>11}  "
              f"{'CPU ms/page':>11}  {'peak RSS MiB (tree)':>19}")
        for jobs in args.jobs:
            figures = run(path, jobs)
            if figures["lines"] != args.pages:
                sys.exit(f"--jobs {jobs}: {figures['lines']} records for {args.pages} pages")
            rate = args.pages / figures["wall"]
            print(f"{jobs:>4}  {rate:>8.1f}  {rate / jobs:>14.1f}  {args.pages / figures['cpu']:>11.1f}  "
                  f"{figures['cpu'] / args.pages * 1000:>11.2f}  {figures['peak_mib']:>19.0f}")


if __name__ == "__main__":
    main()
