"""Score selector files against the real-page corpus: per page and per corpus."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from . import dates
from .corpus import CorpusPage
from .errors import UnknownSiteError
from .extraction import extract_page
from .pages import read_html
from .record import Article
from .score import BodyScore, average, score_body
from .sites import SiteRegistry

BODY_F1_THRESHOLD = 0.99


@dataclass
class PageResult:
    page: CorpusPage
    site: str
    article: Article
    body: BodyScore
    title_ok: bool | None  # None where the corpus has no expectation
    date_ok: bool | None

    @property
    def passed(self) -> bool:
        return self.body.f1 >= BODY_F1_THRESHOLD and self.title_ok is not False and self.date_ok is not False


def evaluate(page: CorpusPage, registry: SiteRegistry) -> PageResult | None:
    """Extract one corpus page with its host's selector file; None when no file serves it."""
    try:
        site = registry.for_host(urlsplit(page.url).hostname or "")
    except UnknownSiteError:
        return None
    article = extract_page(read_html(page.html_path), page.url, site)
    title_ok = None if page.title is None else article.title == page.title
    date_ok = None
    if page.published is not None:
        got = article.dateline.published
        date_ok = got is not None and datetime.fromisoformat(got) == _aware(page.published, site.timezone)
    body = score_body(article.body, "\n\n".join(page.paragraphs))
    return PageResult(page, site.name, article, body, title_ok, date_ok)


def _aware(expected: datetime, timezone: str) -> datetime:
    # Some corpus dates are naive (the publisher printed no offset): read them in the
    # site's timezone, as extraction does, instead of never matching an aware value.
    return expected if expected.tzinfo is not None else expected.replace(tzinfo=dates.zone(timezone))


def _mark(flag: bool | None) -> str:
    return "-" if flag is None else ("ok" if flag else "FAIL")


def format_table(results: list[PageResult]) -> str:
    lines = [f"{'page':<44} {'site':<18} {'title':>5} {'date':>5} {'P':>6} {'R':>6} {'F1':>6}"]
    for r in results:
        lines.append(f"{r.page.label[-44:]:<44} {r.site[:18]:<18} {_mark(r.title_ok):>5} "
                     f"{_mark(r.date_ok):>5} {r.body.precision:6.3f} {r.body.recall:6.3f} {r.body.f1:6.3f}"
                     + ("" if r.passed else "  <-"))
    overall = average([r.body for r in results])
    titled = [r for r in results if r.title_ok is not None]
    dated = [r for r in results if r.date_ok is not None]
    lines.append(
        f"corpus: {len(results)} pages, body P {overall.precision:.3f} R {overall.recall:.3f} "
        f"F1 {overall.f1:.3f}; title {sum(bool(r.title_ok) for r in titled)}/{len(titled)}; "
        f"date {sum(bool(r.date_ok) for r in dated)}/{len(dated)}; "
        f"below threshold {sum(not r.passed for r in results)}")
    return "\n".join(lines)
