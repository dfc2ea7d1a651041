"""URL canonicalisation and the crawl's scope checks."""

import pytest

from crawler.urls import canonical_url, host_of, in_domains, is_fetchable


@pytest.mark.parametrize("spelling", [
    "https://news.example.com/a/1-story",
    "https://news.example.com/a/1-story#comments",
    "https://NEWS.Example.COM/a/1-story",
    "HTTPS://news.example.com:443/a/1-story",
    "https://news.example.com/a/1-story?utm_source=x&utm_medium=y",
    "https://news.example.com/a/1-story?fbclid=abc",
    "https://news.example.com/a/1-story?gclid=1&mc_cid=2&mc_eid=3#top",
    "  https://news.example.com/a/1-story  ",
])
def test_spellings_of_one_article_share_one_canonical_url(spelling):
    assert canonical_url(spelling) == "https://news.example.com/a/1-story"


def test_meaningful_query_parameters_are_kept_sorted_in_one_spelling():
    url = "https://example.com/story?page=2&utm_campaign=z&id=7&q=a%20b"
    assert canonical_url(url) == "https://example.com/story?id=7&page=2&q=a+b"
    assert canonical_url("https://example.com/story?q=a+b&id=7&page=2") == canonical_url(url)


def test_percent_encoding_is_normalised_so_two_spellings_share_a_key():
    assert canonical_url("https://example.com/a%7eb/%c3%a9") == "https://example.com/a~b/%C3%A9"


def test_path_case_and_non_default_port_are_kept():
    assert canonical_url("http://127.0.0.1:8765/News/X") == "http://127.0.0.1:8765/News/X"
    assert canonical_url("http://example.com:80") == "http://example.com/"


def test_same_site_canonical_link_wins_over_the_fetched_url():
    url = "https://example.com/amp/story-1?utm_source=tw"
    assert canonical_url(url, "https://www.example.com/news/story-1") == \
        "https://www.example.com/news/story-1"
    assert canonical_url(url, "/news/story-1#x") == "https://example.com/news/story-1"


@pytest.mark.parametrize("link", [
    "https://aggregator.example.org/copy-of-story",
    "javascript:void(0)",
    "",
    None,
])
def test_foreign_or_unusable_canonical_link_is_ignored(link):
    assert canonical_url("https://example.com/story-1#c", link) == "https://example.com/story-1"


@pytest.mark.parametrize("url,expected", [
    ("http://example.com/a", True),
    ("https://example.com/a", True),
    ("HTTPS://example.com", True),
    ("mailto:desk@example.com", False),
    ("javascript:alert(1)", False),
    ("ftp://example.com/file", False),
    ("data:text/html,hi", False),
    ("/relative/path", False),
    ("http://", False),
    ("http://[::1", False),
    ("http://example.com:99999/a", False),
    ("http://example.com:port/a", False),
])
def test_only_absolute_http_and_https_urls_are_fetchable(url, expected):
    assert is_fetchable(url) is expected


def test_host_of_is_lower_case_without_port():
    assert host_of("http://WWW.Example.com:8080/x") == "www.example.com"
    assert host_of("mailto:someone@example.com") == ""


def test_in_domains_accepts_the_domain_and_its_subdomains_only():
    domains = ("example.com",)
    assert in_domains("https://example.com/a", domains)
    assert in_domains("https://news.Example.com/a", domains)
    assert not in_domains("https://badexample.com/a", domains)
    assert not in_domains("https://example.com.evil.net/a", domains)
    assert not in_domains("http://offsite.invalid/x", ("127.0.0.1", "localhost"))
    assert not in_domains("mailto:x@example.com", domains)


def test_a_domain_with_a_port_matches_only_that_port():
    assert in_domains("http://127.0.0.1:8765/a", ("127.0.0.1:8765",))
    assert not in_domains("http://127.0.0.1:9999/a", ("127.0.0.1:8765",))
    assert in_domains("http://127.0.0.1:9999/a", ("127.0.0.1",))


def test_every_fetchable_url_has_a_canonical_form():
    hrefs = ["http://example.com:99999/a", "http://[::1]:8080/a#x", "https://[::1", "http://ex ample.com/",
             "http://example.com/%zz?utm_source=&a=%", "https://example.com?&&utm_x=1&&b"]
    for href in filter(is_fetchable, hrefs):
        assert is_fetchable(canonical_url(href))
    assert canonical_url("http://[::1]:8080/a#x") == "http://[::1]:8080/a"
    assert canonical_url("https://example.com?&&utm_x=1&&b") == "https://example.com/?b="


def test_control_characters_and_replacement_characters_are_percent_encoded_in_keys():
    key = canonical_url("https://example.com/a\x01b\ufffdc d?q=\x7f")
    assert key == "https://example.com/a%01b%EF%BF%BDc%20d?q=%7F"
    assert key.isascii() and key.isprintable()


def test_record_urls_of_related_links_carry_no_raw_control_characters():
    from crawler.extraction import absolute_url

    assert absolute_url("https://example.com/x/", "caf\u00e9\x02s") == "https://example.com/x/caf%C3%A9%02s"


def test_an_international_host_name_is_keyed_in_its_ascii_form():
    assert canonical_url("https://m\u00fcnchen.example/p") == "https://xn--mnchen-3ya.example/p"
