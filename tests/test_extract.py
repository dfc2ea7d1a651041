"""Extraction: the seed page exactly, fallbacks, layouts, and bad input that must not crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import crawler
from crawler.extraction import extract_page
from crawler.sites import load_site

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
SEED = CORPUS / "seed"
SEED_URL = "https://www.arabstoday.net/en/233/russia-pushes-its-diplomats-onto-social-media"


@pytest.fixture(scope="module")
def seed_record() -> dict:
    html = (SEED / "arabstoday-article.html").read_text("utf-8")
    return crawler.extract(html, SEED_URL).to_dict()


@pytest.fixture(scope="module")
def seed_expected() -> dict:
    return json.loads((SEED / "arabstoday-article.expected.json").read_text("utf-8"))


@pytest.mark.parametrize("field", ["url", "title", "section", "paragraphs", "body", "source", "related"])
def test_seed_page_matches_expected_field(seed_record, seed_expected, field):
    assert seed_record[field] == seed_expected[field]


def test_seed_dateline_has_text_and_iso_time(seed_record, seed_expected):
    assert seed_record["dateline"]["text"] == seed_expected["dateline"]["text"]
    assert seed_record["dateline"]["published"] == seed_expected["dateline"]["published"]


def test_seed_body_has_none_of_the_boilerplate(seed_record, seed_expected):
    for unwanted in seed_expected["must_not_contain"]:
        assert unwanted not in seed_record["body"]


def test_seed_site_is_chosen_from_the_url_host(seed_record):
    assert seed_record["site"] == "arabstoday"
    assert seed_record["provenance"]["title"] == "h1.news-title"


def test_record_validates_against_the_shipped_json_schema(seed_record):
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(seed_record, crawler.record.json_schema())


def test_record_has_every_schema_field(seed_record):
    schema = crawler.record.json_schema()
    assert set(seed_record) == set(schema["required"])


def test_unknown_host_is_a_clear_error():
    with pytest.raises(crawler.UnknownSiteError, match="no selector file serves host 'example.org'"):
        crawler.extract("<html></html>", "https://example.org/a")


# ------------------------------------------------------------------ fallbacks and layouts

def write_site(tmp_path: Path, text: str):
    path = tmp_path / "t.toml"
    path.write_text(text, "utf-8")
    return load_site(path)


def test_fallbacks_are_tried_in_order_meta_then_jsonld(tmp_path):
    site = write_site(tmp_path, '''
domains = ["t.test"]
title = ["h1.nope", "meta:og:title"]
authors = ["jsonld:NewsArticle.author.name"]
[body]
from = ["article"]
[dateline]
from = ["time.nope @datetime", "jsonld:NewsArticle.datePublished"]
''')
    html = '''<html><head><meta property="og:title" content="From meta">
<script type="application/ld+json">{"@graph":[{"@type":"NewsArticle","datePublished":"2024-05-03T15:47:42Z",
"author":[{"@type":"Person","name":"Ann Lee"},{"@type":"Person","name":"Bo Kim"}]}]}</script></head>
<body><article><p>One.</p></article></body></html>'''
    article = extract_page(html, "https://t.test/a", site)
    assert article.title == "From meta"
    assert article.provenance["title"] == "meta:og:title"
    assert article.authors == ["Ann Lee", "Bo Kim"]
    assert article.dateline.published == "2024-05-03T15:47:42+00:00"
    assert article.provenance["dateline"] == "jsonld:NewsArticle.datePublished"


def test_layout_is_chosen_by_its_marker(tmp_path):
    site = write_site(tmp_path, '''
domains = ["t.test"]
title = ["h1"]
body = [".old-body"]
[[layout]]
name = "2019"
[[layout]]
name = "2024"
when = "body.redesign"
body = [".new-body"]
''')
    old = extract_page("<body><h1>T</h1><div class=old-body><p>Old text</p></div></body>", "https://t.test/1", site)
    new = extract_page("<body class=redesign><h1>T</h1><div class=new-body><p>New text</p></div></body>",
                       "https://t.test/2", site)
    assert (old.provenance["layout"], old.paragraphs) == ("2019", ["Old text"])
    assert (new.provenance["layout"], new.paragraphs) == ("2024", ["New text"])


def test_strip_drop_clean_and_summary_shape_the_body(tmp_path):
    site = write_site(tmp_path, r'''
domains = ["t.test"]
title = ["h1"]
source = { from = [".src"], clean = ['^Source:\s*'] }
[body]
from = [".text"]
summary = [".standfirst"]
strip = [".ad"]
drop = ['^Read more']
clean = ['\s*\(Reuters\)']
[dateline]
from = [".date"]
formats = ["%d %B %Y, %H:%M"]
place = '^(?P<place>[A-Z]+),'
''')
    html = '''<body><h1>T</h1><p class=standfirst>The gist.</p><span class=date>03 März 2024, 10:30</span>
<div class=text><p>CAIRO, (Reuters) first.</p><div class=ad><p>Buy now</p></div><p>Read more: elsewhere</p>
<h2>Sub</h2><blockquote><p>Quoted</p></blockquote><p class=src>Source: AFP</p></div></body>'''
    article = extract_page(html, "https://t.test/a", site)
    assert article.paragraphs == ["The gist.", "CAIRO, first.", "Sub", "Quoted", "Source: AFP"]
    assert article.source == "AFP"
    assert article.dateline.published is None  # März is German; the site says language "en"
    german = write_site(tmp_path, (tmp_path / "t.toml").read_text().replace(
        'domains = ["t.test"]', 'domains = ["t.test"]\nlanguage = "de"\ntimezone = "Europe/Berlin"'))
    article = extract_page(html, "https://t.test/a", german)
    assert article.dateline.published == "2024-03-03T10:30:00+01:00"
    assert article.dateline.place == "CAIRO"


# ------------------------------------------------------------------ bad input never crashes

BAD_INPUTS = {
    "empty": "",
    "whitespace": "   \n\t ",
    "malformed": "<html><body><div class='news-text'><p>unclosed <b>bold <i>mixed</div></p></span><h1>",
    "truncated": (SEED / "arabstoday-article.html").read_text("utf-8")[:2500],
    "nul bytes": "<p>a\x00b</p>\x00",
    "replacement chars from bad bytes": b"\xff\xfe<h1 class=news-title>\xc3\x28</h1>".decode("utf-8", "replace"),
    "binary": bytes(range(256)).decode("latin-1"),
    "broken json-ld": '<script type="application/ld+json">{"@type": "NewsArticle", </script>',
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_gives_a_record_with_missing_fields_not_an_exception(name):
    record = crawler.extract(BAD_INPUTS[name], SEED_URL).to_dict()
    assert record["url"] == SEED_URL
    for field in ("title", "body", "dateline", "related", "source"):
        value = record["provenance"][field]
        assert isinstance(value, str) and value


def test_selector_matching_nothing_gives_null_and_missing_provenance():
    record = crawler.extract("<html><body><p>nothing here</p></body></html>", SEED_URL).to_dict()
    assert record["title"] is None and record["provenance"]["title"] == "missing"
    assert record["source"] is None and record["provenance"]["source"] == "missing"
    assert record["dateline"] == {"text": None, "published": None, "place": None}
    assert record["paragraphs"] == [] and record["provenance"]["body"] == "missing"


def test_non_utf8_file_is_decoded_by_its_declared_charset(tmp_path):
    from crawler.pages import read_html

    page = tmp_path / "p.html"
    page.write_bytes('<meta charset="windows-1252"><h1 class=news-title>Caf\u00e9 \u201cquoted\u201d</h1>'.encode("cp1252"))
    article = crawler.extract(read_html(page), SEED_URL)
    assert article.title == "Caf\u00e9 \u201cquoted\u201d"
