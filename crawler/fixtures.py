"""Fixture pages: `fixtures/<site>/<name>.html[.gz]`, a `<name>.meta.json` sidecar with the
URL and fetch time, and `<name>.json`, the approved record. Check them, or approve them."""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .extraction import extract_page
from .pages import page_stem, read_html, read_sidecar
from .record import MISSING
from .sites import SiteRegistry

DEFAULT_FIXTURES_DIR = Path("fixtures")


@dataclass
class FixtureResult:
    site: str
    html_path: Path
    approved_path: Path
    record: dict[str, Any]
    differences: list[str]  # readable per-field diff; empty when it matches
    is_new: bool = False

    @property
    def ok(self) -> bool:
        return not self.differences


def fixture_pages(fixtures_dir: Path, site: str | None = None) -> list[tuple[str, Path]]:
    folders = [fixtures_dir / site] if site else sorted(p for p in fixtures_dir.iterdir() if p.is_dir())
    pages = []
    for folder in folders:
        for path in sorted(folder.iterdir()):
            if path.name.endswith((".html", ".html.gz", ".htm")):
                pages.append((folder.name, path))
    return pages


def check_fixture(site_name: str, html_path: Path, registry: SiteRegistry) -> FixtureResult:
    site = registry.by_name(site_name)
    sidecar = read_sidecar(html_path)
    if not sidecar.url:
        raise ValueError(f"{html_path}: no URL; write {page_stem(html_path)}.meta.json with "
                         '{"url": ..., "fetched_at": ...}')
    record = extract_page(read_html(html_path), sidecar.url, site, fetched_at=sidecar.fetched_at).to_dict()
    approved_path = html_path.with_name(page_stem(html_path) + ".json")
    if not approved_path.is_file():
        return FixtureResult(site_name, html_path, approved_path, record,
                             ["no approved record yet: review the extraction, then run with --update",
                              *describe_record(record)], is_new=True)
    approved = json.loads(approved_path.read_text("utf-8"))
    return FixtureResult(site_name, html_path, approved_path, record, diff_records(approved, record))


# Record fields in the order they are shown, each with the provenance key that explains it.
FIELD_PROVENANCE = {"title": "title", "dateline": "dateline", "section": "section",
                    "authors": "authors", "source": "source", "related": "related",
                    "paragraphs": "body", "body": "body"}
LINE_WIDTH = 100  # a shown value or paragraph longer than this is shortened
DIFF_CONTEXT = 2  # unchanged paragraphs shown around a change


