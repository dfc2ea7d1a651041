"""Reading saved pages: .html or .html.gz, bytes in any charset, and their sidecars."""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path

_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w-]+)""", re.IGNORECASE)


def decode_html(raw: bytes, declared: str | None = None) -> str:
    """Decode page bytes: the declared charset, else <meta charset>, else UTF-8.
    Undecodable bytes become U+FFFD rather than an error."""
    if not declared and _is_utf8(raw):
        # Saved pages are often re-encoded as UTF-8 but keep their old <meta charset=GB2312>;
        # bytes that are valid UTF-8 (beyond ASCII) are next to never legacy-encoded text.
        return raw.decode("utf-8-sig")
    for encoding in (declared, _sniff_charset(raw), "utf-8"):
        if not encoding:
            continue
        try:
            return raw.decode(encoding, errors="replace")
        except LookupError:
            continue
    return raw.decode("utf-8", errors="replace")


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _sniff_charset(raw: bytes) -> str | None:
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    found = _CHARSET.search(raw[:4096])
    return found.group(1).decode("ascii", "replace") if found else None


def page_stem(path: Path) -> str:
    name = path.name
    for suffix in (".html.gz", ".htm.gz", ".html", ".htm"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def read_html(path: Path) -> str:
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError):
            pass  # not really gzip: read the bytes as they are
    return decode_html(raw)


@dataclass
class Sidecar:
    url: str | None = None
    fetched_at: str | None = None


def read_sidecar(path: Path) -> Sidecar:
    """A page's URL and fetch time: `<name>.meta.json`, else a `<name>.json` that has a url
    (approved fixture records and the corpus's expectation files both do)."""
    stem = page_stem(path)
    for candidate in (path.with_name(stem + ".meta.json"), path.with_name(stem + ".json")):
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text("utf-8"))
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("url"):
                return Sidecar(data["url"], data.get("fetched_at") or data.get("crawl_date"))
    return Sidecar()
