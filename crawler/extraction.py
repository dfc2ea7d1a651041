"""html + url + Site -> Article. Pure: no I/O, no clock, never raises on bad HTML.

The order matters: every field but the body is read from the intact page, then the strip
lists are removed inside the body containers, then the body is read.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from . import dates
from .record import MISSING, Article, Dateline, RelatedLink
from .settings import MAX_PAGE_BYTES
from .sites import BodyRule, Fallback, FieldRule, Layout, Site
from .urls import safe_url

# Never article text, whatever the site file says.
ALWAYS_STRIP = ("script", "style", "noscript", "template", "iframe", "svg", "button", "form")


# Only ASCII whitespace is layout. Publishers put no-break and ideographic spaces in titles
# on purpose ("Babiš a\xa0Hrad", "注意報\u3000気象庁"), and the corpus keeps them.
def normalize_space(text: str) -> str:
    # bytes.split() splits on ASCII whitespace only, and is several times faster than a regex
    # on this hot path; surrogatepass keeps lone surrogates from JSON-LD escapes intact.
    return b" ".join(text.encode("utf-8", "surrogatepass").split()).decode("utf-8", "surrogatepass")


def node_text(node: LexborNode) -> str:
    return normalize_space(node.text(deep=True, separator="", strip=False))


class Page:
    """One parsed document, with the lookups that fallbacks need computed at most once."""

    def __init__(self, html: str, url: str):
        self.url = url
        try:
            self.tree = LexborHTMLParser(html or "<html></html>")
        except Exception:  # noqa: BLE001  lexbor refuses some inputs outright (e.g. embedded NULs)
            self.tree = LexborHTMLParser(_scrub(html))
        self._meta: dict[str, str] | None = None
        self._meta_body_read = False
        self._jsonld: list[dict[str, Any]] | None = None
        self._jsonld_body: list[dict[str, Any]] | None = None

    def css(self, selector: str, scope: LexborNode | None = None) -> list[LexborNode]:
        root = scope if scope is not None else self.tree
        try:
            return root.css(selector)
        except Exception:  # noqa: BLE001  a hostile page must cost a field, never the record
            return []

    def css_first(self, selector: str, scope: LexborNode | None = None) -> LexborNode | None:
        """Much cheaper than css() on big pages: the search stops at the first match."""
        root = scope if scope is not None else self.tree
        try:
            return root.css_first(selector)
        except Exception:  # noqa: BLE001  as in css()
            return None

    # <meta> and JSON-LD live mostly in <head>, which is small: read it first and the
    # (large) <body> only when a lookup is not satisfied there.
    def meta_value(self, name: str) -> str | None:
        if self._meta is None:
            self._meta = {}
            self._collect_meta(self.tree.head)
        if name not in self._meta and not self._meta_body_read:
            self._meta_body_read = True
            self._collect_meta(self.tree.body)
        return self._meta.get(name)

    def meta_items(self) -> dict[str, str]:
        """Every <meta> name and its content, <head> and <body>."""
        self.meta_value("\0")  # a name no page has: collects both
        return dict(self._meta or {})

    def _collect_meta(self, scope: LexborNode | None) -> None:
        if scope is None:
            return
        for node in self.css("meta[content]", scope):
            attrs = node.attributes
            for key in ("property", "name", "itemprop"):
                name = attrs.get(key)
                if name and name not in self._meta:
                    self._meta[name] = attrs.get("content") or ""

    def jsonld_objects(self) -> Iterator[dict[str, Any]]:
        if self._jsonld is None:
            self._jsonld = self._parse_jsonld(self.tree.head)
        yield from self._jsonld
        if self._jsonld_body is None:
            self._jsonld_body = self._parse_jsonld(self.tree.body)
        yield from self._jsonld_body

    def _parse_jsonld(self, scope: LexborNode | None) -> list[dict[str, Any]]:
        objects: list[dict[str, Any]] = []
        if scope is None:
            return objects
        for node in self.css('script[type="application/ld+json"]', scope):
            try:
                parsed = json.loads(_unwrap_cdata(node.text(deep=True, separator="", strip=True)), strict=False)
            except (ValueError, RecursionError):
                continue
            objects.extend(_json_objects(parsed))
        return objects


# Some sites wrap their JSON-LD in "//<![CDATA[ ... //]]>" (an XHTML habit); JSON refuses it.
_CDATA = re.compile(r"^\s*(?://\s*)?<!\[CDATA\[|(?://\s*)?\]\]>\s*$")


def _unwrap_cdata(text: str) -> str:
    return _CDATA.sub("", text) if "CDATA" in text else text


def _scrub(html: str) -> str:
    return html.replace("\x00", "") if isinstance(html, str) else ""


def _json_objects(value: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > 6:
        return
    if isinstance(value, list):
        for item in value:
            yield from _json_objects(item, depth + 1)
    elif isinstance(value, dict):
        yield value
        if "@graph" in value:
            yield from _json_objects(value["@graph"], depth + 1)


def _type_matches(obj: dict[str, Any], wanted: str) -> bool:
    if wanted == "*":
        return True
    declared = obj.get("@type")
    return wanted in declared if isinstance(declared, list) else declared == wanted


def _walk(value: Any, path: list[str]) -> Iterator[Any]:
    if isinstance(value, list):
        for item in value:
            yield from _walk(item, path)
        return
    if not path:
        if value is not None:
            yield value
        return
    if isinstance(value, dict) and path[0] in value:
        yield from _walk(value[path[0]], path[1:])


def _as_text(value: Any) -> str:
    if isinstance(value, dict):  # e.g. author {"@type": "Person", "name": ...}
        value = value.get("name") or value.get("@value") or ""
    if not isinstance(value, (str, int, float)):
        return ""
    return normalize_space(html_lib.unescape(str(value)))


def fallback_values(page: Page, fallback: Fallback, scope: LexborNode | None = None,
                    many: bool = False) -> list[str]:
    """The values one fallback yields: the first only, unless `many`."""
    if fallback.kind == "meta":
        value = page.meta_value(fallback.target)
        return [normalize_space(value)] if value else []
    if fallback.kind == "jsonld":
        type_name, path = fallback.jsonld_path
        values: list[str] = []
        for obj in page.jsonld_objects():
            if _type_matches(obj, type_name):
                values.extend(v for v in map(_as_text, _walk(obj, path)) if v)
                if values and not many:
                    return values[:1]
        return values
    if many:
        nodes = page.css(fallback.target, scope)
    else:
        first = page.css_first(fallback.target, scope)
        nodes = [first] if first is not None else []
    if fallback.attribute:
        return [normalize_space(v) for n in nodes if (v := n.attributes.get(fallback.attribute))]
    return [text for n in nodes if (text := node_text(n))]


def _refine(value: str, rule: FieldRule) -> str:
    for pattern in rule.clean:
        value = pattern.sub("", value)
    if rule.pattern is not None:
        found = rule.pattern.search(value)
        if not found:
            return ""
        value = found.group("value") if "value" in rule.pattern.groupindex else found.group(found.lastindex or 0)
    return normalize_space(value)


def read_field(page: Page, rule: FieldRule, scope: LexborNode | None = None) -> tuple[str | None, str]:
    """First non-empty value over the fallbacks, and the fallback that gave it."""
    for fallback in rule.fallbacks:
        for raw in fallback_values(page, fallback, scope):
            value = _refine(raw, rule)
            if value:
                return value, fallback.spec
    return None, MISSING


def read_list(page: Page, rule: FieldRule) -> tuple[list[str], str]:
    for fallback in rule.fallbacks:
        values: list[str] = []
        for raw in fallback_values(page, fallback, many=True):
            parts = rule.split.split(raw) if rule.split else [raw]
            for part in parts:
                value = _refine(part, rule)
                if value and value not in values:
                    values.append(value)
        if values:
            return values, fallback.spec
    return [], MISSING


def read_dateline(page: Page, layout: Layout, site: Site) -> tuple[Dateline, str]:
    """The dateline as printed; `clean`/`pattern` only shape the text handed to the parser."""
    rule = layout.dateline
    first: tuple[str, str] | None = None
    for fallback in rule.rule.fallbacks:
        for printed in fallback_values(page, fallback):
            text = _refine(printed, rule.rule)
            if not text:
                continue
            published = dates.parse_date(text, rule.formats, site.timezone, site.language)
            if published is not None:
                return Dateline(printed, published.isoformat()), fallback.spec
            first = first or (printed, fallback.spec)
    if first:
        return Dateline(first[0], None), first[1]
    return Dateline(), MISSING


def read_related(page: Page, layout: Layout, site: Site) -> tuple[list[RelatedLink], str]:
    rule = layout.related
    if rule is None:
        return [], MISSING
    container = page.css_first(rule.container)
    if container is None:
        return [], MISSING
    links: list[RelatedLink] = []
    seen: set[str] = set()
    formats = layout.dateline.formats
    for item in page.css(rule.item, container):
        title = _first(page, rule.title, item)
        href = _first(page, rule.url, item)
        if not title or not href:
            continue
        url = absolute_url(page.url, href)
        if url is None or url in seen:
            continue
        seen.add(url)
        dateline = None
        if rule.dateline:
            text = _first(page, rule.dateline, item)
            if text:
                published = dates.parse_date(text, formats, site.timezone, site.language)
                dateline = Dateline(text, dates.isoformat(published))
        links.append(RelatedLink(title, url, dateline))
    return links, rule.container if links else MISSING


def _first(page: Page, fallbacks: tuple[Fallback, ...], scope: LexborNode) -> str | None:
    for fallback in fallbacks:
        values = fallback_values(page, fallback, scope)
        if values:
            return values[0]
    return None


def absolute_url(base: str, href: str) -> str | None:
    """Absolute http(s) URL for `href`, or None for javascript:, mailto: and the like."""
    try:
        url = urljoin(base, href.strip())
    except ValueError:
        return None
    return safe_url(url) if urlsplit(url).scheme in ("http", "https") else None


@lru_cache(maxsize=1024)
def _strip_selector(layout: Layout) -> str:
    return ", ".join((*ALWAYS_STRIP, *layout.strip, *layout.body.strip))


def read_body(page: Page, layout: Layout) -> tuple[list[str], list[str], str]:
    """(standfirst, paragraphs, provenance); the standfirst is kept apart for the place lookup."""
    body = layout.body
    for fallback in body.containers:
        containers = page.css(fallback.target)
        if not containers:
            continue
        strip = _strip_selector(layout)
        for container in containers:
            for node in page.css(strip, container):
                node.decompose()
            # <br> has no text: "<i>Bolen</i><br><i>Monterey</i>" must not read "BolenMonterey".
            breaks = "br" if body.breaks is None else f"br, {body.breaks}"
            for line_break in page.css(breaks, container):
                line_break.replace_with(" ")
        paragraphs = _paragraphs(page, containers, body)
        if paragraphs:
            return _summary(page, body, paragraphs), paragraphs, fallback.spec
    return [], [], MISSING


# Blocks that the HTML parser never nests other blocks in: no need to look inside them.
_LEAF_BLOCKS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre"})


def _paragraphs(page: Page, containers: list[LexborNode], body: BodyRule) -> list[str]:
    """Text of each block in page order. A block inside a block already taken is skipped
    (a <p> in a <blockquote>), and so is a container nested in an earlier one."""
    seen: set[int] = set()
    texts: list[str] = []
    earlier: set[int] = set()
    for container in containers:
        if _has_ancestor_in(container, earlier):
            continue
        earlier.add(container.mem_id)
        blocks = page.css(body.paragraphs, container) or [container]
        stray = _stray_text(container) if blocks[0].mem_id != container.mem_id else {}
        for block in blocks:
            if block.mem_id in seen:
                continue
            seen.add(block.mem_id)
            if stray:
                texts.extend(_cleaned(stray.pop(_top_child(block, container), []), body))
            if block.tag not in _LEAF_BLOCKS:
                # Marking the nested matches is linear in the subtree; walking up from each
                # match instead is quadratic on deeply nested pages.
                seen.update(nested.mem_id for nested in page.css(body.paragraphs, block))
            text = _clean_paragraph(node_text(block), body)
            if text:
                texts.append(text)
        texts.extend(_cleaned([text for run in stray.values() for text in run], body))
    return texts


def _cleaned(texts: list[str], body: BodyRule) -> list[str]:
    return [text for text in (_clean_paragraph(t, body) for t in texts) if text]


def _stray_text(container: LexborNode) -> dict[int, list[str]]:
    """Text lying bare in the container, keyed by the child it precedes. HTML parsing leaves
    it there when a block nested in a <p> (a story card) closes the <p> early."""
    pending: list[str] = []
    runs: dict[int, list[str]] = {}
    child = container.child
    while child is not None:
        if child.tag == "-text":
            text = normalize_space(child.text(deep=False) or "")
            if text:
                pending.append(text)
        elif pending and child.tag not in ("br", "b", "i", "em", "strong", "a", "span"):
            runs[child.mem_id] = [" ".join(pending)]
            pending = []
        child = child.next
    if pending:
        runs[-1] = [" ".join(pending)]
    return runs


def _top_child(node: LexborNode, container: LexborNode) -> int:
    """The container's child that holds `node`."""
    while node.parent is not None and node.parent.mem_id != container.mem_id:
        node = node.parent
    return node.mem_id


