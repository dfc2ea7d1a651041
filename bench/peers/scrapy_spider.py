"""Plain Scrapy (no browser) on the demo site: sections -> pagination -> every article -> JSON lines.

    python scrapy_spider.py --start URL [--start URL ...] --concurrency N --out FILE

Run by bench/peers.py inside bench/.peers/scrapy. A CrawlSpider with two rules, as Scrapy's docs
show for "follow the pager, parse the articles"; it reads the `<noscript>` copy of each section
list, as newscrawl's http mode does. Settings are the same politeness as newscrawl's run: no
delay, robots.txt obeyed, `concurrency` requests in flight to the one host.
"""

import argparse

from scrapy.crawler import CrawlerProcess
from scrapy.linkextractors import LinkExtractor
from scrapy.spiders import CrawlSpider, Rule

ARTICLE_URL = r"/news/[a-z0-9-]+/\d+-[a-z0-9-]+"


class DemoNewsSpider(CrawlSpider):
    name = "demo-news"
    allowed_domains = ("127.0.0.1",)
    rules = (
        Rule(LinkExtractor(restrict_css="a.next"), follow=True),
        Rule(LinkExtractor(allow=ARTICLE_URL, restrict_css=".article-list"), callback="parse_article"),
    )

    def parse_article(self, response):
        story = response.css("article.story")
        yield {
            "url": response.urljoin(response.css("link[rel=canonical]::attr(href)").get(response.url)),
            "title": story.css("h1.headline::text").get("").strip(),
            "paragraphs": [p.xpath("string()").get().strip()
                           for p in story.css(".article-body > p:not(.read-also):not(.source)")],
            "dateline": story.css(".dateline::text").get("").strip(),
        }


def settings(concurrency: int, out: str) -> dict:
    return {
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
    args = parser.parse_args()
    process = CrawlerProcess(settings(args.concurrency, args.out))
    process.crawl(DemoNewsSpider, start_urls=args.start)
    process.start()


if __name__ == "__main__":
    main()
