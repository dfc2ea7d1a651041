"""Scrapy with scrapy-playwright on the demo site: every page rendered in Chromium, JSON lines out.

    python scrapy_playwright_spider.py --start URL [--start URL ...] --concurrency N --out FILE \
        [--chromium /usr/bin/chromium]

Run by bench/peers.py inside bench/.peers/scrapy-playwright. The same CrawlSpider as
scrapy_spider.py, but every request carries `meta["playwright"] = True` (scrapy-playwright's
switch), section pages wait for the list their script draws from the JSON API and links are
read from that drawn list (`#article-list`, `#pager`), not the `<noscript>` copy, as newscrawl's
browser mode does. Images, fonts and media are aborted (PLAYWRIGHT_ABORT_REQUEST), as newscrawl's
browser mode refuses them; pages are read after `domcontentloaded`. robots.txt is fetched by
Scrapy's own downloader (requests without the playwright flag).
"""

import argparse

from scrapy import Request
from scrapy.crawler import CrawlerProcess
from scrapy.linkextractors import LinkExtractor
from scrapy.spiders import CrawlSpider, Rule
from scrapy_playwright.page import PageMethod

ARTICLE_URL = r"/news/[a-z0-9-]+/\d+-[a-z0-9-]+"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SECTION_META = {"playwright": True,
                "playwright_page_goto_kwargs": {"wait_until": "domcontentloaded"},
                "playwright_page_methods": [PageMethod("wait_for_selector", "#article-list li")]}
ARTICLE_META = {"playwright": True, "playwright_page_goto_kwargs": {"wait_until": "domcontentloaded"}}


def section_request(request, response):
    request.meta.update(SECTION_META)
    return request


def article_request(request, response):
    request.meta.update(ARTICLE_META)
    return request


def abort_request(request) -> bool:
    return request.resource_type in ("image", "font", "media")


class DemoNewsBrowserSpider(CrawlSpider):
    name = "demo-news-browser"
    allowed_domains = ("127.0.0.1",)
    rules = (
        Rule(LinkExtractor(restrict_css="#pager"), follow=True, process_request=section_request),
        Rule(LinkExtractor(allow=ARTICLE_URL, restrict_css="#article-list"), callback="parse_article",
             process_request=article_request),
    )

    async def start(self):
        for url in self.start_urls:
            yield Request(url, meta=dict(SECTION_META), dont_filter=True)

    def parse_article(self, response):
        story = response.css("article.story")
        yield {
            "url": response.urljoin(response.css("link[rel=canonical]::attr(href)").get(response.url)),
            "title": story.css("h1.headline::text").get("").strip(),
            "paragraphs": [p.xpath("string()").get().strip()
                           for p in story.css(".article-body > p:not(.read-also):not(.source)")],
            "dateline": story.css(".dateline::text").get("").strip(),
        }


def settings(concurrency: int, out: str, chromium: str) -> dict:
    return {
        "DOWNLOAD_HANDLERS": {"http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
                              "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"},
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": {"executable_path": chromium, "headless": True, "args": CHROMIUM_ARGS},
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": concurrency,
        "PLAYWRIGHT_ABORT_REQUEST": abort_request,
        "ROBOTSTXT_OBEY": True,
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
        "HTTPCACHE_ENABLED": False,
        "CONCURRENT_REQUESTS": concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        "FEEDS": {out: {"format": "jsonlines", "encoding": "utf8", "overwrite": True}},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--start", action="append", required=True, help="a section's first page")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--out", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    process = CrawlerProcess(settings(args.concurrency, args.out, args.chromium))
    process.crawl(DemoNewsBrowserSpider, start_urls=args.start)
    process.start()


if __name__ == "__main__":
    main()