def _has_ancestor_in(node: LexborNode, ids: set[int]) -> bool:
    parent = node.parent
    while parent is not None and ids:
        if parent.mem_id in ids:
            return True
        parent = parent.parent
    return False


def _clean_paragraph(text: str, body: BodyRule) -> str:
    for pattern in body.clean:
        text = pattern.sub("", text)
    text = normalize_space(text)
    if not text or any(pattern.search(text) for pattern in body.drop):
        return ""
    return text


def _summary(page: Page, body: BodyRule, paragraphs: list[str]) -> list[str]:
    for fallback in body.summary:
        values = [_clean_paragraph(v, body) for v in fallback_values(page, fallback, many=True)]
        # A standfirst that also opens the body is read once; one repeated further down is
        # still the standfirst.
        opening = paragraphs[:len(values)]
        values = [v for v in values if v and v not in opening]
        if values:
            return values
    return []


def choose_layout(page: Page, site: Site) -> Layout:
    """A layout whose `when` marker matches wins; unmarked layouts are tried in order."""
    candidates = [layout for layout in site.layouts
                  if layout.when is None or page.css_first(layout.when) is not None]
    for layout in candidates:
        if layout.when is not None:
            return layout
        if any(page.css_first(f.target) is not None for f in layout.body.containers if f.kind == "css"):
            return layout
    return candidates[0] if candidates else site.layouts[0]


