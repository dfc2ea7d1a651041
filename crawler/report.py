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
from .record import MISSING, Article
from .score import BodyScore, average, score_body
from .sites import SiteRegistry

# Targets. Publishers with hand-annotated pages (fundus-eval-dev) are held to the strict
# per-page ones; the rest of the corpus to the per-page floor plus corpus-wide shares.
STRICT_BODY_F1 = 0.99  # per page, strict publishers; title and date must be exact too
BODY_F1_FLOOR = 0.97  # per page, everyone else
CORPUS_BODY_F1 = 0.99  # averaged over the corpus
TITLE_DATE_SHARE = 0.98  # share of pages with the exact title, and with the exact date

# Pages where no correct reading meets the target, with the reason. The report marks them;
# tests/test_corpus.py makes each a strict xfail, so an entry must go once its page passes.
KNOWN_CONFLICTS = {
    "fundus/us/Reuters_2024_03_07":
        "the hand-annotated Reuters pages keep the 'Reporting by ...; Editing by ...' credit line "
        "(Reuters_0 fails without it); Fundus's expectation for this page drops it: F1 0.98992",
    "fundus-eval-dev/TheIndependent_0":
        "its hand annotation keeps the standfirst, which TheIndependent_1 and the Fundus page "
        "drop (keeping it costs them F1 0.931 and 0.954); dropping it leaves this page at 0.978",
    "fundus/tr/NTVTR_2024_04_30":
        "one long <p> broken into lines with <br>; the expectation glues the lines together "
        "('BULUŞTUGalatasaray'), which costs a correct reading F1 0.960",
    "fundus/de/WinFuture_2024_04_29":
        "the expectation misses the real paragraph after an ad slot ('Rechnen wir es durch: ...'): "
        "a correct reading scores F1 0.894",
    "fundus/us/RollingStone_2024_04_25":
        "the expectation glues the in-text 'Trending' box (four headlines of other stories) onto "
        "the last paragraph; the article text alone scores F1 0.944 (P 0.993)",
    "fundus/us/RollingStone_2024_08_27":
        "the expectation glues the in-text 'Editor's picks', 'Related' and 'Trending' boxes onto "
        "the paragraphs before them; the article text alone scores F1 0.923 (P 0.991)",
    "fundus/kr/HankookIlbo_2026_01_29":
        "not a conflict but a limit: the text is only inside Next.js flight data "
        "(self.__next_f.push scripts), in no element a selector can reach",
}


@dataclass
class PageResult:
    page: CorpusPage
    site: str
    article: Article
    body: BodyScore
    title_ok: bool | None  # None where the corpus has no expectation
    date_ok: bool | None

    @property
    def body_threshold(self) -> float:
        return STRICT_BODY_F1 if self.page.strict else BODY_F1_FLOOR

    @property
    def known_conflict(self) -> str | None:
        return KNOWN_CONFLICTS.get(self.page.label)

    @property
    def passed(self) -> bool:
        """Per-page targets. Title and date misses of non-strict pages count against the
        corpus-wide share instead."""
        exact = not self.page.strict or (self.title_ok is not False and self.date_ok is not False)
        return self.body.f1 >= self.body_threshold and exact


def evaluate(page: CorpusPage, registry: SiteRegistry) -> PageResult | None:
    """Extract one corpus page with its host's selector file; None when no file serves it."""
    try:
        site = registry.for_host(urlsplit(page.url).hostname or "")
    except UnknownSiteError:
        return None
    article = extract_page(read_html(page.html_path), page.url, site)
    # Six corpus titles end in a space or NBSP kept from the served <meta> (DW, NDR, ElPais,
    # CanadaCom, DailyMaverick, VoiceOfAmerica); extraction normalises whitespace, so compare
    # without the outer whitespace. Anything inside the title must still match exactly.
    title_ok = None if page.title is None else (article.title or "").strip() == page.title.strip()
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


# Fields without a corpus expectation: shown as found (letter) or not (".").
_FOUND_FIELDS = (("authors", "a"), ("section", "s"), ("source", "c"), ("related", "r"))


def found_flags(article: Article) -> str:
    return "".join(letter if article.provenance.get(name, MISSING) != MISSING else "."
                   for name, letter in _FOUND_FIELDS)


def format_table(results: list[PageResult]) -> str:
    """Pages grouped by site: title and date checked against the corpus, which other fields
    were found (a=authors s=section c=source credit r=related), body P/R/F1."""
    lines = [f"{'site':<20} {'page':<34} {'title':>5} {'date':>5} {'found':>5} {'P':>6} {'R':>6} {'F1':>6}"]
    for r in sorted(results, key=lambda r: (r.site, r.page.label)):
        page = r.page.label.rsplit("/", 1)[-1]
        lines.append(f"{r.site[:20]:<20} {page[-34:]:<34} {_mark(r.title_ok):>5} {_mark(r.date_ok):>5} "
                     f"{found_flags(r.article):>5} {r.body.precision:6.3f} {r.body.recall:6.3f} "
                     f"{r.body.f1:6.3f}" + ("" if r.passed else
                                            "  <- known corpus conflict" if r.known_conflict else
                                            "  <- below target"))
    lines.append(summary_line(results))
    return "\n".join(lines)


@dataclass
class CorpusFigures:
    pages: int
    body: BodyScore
    titles_exact: int
    titles_expected: int
    dates_exact: int
    dates_expected: int
    below_threshold: int
    known_conflicts: int = 0

    @property
    def title_share(self) -> float:
        return self.titles_exact / self.titles_expected if self.titles_expected else 1.0

    @property
    def date_share(self) -> float:
        return self.dates_exact / self.dates_expected if self.dates_expected else 1.0

    @property
    def met(self) -> bool:
        return (self.below_threshold == self.known_conflicts and self.body.f1 >= CORPUS_BODY_F1
                and self.title_share >= TITLE_DATE_SHARE and self.date_share >= TITLE_DATE_SHARE)


def corpus_figures(results: list[PageResult]) -> CorpusFigures:
    titled = [r for r in results if r.title_ok is not None]
    dated = [r for r in results if r.date_ok is not None]
    return CorpusFigures(
        pages=len(results), body=average([r.body for r in results]),
        titles_exact=sum(bool(r.title_ok) for r in titled), titles_expected=len(titled),
        dates_exact=sum(bool(r.date_ok) for r in dated), dates_expected=len(dated),
        below_threshold=sum(not r.passed for r in results),
        known_conflicts=sum(not r.passed and r.known_conflict is not None for r in results))


def summary_line(results: list[PageResult]) -> str:
    f = corpus_figures(results)
    return (f"corpus: {f.pages} pages, body P {f.body.precision:.3f} R {f.body.recall:.3f} "
            f"F1 {f.body.f1:.3f}; title {f.titles_exact}/{f.titles_expected} ({f.title_share:.1%}); "
            f"date {f.dates_exact}/{f.dates_expected} ({f.date_share:.1%}); "
            f"below target {f.below_threshold} ({f.known_conflicts} of them known corpus conflicts)")
