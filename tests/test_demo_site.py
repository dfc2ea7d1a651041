"""The demo news site and its fault-injecting server: what the crawl tests and `make demo` rely on.

Everything runs against a real server on 127.0.0.1; the browser tests drive real Chromium.
"""

from __future__ import annotations

import asyncio
import http.client
import re
import shutil
import threading
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from protego import Protego
from selectolax.lexbor import LexborHTMLParser

from crawler.demo import DemoServer, DemoSite, Faults
from crawler.extraction import extract_page
from crawler.sites import load_site

DEMO_TOML = Path(__file__).resolve().parent.parent / "selectors" / "demo.toml"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]


def get(server: DemoServer, path: str, timeout: float = 5.0) -> tuple[int, dict[str, str], str]:
    """One GET without redirects or proxies: (status, headers, body)."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"User-Agent": "demo-site-test"})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode("utf-8", errors="replace")
    finally:
        connection.close()


@pytest.fixture(scope="module")
def demo_site_config():
    return load_site(DEMO_TOML)


@pytest.fixture()
def server():
    with DemoServer(DemoSite()) as running:
        yield running


# ---------------------------------------------------------------- the content


def test_default_site_has_three_sections_and_sixty_articles_each_listed_once():
    site = DemoSite()
    assert len(site.sections) >= 3
    listed = []
    for section in site.sections:
        assert site.page_count(section) >= 2, "every section must paginate"
        for page in range(1, site.page_count(section) + 1):
            listed += [article.id for article in site.section_page(section, page)]
    assert sorted(listed) == list(range(1, 61))


def test_content_is_deterministic_and_newest_first():
    first, second = DemoSite(), DemoSite()
    assert first.render_article(first.article(17)) == second.render_article(second.article(17))
    page = first.section_page("economy", 1)
    assert [a.published for a in page] == sorted((a.published for a in page), reverse=True)


def test_articles_have_datelines_authors_sources_and_three_related_links_with_datelines():
    site = DemoSite()
    for article_id in range(1, 61):
        article = site.article(article_id)
        assert 4 <= len(article.paragraphs) <= 8
        assert re.fullmatch(r"[A-Z][A-Z ]+, \d\d:\d\d GMT \w+day \d{1,2} \w+ 2025", article.dateline_text)
        assert article.authors and article.agency
        related = site.related(article)
        assert len(related) == 3 and article.id not in [r.id for r in related]
        assert {r.section for r in related} == {article.section}


def test_publishing_puts_new_articles_at_the_top_of_page_one():
    site = DemoSite(articles=30)
    new_ids = site.publish(3)
    assert new_ids == [31, 32, 33]
    tops = {site.section_page(section, 1)[0].id for section in site.sections}
    assert tops == {31, 32, 33}


def test_enlarged_site_is_cheap_to_build_and_lists_every_article():
    started = time.perf_counter()
    site = DemoSite(articles=2000)
    built = time.perf_counter() - started
    assert built < 0.05, "building must not generate the articles up front"
    ids = [a for section in site.sections for a in site.article_ids(section)]
    assert sorted(ids) == list(range(1, 2001))
    assert site.article(2000) is not None and site.article(2001) is None


# ---------------------------------------------------------------- extraction with demo.toml


def test_every_demo_article_extracts_completely(server, demo_site_config):
    site = server.site
    for article_id in range(1, 61):
        expected = site.article(article_id)
        status, _, html = get(server, expected.url)
        assert status == 200
        record = extract_page(html, server.base_url + expected.url, demo_site_config)
        assert record.title == expected.title
        assert record.section == expected.section.capitalize()
        assert record.dateline.place == expected.place
        assert record.dateline.published == expected.published.isoformat()
        assert record.authors == list(expected.authors)
        assert record.source == expected.agency
        lead = f"{expected.place} ({''.join(w[0] for w in expected.agency.split())}) — "
        assert record.paragraphs == [lead + expected.paragraphs[0], *expected.paragraphs[1:]]
        related = site.related(expected)
        assert [link.url for link in record.related] == [server.base_url + r.url for r in related]
        assert [link.dateline.published for link in record.related] == [
            r.published.isoformat() for r in related]
        assert "missing" not in record.provenance.values(), record.provenance


def test_body_leaves_out_ads_share_boxes_read_also_source_and_footer(server, demo_site_config):
    article = server.site.article(5)
    _, _, html = get(server, article.url)
    assert "Advertisement" in html and "Share this article" in html and "All rights reserved" in html
    body = extract_page(html, server.base_url + article.url, demo_site_config).body
    for boilerplate in ("Advertisement", "Share this article", "Facebook", "Read also", "Source:",
                        "All rights reserved", "cookies", "demoViews", "Photo:"):
        assert boilerplate not in body


# ---------------------------------------------------------------- section pages without JavaScript


def crawl_keys_find(html: str, config) -> tuple[list[str], list[str]]:
    """What the `[crawl]` selectors of demo.toml find in a page's static HTML."""
    tree = LexborHTMLParser(html)
    links = [node.attributes.get("href") for node in tree.css(config.crawl.links)]
    next_links = []
    for fallback in config.crawl.next_page:
        next_links += [node.attributes.get(fallback.attribute) for node in tree.css(fallback.target)]
    return links, next_links