def extract_page(html: str, url: str, site: Site, fetched_at: str | None = None) -> Article:
    if len(html or "") > MAX_PAGE_BYTES:
        return refused(url, site, fetched_at, f"page of {len(html):,} characters is over the "
                       f"{MAX_PAGE_BYTES:,} limit")
    return extract_parsed(Page(html, url), site, fetched_at)


def extract_parsed(page: Page, site: Site, fetched_at: str | None = None) -> Article:
    """extract_page for a page already parsed (the crawl reads its canonical link first);
    the record's URL, and the base of its relative links, is `page.url`."""
    layout = choose_layout(page, site)
    article = Article(url=page.url, site=site.name, language=site.language, fetched_at=fetched_at)
    provenance = article.provenance
    provenance["layout"] = layout.name
    article.title, provenance["title"] = read_field(page, layout.title)
    article.section, provenance["section"] = read_field(page, layout.section)
    article.source, provenance["source"] = read_field(page, layout.source)
    article.authors, provenance["authors"] = read_list(page, layout.authors)
    article.dateline, provenance["dateline"] = read_dateline(page, layout, site)
    article.related, provenance["related"] = read_related(page, layout, site)
    standfirst, paragraphs, provenance["body"] = read_body(page, layout)
    article.paragraphs = standfirst + paragraphs
    article.dateline.place = _place(layout, article.dateline.text, paragraphs[0] if paragraphs else None)
    return article


