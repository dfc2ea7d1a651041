"""The Article record: newscrawl's JSON-lines contract (schema in `article.schema.json`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

MISSING = "missing"


@dataclass
class Dateline:
    text: str | None = None
    published: str | None = None  # ISO 8601 with offset
    place: str | None = None


@dataclass
class RelatedLink:
    title: str
    url: str
    dateline: Dateline | None = None


@dataclass
class Article:
    url: str
    site: str
    title: str | None = None
    section: str | None = None
    dateline: Dateline = field(default_factory=Dateline)
    paragraphs: list[str] = field(default_factory=list)
    related: list[RelatedLink] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    source: str | None = None
    language: str | None = None
    fetched_at: str | None = None
    revision: int = 1  # +1 each time re-extraction writes a changed record for the same URL
    provenance: dict[str, str] = field(default_factory=dict)

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)

    @property
    def content_hash(self) -> str:
        digest = hashlib.sha256(f"{self.title or ''}\n\n{self.body}".encode()).hexdigest()
        return f"sha256:{digest}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "site": self.site,
            "section": self.section,
            "title": self.title,
            "dateline": {"text": self.dateline.text, "published": self.dateline.published,
                         "place": self.dateline.place},
            "body": self.body,
            "paragraphs": list(self.paragraphs),
            "related": [
                {"title": link.title, "url": link.url,
                 "dateline": None if link.dateline is None else
                 {"text": link.dateline.text, "published": link.dateline.published}}
                for link in self.related
            ],
            "authors": list(self.authors),
            "source": self.source,
            "language": self.language,
            "fetched_at": self.fetched_at,
            "content_hash": self.content_hash,
            "revision": self.revision,
            "provenance": dict(self.provenance),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


def json_schema() -> dict[str, Any]:
    """The JSON Schema that every output line satisfies."""
    return json.loads(resources.files("crawler").joinpath("article.schema.json").read_text("utf-8"))