def test_noscript_copy_lists_the_same_links_as_the_api_for_http_mode(server, demo_site_config):
    status, _, html = get(server, "/section/politics?page=1")
    assert status == 200
    links, next_links = crawl_keys_find(html, demo_site_config)
    listing = server.site.section_items("politics", 1)
    assert links == [item["url"] for item in listing["items"]]
    assert next_links == ["/section/politics?page=2"]
    article_links = [u for u in links if demo_site_config.crawl.article_url.search(u)]
    assert len(article_links) >= server.site.per_page


def test_without_noscript_the_static_html_holds_no_links():
    with DemoServer(DemoSite(noscript=False)) as server:
        _, _, html = get(server, "/section/politics?page=1")
        config = load_site(DEMO_TOML)
        assert crawl_keys_find(html, config) == ([], [])


def test_last_page_has_no_next_link_and_pages_beyond_it_are_404(server, demo_site_config):
    last = server.site.page_count("technology")
    _, _, html = get(server, f"/section/technology?page={last}")
    assert crawl_keys_find(html, demo_site_config)[1] == []
    assert get(server, f"/section/technology?page={last + 1}")[0] == 404
    assert get(server, "/section/sport?page=1")[0] == 404


def test_page_one_carries_the_traps_a_careful_crawler_must_skip(server, demo_site_config):
    items = [item["url"] for item in server.site.section_items("economy", 1)["items"]]
    pattern = demo_site_config.crawl.article_url
    private = [u for u in items if u.startswith("/private/")]
    offsite = [u for u in items if urlsplit(u).hostname not in (None, "127.0.0.1")]
    schemes = [u for u in items if u.startswith(("mailto:", "javascript:"))]
    assert private and offsite and len(schemes) == 2
    assert all(pattern.search(u) for u in private + offsite + schemes), \
        "traps must look like articles, so only robots, domain and scheme checks stop them"
    assert any("utm_source" in u and "#" in u for u in items), "tracking parameters to canonicalise"


# ---------------------------------------------------------------- robots.txt


def test_robots_disallows_private_drafts_only(server):
    status, _, text = get(server, "/robots.txt")
    assert status == 200
    robots = Protego.parse(text)
    draft = server.site.private_article("politics")
    assert get(server, draft.url)[0] == 200, "the draft exists; only robots.txt keeps crawlers out"
    assert not robots.can_fetch(server.base_url + draft.url, "newscrawl")
    assert robots.can_fetch(server.base_url + server.site.article(1).url, "newscrawl")
    assert robots.crawl_delay("newscrawl") is None


def test_crawl_delay_is_announced_when_asked_for():
    robots = Protego.parse(DemoSite(crawl_delay=0.75).robots_txt())
    assert robots.crawl_delay("newscrawl") == 0.75


# ---------------------------------------------------------------- routing


def test_old_slug_redirects_to_the_article_and_unknown_ids_are_404(server):
    article = server.site.article(9)
    status, headers, _ = get(server, f"/news/{article.section}/9-old-headline")
    assert status == 301 and headers["Location"] == article.url
    assert get(server, "/news/politics/999-nothing")[0] == 404
    assert get(server, "/private" + article.url)[0] == 404
    assert get(server, "/img/9.png")[0] == 200


def test_every_request_is_recorded_with_time_status_and_user_agent(server):
    before = time.monotonic()
    get(server, "/robots.txt")
    get(server, "/nowhere")
    records = server.requests
    assert [(r.path, r.status) for r in records] == [("/robots.txt", 200), ("/nowhere", 404)]
    assert before <= records[0].time <= records[1].time <= time.monotonic()
    assert records[0].user_agent == "demo-site-test"
    assert server.requests_for(r"^/now") == records[1:]


# ---------------------------------------------------------------- injected faults


def test_status_sequence_answers_errors_first_then_the_page():
    faults = Faults()
    faults.add("/section/politics", status_sequence=[500, 503])
    with DemoServer(DemoSite(), faults=faults) as server:
        statuses = [get(server, "/section/politics?page=1")[0] for _ in range(3)]
        assert statuses == [500, 503, 200]
        assert get(server, "/section/economy?page=1")[0] == 200


