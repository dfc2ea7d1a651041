"""The shared real-page corpus (../shared/corpus): its pages and their expected results."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .pages import page_stem


@dataclass
class CorpusPage:
    label: str  # e.g. fundus/us/APNews_2024_09_03
    publisher: str
    html_path: Path
    url: str
    paragraphs: list[str]
    title: str | None = None  # None where the corpus gives no expectation
    published: datetime | None = None
    strict: bool = False  # a publisher with hand-annotated pages: the tighter targets apply


def corpus_dir() -> Path:
    configured = os.environ.get("NEWSCRAWL_CORPUS")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def _parse_expected_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def fundus_pages(root: Path | None = None) -> list[CorpusPage]:
    root = (root or corpus_dir()) / "fundus"
    pages = []
    for html_path in sorted(root.glob("*/*.html.gz")):
        meta_path = html_path.with_name(page_stem(html_path) + ".json")
        meta = json.loads(meta_path.read_text("utf-8"))
        expected = meta.get("expected", {})
        pages.append(CorpusPage(
            label=f"fundus/{html_path.parent.name}/{page_stem(html_path)}",
            publisher=meta.get("publisher", page_stem(html_path).rsplit("_", 3)[0]),
            html_path=html_path,
            url=meta["url"],
            paragraphs=expected.get("body_paragraphs", []),
            title=expected.get("title"),
            published=_parse_expected_date(expected.get("publishing_date")),
        ))
    return pages


def eval_dev_pages(root: Path | None = None) -> list[CorpusPage]:
    root = (root or corpus_dir()) / "fundus-eval-dev"
    truth = json.loads((root / "ground_truth.json").read_text("utf-8"))
    pages = []
    for file_name, entry in sorted(truth.items()):
        stem = page_stem(Path(file_name))
        pages.append(CorpusPage(
            label=f"fundus-eval-dev/{stem}",
            publisher=stem.rsplit("_", 1)[0],
            html_path=root / "html" / file_name,
            url=entry["url"],
            paragraphs=list(entry["body"]),
        ))
    return pages


def all_pages(root: Path | None = None) -> list[CorpusPage]:
    """Every corpus page; pages of the hand-annotated publishers are marked strict."""
    annotated = eval_dev_pages(root)
    strict_publishers = {page.publisher for page in annotated}
    pages = fundus_pages(root) + annotated
    for page in pages:
        page.strict = page.publisher in strict_publishers
    return pages
