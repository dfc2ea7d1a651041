"""Dateline text -> timezone-aware datetime.

Formats are tried in order. Besides strptime patterns, three names are understood:
"iso" (ISO 8601), "rfc2822" (e-mail / RSS dates) and "auto" (dateutil's guesser, last resort).
Month and weekday names in other languages are translated to English first, so one
strptime pattern serves every language.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from email.utils import parsedate_to_datetime
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

DEFAULT_FORMATS = ("iso", "rfc2822", "auto")
NAMED_FORMATS = frozenset(DEFAULT_FORMATS)

# Localised month and day names -> English, so that %B/%b/%A parse them.
_MONTHS = {
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
    "it": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre",
    "pt": "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro",
    "nl": "januari februari maart april mei juni juli augustus september oktober november december",
}
_ENGLISH_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]


@cache
def _translation(language: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    names = _MONTHS.get(language)
    if not names:
        return ()
    pairs = sorted(zip(names.split(), _ENGLISH_MONTHS), key=lambda p: -len(p[0]))
    return tuple((re.compile(rf"\b{re.escape(local)}\b", re.IGNORECASE), english) for local, english in pairs)


def _to_english(text: str, language: str) -> str:
    for pattern, english in _translation(language):
        text = pattern.sub(english, text)
    return text


@lru_cache(maxsize=64)
def zone(name: str) -> tzinfo:
    return ZoneInfo(name)


def check_format(fmt: str) -> str | None:
    """Return a problem description if `fmt` can never parse a date, else None."""
    if fmt in NAMED_FORMATS:
        return None
    if not re.search(r"%[dYyjGcx]", fmt) or not re.search(r"%[bBmjUWVcx]", fmt):
        return "a date format needs a day and a month directive (e.g. %d and %B)"
    try:
        datetime.now().strftime(fmt)
    except ValueError as exc:
        return f"bad strptime directive: {exc}"
    bad = re.findall(r"%([^aAwdbBmyYHIpMSfzZjUWcxXGuV%:-])", fmt)
    if bad:
        return f"unknown strptime directive %{bad[0]}"
    return None


def parse_date(text: str | None, formats=DEFAULT_FORMATS, timezone: str = "UTC",
               language: str = "en") -> datetime | None:
    """Parse `text` with the first format that fits. Naive results get the site's timezone."""
    if not text:
        return None
    text = " ".join(text.split())
    parsed = None
    for fmt in formats:
        parsed = _parse_one(text, fmt, language)
        if parsed is not None:
            break
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone(timezone))
    return parsed


def _parse_one(text: str, fmt: str, language: str) -> datetime | None:
    try:
        if fmt == "iso":
            return datetime.fromisoformat(text)
        if fmt == "rfc2822":
            return parsedate_to_datetime(text)
        if fmt == "auto":
            return _guess(text)
        if language != "en":
            text = _to_english(text, language)
        return datetime.strptime(text, fmt)
    except (ValueError, TypeError, OverflowError, IndexError):
        return None


def _guess(text: str) -> datetime | None:
    from dateutil import parser as dateutil_parser  # imported late: only "auto" needs it

    try:
        return dateutil_parser.parse(text)
    except (ValueError, OverflowError, dateutil_parser.ParserError):
        return None


def isoformat(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
