"""Selector files: the schema, validation on load, and lookup by host.

A selector file is TOML. Top-level field keys are the defaults for every layout; each
`[[layout]]` overrides them for pages its `when` marker matches (or, without a marker,
for pages whose body it finds). See the README for a complete commented example.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from selectolax.lexbor import LexborHTMLParser, SelectolaxError

from . import dates
from .addresses import PrivateAllowance
from .errors import ConfigError, UnknownSiteError

DEFAULT_SELECTORS_DIR = Path("selectors")
SITE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
DEFAULT_PARAGRAPHS = "p, h2, h3, h4, h5, h6, li, blockquote, pre"
# `required = [...]`, at the top level or per layout: the fields an article must have.
REQUIRABLE_FIELDS = ("title", "body", "dateline", "authors", "source", "related", "section")
DEFAULT_REQUIRED = ("title", "body")

# ---------------------------------------------------------------- the parsed form


@dataclass(frozen=True)
class Fallback:
    """One way to find a value: a CSS selector (text or @attribute), a <meta>, or JSON-LD."""

    kind: str  # "css" | "meta" | "jsonld"
    target: str  # selector, meta name, or JSON-LD path
    attribute: str | None = None
    spec: str = ""  # as written in the file, for provenance

    @property
    def jsonld_path(self) -> tuple[str, list[str]]:
        type_name, _, rest = self.target.partition(".")
        return type_name, rest.split(".") if rest else []


@dataclass(frozen=True)
class FieldRule:
    """An ordered fallback list plus optional clean-up regexes."""

    fallbacks: tuple[Fallback, ...] = ()
    clean: tuple[re.Pattern[str], ...] = ()
    pattern: re.Pattern[str] | None = None  # keep only this regex's "value" group (or group 1)
    split: re.Pattern[str] | None = None  # list fields: split one string, then clean each part


@dataclass(frozen=True)
class BodyRule:
    containers: tuple[Fallback, ...] = ()
    paragraphs: str = DEFAULT_PARAGRAPHS
    summary: tuple[Fallback, ...] = ()
    strip: tuple[str, ...] = ()
    clean: tuple[re.Pattern[str], ...] = ()
    drop: tuple[re.Pattern[str], ...] = ()
    # Empty elements a site uses instead of <br> (e.g. <span class="br">): read as a space.
    breaks: str | None = None


@dataclass(frozen=True)
class DatelineRule:
    rule: FieldRule = FieldRule()
    formats: tuple[str, ...] = dates.DEFAULT_FORMATS
    place: re.Pattern[str] | None = None


@dataclass(frozen=True)
class RelatedRule:
    container: str = ""
    item: str = "li"
    title: tuple[Fallback, ...] = ()
    url: tuple[Fallback, ...] = ()
    dateline: tuple[Fallback, ...] = ()


@dataclass(frozen=True)
class Layout:
    name: str
    when: str | None
    title: FieldRule
    section: FieldRule
    authors: FieldRule
    source: FieldRule
    body: BodyRule
    dateline: DatelineRule
    related: RelatedRule | None
    strip: tuple[str, ...]
    # Fields that must come out non-empty, or the article is a failed extraction (not written).
    required: tuple[str, ...] = DEFAULT_REQUIRED


@dataclass(frozen=True)
class Politeness:
    min_delay: float | None = None
    jitter: float | None = None
    concurrency: int | None = None
    retry_after_cap: float | None = None
    timeout: float | None = None
    max_retries: int | None = None
    backoff_base: float | None = None
    backoff_max: float | None = None
    slow_response: float | None = None


@dataclass(frozen=True)
class CrawlRule:
    sections: dict[str, str] = field(default_factory=dict)
    links: str = "a[href]"
    article_url: re.Pattern[str] | None = None
    next_page: tuple[Fallback, ...] = ()
    max_pages: int = 3
    render: str = "browser"
    wait_for: str | None = None
    allow_private: PrivateAllowance = field(default_factory=PrivateAllowance)
    # True or False in the bundled files (their section URLs checked against the live site, or
    # not); None when the file has no `verified` line: a file of the user's own, crawled as theirs.
    verified: bool | None = None
    politeness: Politeness = Politeness()


@dataclass(frozen=True)
class Site:
    name: str
    path: Path
    domains: tuple[str, ...]
    language: str
    timezone: str
    layouts: tuple[Layout, ...]
    crawl: CrawlRule

    def serves(self, host: str) -> bool:
        return self.match_length(host) > 0

    def match_length(self, host: str) -> int:
        """Length of the longest of our domains that `host` is or is under; 0 if none."""
        host = host.lower().rstrip(".")
        return max((len(d) for d in self.domains if host == d or host.endswith("." + d)), default=0)


# ---------------------------------------------------------------- schema and validation

FIELD_KEYS = {"from", "clean", "pattern", "split"}
BODY_KEYS = {"from", "paragraphs", "summary", "strip", "clean", "drop", "breaks"}
DATELINE_KEYS = FIELD_KEYS | {"formats", "place"}
RELATED_KEYS = {"container", "item", "title", "url", "dateline"}
LAYOUT_KEYS = {"title", "section", "authors", "source", "body", "dateline", "related", "strip", "required"}
SITE_KEYS = LAYOUT_KEYS | {"name", "domains", "language", "timezone", "layout", "crawl", "test_url"}
CRAWL_KEYS = {"sections", "links", "article_url", "next_page", "max_pages", "render",
              "wait_for", "allow_private", "verified", "politeness"}
POLITENESS_KEYS = {f.name for f in fields(Politeness)}

_probe_document = LexborHTMLParser("<html><body></body></html>")


class _Reader:
    """Validates one file; every error names the file, the dotted key and, where the file's
    text is at hand, the line the key is written on (`selectors/x.toml:12: body.paragraph`)."""

    def __init__(self, path: Path, text: str | None = None):
        self.file = str(path)
        self.text = text

    def fail(self, key: str, problem: str, line: int | None = None) -> ConfigError:
        if line is None and self.text is not None:
            line = key_line(self.text, key)
        return ConfigError(f"{self.file}:{line}" if line else self.file, key, problem)

    def check_keys(self, table: dict, allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                hint = difflib.get_close_matches(key, sorted(allowed), n=1)
                suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
                raise self.fail(_join(where, key), f"unknown key{suggestion}")

    def typed(self, value: Any, kind: type | tuple, key: str, what: str) -> Any:
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise self.fail(key, f"expected {what}, got a boolean")
        if not isinstance(value, kind):
            raise self.fail(key, f"expected {what}, got {type(value).__name__}")
        return value

    def strings(self, value: Any, key: str) -> list[str]:
        if isinstance(value, str):
            value = [value]
        self.typed(value, list, key, "a string or a list of strings")
        for index, item in enumerate(value):
            self.typed(item, str, f"{key}[{index}]", "a string")
        return value

    def allowance(self, value: Any) -> PrivateAllowance:
        key = "crawl.allow_private"
        if not isinstance(value, bool):
            self.strings(value, key)
        try:
            return PrivateAllowance.parse(value)
        except ValueError as exc:
            raise self.fail(key, f"expected true, false or a list of addresses or networks ({exc})") from None

    def css(self, selector: Any, key: str) -> str:
        self.typed(selector, str, key, "a CSS selector string")
        if not selector.strip():
            raise self.fail(key, "empty CSS selector")
        try:
            _probe_document.css(selector)
        except (SelectolaxError, ValueError) as exc:
            raise self.fail(key, f"CSS selector {selector!r} does not compile ({exc})") from None
        return selector

    def regex(self, value: Any, key: str) -> re.Pattern[str]:
        self.typed(value, str, key, "a regular expression string")
        try:
            return re.compile(value)
        except re.error as exc:
            raise self.fail(key, f"bad regex {value!r}: {exc}") from None

    def regexes(self, value: Any, key: str) -> tuple[re.Pattern[str], ...]:
        return tuple(self.regex(v, f"{key}[{i}]") for i, v in enumerate(self.strings(value, key)))

    def fallback(self, spec: str, key: str) -> Fallback:
        if spec.startswith("meta:"):
            name = spec[5:].strip()
            if not name:
                raise self.fail(key, "meta: needs a property name, e.g. meta:og:title")
            return Fallback("meta", name, spec=spec)
        if spec.startswith("jsonld:"):
            path = spec[7:].strip()
            if not re.fullmatch(r"[\w*@-]+(\.[\w@-]+)*", path):
                raise self.fail(key, f"bad JSON-LD path {path!r}; write e.g. jsonld:NewsArticle.datePublished")
            return Fallback("jsonld", path, spec=spec)
        selector, attribute = spec, None
        found = re.search(r"\s@([\w:-]+)\s*$", spec)
        if found:
            selector, attribute = spec[: found.start()], found.group(1)
        return Fallback("css", self.css(selector.strip(), key), attribute, spec=spec)

    def fallbacks(self, value: Any, key: str) -> tuple[Fallback, ...]:
        return tuple(self.fallback(s, f"{key}[{i}]") for i, s in enumerate(self.strings(value, key)))

    def field_rule(self, value: Any, key: str, allowed: set[str] = FIELD_KEYS) -> FieldRule:
        if not isinstance(value, dict):
            return FieldRule(self.fallbacks(value, key))
        self.check_keys(value, allowed, key)
        if "from" not in value:
            raise self.fail(_join(key, "from"), "missing required key")
        return FieldRule(
            fallbacks=self.fallbacks(value["from"], _join(key, "from")),
            clean=self.regexes(value.get("clean", []), _join(key, "clean")),
            pattern=self.regex(value["pattern"], _join(key, "pattern")) if "pattern" in value else None,
            split=self.regex(value["split"], _join(key, "split")) if "split" in value else None,
        )

    def body_rule(self, value: Any, key: str) -> BodyRule:
        if not isinstance(value, dict):
            return BodyRule(containers=self.fallbacks(value, key))
        self.check_keys(value, BODY_KEYS, key)
        if "from" not in value:
            raise self.fail(_join(key, "from"), "missing required key")
        return BodyRule(
            containers=self.fallbacks(value["from"], _join(key, "from")),
            paragraphs=self.css(value.get("paragraphs", DEFAULT_PARAGRAPHS), _join(key, "paragraphs")),
            summary=self.fallbacks(value.get("summary", []), _join(key, "summary")),
            strip=self.css_list(value.get("strip", []), _join(key, "strip")),
            clean=self.regexes(value.get("clean", []), _join(key, "clean")),
            drop=self.regexes(value.get("drop", []), _join(key, "drop")),
            breaks=self.css(value["breaks"], _join(key, "breaks")) if "breaks" in value else None,
        )

    def css_list(self, value: Any, key: str) -> tuple[str, ...]:
        return tuple(self.css(s, f"{key}[{i}]") for i, s in enumerate(self.strings(value, key)))

    def dateline_rule(self, value: Any, key: str) -> DatelineRule:
        if not isinstance(value, dict):
            return DatelineRule(rule=self.field_rule(value, key))
        self.check_keys(value, DATELINE_KEYS, key)
        formats = tuple(self.strings(value.get("formats", list(dates.DEFAULT_FORMATS)), _join(key, "formats")))
        for index, fmt in enumerate(formats):
            problem = dates.check_format(fmt)
            if problem:
                raise self.fail(f"{_join(key, 'formats')}[{index}]", f"{fmt!r}: {problem}")
        base = {k: v for k, v in value.items() if k in FIELD_KEYS}
        return DatelineRule(
            rule=self.field_rule(base, key),
            formats=formats,
            place=self.regex(value["place"], _join(key, "place")) if "place" in value else None,
        )

    def related_rule(self, value: Any, key: str) -> RelatedRule:
        self.typed(value, dict, key, "a table")
        self.check_keys(value, RELATED_KEYS, key)
        if "container" not in value:
            raise self.fail(_join(key, "container"), "missing required key")
        return RelatedRule(
            container=self.css(value["container"], _join(key, "container")),
            item=self.css(value.get("item", "li"), _join(key, "item")),
            title=self.fallbacks(value.get("title", "a"), _join(key, "title")),
            url=self.fallbacks(value.get("url", "a @href"), _join(key, "url")),
            dateline=self.fallbacks(value.get("dateline", []), _join(key, "dateline")),
        )

    def layout(self, defaults: dict, table: dict, key: str, name: str) -> Layout:
        """One layout: its `table` over the top-level `defaults`. An error names the key where
        it is written: `layout[0].body` for the layout's own, `body` for an inherited one."""
        merged = {**defaults, **table}

        def at(field_name: str) -> str:
            inherited = field_name in defaults and field_name not in table
            return _join("" if inherited else key, field_name)

        if "body" not in merged:
            raise self.fail(at("body"), "missing required key")
        if "title" not in merged:
            raise self.fail(at("title"), "missing required key")
        when = merged.get("when")
        return Layout(
            name=name,
            when=self.css(when, at("when")) if when is not None else None,
            title=self.field_rule(merged["title"], at("title")),
            section=self.field_rule(merged.get("section", []), at("section")),
            authors=self.field_rule(merged.get("authors", []), at("authors")),
            source=self.field_rule(merged.get("source", []), at("source")),
            body=self.body_rule(merged["body"], at("body")),
            dateline=self.dateline_rule(merged.get("dateline", []), at("dateline")),
            related=self.related_rule(merged["related"], at("related")) if "related" in merged else None,
            strip=self.css_list(merged.get("strip", []), at("strip")),
            required=self.required(merged.get("required", list(DEFAULT_REQUIRED)), at("required")),
        )

    def required(self, value: Any, key: str) -> tuple[str, ...]:
        names = self.strings(value, key)
        for index, name in enumerate(names):
            if name not in REQUIRABLE_FIELDS:
                raise self.fail(f"{key}[{index}]", f"{name!r} is not a field; one of "
                                + ", ".join(REQUIRABLE_FIELDS))
        return tuple(dict.fromkeys(names))

    def crawl_rule(self, value: Any) -> CrawlRule:
        self.typed(value, dict, "crawl", "a table")
        self.check_keys(value, CRAWL_KEYS, "crawl")
        sections = self.typed(value.get("sections", {}), dict, "crawl.sections", "a table of name = URL")
        for section_name, url in sections.items():
            self.typed(url, str, f"crawl.sections.{section_name}", "a URL string")
            if not re.match(r"https?://[^/\s]+", url):
                raise self.fail(f"crawl.sections.{section_name}", f"{url!r} is not an http(s) URL")
        render = value.get("render", "browser")
        if render not in ("browser", "http"):
            raise self.fail("crawl.render", f"must be \"browser\" or \"http\", not {render!r}")
        max_pages = self.typed(value.get("max_pages", 3), int, "crawl.max_pages", "an integer")
        if max_pages < 1:
            raise self.fail("crawl.max_pages", "must be at least 1")
        polite = self.typed(value.get("politeness", {}), dict, "crawl.politeness", "a table")
        self.check_keys(polite, POLITENESS_KEYS, "crawl.politeness")
        numbers = {}
        for name, number in polite.items():
            kind = int if name in ("concurrency", "max_retries") else (int, float)
            numbers[name] = self.typed(number, kind, f"crawl.politeness.{name}", "a number")
            if numbers[name] < 0 or (name == "concurrency" and numbers[name] < 1):
                raise self.fail(f"crawl.politeness.{name}", "out of range")
        wait_for = value.get("wait_for")
        verified = value.get("verified")
        return CrawlRule(
            sections=dict(sections),
            links=self.css(value.get("links", "a[href]"), "crawl.links"),
            article_url=self.regex(value["article_url"], "crawl.article_url") if "article_url" in value else None,
            next_page=self.fallbacks(value.get("next_page", []), "crawl.next_page"),
            max_pages=max_pages,
            render=render,
            wait_for=self.css(wait_for, "crawl.wait_for") if wait_for is not None else None,
            allow_private=self.allowance(value.get("allow_private", False)),
            verified=None if verified is None else self.typed(verified, bool, "crawl.verified", "true or false"),
            politeness=Politeness(**numbers),
        )

    def site(self, raw: dict, stem: str, path: Path) -> Site:
        self.check_keys(raw, SITE_KEYS, "")
        name = raw.get("name", stem)
        self.typed(name, str, "name", "a string")
        if not SITE_NAME.match(name):
            raise self.fail("name", f"{name!r} must be lowercase letters, digits, '-' or '_' "
                            "(it becomes a folder name, so no '/', '..' or spaces)")
        if "domains" not in raw:
            raise self.fail("domains", "missing required key")
        domains = self.strings(raw["domains"], "domains")
        if not domains:
            raise self.fail("domains", "empty list: name at least one domain, e.g. [\"example.com\"]")
        for index, domain in enumerate(domains):
            if not re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?", domain.lower()):
                raise self.fail(f"domains[{index}]", f"{domain!r} is not a host name (no scheme or path)")
        language = self.typed(raw.get("language", "en"), str, "language", "a language code string")
        timezone = self.typed(raw.get("timezone", "UTC"), str, "timezone", "an IANA timezone name")
        try:
            dates.zone(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail("timezone", f"unknown timezone {timezone!r}; use an IANA name like Europe/Berlin") from None
        defaults = {k: v for k, v in raw.items() if k in LAYOUT_KEYS}
        layout_tables = self.typed(raw.get("layout", []), list, "layout", "an array of [[layout]] tables")
        layouts = []
        for index, table in enumerate(layout_tables):
            key = f"layout[{index}]"
            self.typed(table, dict, key, "a table")
            self.check_keys(table, LAYOUT_KEYS | {"name", "when"}, key)
            layout_name = self.typed(table.get("name", str(index)), str, _join(key, "name"), "a string")
            layouts.append(self.layout(defaults, table, key, layout_name))
        if not layouts:
            layouts.append(self.layout(defaults, {}, "", "default"))
        return Site(
            name=name, path=path, domains=tuple(d.lower() for d in domains), language=language,
            timezone=timezone, layouts=tuple(layouts),
            crawl=self.crawl_rule(raw.get("crawl", {})),
        )


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


# ---------------------------------------------------------------- where a key is written

_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED_KEY = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_TABLE_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED_KEY})\s*\]")
_ASSIGNMENT = re.compile(rf"^\s*({_DOTTED_KEY})\s*=")
_TOML_LINE = re.compile(r"at line (\d+)")