def refused(url: str, site: Site, fetched_at: str | None, reason: str) -> Article:
    """An empty record that says why nothing was extracted."""
    article = Article(url=url, site=site.name, language=site.language, fetched_at=fetched_at)
    article.provenance.update({"layout": MISSING, "refused": reason})
    for name in ("title", "section", "source", "authors", "dateline", "related", "body"):
        article.provenance[name] = MISSING
    return article


def _place(layout: Layout, dateline_text: str | None, first_paragraph: str | None) -> str | None:
    """Where the story was filed: from the dateline, else the lead's "CAIRO, ..." opening."""
    pattern = layout.dateline.place
    if pattern is None:
        return None
    for text in (dateline_text, first_paragraph):
        found = pattern.search(text) if text else None
        if found:
            value = found.group("place") if "place" in pattern.groupindex else found.group(found.lastindex or 0)
            return normalize_space(value) or None
    return None


def missing_required(article: Article, site: Site) -> tuple[str, list[str]]:
    """(layout name, the required fields that came out empty): a non-empty list means the
    extraction failed and the article must not be written as a record."""
    name = article.provenance.get("layout", MISSING)
    layout = next((layout for layout in site.layouts if layout.name == name), site.layouts[0])
    values = {
        "title": article.title,
        "body": article.paragraphs,
        "dateline": article.dateline.published or article.dateline.text,
        "authors": article.authors,
        "source": article.source,
        "related": article.related,
        "section": article.section,
    }
    return name, [field_name for field_name in layout.required if not values[field_name]]


def count_missing_fields(counts: dict[str, dict], missing: list[str], layout: str, url: str) -> None:
    """Tally a failed extraction in `counts`: field -> {"count", "layout", "sample_url"}."""
    for name in missing:
        entry = counts.setdefault(name, {"count": 0, "layout": layout, "sample_url": url})
        entry["count"] += 1


def missing_field_lines(site: str, counts: dict[str, dict], outcome: str, advice: str = "") -> list[str]:
    """One line per field of `counts` (see count_missing_fields): site, count, field, layout,
    a sample URL."""
    return [f"{site}: {entry['count']} article{'s' * (entry['count'] != 1)} {outcome}: {name} "
            f"missing (layout '{entry['layout']}'), e.g. {entry['sample_url']}{advice}"
            for name, entry in counts.items()]


def extraction_failure_reason(layout: str, missing: list[str]) -> str:
    """The typed reason a failed extraction is recorded with, e.g.
    `extraction: body missing (layout 'default')`."""
    fields_text = ", ".join(missing)
    return f"extraction: {fields_text} missing (layout '{layout}')"