def test_retry_after_answers_429_with_the_header_for_the_first_hits():
    faults = Faults()
    faults.add(re.compile(r"^/news/"), retry_after=2, times=2)
    with DemoServer(DemoSite(), faults=faults) as server:
        url = server.site.article(3).url
        answers = [get(server, url) for _ in range(3)]
        assert [a[0] for a in answers] == [429, 429, 200]
        assert answers[0][1]["Retry-After"] == "2"


def test_hang_makes_a_client_time_out_once_then_answers_fast():
    faults = Faults()
    faults.add("/robots.txt", hang_seconds=3, times=1)
    with DemoServer(DemoSite(), faults=faults) as server:
        with pytest.raises(TimeoutError):
            get(server, "/robots.txt", timeout=0.5)
        started = time.monotonic()
        assert get(server, "/robots.txt", timeout=2)[0] == 200
        assert time.monotonic() - started < 1


def test_stop_cuts_a_hang_short():
    faults = Faults()
    faults.add("/", hang_seconds=30)
    server = DemoServer(DemoSite(), faults=faults).start()
    client = threading.Thread(target=lambda: _ignore_errors(get, server, "/", 40), daemon=True)
    client.start()
    time.sleep(0.3)
    started = time.monotonic()
    server.stop()
    client.join(timeout=5)
    assert time.monotonic() - started < 5 and not client.is_alive()


def _ignore_errors(function, *args):
    try:
        function(*args)
    except OSError:
        pass


def test_redirect_to_sends_the_client_off_domain():
    faults = Faults()
    faults.add(re.compile(r"/news/economy/"), redirect_to="http://offsite.invalid/trap")
    with DemoServer(DemoSite(), faults=faults) as server:
        status, headers, _ = get(server, server.site.article(2).url)
        assert (status, headers["Location"]) == (302, "http://offsite.invalid/trap")


def test_delay_seconds_slows_every_answer():
    faults = Faults()
    faults.add("/robots.txt", delay_seconds=0.3)
    with DemoServer(DemoSite(), faults=faults) as server:
        for _ in range(2):
            started = time.monotonic()
            get(server, "/robots.txt")
            assert time.monotonic() - started >= 0.3


def test_faults_refuse_unbounded_sleeps():
    with pytest.raises(ValueError):
        Faults().add("/", hang_seconds=3600)


# ---------------------------------------------------------------- real Chromium

def find_chromium() -> str | None:
    """The system Chromium the brief names (crawler.fetch has its own, fuller lookup)."""
    return next(filter(None, map(shutil.which, ("/usr/bin/chromium", "chromium", "chromium-browser"))), None)


chromium = pytest.mark.skipif(find_chromium() is None, reason="no system Chromium installed")


async def _browse_section(base_url: str, section: str) -> tuple[list[str], list[str]]:
    """Follow a section's JS-rendered next links in Chromium; (article hrefs, pages visited)."""
    from playwright.async_api import async_playwright

    hrefs, visited = [], []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=find_chromium(), headless=True,
                                                   args=BROWSER_ARGS)
        try:
            page = await browser.new_page()
            url = f"{base_url}/section/{section}?page=1"
            while url and len(visited) < 10:
                visited.append(url)
                await page.goto(url, wait_until="domcontentloaded", timeout=10_000)
                await page.wait_for_selector(".article-list li", state="attached", timeout=5_000)
                hrefs += await page.eval_on_selector_all(
                    ".article-list a", "links => links.map(a => a.getAttribute('href'))")
                following = await page.eval_on_selector_all("a.next", "links => links.map(a => a.href)")
                url = following[0] if following else None
        finally:
            await browser.close()
    return hrefs, visited


@chromium
def test_chromium_renders_the_section_list_and_next_link_with_javascript(demo_site_config):
    site = DemoSite(noscript=False)
    with DemoServer(site) as server:
        hrefs, visited = asyncio.run(asyncio.wait_for(_browse_section(server.base_url, "politics"), 60))
        assert len(visited) == site.page_count("politics")
        articles = {urljoin(server.base_url, h).split("?")[0] for h in hrefs
                    if h.startswith("/news/") and demo_site_config.crawl.article_url.search(h)}
        assert articles == {server.base_url + site.article(i).url for i in site.article_ids("politics")}
        api_calls = server.requests_for(r"^/api/section/politics")
        assert len(api_calls) == len(visited), "the list came from the script's API calls"


# ---------------------------------------------------------------- make demo


def test_make_demo_crawls_everything_once_then_nothing_new(tmp_path, capsys):
    """`python -m crawler.demo.run` in http mode (the browser path is covered by test_crawl)."""
    pytest.importorskip("crawler.crawl")
    from crawler.demo.run import main

    out = tmp_path / "out" / "{site}" / "{date}.jsonl"
    code = main(["--port", "0", "--out", str(out), "--render", "http", "--min-delay", "0"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "60 lines, 60 distinct articles" in printed
    assert "the second run fetched no article pages (the first fetched 60)" in printed
    assert "0 under /private/" in printed
