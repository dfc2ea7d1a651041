"""newscrawl: a polite, incremental news crawler with per-site selector files.

Public API: `extract`, `Article`, `load_site`, `load_registry`. Everything else is internal.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ConfigError, NewscrawlError, UnknownSiteError
from .record import Article
from .sites import Site, SiteRegistry, load_registry, load_site

__all__ = [
    "Article",
    "ConfigError",
    "NewscrawlError",
    "Site",
    "UnknownSiteError",
    "extract",
    "load_registry",
    "load_site",
    "selectors_dir",
]


def selectors_dir() -> Path:
    """$NEWSCRAWL_SELECTORS, else ./selectors, else the selectors/ folder of this checkout."""
    configured = os.environ.get("NEWSCRAWL_SELECTORS")
    if configured:
        return Path(configured)
    here = Path("selectors")
    if here.is_dir():
        return here
    return Path(__file__).resolve().parent.parent / "selectors"


@lru_cache(maxsize=8)
def _registry(directory: str) -> SiteRegistry:
    return load_registry(directory)


def extract(html: str, url: str, site: str | Site | None = None, *,
            fetched_at: str | None = None) -> Article:
    """Extract one article. `site` is a selector-file name or a loaded Site; by default the
    site is chosen from the URL's host. Raises UnknownSiteError when no file serves it."""
    from .extraction import extract_page

    if not isinstance(site, Site):
        registry = _registry(str(selectors_dir().resolve()))
        site = registry.by_name(site) if site else registry.for_host(urlsplit(url).hostname or "")
    return extract_page(html, url, site, fetched_at=fetched_at)
