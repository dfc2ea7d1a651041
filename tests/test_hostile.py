"""Probe cases from issue 9, browser mode: real Chromium, real loopback servers.

Names under `.test` are put in /etc/hosts for a test (tests/etc_hosts.py): `pub.test` is
127.0.0.1, where the site's server runs, and `priv.test` is 127.0.0.11, where a second
server listens. Both names are in the site's domains, and the site allows 127.0.0.1 only, so
whatever the crawler sends to priv.test shows up in the second server's request log.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import pytest
from conftest import FAST_POLITENESS, write_demo_selectors
from etc_hosts import hosts_entries, needs_hosts

from crawler.crawl import crawl
from crawler.demo.server import DemoServer
from crawler.demo.site import DemoSite
from crawler.errors import PrivateAddressError
from crawler.fetch import Fetcher
from crawler.polite import HostPacer
from crawler.settings import DEFAULT_POLITENESS
from crawler.sites import load_site

PUBLIC, PRIVATE = "127.0.0.1", "127.0.0.11"
HOSTS = {"pub.test": PUBLIC, "priv.test": PRIVATE}
POLITENESS = {**FAST_POLITENESS, "timeout": 8.0, "max_retries": 1}


def politics_site(articles: int) -> DemoSite:
    return DemoSite(articles=articles, sections=("politics",), per_page=articles)


def named_site(tmp_path: Path, server: DemoServer, *, allow_private: str = f'["{PUBLIC}"]',
               name: str = "pub.test"):
    """The demo selector file, reached as http://pub.test:<port>, on domains pub.test and
    priv.test, allowing only the addresses in `allow_private`."""
    base = f"http://{name}:{server.port}"
    path = write_demo_selectors(tmp_path / "selectors", base) / "demo.toml"
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^domains = .*$", 'domains = ["pub.test", "priv.test"]', text)
    text = re.sub(r"(?m)^allow_private = .*$", f"allow_private = {allow_private}", text)
    text = text[:text.index("[crawl.sections]")] + f'[crawl.sections]\nPolitics = "{base}/section/politics?page=1"\n'
    path.write_text(text, encoding="utf-8")
    return load_site(path)


def pub_url(server: DemoServer, article_id: int) -> str:
    return f"http://pub.test:{server.port}{server.site.article(article_id).url}"


def records_in(path: Path) -> list[dict]:
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), "a partial last line survived"
    return [json.loads(line) for line in text.splitlines()]


def crawl_named(tmp_path: Path, config, **options):
    """One in-process browser crawl into tmp_path; (summary, records)."""
    out = tmp_path / "out"
    summary = asyncio.run(crawl([config], out_template=str(out / "{site}.jsonl"),
                                state_path=tmp_path / "state.sqlite", render_override="browser",
                                politeness_overrides=options.pop("politeness", POLITENESS), **options))
    return summary, records_in(out / "demo.jsonl")


def failures_by_url(summary) -> dict[str, str]:
    return {failure["url"]: failure["reason"] for site in summary.sites for failure in site.failures}


# ------------------------------------------------------------------ item 1: private addresses

@needs_hosts
def test_a_redirect_to_a_private_address_is_refused_in_browser_mode_and_never_sent(tmp_path):
    with DemoServer(politics_site(3)) as server, DemoServer(politics_site(3), host=PRIVATE) as private, \
            hosts_entries(HOSTS):
        moved = f"http://priv.test:{private.port}{private.site.article(2).url}"
        server.faults.add(server.site.article(2).url, redirect_to=moved)
        config = named_site(tmp_path, server)
        summary, records = crawl_named(tmp_path, config)

        settings = DEFAULT_POLITENESS.merged(**POLITENESS)

        async def fetch_the_redirect():
            async with Fetcher() as fetcher:
                with pytest.raises(PrivateAddressError) as refused:
                    await fetcher.fetch(pub_url(server, 2), config, pacer=HostPacer(settings),
                                        settings=settings, render="browser")
                return refused.value

        refusal = asyncio.run(fetch_the_redirect())
        time.sleep(0.3)  # a request still on its way would show up by now
        private_requests = [r.path for r in private.requests]
    assert private_requests == []
    assert {r["url"] for r in records} == {pub_url(server, 1), pub_url(server, 3)}
    reason = failures_by_url(summary)[pub_url(server, 2)]
    assert re.search(rf"redirected to {re.escape(moved)}: priv\.test is a loopback or private "
                     rf"address \({re.escape(PRIVATE)}\)", reason), reason
    assert refusal.reason == reason and not refusal.retryable


# What a hostile page asks of the private host: a parser-inserted script and stylesheet, ones
# a script adds, fetch(), a frame, and a fetch from a dedicated worker (the demo server
# records GET and HEAD requests).
SUBRESOURCE_SCRIPT = """
const base = "__BASE__";
document.write('<link rel="stylesheet" href="' + base + '/static/written.css">'
               + '<script src="' + base + '/static/written.js"></scr' + 'ipt>');
const script = document.createElement("script"); script.src = base + "/static/added.js";
document.head.appendChild(script);
const sheet = document.createElement("link"); sheet.rel = "stylesheet"; sheet.href = base + "/static/added.css";
document.head.appendChild(sheet);
fetch(base + "/api/simple").catch(() => {});
const frame = document.createElement("iframe"); frame.src = base + "/frame";
document.documentElement.appendChild(frame);
new Worker(URL.createObjectURL(new Blob(['fetch("' + base + '/api/worker").catch(() => {})'])));
"""


@needs_hosts
@pytest.mark.parametrize("allowed", [False, True], ids=["private-refused", "private-allowed"])
def test_scripts_stylesheets_and_fetches_aimed_at_a_private_address_are_never_sent(tmp_path, allowed):
    with DemoServer(politics_site(2)) as server, DemoServer(politics_site(1), host=PRIVATE) as private, \
            hosts_entries(HOSTS):
        base = f"http://priv.test:{private.port}"
        server.faults.add(server.site.article(2).url, script=SUBRESOURCE_SCRIPT.replace("__BASE__", base))
        allowance = f'["{PUBLIC}", "{PRIVATE}"]' if allowed else f'["{PUBLIC}"]'
        summary, records = crawl_named(tmp_path, named_site(tmp_path, server, allow_private=allowance))
        time.sleep(0.5)  # a request still on its way would show up by now
        private_requests = sorted({r.path for r in private.requests})
    assert {r["url"] for r in records} == {pub_url(server, 1), pub_url(server, 2)}  # written all the same
    assert summary.total("failed") == 0
    if allowed:  # the control: the page does ask for all of these
        assert {"/static/written.css", "/static/written.js", "/static/added.js", "/static/added.css",
                "/api/simple", "/frame"} <= set(private_requests), private_requests
    else:
        assert private_requests == []
