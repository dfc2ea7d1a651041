"""Crawlee for Python, PlaywrightCrawler, on the demo site: every page in Chromium, JSON lines out.

    python crawlee_playwright.py --start URL [--start URL ...] --concurrency N --out FILE \
        [--chromium /usr/bin/chromium]

Run by bench/peers.py inside bench/.peers/crawlee-playwright. The same router as
crawlee_parsel.py; section pages wait for the list their script draws from the JSON API and
links are read from that drawn list (`#article-list`, `#pager`), as newscrawl's browser mode
does. A pre-navigation hook blocks images and fonts (context.block_requests), as newscrawl's
browser mode refuses them; pages are read after `domcontentloaded`. Fields are read with
Playwright locators, the way Crawlee's Playwright examples read a page. Crawlee's other
defaults stay (browser fingerprints, session pool, file-system storage).
"""

import argparse
import asyncio
import json
import logging
import re
from urllib.parse import urljoin

from crawlee import ConcurrencySettings
from crawlee.crawlers import (
    PlaywrightCrawler,
    PlaywrightCrawlingContext,
    PlaywrightPreNavCrawlingContext,
)

ARTICLE_URL = re.compile(r".*/news/[a-z0-9-]+/\d+-[a-z0-9-]+")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
BLOCKED = ["*.png*", "*.jpg*", "*.jpeg*", "*.gif*", "*.webp*", "*.svg*", "*.woff*", "*.ttf*", "*.otf*"]


async def crawl(starts: list[str], concurrency: int, out: str, chromium: str) -> None:
    crawler = PlaywrightCrawler(
        browser_type="chromium",
        headless=True,
        browser_launch_options={"executable_path": chromium, "args": CHROMIUM_ARGS},
        goto_options={"wait_until": "domcontentloaded"},
        concurrency_settings=ConcurrencySettings(min_concurrency=concurrency, desired_concurrency=concurrency,
                                                 max_concurrency=concurrency),
        respect_robots_txt_file=True,
    )

    @crawler.pre_navigation_hook
    async def block_resources(context: PlaywrightPreNavCrawlingContext) -> None:
        await context.block_requests(url_patterns=BLOCKED)

    @crawler.router.default_handler
    async def section(context: PlaywrightCrawlingContext) -> None:
        await context.page.wait_for_selector("#article-list li")
        await context.enqueue_links(selector="#article-list a", label="article", include=[ARTICLE_URL])
        await context.enqueue_links(selector="#pager a.next")

    @crawler.router.handler("article")
    async def article(context: PlaywrightCrawlingContext) -> None:
        page = context.page
        story = page.locator("article.story")
        canonical = await page.locator("link[rel=canonical]").get_attribute("href")
        await context.push_data({
            "url": urljoin(context.request.url, canonical or ""),
            "title": (await story.locator("h1.headline").text_content() or "").strip(),
            "paragraphs": [text.strip() for text in await story.locator(
                ".article-body > p:not(.read-also):not(.source)").all_text_contents()],
            "dateline": (await story.locator(".dateline").text_content() or "").strip(),
        })

    await crawler.run(starts)
    dataset = await crawler.get_dataset()
    with open(out, "w", encoding="utf-8") as lines:  # noqa: ASYNC230 - once, after the crawl
        async for item in dataset.iterate_items():
            lines.write(json.dumps(item, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--start", action="append", required=True, help="a section's first page")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--out", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)  # Crawlee then leaves logging as configured
    asyncio.run(crawl(args.start, args.concurrency, args.out, args.chromium))


if __name__ == "__main__":
    main()