def _key_parts(dotted: str) -> list[str]:
    return [part.strip("\"'") for part in re.findall(_KEY_PART, dotted)]


def key_line(text: str, key: str) -> int | None:
    """The line (1-based) of a TOML text where the dotted `key` of an error is written, e.g.
    `layout[1].body.from[0]`: its own `key =` line; else the line of the nearest table or inline
    table around it (a missing key is reported where its table starts); None when nothing in
    the file holds it. tomllib reports no positions once a file has parsed, so this reads the
    text: table headers (`[[layout]]` counted, so `layout[1]` is the second) and assignments."""
    wanted = re.findall(r"[^.\[\]]+(?:\[\d+\])?", key)
    if not wanted or key.startswith("("):
        return None
    arrays: dict[tuple[str, ...], int] = {}  # array-of-tables path -> index of its last table
    table: list[str] = []
    best_line, best_depth = None, 0
    in_multiline_string = False
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline_string:
            in_multiline_string = (line.count("'''") + line.count('"""')) % 2 == 0
            continue
        path = None
        header = _TABLE_HEADER.match(line)
        if header:
            raw = _key_parts(header.group(2))
            if header.group(1) == "[[":
                arrays[tuple(raw)] = arrays.get(tuple(raw), -1) + 1
            table = [f"{part}[{arrays[tuple(raw[:i + 1])]}]" if tuple(raw[:i + 1]) in arrays else part
                     for i, part in enumerate(raw)]
            path = table
        else:
            assignment = _ASSIGNMENT.match(line)
            if assignment:
                path = table + _key_parts(assignment.group(1))
                rest = line[assignment.end():]
                in_multiline_string = (rest.count("'''") + rest.count('"""')) % 2 == 1
        if path and len(path) > best_depth and len(path) <= len(wanted) and all(
                written in (asked, asked.split("[")[0]) for written, asked in zip(path, wanted)):
            best_line, best_depth = number, len(path)
    return best_line


