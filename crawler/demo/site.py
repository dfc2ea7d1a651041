"""The demo news site's content: deterministic synthetic articles and the pages showing them.

Everything is a pure function of the article id, so a site of 2,000 articles costs
nothing until a page is asked for, and two runs see the same text. Article ids grow with
publication time; section lists show the newest first, like a real news site.

The section pages are progressive enhancement: an inline script fetches the list from
`/api/section/<name>?page=N` and renders it (so a crawler must run JavaScript to see it),
and a `<noscript>` copy of the same list serves crawlers in http mode.
"""

from __future__ import annotations

import html
import json
import random
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

FIRST_PUBLISHED = datetime(2025, 1, 6, 6, 0, tzinfo=UTC)
PUBLISHING_INTERVAL = timedelta(minutes=97)  # not a divisor of a day: times vary
OFFSITE_URL = "http://offsite.invalid/news/politics/1-elsewhere"
PRIVATE_ID_OFFSET = 900_000
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")  # private drafts get ids no public article uses

PLACES = ("CAIRO", "BEIRUT", "AMMAN", "DUBAI", "RIYADH", "TUNIS", "RABAT", "DOHA", "MUSCAT",
          "KUWAIT CITY", "ALGIERS", "KHARTOUM")
AGENCIES = ("Demo News Agency", "Nile Wire Service", "Gulf Press Bureau", "Levant Newswire")
AUTHORS = ("Amira Haddad", "Omar Farouk", "Leila Mansour", "Youssef Karim", "Nadia Saleh",
           "Tariq Aziz", "Rania Khoury", "Samir Nasser", "Huda Rahman", "Karim Bishara")
SUBJECTS = {
    "politics": ("Parliament", "The cabinet", "Opposition leaders", "The foreign minister",
                 "Regional envoys", "The electoral commission", "City councillors"),
    "economy": ("The central bank", "Exporters", "The stock exchange", "Small businesses",
                "Port operators", "The finance ministry", "Oil producers"),
    "technology": ("Start-ups", "The telecoms regulator", "University researchers",
                   "Chip makers", "Mobile operators", "The digital ministry", "Game studios"),
}
GENERIC_SUBJECTS = ("Officials", "Analysts", "Residents", "Experts", "Negotiators")
VERBS = ("back", "question", "unveil", "delay", "debate", "approve", "reject", "review",
         "expand", "welcome")
OBJECTS = ("a new budget plan", "the water agreement", "a trade corridor", "fuel subsidies",
           "the transport reform", "a youth employment scheme", "the border crossing deal",
           "an open data law", "solar farm tenders", "the housing programme",
           "a broadband rollout", "grain import rules")
SENTENCES = (
    "{subject} said the decision on {object} followed weeks of consultation.",
    "The plan is expected to take effect before the end of the quarter, officials in {city} said.",
    "Critics argue that the timetable leaves little room for public comment.",
    "Supporters say the measure will bring long-awaited stability to the sector.",
    "A spokesperson declined to give figures but promised a detailed report by {month}.",
    "Similar proposals were discussed {years} years ago without reaching a vote.",
    "Observers will watch closely how neighbouring countries respond.",
    "The announcement came after a meeting in {city} that lasted well into the evening.",
    "Several ministries are expected to publish guidance in the coming {days} days.",
    "Officials stressed that existing contracts would not be affected.",
    "Independent economists put the cost at about {amount} million dollars.",
    "The issue has dominated talk shows and social media since the weekend.",
    "Some {count} people attended a public hearing on {object} last week.",
    "{subject} will take the matter up again on {month} {day}.",
)


@dataclass(frozen=True)
class DemoArticle:
    id: int
    section: str
    title: str
    slug: str
    published: datetime
    place: str
    authors: tuple[str, ...]
    agency: str
    paragraphs: tuple[str, ...]
    private: bool = False

    @property
    def url(self) -> str:
        prefix = "/private" if self.private else ""
        return f"{prefix}/news/{self.section}/{self.id}-{self.slug}"

    @property
    def time_text(self) -> str:
        """The dateline's time, e.g. "14:05 GMT Monday 3 March 2025"."""
        moment = self.published  # English names whatever the locale, as the site prints them
        return (f"{moment.hour:02d}:{moment.minute:02d} GMT {WEEKDAYS[moment.weekday()]} "
                f"{moment.day} {MONTHS[moment.month - 1]} {moment.year}")

    @property
    def dateline_text(self) -> str:
        """The full dateline, place first: "CAIRO, 14:05 GMT Monday 3 March 2025"."""
        return f"{self.place}, {self.time_text}"


