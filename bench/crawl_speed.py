"""Crawl speed and memory on the demo site (issue 3, section 10). Not a test: it prints figures.

    .venv/bin/python bench/crawl_speed.py                      # 300 articles + 2,000 for memory
    .venv/bin/python bench/crawl_speed.py --memory-articles 0  # speed only
    .venv/bin/python bench/crawl_speed.py --no-speed           # memory only

Articles per minute, all on one demo server with politeness delays at 0, each from a fresh
start (browser launch included), sections and robots.txt included for our crawler:
  - our crawler, browser mode (sections rendered by Chromium, resources blocked), with a
    per-host concurrency of 1 and of --concurrency (the delays are 0, so several pages of the
    one demo host are in flight);
  - our crawler, http mode (aiohttp, no browser or driver), the same two ways;
  - a naive Playwright loop over the same article URLs: a new page per URL, wait for "load",
    nothing blocked, then the same extraction.
Then the peak memory of Python plus every browser process during a browser-mode crawl of
--memory-articles articles, and the growth after the first 500. Memory is summed as PSS
(proportional set size, /proc/<pid>/smaps_rollup): Chromium's processes share most of their
pages, and a sum of RSS counts each shared page once per process. The RSS sum is printed too.

The machine's load average is printed for every run: on a busy machine every figure drops, the
naive loop's too, and the load drifts between runs, so the wall-time ratios move with it. The
CPU time per article of each run (all processes) is printed as well; it hardly depends on the
load, so its ratio to the naive loop's is the steadier comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proctree import process_tree  # bench/proctree.py, beside this script

from crawler.browser import find_chromium, launch_args
from crawler.crawl import crawl
from crawler.demo.server import DemoServer
from crawler.demo.site import DemoSite
from crawler.extraction import extract_page
from crawler.sites import load_site

DEMO_TOML = Path(__file__).resolve().parent.parent / "selectors" / "demo.toml"
NO_DELAY = {"min_delay": 0.0, "jitter": 0.0}


def demo_config(base_url: str, folder: Path):
    text = DEMO_TOML.read_text(encoding="utf-8").replace("127.0.0.1:8765", base_url.split("://")[1])
    path = folder / "demo.toml"
    path.write_text(text, encoding="utf-8")
    return load_site(path)


async def our_crawler(site, folder: Path, render: str, concurrency: int, limit: int | None = None,
                      archive: bool = True):
    """(articles written, seconds) for one fresh crawl, with the WARC archive or without."""
    out = folder / f"{render}-{concurrency}-{time.monotonic_ns()}"
    started = time.monotonic()
    summary = await crawl([site], out_template=str(out / "{site}.jsonl"), state_path=out / "state.sqlite",
                          politeness_overrides={**NO_DELAY, "concurrency": concurrency},
                          render_override=render, max_pages=10_000, max_articles=limit, archive=archive)
    assert summary.total("failed") == 0, summary.format_table()
    return summary.total("new"), time.monotonic() - started


async def naive_loop(site, urls: list[str], folder: Path):
    """A new page per URL, wait for the load event, nothing blocked."""
    from playwright.async_api import async_playwright

    started = time.monotonic()
    written = 0
    with open(folder / "naive.jsonl", "w", encoding="utf-8") as out:  # noqa: ASYNC230 - as naive code does
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=find_chromium(), args=launch_args())
            context = await browser.new_context()
            for url in urls:
                page = await context.new_page()
                await page.goto(url, wait_until="load")
                article = extract_page(await page.content(), url, site)
                out.write(article.to_json() + "\n")
                written += 1
                await page.close()
            await browser.close()
    return written, time.monotonic() - started


# ------------------------------------------------------------------ memory

def rss_and_pss(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes. Chromium's processes are forked from one zygote and map the same
    binary, so summing RSS counts their shared pages once per process; PSS divides each shared
    page between the processes sharing it, so a sum of PSS is the memory really in use."""
    values = {"Rss:": 0, "Pss:": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                key, _, rest = line.partition(" ")
                if key in values:
                    values[key] = int(rest.split()[0]) * 1024
    except OSError:  # the process ended meanwhile
        pass
    return values["Rss:"], values["Pss:"]


def tree_memory(root: int) -> tuple[int, int, int]:
    """(summed RSS, summed PSS, process count) of `root` and its descendants."""
    pids = process_tree(root)
    sizes = [rss_and_pss(pid) for pid in pids]
    return sum(r for r, _ in sizes), sum(p for _, p in sizes), len(pids)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds `pid` has used (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuSampler(threading.Thread):
    """CPU seconds of every process below this one (Playwright's driver, Chromium's processes),
    sampled every `interval` seconds, plus this process's own. Short-lived children lose their
    last interval, so the figure is a slight undercount. Unlike wall time it barely depends on
    how busy the machine is, which makes it the fairer comparison on a loaded machine."""

    def __init__(self, interval: float = 0.2):
        super().__init__(daemon=True)
        self.interval = interval
        self.children: dict[int, float] = {}
        self.done = threading.Event()
        self.own_start = time.process_time()
        self.own = 0.0

    def run(self) -> None:
        me = os.getpid()
        while not self.done.wait(self.interval):
            for pid in process_tree(me):
                if pid != me:
                    self.children[pid] = max(self.children.get(pid, 0.0), cpu_seconds(pid))

    def stop(self) -> float:
        """Total CPU seconds used since the start."""
        self.done.set()
        self.join()
        return time.process_time() - self.own_start + sum(self.children.values())


class MemorySampler(threading.Thread):
    """Samples (articles written so far, RSS, PSS, processes) of this process tree every
    `interval` seconds."""

    def __init__(self, output: Path, interval: float = 0.5):
        super().__init__(daemon=True)
        self.output, self.interval = output, interval
        self.samples: list[tuple[int, int, int, int]] = []
        self.done = threading.Event()
        self._offset = self._lines = 0

    def articles(self) -> int:
        """Lines written so far, reading only what was appended since the last call."""
        try:
            with open(self.output, "rb") as handle:
                handle.seek(self._offset)
                appended = handle.read()
        except FileNotFoundError:
            return 0
        self._offset += len(appended)
        self._lines += appended.count(b"\n")
        return self._lines

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.samples.append((self.articles(), *tree_memory(os.getpid())))


async def memory_run(site, folder: Path, articles: int, concurrency: int):
    out = folder / "memory"
    sampler = MemorySampler(out / "demo.jsonl")
    sampler.start()
    started = time.monotonic()
    summary = await crawl([site], out_template=str(out / "{site}.jsonl"), state_path=out / "state.sqlite",
                          politeness_overrides={**NO_DELAY, "concurrency": concurrency},
                          render_override="browser", max_pages=10_000, max_articles=articles)
    sampler.done.set()
    sampler.join()
    return summary.total("new"), time.monotonic() - started, sampler.samples


def report_memory(samples, count: int, seconds: float, concurrency: int) -> None:
    if not samples:
        print("\nmemory: no samples")
        return
    mib = 2**20
    peak_rss = max(s[1] for s in samples)
    peak_pss = max(s[2] for s in samples)
    print(f"\nmemory: {count} articles in {seconds:.0f}s (browser, c={concurrency}), "
          f"Python + Playwright driver + every Chromium process")
    print(f"  peak PSS {peak_pss / mib:.0f} MiB (the memory really used; shared pages divided)")
    print(f"  peak RSS sum {peak_rss / mib:.0f} MiB (counts pages shared between processes once per process)")
    after_500 = [s for s in samples if s[0] >= 500]
    if after_500:
        first = after_500[0]
        print(f"  PSS at 500 articles {first[2] / mib:.0f} MiB, highest after that "
              f"{max(s[2] for s in after_500) / mib:.0f} MiB, at the end {after_500[-1][2] / mib:.0f} MiB")
    print(f"  {'articles':>8} {'PSS MiB':>8} {'RSS MiB':>8} {'procs':>6}")
    for done, rss, pss, procs in samples[:: max(1, len(samples) // 12)] + samples[-1:]:
        print(f"  {done:8} {pss / mib:8.0f} {rss / mib:8.0f} {procs:6}")


# ------------------------------------------------------------------ main

def speed_runs(folder: Path, articles: int, concurrency: int) -> None:
    demo = DemoSite(articles=articles, per_page=25)
    results = {}
    with DemoServer(demo) as server:
        site = demo_config(server.base_url, folder)
        urls = [server.base_url + demo.article(i).url for i in range(1, articles + 1)]
        runs = {"naive": lambda: naive_loop(site, urls, folder),
                "browser c=1": lambda: our_crawler(site, folder, "browser", 1),
                f"browser c={concurrency}": lambda: our_crawler(site, folder, "browser", concurrency),
                f"browser c={concurrency} no-archive": lambda: our_crawler(
                    site, folder, "browser", concurrency, archive=False),
                "http c=1": lambda: our_crawler(site, folder, "http", 1),
                f"http c={concurrency}": lambda: our_crawler(site, folder, "http", concurrency),
                f"http c={concurrency} no-archive": lambda: our_crawler(
                    site, folder, "http", concurrency, archive=False)}
        for name, run in runs.items():
            sampler = CpuSampler()
            sampler.start()
            count, seconds = asyncio.run(run())
            cpu = sampler.stop()
            results[name] = (count, seconds, cpu, os.getloadavg()[0])
            print(f"  {name}: {count} articles in {seconds:.1f}s, {cpu:.1f} CPU seconds", flush=True)
    naive_count, naive_seconds, naive_cpu, _ = results["naive"]
    naive_rate, naive_cost = naive_count / naive_seconds * 60, naive_cpu / naive_count
    print("\nper min: articles per minute of wall time; CPU ms: CPU time of Python + driver + Chromium")
    print("per article (all processes, all cores); load: 1-minute load average at the end of the run")
    print(f"\n{'run':24} {'articles':>8} {'seconds':>8} {'per min':>8} {'x naive':>8} "
          f"{'CPU ms':>7} {'x naive':>8} {'load':>5}")
    for name, (count, seconds, cpu, load) in results.items():
        rate, cost = count / seconds * 60, cpu / count
        print(f"{name:24} {count:8} {seconds:8.1f} {rate:8.0f} {rate / naive_rate:8.1f} "
              f"{cost * 1000:7.0f} {naive_cost / cost:8.1f} {load:5.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=300, help="demo site size for speed (>= 300)")
    parser.add_argument("--concurrency", type=int, default=4, help="per-host concurrency of our crawler")
    parser.add_argument("--memory-articles", type=int, default=2000, help="0 skips the memory run")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed runs (memory only)")
    args = parser.parse_args()

    print(f"{os.cpu_count()} CPUs, Chromium {find_chromium() or '(Playwright build)'}; "
          f"loadavg {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="crawl-bench-") as tmp:
        folder = Path(tmp)
        if not args.no_speed:
            speed_runs(folder, args.articles, args.concurrency)
        if args.memory_articles:
            demo = DemoSite(articles=args.memory_articles, per_page=25)
            with DemoServer(demo) as server:
                site = demo_config(server.base_url, folder)
                count, seconds, samples = asyncio.run(
                    memory_run(site, folder, args.memory_articles, args.concurrency))
            report_memory(samples, count, seconds, args.concurrency)
    print(f"\nloadavg (1, 5, 15 min) at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
