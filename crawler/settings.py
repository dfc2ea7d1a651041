"""Every crawl setting and its default, in one place. The README explains each one.

Precedence, lowest to highest: these defaults, a site's `[crawl.politeness]` table, the
command line. A larger Crawl-delay from robots.txt always wins over min_delay.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace

USER_AGENT = "newscrawl/0.1 (+https://github.com/newscrawl/newscrawl)"

OUTPUT_TEMPLATE = "out/{site}/{date}.jsonl"  # {site} and {date} (UTC, YYYY-MM-DD)
STATE_FILE_NAME = "state.sqlite"  # default state path: beside the output folder

BLOCKED_RESOURCE_PATTERNS = (  # refused through CDP Fetch before they are sent
    "*.png", "*.jpg", "*.jpeg", "*.gif", "*.webp", "*.avif", "*.svg", "*.ico",
    "*.woff", "*.woff2", "*.ttf", "*.otf", "*.eot",
    "*.mp4", "*.webm", "*.mp3", "*.m4a", "*.ogg", "*.wav",
)
# Memory on long crawls. Every COLLECT_GARBAGE_EVERY pages a tab's renderer runs a full
# JavaScript garbage collection (old documents are freed only then). After RECYCLE_TAB_EVERY
# pages a tab is replaced, which frees what Playwright keeps per page; the new tab shares the
# old one's warm renderer process. After RECYCLE_CONTEXT_EVERY pages the site's whole context
# (cookies, HTTP cache, renderer processes) is replaced: rarely, since cold renderers cost CPU.
COLLECT_GARBAGE_EVERY = 25
RECYCLE_TAB_EVERY = 100
RECYCLE_CONTEXT_EVERY = 1000
# A browser call that is not a navigation (launch, a new context or tab, a CDP message, reading
# the page, a close) answers in well under a second on a healthy browser, a few seconds on a
# loaded machine. One still waiting after BROWSER_CALL_TIMEOUT seconds means a wedged browser
# (its renderers or zygote died, it never answers): the browser is killed and relaunched, and
# the page tried again. Navigations keep the politeness `timeout`.
BROWSER_CALL_TIMEOUT = 20.0
# After SIGTERM or SIGINT the articles in flight may finish for STOP_GRACE seconds; then the
# crawl ends anyway (what is unfinished is fetched next run). A second signal ends it at once.
# The work cancelled then has STOP_UNWIND seconds to let go of its tabs before the browser is
# closed regardless.
STOP_GRACE = 15.0
STOP_UNWIND = 5.0
MAX_PAGE_BYTES = 8 * 1024 * 1024  # larger pages are refused with a recorded reason
MAX_LINKS_PER_PAGE = 5000  # links read from a section page: real ones have hundreds; more is a trap
MAX_URL_LENGTH = 2048  # longer links are dropped: many servers refuse them; no article needs one
# Extraction runs in worker processes (crawler.extract_pool), so that a catastrophic regex in a
# selector file costs one article, not the crawl: a page still running after EXTRACT_TIMEOUT
# seconds has its worker killed and fails. After SIGTERM, EXTRACT_STOP_GRACE seconds at most.
EXTRACT_TIMEOUT = 20.0
EXTRACT_STOP_GRACE = 2.0
EXTRACT_PROCESSES = min(4, max(2, os.cpu_count() or 2))  # at least 2: a stuck page stalls no other
# http mode (crawler/http_fetch.py). A host that accepts no connection within CONNECT_TIMEOUT
# seconds is down or filtering us: waiting the whole page timeout for it only holds the host's
# slot. The whole response (every redirect hop and the body) has the politeness `timeout`.
CONNECT_TIMEOUT = 10.0
# Each site's cookie jar is bounded per host. A site needs a session or a consent cookie, not
# hundreds; a server that sets new cookies on every page would otherwise grow the Cookie header
# until it refuses its own requests (HTTP 431). 50 cookies is RFC 6265's minimum per domain; a
# 4 KiB header stays well under the 8 KiB header line of nginx and Apache. Cookies past either
# cap are not stored, and never sent.
MAX_COOKIES_PER_HOST = 50
MAX_COOKIE_BYTES_PER_HOST = 4096
# An article whose fetch fails permanently (HTTP 414, a 4xx other than 408/429) is not retried
# forever: after failing so in this many runs it is marked abandoned, with its reason, and no
# later run fetches it again.
ABANDON_AFTER_RUNS = 3
# The archive (crawler/archive.py): every fetched page as WARC, `{root}/{site}/{date}-{n}.warc.gz`.
ARCHIVE_FOLDER_NAME = "archive"  # default archive: this folder beside the output (the state's folder)
ARCHIVE_ROOT = "out/archive"
# A file that passes ARCHIVE_MAX_FILE_BYTES is closed and the next page starts file n+1. 1 GiB is
# what Heritrix and Common Crawl write: few enough files for a long crawl, small enough to copy,
# and bounded for the repair scan a file gets at start-up after a crash.
ARCHIVE_MAX_FILE_BYTES = 1024 ** 3
# gzip level of each record. Measured on news pages (bench/warc_speed.py): level 9 costs about
# a third more CPU per page than 6, for files within 1% of the same size.
ARCHIVE_GZIP_LEVEL = 6
# Section pages are archived beside the articles (what a section listed, when). False keeps
# articles only.
ARCHIVE_LISTING_PAGES = True
# The drift alarm (crawler/drift.py): a field whose selector matched this many percentage
# points less than in the site's last DRIFT_BASELINE_RUNS runs, over at least
# DRIFT_MIN_ARTICLES articles of this run, is reported (and the run exits 1).
DRIFT_DROP_POINTS = 20
DRIFT_MIN_ARTICLES = 10
DRIFT_BASELINE_RUNS = 5


@dataclass(frozen=True)
class PolitenessSettings:
    min_delay: float = 1.0  # seconds between two requests to one host
    jitter: float = 0.5  # plus a random 0..jitter seconds
    concurrency: int = 1  # requests in flight per host
    retry_after_cap: float = 120.0  # never wait longer than this for a Retry-After
    timeout: float = 30.0  # seconds for one request / navigation
    max_retries: int = 3  # retries after the first attempt (network errors, 5xx, 408, 429)
    backoff_base: float = 1.0  # exponential back-off: base * 2**attempt, plus jitter
    backoff_max: float = 60.0
    slow_response: float = 5.0  # a response slower than this counts as the host struggling

    def merged(self, **overrides) -> PolitenessSettings:
        """A copy with every override that is not None applied."""
        known = {f.name for f in fields(self)}
        return replace(self, **{k: v for k, v in overrides.items() if v is not None and k in known})


DEFAULT_POLITENESS = PolitenessSettings()

# How a host's delay adapts (crawler.polite.HostPacer). On an error, a 5xx/408/429 or a
# response slower than slow_response, the delay doubles (starting from backoff_base when
# min_delay is 0), up to backoff_max. Each good response eases it back toward min_delay by
# EASE_BACK_FACTOR: slower to recover than to back off, so a flaky host is not hammered.
SLOWDOWN_FACTOR = 2.0
EASE_BACK_FACTOR = 0.75