def slugify(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


class DemoSite:
    """A synthetic news site: `articles` articles spread over `sections`, `per_page` a page.

    `noscript=False` drops the `<noscript>` copy of section lists, so only a crawler that
    runs JavaScript finds the articles. `crawl_delay` adds a Crawl-delay to robots.txt.
    `redesign_after=N` is a redesign in the middle of a crawl: after N article pages were
    served, every article comes in the new template, whose body and dateline have new class
    names (`div.story-text`, `p.timestamp`), as a site's relaunch renames them.
    """

    def __init__(self, articles: int = 60, sections=("politics", "economy", "technology"),
                 per_page: int = 8, *, noscript: bool = True, crawl_delay: float | None = None,
                 redesign_after: int | None = None):
        if articles < 0 or per_page < 1 or not sections:
            raise ValueError("need articles >= 0, per_page >= 1 and at least one section")
        self.article_count = articles
        self.sections = tuple(sections)
        self.per_page = per_page
        self.noscript = noscript
        self.crawl_delay = crawl_delay
        self.redesign_after = redesign_after
        self.articles_served = 0
        self._served_lock = threading.Lock()  # the server answers from several threads

    # ------------------------------------------------------------ content

    def publish(self, count: int) -> list[int]:
        """Add `count` newer articles (as a news site does between two crawls); their ids."""
        first = self.article_count + 1
        self.article_count += count
        return list(range(first, self.article_count + 1))

    def section_of(self, article_id: int) -> str:
        return self.sections[(article_id - 1) % len(self.sections)]

    def article(self, article_id: int) -> DemoArticle | None:
        private = article_id > PRIVATE_ID_OFFSET
        number = article_id - PRIVATE_ID_OFFSET if private else article_id
        if not 1 <= number <= self.article_count:
            return None
        return _make_article(article_id, self.section_of(number), private)

    def article_ids(self, section: str) -> list[int]:
        """The section's articles, newest first."""
        index = self.sections.index(section)
        newest = self.article_count
        last_in_section = newest - ((newest - 1 - index) % len(self.sections))
        return list(range(last_in_section, 0, -len(self.sections)))

    def page_count(self, section: str) -> int:
        return max(1, -(-len(self.article_ids(section)) // self.per_page))

    def section_page(self, section: str, page: int) -> list[DemoArticle]:
        ids = self.article_ids(section)[(page - 1) * self.per_page: page * self.per_page]
        return [_make_article(i, section, False) for i in ids]

    def related(self, article: DemoArticle) -> list[DemoArticle]:
        """Three other articles of the same section: the ones just before it, else after."""
        number = article.id - PRIVATE_ID_OFFSET if article.private else article.id
        step = len(self.sections)
        older = [i for i in (number - step * k for k in (1, 2, 3)) if i >= 1]
        newer = [i for i in (number + step * k for k in (1, 2, 3)) if i <= self.article_count]
        return [_make_article(i, article.section, False) for i in (older + newer)[:3]]

    def private_article(self, section: str) -> DemoArticle:
        """A draft under /private/ that looks like an article; robots.txt forbids it."""
        newest = self.article_ids(section)[0] if self.article_ids(section) else 1
        return _make_article(PRIVATE_ID_OFFSET + newest, section, True)

    # ------------------------------------------------------------ pages

    def robots_txt(self) -> str:
        lines = ["User-agent: *", "Disallow: /private/"]
        if self.crawl_delay is not None:
            lines.append(f"Crawl-delay: {self.crawl_delay:g}")
        return "\n".join(lines) + "\n"

    def section_url(self, section: str, page: int = 1) -> str:
        return f"/section/{section}?page={page}"

    def section_items(self, section: str, page: int) -> dict:
        """What `/api/section/<name>?page=N` returns: the list items and the next page."""
        items = []
        for position, article in enumerate(self.section_page(section, page)):
            url = article.url
            if position % 4 == 1:  # tracking parameters and fragments a crawler must drop
                url += "?utm_source=section&utm_medium=list#top"
            items.append({"url": url, "title": article.title, "dateline": article.dateline_text})
        if page == 1:
            items.extend(self._traps(section))
        more = page < self.page_count(section)
        return {"section": section, "page": page,
                "items": items, "next": self.section_url(section, page + 1) if more else None}

    def _traps(self, section: str) -> list[dict]:
        """Links a polite, careful crawler must not follow."""
        draft = self.private_article(section)
        return [
            {"url": draft.url, "title": f"[Draft] {draft.title}", "dateline": draft.dateline_text},
            {"url": OFFSITE_URL, "title": "Elsewhere: a story on another site", "dateline": ""},
            {"url": "mailto:tips@demo-news.invalid?subject=/news/politics/2-tip",
             "title": "Send us a tip", "dateline": ""},
            {"url": "javascript:void('/news/politics/3-script')", "title": "Subscribe", "dateline": ""},
        ]

    def render_section(self, section: str, page: int) -> str:
        listing = self.section_items(section, page)
        noscript = ""
        if self.noscript:
            noscript = "<noscript>" + _list_html(listing) + "</noscript>"
        title = section.capitalize()
        script = _SECTION_SCRIPT.replace("__API__", json.dumps(f"/api/section/{section}?page={page}"))
        return _page(
            f"{title} - page {page}",
            f"""<main class="section-page">
<h1 class="section-title">{_e(title)}</h1>
<p class="lead">The latest {_e(section)} news from our correspondents.</p>
<ul class="article-list" id="article-list"></ul>
<nav class="pager" id="pager"></nav>
{noscript}
<aside class="ad">Advertisement: Subscribe to Demo News Premium today!</aside>
</main>
<script>{script}</script>""",
            self.sections,
        )

    def render_home(self) -> str:
        links = "".join(f'<li><a href="{self.section_url(s)}">{_e(s.capitalize())}</a></li>'
                        for s in self.sections)
        return _page("Demo News", f'<main><h1>Demo News</h1><ul class="sections">{links}</ul></main>',
                     self.sections)

    def render_article(self, article: DemoArticle) -> str:
        with self._served_lock:
            self.articles_served += 1
            redesigned = self.redesign_after is not None and self.articles_served > self.redesign_after
        body_class, dateline_class = ("story-text", "timestamp") if redesigned else ("article-body", "dateline")
        paragraphs = list(article.paragraphs)
        paragraphs[0] = f"{article.place} ({_agency_short(article.agency)}) — {paragraphs[0]}"
        body_parts = [f"<p>{_e(text)}</p>" for text in paragraphs[:2]]
        body_parts.append('<div class="ad"><p>Advertisement: Fly Demo Air — fares from $99.</p></div>')
        body_parts.append(
            '<div class="share-box"><p>Share this article:</p><ul><li><a href="#">Facebook</a></li>'
            '<li><a href="#">X</a></li><li><a href="mailto:?subject=demo">E-mail</a></li></ul></div>')
        body_parts.extend(f"<p>{_e(text)}</p>" for text in paragraphs[2:4])
        related_articles = self.related(article)
        read_also = related_articles[:1]
        if read_also:
            body_parts.append(f'<p class="read-also">Read also: <a href="{read_also[0].url}">'
                              f'{_e(read_also[0].title)}</a></p>')
        body_parts.extend(f"<p>{_e(text)}</p>" for text in paragraphs[4:])
        body_parts.append(f'<p class="source">Source: {_e(article.agency)}</p>')
        byline = " and ".join(f'<a class="author" href="/authors/{slugify(name)}">{_e(name)}</a>'
                              for name in article.authors)
        related = "".join(
            f'<li><a href="{other.url}">{_e(other.title)}</a> '
            f'<span class="rel-date">{_e(other.time_text)}</span></li>'
            for other in related_articles)
        section_title = article.section.capitalize()
        return _page(
            article.title,
            f"""<main class="article-page">
<ol class="breadcrumb"><li><a href="/">Home</a></li>
<li><a href="{self.section_url(article.section)}">{_e(section_title)}</a></li></ol>
<article class="story" data-id="{article.id}">
<h1 class="headline">{_e(article.title)}</h1>
<p class="byline">By {byline}</p>
<p class="{dateline_class}">{_e(article.dateline_text)}</p>
<figure class="lead-image"><img src="/img/{article.id}.png" alt="" width="640" height="360">
<figcaption class="caption">Photo: {_e(article.agency)}</figcaption></figure>
<div class="{body_class}">
{chr(10).join(body_parts)}
<script>window.demoViews = (window.demoViews || 0) + 1;</script>
</div>
<section class="related-news"><h2>Related</h2><ul>{related}</ul></section>
</article>
</main>""",
            self.sections,
            head=(f'<link rel="canonical" href="{article.url}">'
                  f'<meta property="og:title" content="{_e(article.title)}">'),
        )


# ------------------------------------------------------------ generation


@lru_cache(maxsize=512)  # a page shows up to 12 articles; bounded so memory stays flat
def _make_article(article_id: int, section: str, private: bool) -> DemoArticle:
    chooser = random.Random(f"demo-article-{article_id}")
    subject = chooser.choice(SUBJECTS.get(section, GENERIC_SUBJECTS))
    place = chooser.choice(PLACES)
    verb, obj = chooser.choice(VERBS), chooser.choice(OBJECTS)
    title = f"{subject} to {verb} {obj} in {place.title()}"
    if private:
        title = f"Embargoed: {title}"
    words = {"subject": subject, "object": obj, "city": place.title(),
             "month": chooser.choice(("March", "April", "May", "June")),
             "day": chooser.randint(1, 28), "years": chooser.randint(2, 9),
             "days": chooser.randint(3, 14), "amount": chooser.randint(12, 950),
             "count": chooser.randint(40, 900)}
    paragraphs = []
    for _ in range(chooser.randint(4, 8)):
        picked = chooser.sample(SENTENCES, 3)
        paragraphs.append(" ".join(s.format(**words) for s in picked))
    number = article_id - PRIVATE_ID_OFFSET if private else article_id
    return DemoArticle(
        id=article_id, section=section, title=title, slug=slugify(title)[:60].rstrip("-"),
        published=FIRST_PUBLISHED + number * PUBLISHING_INTERVAL, place=place,
        authors=tuple(chooser.sample(AUTHORS, chooser.choice((1, 1, 2)))),
        agency=chooser.choice(AGENCIES), paragraphs=tuple(paragraphs), private=private,
    )


def _agency_short(agency: str) -> str:
    return "".join(word[0] for word in agency.split())


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _list_html(listing: dict) -> str:
    items = "".join(
        f'<li><a href="{_e(item["url"])}">{_e(item["title"])}</a>'
        f' <span class="list-date">{_e(item["dateline"])}</span></li>'
        for item in listing["items"])
    following = f'<a class="next" href="{_e(listing["next"])}">Next page</a>' if listing["next"] else ""
    return f'<ul class="article-list">{items}</ul>{following}'


def _page(title: str, main: str, sections: tuple[str, ...], head: str = "") -> str:
    menu = "".join(f'<li><a href="/section/{s}?page=1">{_e(s.capitalize())}</a></li>' for s in sections)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)} | Demo News</title>
<link rel="stylesheet" href="/static/site.css">{head}</head>
<body>
<header class="site-header"><a class="logo" href="/">Demo News</a>
<nav class="menu"><ul>{menu}</ul></nav></header>
<div class="cookie-banner">We use cookies to improve your experience. <a href="/privacy">Learn more</a></div>
{main}
<footer class="site-footer"><p>© 2025 Demo News. All rights reserved.</p>
<p><a href="/about">About us</a> · <a href="mailto:editor@demo-news.invalid">Contact</a></p></footer>
</body></html>"""


# Renders the list the way many news sites do: after load, from a JSON API.
_SECTION_SCRIPT = """
(async function () {
  const list = document.getElementById("article-list");
  const pager = document.getElementById("pager");
  const response = await fetch(__API__, {headers: {"Accept": "application/json"}});
  const listing = await response.json();
  for (const item of listing.items) {
    const entry = document.createElement("li");
    const link = document.createElement("a");
    link.href = item.url;
    link.textContent = item.title;
    entry.appendChild(link);
    if (item.dateline) {
      const date = document.createElement("span");
      date.className = "list-date";
      date.textContent = " " + item.dateline;
      entry.appendChild(date);
    }
    list.appendChild(entry);
  }
  if (listing.next) {
    const next = document.createElement("a");
    next.className = "next";
    next.href = listing.next;
    next.textContent = "Next page";
    pager.appendChild(next);
  }
  document.body.dataset.listReady = "true";
})();
"""

SITE_CSS = """@font-face { font-family: DemoSerif; src: url(/static/demo-serif.woff2) format("woff2"); }
body { font-family: DemoSerif, Georgia, serif; max-width: 46rem; margin: auto; }
.ad, .cookie-banner { background: #ffd; padding: .5rem; }
"""
