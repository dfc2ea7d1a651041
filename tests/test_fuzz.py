"""Extraction never raises and takes bounded time, whatever the page (hypothesis)."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.extraction import extract_page
from crawler.pages import decode_html
from crawler.settings import MAX_PAGE_BYTES
from crawler.sites import load_site

ROOT = Path(__file__).resolve().parents[1]
SITES = [load_site(ROOT / "selectors" / name) for name in ("arabstoday.toml", "demo.toml", "reuters.toml")]
SEED = (ROOT.parent / "shared" / "corpus" / "seed" / "arabstoday-article.html").read_text("utf-8")
REAL = gzip.decompress((ROOT.parent / "shared" / "corpus" / "fundus" / "us" /
                        "Reuters_2024_03_07.html.gz").read_bytes()).decode("utf-8")
URL = "https://www.arabstoday.net/en/1/x"
FUZZ = settings(max_examples=150, deadline=3000, suppress_health_check=[HealthCheck.too_slow])

TAGS = ["div", "p", "span", "a", "h1", "h2", "li", "ul", "script", "style", "table", "td", "meta",
        "time", "br", "blockquote", "article", "iframe", "template", "svg", "math", "select"]
HOSTILE = st.one_of(
    st.text(max_size=50),
    st.sampled_from(['javascript:alert(1)', '"><script>x</script>', "\x00", "\ufeff", "&#0;", "@",
                     "news-text", "related-news", "../../etc/passwd", "data:text/html,<p>x", "x" * 5000,
                     '{"@type": "NewsArticle"', "\ud7ff", "\u202e", "%00"]),
)


@st.composite
def tag_soup(draw) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 60))):
        tag = draw(st.sampled_from(TAGS))
        attrs = " ".join(f'{draw(st.sampled_from(["class", "id", "href", "content", "datetime", "property", "type"]))}='
                         f'"{draw(HOSTILE)}"' for _ in range(draw(st.integers(0, 3))))
        closing = draw(st.sampled_from(["", f"</{tag}>", "</div>", "</p></span>"]))
        parts.append(f"<{tag} {attrs}>{draw(st.text(max_size=40))}{closing}")
    return "".join(parts)


def assert_extracts(html: str) -> None:
    for site in SITES:
        started = time.monotonic()
        record = extract_page(html, URL, site).to_dict()
        assert time.monotonic() - started < 5
        assert record["url"] == URL and isinstance(record["paragraphs"], list)
        for link in record["related"]:
            assert link["url"].startswith(("http://", "https://"))


@FUZZ
@given(st.text())
def test_random_text_never_raises(text):
    assert_extracts(text)


@FUZZ
@given(st.binary())
def test_random_bytes_never_raise(raw):
    assert_extracts(decode_html(raw))


@FUZZ
@given(tag_soup())
def test_malformed_tag_soup_with_hostile_attributes_never_raises(html):
    assert_extracts(html)


@FUZZ
@given(st.integers(0, len(SEED)), st.integers(0, len(REAL)))
def test_truncated_real_pages_never_raise(seed_cut, real_cut):
    assert_extracts(SEED[:seed_cut])
    assert_extracts(REAL[:real_cut])


@FUZZ
@given(st.binary(min_size=1, max_size=2000), st.sampled_from(["utf-8", "latin-1", "shift_jis", "gb2312", "bogus"]))
def test_bytes_in_any_declared_charset_decode_and_extract(raw, charset):
    assert_extracts(decode_html(f'<meta charset="{charset}">'.encode() + raw))


def test_ten_thousand_levels_of_nesting_extract_in_bounded_time():
    for tag in ("div", "blockquote", "span", "li"):
        html = '<div class="news-text">' + f"<{tag}><p>a</p>" * 10_000 + "</div>"
        started = time.monotonic()
        article = extract_page(html, URL, SITES[0])
        assert time.monotonic() - started < 20
        assert article.paragraphs


def test_a_page_over_the_size_limit_is_refused_with_a_reason():
    html = '<div class="news-text">' + "<p>twenty megabytes</p>" * 1_000_000 + "</div>"
    assert len(html) > 20_000_000 > MAX_PAGE_BYTES
    started = time.monotonic()
    record = extract_page(html, URL, SITES[0]).to_dict()
    assert time.monotonic() - started < 1
    assert record["paragraphs"] == [] and "over the" in record["provenance"]["refused"]