def diff_records(approved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What changed, most telling first: one line per changed field with the fallback that
    gave it before and now (`body: div.article-body → missing`), then a compact diff of each
    changed value. Empty when the records are the same."""
    if approved == current:
        return []
    return provenance_changes(approved, current) + value_diffs(approved, current)


def provenance_changes(approved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    before, after = approved.get("provenance") or {}, current.get("provenance") or {}
    lines = []
    if before.get("layout") != after.get("layout"):
        lines.append(f"layout: {before.get('layout', MISSING)} → {after.get('layout', MISSING)}")
    for provenance_key in dict.fromkeys(FIELD_PROVENANCE.values()):
        keys = [key for key, explained_by in FIELD_PROVENANCE.items() if explained_by == provenance_key]
        value_changed = any(approved.get(key) != current.get(key) for key in keys)
        old, new = before.get(provenance_key, MISSING), after.get(provenance_key, MISSING)
        if old != new:
            lines.append(f"{provenance_key}: {old} → {new}")
        elif value_changed:
            lines.append(f"{provenance_key}: {old} (same fallback, different value)")
    for key in sorted(set(approved) | set(current)):  # fields no selector gives: url, language ...
        if key in FIELD_PROVENANCE or key in ("provenance", "content_hash"):
            continue
        if approved.get(key) != current.get(key):
            lines.append(f"{key}: {_shorten(repr(approved.get(key)))} → {_shorten(repr(current.get(key)))}")
    if not lines and approved.get("content_hash") != current.get("content_hash"):
        lines.append("content_hash: changed")
    return lines


def value_diffs(approved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Per changed field: `- old` / `+ new`; lists (paragraphs, authors, related links) as a
    unified diff of their items with a little context; long lines shortened."""
    blocks = []
    for key in FIELD_PROVENANCE:
        before, after = approved.get(key), current.get(key)
        if before == after or key == "body":  # body repeats the paragraphs: diffed once
            continue
        if isinstance(before, list) or isinstance(after, list):
            lines = list_diff([_item_text(item) for item in before or []],
                              [_item_text(item) for item in after or []])
        elif isinstance(before, dict) or isinstance(after, dict):
            lines = [line for part in sorted(set(before or {}) | set(after or {}))
                     if (before or {}).get(part) != (after or {}).get(part)
                     for line in (f"{part}:", *_pair((before or {}).get(part), (after or {}).get(part)))]
        else:
            lines = _pair(before, after)
        blocks.append(f"{key}:\n" + "\n".join("  " + line for line in lines))
    return blocks


def list_diff(old: list[str], new: list[str], context: int = DIFF_CONTEXT) -> list[str]:
    """A unified diff of two lists of lines (difflib's grouping), without file headers; a
    replaced line is shortened around the place where it starts to differ."""
    lines = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        lines.append(f"@@ {first[1] + 1}-{last[2]} → {first[3] + 1}-{last[4]} @@")
        for tag, old_start, old_end, new_start, new_end in group:
            if tag == "equal":
                lines.extend("  " + _shorten(text) for text in old[old_start:old_end])
                continue
            removed, added = old[old_start:old_end], new[new_start:new_end]
            if tag == "replace":
                pairs = [shorten_pair(a, b) for a, b in zip(removed, added)]
                removed = [a for a, _ in pairs] + [_shorten(a) for a in removed[len(pairs):]]
                added = [b for _, b in pairs] + [_shorten(b) for b in added[len(pairs):]]
            else:
                removed, added = [_shorten(a) for a in removed], [_shorten(b) for b in added]
            lines.extend("- " + text for text in removed)
            lines.extend("+ " + text for text in added)
    return lines


def shorten_pair(old: str, new: str, width: int = LINE_WIDTH) -> tuple[str, str]:
    """Two versions of a long line, each cut to `width` around where they start to differ, so
    the change stays in view ('…the same start, then the change…')."""
    if len(old) <= width and len(new) <= width:
        return old, new
    common = len(os.path.commonprefix([old, new]))
    start = max(0, common - width // 4)
    return _window(old, start, width), _window(new, start, width)


def _window(text: str, start: int, width: int) -> str:
    head = "…" if start > 0 else ""
    piece = text[start:start + width]
    return head + piece + ("…" if start + width < len(text) else "")


def _shorten(text: str, width: int = LINE_WIDTH) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _pair(before: Any, after: Any) -> list[str]:
    old, new = repr(before), repr(after)
    if isinstance(before, str) and isinstance(after, str):
        old, new = shorten_pair(old, new)
    else:
        old, new = _shorten(old), _shorten(new)
    return [f"- {old}", f"+ {new}"]


def _item_text(item: Any) -> str:
    return item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)


def describe_record(record: dict[str, Any]) -> list[str]:
    """A new fixture's extraction, compactly, for review: each field's value with the fallback
    that gave it (or `missing`), then the paragraphs one line each."""
    provenance = record.get("provenance") or {}

    def given_by(name: str) -> str:
        return provenance.get(name, MISSING)

    dateline = record.get("dateline") or {}
    printed = dateline.get("text")
    date_text = " ".join(part for part in (
        dateline.get("published"),
        repr(printed) if printed and printed != dateline.get("published") else None,  # as printed
        f"in {dateline['place']}" if dateline.get("place") else None) if part) or "-"
    related = record.get("related") or []
    paragraphs = record.get("paragraphs") or []
    rows = [("url", record.get("url"), None), ("layout", provenance.get("layout", "-"), None),
            ("title", record.get("title"), given_by("title")),
            ("dateline", date_text, given_by("dateline")),
            ("section", record.get("section"), given_by("section")),
            ("authors", ", ".join(record.get("authors") or []) or None, given_by("authors")),
            ("source", record.get("source"), given_by("source")),
            ("related", f"{len(related)} link{'' if len(related) == 1 else 's'}" if related else None,
             given_by("related")),
            ("body", f"{len(paragraphs)} paragraph{'' if len(paragraphs) == 1 else 's'}", given_by("body"))]
    lines = [f"{name:<9} {'-' if value is None else value}" for name, value, _ in rows[:1]]  # the URL whole
    lines += [_shorten(f"{name:<9} {'-' if value is None else value}") + (f"  ← {source}" if source else "")
              for name, value, source in rows[1:]]
    lines += ["  " + _shorten(f"related: {link.get('title')} ({link.get('url')})") for link in related]
    lines += [f"  | {_shorten(text)}" for text in paragraphs]
    return lines


def approve(result: FixtureResult) -> None:
    result.approved_path.write_text(json.dumps(result.record, indent=1, ensure_ascii=False) + "\n", "utf-8")
