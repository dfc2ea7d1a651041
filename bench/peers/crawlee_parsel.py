"""Crawlee for Python, ParselCrawler (no browser), on the demo site: JSON lines out.

    python crawlee_parsel.py --start URL [--start URL ...] --concurrency N --out FILE

Run by bench/peers.py inside bench/.peers/crawlee-parsel. A router with a default handler for
section pages and an "article" handler, as Crawlee's docs show; section lists are read from the
`<noscript>` copy, as newscrawl's http mode does. Items go to Crawlee's default dataset
(push_data; the default file-system storage, in $CRAWLEE_STORAGE_DIR) and are written out as
JSON lines when the crawl ends. Politeness as in newscrawl's run: robots.txt obeyed, no delay,
exactly `concurrency` requests in flight (the autoscaled pool pinned at that number).
"""

import argparse
import asyncio
import json
import logging
import re
from urllib.parse import urljoin

from crawlee import ConcurrencySettings
from crawlee.crawlers import ParselCrawler, ParselCrawlingContext

ARTICLE_URL = re.compile(r".*/news/[a-z0-9-]+/\d+-[a-z0-9-]+")


async def crawl(starts: list[str], concurrency: int, out: str) -> None:
    crawler = ParselCrawler(
        concurrency_settings=ConcurrencySettings(min_concurrency=concurrency, desired_concurrency=concurrency,
                                                 max_concurrency=concurrency),
        respect_robots_txt_file=True,
    )

    @crawler.router.default_handler
    async def section(context: ParselCrawlingContext) -> None:
        await context.enqueue_links(selector=".article-list a", label="article", include=[ARTICLE_URL])
        await context.enqueue_links(selector="a.next")

    @crawler.router.handler("article")
    async def article(context: ParselCrawlingContext) -> None:
        story = context.selector.css("article.story")
        canonical = context.selector.css("link[rel=canonical]::attr(href)").get()
        await context.push_data({
            "url": urljoin(context.request.url, canonical or ""),
            "title": story.css("h1.headline::text").get("").strip(),
            "paragraphs": [p.xpath("string()").get().strip()
                           for p in story.css(".article-body > p:not(.read-also):not(.source)")],
            "dateline": story.css(".dateline::text").get("").strip(),
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
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)  # Crawlee then leaves logging as configured
    asyncio.run(crawl(args.start, args.concurrency, args.out))


if __name__ == "__main__":
    main()
