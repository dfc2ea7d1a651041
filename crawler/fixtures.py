"""Fixture pages: `fixtures/<site>/<name>.html[.gz]`, a `<name>.meta.json` sidecar with the
URL and fetch time, and `<name>.json`, the approved record. Check them, or approve them."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .extraction import extract_page
from .pages import page_stem, read_html, read_sidecar
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
                             ["no approved record yet: review the extraction, then run with --update"],
                             is_new=True)
    approved = json.loads(approved_path.read_text("utf-8"))
    return FixtureResult(site_name, html_path, approved_path, record, diff_records(approved, record))


def diff_records(approved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """One readable entry per field that changed; long text gets a unified diff."""
    differences = []
    for key in sorted(set(approved) | set(current)):
        before, after = approved.get(key), current.get(key)
        if before == after or key == "body":  # body repeats paragraphs; diff it once
            continue
        if isinstance(before, (list, dict)) or isinstance(after, (list, dict)):
            old = json.dumps(before, indent=1, ensure_ascii=False).splitlines()
            new = json.dumps(after, indent=1, ensure_ascii=False).splitlines()
            lines = difflib.unified_diff(old, new, "approved", "extracted", lineterm="", n=1)
            differences.append(f"{key}:\n" + "\n".join("    " + line for line in list(lines)[2:]))
        else:
            differences.append(f"{key}:\n    - {before!r}\n    + {after!r}")
    return differences


def approve(result: FixtureResult) -> None:
    result.approved_path.write_text(json.dumps(result.record, indent=1, ensure_ascii=False) + "\n", "utf-8")
