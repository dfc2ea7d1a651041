"""Draft a selector file from one saved page and the text wanted from it.

The draft is found, not guessed: every rule is checked against the page. Each step is a small
function: where the title lives, where the date lives, which container holds the body, and
what inside that container must be stripped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from selectolax.lexbor import LexborNode

from . import dates
from .extraction import Page, extract_page, node_text
from .score import BodyScore, score_body
from .sites import _Reader

# Class names that a build tool generated (css-1x2y3z, sc-AxjAm, Foo__bar___3xYz) change on
# every deploy: never select on them.
_GENERATED = re.compile(
    r"(^css-|^sc-|^jsx-|^_|__[A-Za-z0-9]{4,}$|[a-z][0-9]{2,}[a-z]|^[a-z0-9]{6,8}$|[A-Z].*[0-9]|--"
    r"|-(?=[a-z0-9]*\d)(?=[a-z0-9]*[a-z])[a-z0-9]{5,}$"  # dcr-173mewl
    r"|^(?=[a-zA-Z]{5,8}$)[a-z]*[A-Z][a-z]*[A-Z])"  # gYzCaH
)
_BLOCKS = "p, h1, h2, h3, h4, h5, h6, li, blockquote, pre, div, span, td, figcaption"
_DATE_META = re.compile(r"(publish|pub_?date|date|created|issued|time)", re.IGNORECASE)
_LATER_DATE = re.compile(r"(modif|updat|expir|render|crawl)", re.IGNORECASE)  # not when it was published


@dataclass
class Wanted:
    """What the user wants from the page."""

    paragraphs: list[str]
    title: str | None = None
    published: datetime | None = None


@dataclass
class Draft:
    title: list[str] = field(default_factory=list)
    title_clean: list[str] = field(default_factory=list)
    dateline: list[str] = field(default_factory=list)
    container: str | None = None
    paragraphs: str = "p"
    summary: list[str] = field(default_factory=list)
    strip: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ stable selectors

def _stable_classes(node: LexborNode) -> list[str]:
    classes = (node.attributes.get("class") or "").split()
    return [c for c in classes if not _GENERATED.search(c) and len(c) <= 40 and re.fullmatch(r"[\w-]+", c)]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def selector_candidates(node: LexborNode) -> list[str]:
    """Selectors for `node`, most stable first: id, itemprop, data-testid, classes, tag."""
    attrs = node.attributes
    tag = node.tag or "div"
    found = []
    node_id = attrs.get("id")
    if node_id and re.fullmatch(r"[A-Za-z][\w-]{1,39}", node_id) and not re.search(r"\d{3,}", node_id):
        found.append(f"#{node_id}")
    for name in ("itemprop", "data-testid", "data-component", "role"):
        value = attrs.get(name)
        if value and len(value) <= 40 and not re.search(r"\d{3,}", value):
            found.append(f'{tag}[{name}="{_escape(value)}"]')
    found += [f"{tag}.{cls}" for cls in _stable_classes(node)]
    if tag in ("article", "main", "h1", "time"):
        found.append(tag)
    return found


def best_selector(page: Page, node: LexborNode, allow_many: bool = False) -> str | None:
    """The first stable selector whose first match is `node` (or, with allow_many, that
    matches `node` among others); falls back to a parent-anchored selector."""
    for selector in selector_candidates(node):
        matches = page.css(selector)
        if matches and (matches[0].mem_id == node.mem_id or
                        (allow_many and any(m.mem_id == node.mem_id for m in matches))):
            return selector
    parent = node.parent
    if parent is not None and parent.tag not in (None, "html", "-undef"):
        for anchor in selector_candidates(parent):
            selector = f"{anchor} > {node.tag}"
            matches = page.css(selector)
            if matches and matches[0].mem_id == node.mem_id:
                return selector
    return None


# ------------------------------------------------------------------ title

_TITLE_META = ("og:title", "twitter:title", "title", "headline", "sailthru.title", "parsely-title")


def find_title(page: Page, title: str) -> tuple[list[str], list[str]]:
    """Fallbacks that yield exactly `title`, and a clean-up regex when only a suffixed
    form (\"Title | Site\") exists."""
    wanted = " ".join(title.split())
    fallbacks: list[str] = []
    for node in page.css("h1, h2, [itemprop=headline]"):
        if node_text(node) == wanted:
            selector = best_selector(page, node)
            if selector:
                fallbacks.append(selector)
                break
    for name in _TITLE_META:
        if page.meta_value(name) and " ".join(page.meta_value(name).split()) == wanted:
            fallbacks.append(f"meta:{name}")
            break
    for obj in page.jsonld_objects():
        if isinstance(obj.get("headline"), str) and " ".join(obj["headline"].split()) == wanted:
            fallbacks.append(f"jsonld:{_type_of(obj)}.headline")
            break
    if fallbacks:
        return fallbacks, []
    for name in _TITLE_META:  # "Title | Site": keep the prefix
        value = " ".join((page.meta_value(name) or "").split())
        if value.startswith(wanted) and len(value) > len(wanted):
            suffix = value[len(wanted):].strip()
            return [f"meta:{name}"], [r"\s*[|\-–—:]\s*" + re.escape(suffix.lstrip("|-–—: ")) + "$"]
    return [], []


def _type_of(obj: dict) -> str:
    declared = obj.get("@type")
    return declared if isinstance(declared, str) and re.fullmatch(r"\w+", declared) else "*"


# ------------------------------------------------------------------ date

def find_date(page: Page, published: datetime | None, timezone: str) -> list[str]:
    """Fallbacks whose value parses to `published` (or, without it, to any date)."""
    if published is not None and published.tzinfo is None:
        published = published.replace(tzinfo=dates.zone(timezone))  # as extraction will read it
    def fits(text: str | None) -> bool:
        moment = dates.parse_date(text, dates.DEFAULT_FORMATS, timezone) if text else None
        return moment is not None and (published is None or moment == published)

    found: list[str] = []
    for obj in page.jsonld_objects():
        if fits(obj.get("datePublished") if isinstance(obj.get("datePublished"), str) else None):
            found.append(f"jsonld:{_type_of(obj)}.datePublished")
            break
    metas = page.meta_items()
    names = [name for name in metas if _DATE_META.search(name) and not _LATER_DATE.search(name)]
    names.sort(key=lambda name: "publish" not in name.lower())
    for name in names:
        if fits(metas[name]):
            found.append(f"meta:{name}")
            break
    for node in page.css("time[datetime]"):
        if fits(node.attributes.get("datetime")):
            selector = best_selector(page, node) or "time"
            found.append(f"{selector} @datetime")
            break
    return found


# ------------------------------------------------------------------ body

def _wanted_nodes(page: Page, paragraphs: list[str]) -> dict[int, LexborNode]:
    """For each wanted paragraph, the deepest element whose text is exactly it; failing
    that, the smallest element whose text contains its opening words."""
    wanted = {" ".join(p.split()) for p in paragraphs}
    blocks = [(node, node_text(node)) for node in page.css(_BLOCKS)]
    chosen: dict[str, LexborNode] = {}
    for node, text in blocks:
        if text in wanted:
            chosen[text] = node  # later (deeper or later in the page) wins; deeper is what we want
    for paragraph in wanted - set(chosen):
        probe = paragraph[:60]
        holders = [(len(text), node) for node, text in blocks if probe in text]
        if holders:
            chosen[paragraph] = min(holders, key=lambda pair: pair[0])[1]
    return {node.mem_id: node for node in chosen.values()}


def _ancestors(node: LexborNode) -> list[LexborNode]:
    chain = []
    parent = node.parent
    while parent is not None and parent.tag not in ("html", None):
        chain.append(parent)
        parent = parent.parent
    return chain


def find_container(page: Page, nodes: list[LexborNode]) -> LexborNode | None:
    """The deepest ancestor holding at least 80% of the wanted paragraphs."""
    if not nodes:
        return None
    counts: dict[int, int] = {}
    by_id: dict[int, LexborNode] = {}
    depth: dict[int, int] = {}
    for node in nodes:
        chain = _ancestors(node)
        for level, ancestor in enumerate(chain):
            counts[ancestor.mem_id] = counts.get(ancestor.mem_id, 0) + 1
            by_id[ancestor.mem_id] = ancestor
            depth[ancestor.mem_id] = len(chain) - level
    need = max(1, int(0.8 * len(nodes) + 0.999))
    holding = [mem_id for mem_id, count in counts.items() if count >= need]
    if not holding:
        return None
    return by_id[max(holding, key=lambda mem_id: depth[mem_id])]


def _strip_candidate(page: Page, extra: LexborNode, container: LexborNode, wanted_ids: set[int]) -> str | None:
    """The outermost ancestor of an unwanted block, inside the container, that holds nothing wanted."""
    best = None
    node = extra
    while node is not None and node.mem_id != container.mem_id:
        inside = {n.mem_id for n in page.css(_BLOCKS, node)} | {node.mem_id}
        if inside & wanted_ids:
            break
        if _stable_classes(node) or node.tag in ("aside", "figure", "figcaption", "nav", "footer", "form"):
            best = node
        node = node.parent
    if best is None:
        return None
    classes = _stable_classes(best)
    return f"{best.tag}.{classes[0]}" if classes else best.tag


_TAG_ORDER = ("p", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "div", "span", "td")


def _tag_rank(tag: str) -> int:
    return _TAG_ORDER.index(tag) if tag in _TAG_ORDER else len(_TAG_ORDER)


def paragraph_selector(nodes: list[LexborNode]) -> str:
    """Tag names for p/h2/li...; generic div/span blocks need a shared class or attribute."""
    parts = []
    for tag in sorted({n.tag for n in nodes}, key=_tag_rank):
        if tag not in ("div", "span", "td"):
            parts.append(tag)
            continue
        group = [n for n in nodes if n.tag == tag]
        shared = set(_stable_classes(group[0]))
        for node in group[1:]:
            shared &= set(_stable_classes(node))
        if shared:
            parts.append(f"{tag}.{min(shared)}")
            continue
        for name in ("data-testid", "data-component", "class"):
            values = [n.attributes.get(name) or "" for n in group]
            prefix = _common_prefix(values)
            if len(prefix) >= 4:
                parts.append(f'{tag}[{name}^="{_escape(prefix)}"]')
                break
    return ", ".join(parts) or "p"


def _common_prefix(values: list[str]) -> str:
    prefix = values[0] if values else ""
    for value in values[1:]:
        while not value.startswith(prefix):
            prefix = prefix[:-1]
    return prefix


def infer_body(html: str, url: str, wanted: Wanted, draft: Draft) -> None:
    page = Page(html, url)
    nodes = list(_wanted_nodes(page, wanted.paragraphs).values())
    container = find_container(page, nodes)
    if container is None:
        return
    draft.container = best_selector(page, container, allow_many=True)
    inside = [n for n in nodes if container.mem_id in {a.mem_id for a in _ancestors(n)}]
    draft.paragraphs = paragraph_selector(inside)
    outside_first = [n for n in nodes if n not in inside and wanted.paragraphs and
                     node_text(n) == " ".join(wanted.paragraphs[0].split())]
    if outside_first:
        selector = best_selector(page, outside_first[0])
        if selector:
            draft.summary.append(selector)
    # Unwanted blocks inside the container become strip rules.
    wanted_texts = {" ".join(p.split()) for p in wanted.paragraphs}
    wanted_ids = {n.mem_id for n in inside}
    for block in page.css(draft.paragraphs, container):
        text = node_text(block)
        if text and text not in wanted_texts and not any(text in w for w in wanted_texts):
            candidate = _strip_candidate(page, block, container, wanted_ids)
            if candidate and candidate not in draft.strip:
                draft.strip.append(candidate)


# ------------------------------------------------------------------ the draft file

def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(_toml_string(v) for v in values) + "]"


def _toml_string(value: str) -> str:
    if "'" not in value and "\n" not in value:
        return f"'{value}'"
    return json.dumps(value, ensure_ascii=False)


def render(draft: Draft, name: str, domain: str, language: str, timezone: str, source: str) -> str:
    lines = [f"# Drafted by `newscrawl selectors infer` from {source}. Review before use.",
             f"domains = {_toml_list([domain])}", f"language = {_toml_string(language)}",
             f"timezone = {_toml_string(timezone)}", ""]
    if draft.title_clean:
        lines.append(f"title = {{ from = {_toml_list(draft.title)}, clean = {_toml_list(draft.title_clean)} }}")
    else:
        lines.append(f"title = {_toml_list(draft.title or ['h1'])}")
    lines += ["", "[body]", f"from = {_toml_list([draft.container or 'article'])}",
              f"paragraphs = {_toml_string(draft.paragraphs)}"]
    if draft.summary:
        lines.append(f"summary = {_toml_list(draft.summary)}")
    if draft.strip:
        lines.append(f"strip = {_toml_list(draft.strip)}")
    if draft.dateline:
        lines += ["", "[dateline]", f"from = {_toml_list(draft.dateline)}"]
    # No `verified` line: a file the user adds is crawled without --site (bundled files that
    # were never checked against their live site say `verified = false` and are skipped).
    lines += ["", "[crawl]", "# fill in sections, links and article_url by hand"]
    return "\n".join(lines) + "\n"


def infer(html: str, url: str, wanted: Wanted, *, name: str, domain: str, language: str = "en",
          timezone: str = "UTC", source: str = "a saved page") -> str:
    """Draft a selector file (TOML text) that extracts `wanted` from the page."""
    page = Page(html, url)
    draft = Draft()
    if wanted.title:
        draft.title, draft.title_clean = find_title(page, wanted.title)
    draft.dateline = find_date(page, wanted.published, timezone)
    infer_body(html, url, wanted, draft)
    _prune_strip(html, url, wanted, draft, name, domain, language, timezone, source)
    return render(draft, name, domain, language, timezone, source)


def _prune_strip(html, url, wanted, draft, *args) -> None:
    """Keep only the strip rules that do not lower recall on this page."""
    for rule in list(draft.strip):
        trial = Draft(**{**draft.__dict__, "strip": [r for r in draft.strip if r != rule]})
        with_rule = score_draft(html, url, wanted, draft, *args)
        without = score_draft(html, url, wanted, trial, *args)
        if without.f1 >= with_rule.f1:
            draft.strip.remove(rule)


def load_draft(text: str, name: str):
    """Validate draft TOML text with the real loader (so a draft is never an invalid file)."""
    import tomllib
    from pathlib import Path

    return _Reader(Path(f"<draft {name}>")).site(tomllib.loads(text), name, Path(f"{name}.toml"))


def score_draft(html, url, wanted, draft, name, domain, language, timezone, source) -> BodyScore:
    site = load_draft(render(draft, name, domain, language, timezone, source), name)
    return score_body(extract_page(html, url, site).body, "\n\n".join(wanted.paragraphs))