def load_site(path: Path | str) -> Site:
    """Read and validate one selector file. Raises ConfigError naming file, line, key and problem."""
    path = Path(path)
    reader = _Reader(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        raise reader.fail("(syntax)", f"not valid TOML: {exc}", int(found.group(1)) if found else None) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise reader.fail("(file)", f"cannot read: {exc}") from None
    reader.text = text
    return reader.site(raw, path.stem, path)


class SiteRegistry:
    """All selector files of a folder, looked up by name or host."""

    def __init__(self, sites: list[Site]):
        self.sites = {site.name: site for site in sites}

    def by_name(self, name: str) -> Site:
        try:
            return self.sites[name]
        except KeyError:
            known = ", ".join(sorted(self.sites)) or "none"
            raise UnknownSiteError(f"no selector file for site {name!r} (known: {known})") from None

    def for_host(self, host: str) -> Site:
        matches = [site for site in self.sites.values() if site.serves(host)]
        if not matches:
            raise UnknownSiteError(
                f"no selector file serves host {host!r}; add its domain to a file in selectors/ "
                "or pass --site NAME")
        # The most specific domain wins (news.example.com over example.com).
        return max(matches, key=lambda site: site.match_length(host))


def load_registry(directory: Path | str = DEFAULT_SELECTORS_DIR) -> SiteRegistry:
    """Load and validate every `*.toml` in `directory`. Two files claiming one domain is an error."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(str(directory), "(folder)", "selector folder not found; pass --selectors DIR")
    sites: list[Site] = []
    owner: dict[str, Site] = {}
    names: dict[str, Site] = {}
    for path in sorted(directory.glob("*.toml")):
        site = load_site(path)
        if site.name in names:
            raise ConfigError(str(path), "name", f"site {site.name!r} is also defined in {names[site.name].path}")
        names[site.name] = site
        for domain in site.domains:
            if domain in owner:
                raise ConfigError(str(path), "domains", f"{domain!r} is already claimed by {owner[domain].path}")
            owner[domain] = site
        sites.append(site)
    return SiteRegistry(sites)
