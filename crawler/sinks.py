"""An article's sinks, in the order that makes a crash harmless: its page is already in the
archive (crawler/archive.py) and the state notes where, then its JSON line is written
(fsynced), then the state marks it done under every URL it is known by. `crawl` and `reextract` both write articles through here."""

from __future__ import annotations

from .output import JsonlWriter
from .record import Article
from .state import CrawlState


def commit_article(writer: JsonlWriter, state: CrawlState, article: Article, urls: tuple[str, ...],
                   fetched_at: str, archived: tuple[str, int] | None) -> None:
    """Write `article` as its next revision (1, or one more than the last line of any of its
    `urls`), then mark those URLs done with its hash and the (file, offset) of its page."""
    urls = tuple(dict.fromkeys(urls))
    article.revision = max(state.revision(url) for url in urls) + 1
    if archived is not None:
        state.note_archived(urls, article.site, archived)
    writer.write(article.to_dict())  # durable first ...
    with state.transaction():  # ... then seen, in one commit
        for url in urls:
            state.mark_done(url, article.site, article.content_hash, fetched_at,
                            revision=article.revision, archived=archived)
