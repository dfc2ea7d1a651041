"""Crawl speed and memory on the demo site (issue 3, section 10). Not a test: it prints figures.

    .venv/bin/python bench/crawl_speed.py                      # 300 articles + 2,000 for memory
    .venv/bin/python bench/crawl_speed.py --memory-articles 0  # speed only

Articles per minute, all on one demo server with politeness delays at 0, each from a fresh
start (browser launch included):
  - our crawler, browser mode (sections rendered by Chromium, resources blocked);
  - our crawler, http mode (Playwright's APIRequestContext);
  - a naive Playwright loop over the same article URLs: a new page per URL, wait for "load",
    nothing blocked, then the same extraction.
Then the peak resident memory of Python plus every browser process during a browser-mode crawl
of --memory-articles articles, and the growth after the first 500.
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

from crawler.crawl import crawl
from crawler.demo.server import DemoServer
from crawler.demo.site import DemoSite
from crawler.extraction import extract_page
from crawler.fetch import find_chromium, launch_args
from crawler.sites import load_site

DEMO_TOML = Path(__file__).resolve().parent.parent / "selectors" / "demo.toml"
NO_DELAY = {"min_delay": 0.0, "jitter": 0.0}


def demo_config(base_url: str, folder: Path):
    text = DEMO_TOML.read_text(encoding="utf-8").replace("127.0.0.1:8765", base_url.split("://")[1])
    path = folder / "demo.toml"
    path.write_text(text, encoding="utf-8")
    return load_site(path)


async def our_crawler(site, folder: Path, render: str, concurrency: int, limit: int | None = None):
    """(articles written, seconds) for one fresh crawl."""
    out = folder / f"{render}-{concurrency}-{time.monotonic_ns()}"
    started = time.monotonic()
    summary = await crawl([site], out_template=str(out / "{site}.jsonl"), state_path=out / "state.sqlite",
                          politeness_overrides={**NO_DELAY, "concurrency": concurrency},
                          render_override=render, max_pages=10_000, max_articles=limit)
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

def tree_rss_bytes(root: int) -> int:
    """Resident memory of `root` and all its descendants (Chromium's many processes)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, parent = int(entry), int(fields[1])
        children.setdefault(parent, []).append(pid)
        rss[pid] = int(fields[21]) * page
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


class MemorySampler(threading.Thread):
    """Samples (articles written so far, RSS of this process tree) every `interval` seconds."""

    def __init__(self, output: Path, interval: float = 0.5):
        super().__init__(daemon=True)
        self.output, self.interval = output, interval
        self.samples: list[tuple[int, int]] = []
        self.done = threading.Event()

    def articles(self) -> int:
        try:
            with open(self.output, "rb") as handle:
                return sum(1 for _ in handle)
        except FileNotFoundError:
            return 0

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.samples.append((self.articles(), tree_rss_bytes(os.getpid())))


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


# ------------------------------------------------------------------ main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=300, help="demo site size for speed (>= 300)")
    parser.add_argument("--concurrency", type=int, default=4, help="per-host concurrency of our crawler")
    parser.add_argument("--memory-articles", type=int, default=2000, help="0 skips the memory run")
    args = parser.parse_args()

    print(f"{os.cpu_count()} CPUs, Chromium {find_chromium() or '(Playwright build)'}; "
          f"loadavg {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="crawl-bench-") as tmp:
        folder = Path(tmp)
        demo = DemoSite(articles=args.articles, per_page=25)
        with DemoServer(demo) as server:
            site = demo_config(server.base_url, folder)
            urls = [server.base_url + demo.article(i).url for i in range(1, args.articles + 1)]
            results = {}
            results["naive"] = asyncio.run(naive_loop(site, urls, folder))
            results["browser c=1"] = asyncio.run(our_crawler(site, folder, "browser", 1))
            results[f"browser c={args.concurrency}"] = asyncio.run(
                our_crawler(site, folder, "browser", args.concurrency))
            results["http c=1"] = asyncio.run(our_crawler(site, folder, "http", 1))
            results[f"http c={args.concurrency}"] = asyncio.run(our_crawler(site, folder, "http", args.concurrency))
        naive_rate = results["naive"][0] / results["naive"][1] * 60
        print(f"\n{'run':16} {'articles':>8} {'seconds':>8} {'per min':>8} {'x naive':>8}")
        for name, (count, seconds) in results.items():
            rate = count / seconds * 60
            print(f"{name:16} {count:8} {seconds:8.1f} {rate:8.0f} {rate / naive_rate:8.1f}")

        if args.memory_articles:
            demo = DemoSite(articles=args.memory_articles, per_page=25)
            with DemoServer(demo) as server:
                site = demo_config(server.base_url, folder)
                count, seconds, samples = asyncio.run(
                    memory_run(site, folder, args.memory_articles, args.concurrency))
            peak = max(rss for _, rss in samples)
            after_500 = [rss for done, rss in samples if done >= 500]
            print(f"\nmemory: {count} articles in {seconds:.0f}s (browser, c={args.concurrency}); "
                  f"peak RSS of Python + browser processes {peak / 2**20:.0f} MiB")
            if after_500:
                first = after_500[0]
                print(f"  at 500 articles {first / 2**20:.0f} MiB, highest after that "
                      f"{max(after_500) / 2**20:.0f} MiB, at the end {after_500[-1] / 2**20:.0f} MiB")
            for done, rss in samples[:: max(1, len(samples) // 12)]:
                print(f"  {done:5} articles  {rss / 2**20:6.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
