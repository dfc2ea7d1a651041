"""Warnings about the regexes of a selector file that can take exponential time.

Python's regex engine backtracks: a repeated group whose body can match one text in many ways
(`(\\w+\\s?)*`, `(a+)+`, `(a|a)*`) tries every way before it gives up, and on a long paragraph
that it does not match that is hours. The crawl survives such a regex (the page fails at the
extraction time limit), but the site's articles are lost, so `selectors lint` warns.

Two shapes are flagged inside a group repeated without a small bound:
  - a nested quantifier: another unbounded or long repeat inside it, unless every turn of the
    group must match a character the inner repeats cannot (the "/" of `(?:[a-z0-9-]+/)+`,
    which is safe: the text splits into turns one way only);
  - alternatives that can start with the same character, or both match nothing (`(a|a)*`,
    which the parser reads as `a(?:|)`).
Both are read from the parsed pattern, so spelling does not matter (`(?:x+)*` is `(x+)*`).
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from re import _constants as sre  # the parser's opcodes: stable within a Python version
from re import _parser as sre_parse

REGEX_KEYS = frozenset({"clean", "pattern", "split", "drop", "place", "article_url"})
LONG_REPEAT = 10  # a repeat allowed more times than this counts as unbounded
# Characters a first-character set is sampled on: enough to tell \s, \d, \w and literals apart.
SAMPLE = string.printable + "\u00a0éßжא中\u2014"
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)


@dataclass(frozen=True)
class RegexWarning:
    file: str
    key: str  # as written in the file, e.g. "layout[1].body.clean[0]"
    pattern: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.problem} in {self.pattern!r}"


def lint_selector_file(path: Path | str) -> list[RegexWarning]:
    """Warnings for every regex of a selector file (one that loads: load_site checks first)."""
    raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    warnings = []
    for key, pattern in _regexes(raw, ""):
        for problem in regex_problems(pattern):
            warnings.append(RegexWarning(str(path), key, pattern, problem))
    return warnings


def regex_problems(pattern: str) -> list[str]:
    """What can make `pattern` take exponential time; empty when nothing can."""
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return []  # load_site reports it
    problems: list[str] = []
    _check(list(parsed), problems)
    return list(dict.fromkeys(problems))


def _regexes(value, key: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for name, item in value.items():
            path = f"{key}.{name}" if key else name
            if path == "crawl.sections":
                continue  # section names are the user's, and their values URLs
            if name in REGEX_KEYS:
                if isinstance(item, str):
                    yield path, item
                elif isinstance(item, list):
                    yield from ((f"{path}[{i}]", p) for i, p in enumerate(item) if isinstance(p, str))
            else:
                yield from _regexes(item, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _regexes(item, f"{key}[{index}]")


# ------------------------------------------------------------------ the parsed pattern

def _check(items: list, problems: list[str]) -> None:
    for op, argument in items:
        if op in _REPEATS:
            _low, high, body = argument
            body = list(body)
            if _is_long(high):
                if _ambiguous_turns(body):
                    problems.append("nested quantifier (a repeated group of repeats): "
                                    "exponential time on some text")
                if _has_overlapping_branch(body):
                    problems.append("repeated alternatives that can match the same text: "
                                    "exponential time on some text")
            _check(body, problems)
        else:
            for sub in _children(op, argument):
                _check(sub, problems)


def _children(op, argument) -> Iterator[list]:
    if op is sre.SUBPATTERN:
        yield list(argument[-1])
    elif op is sre.BRANCH:
        yield from (list(alternative) for alternative in argument[1])
    elif op in (sre.ASSERT, sre.ASSERT_NOT):
        yield list(argument[1])
    elif op is sre.ATOMIC_GROUP:
        yield list(argument)
    elif op is sre.GROUPREF_EXISTS:
        yield from (list(branch) for branch in argument[1:] if branch is not None)


def _is_long(high) -> bool:
    return high is sre.MAXREPEAT or high > LONG_REPEAT


def _ambiguous_turns(body: list) -> bool:
    """A long repeat inside a repeated `body`, with no delimiter: no character that every
    turn of the body must match and that the inner repeats cannot."""
    inner = _long_repeat_chars(body)
    if inner is None:
        return False
    while len(body) == 1 and body[0][0] in (sre.SUBPATTERN, sre.ATOMIC_GROUP):
        op, argument = body[0]
        body = list(argument[-1] if op is sre.SUBPATTERN else argument)
    for op, argument in body:
        first, can_be_empty = _first_of(op, argument)
        if not can_be_empty and first and not first & inner:
            return False
    return True


def _long_repeat_chars(items: list) -> set[str] | None:
    """The characters the long repeats in `items` can take; None when there is none."""
    found: set[str] | None = None
    for op, argument in items:
        if op in _REPEATS and _is_long(argument[1]):
            found = (found or set()) | _chars(list(argument[2]))
        for sub in _children(op, argument):
            deeper = _long_repeat_chars(sub)
            if deeper is not None:
                found = (found or set()) | deeper
        if op in _REPEATS:
            deeper = _long_repeat_chars(list(argument[2]))
            if deeper is not None:
                found = (found or set()) | deeper
    return found


def _chars(items: list) -> set[str]:
    """Every sample character `items` can match anywhere."""
    chars: set[str] = set()
    for op, argument in items:
        if op in _REPEATS:
            chars |= _chars(list(argument[2]))
        elif op in (sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN):
            chars |= _first_of(op, argument)[0]
        elif op is sre.GROUPREF:
            chars |= set(SAMPLE)
        for sub in _children(op, argument):
            chars |= _chars(sub)
    return chars


def _has_overlapping_branch(items: list) -> bool:
    for op, argument in items:
        if op is sre.BRANCH:
            alternatives = [list(alternative) for alternative in argument[1]]
            starts = [(_first(a), _nullable(a)) for a in alternatives]
            for index, (first, empty) in enumerate(starts):
                if any(first & other or (empty and other_empty)
                       for other, other_empty in starts[index + 1:]):
                    return True
        if any(_has_overlapping_branch(sub) for sub in _children(op, argument)):
            return True
    return False


def _first(items: list) -> set[str]:
    """The sample characters a match of `items` can start with."""
    chars: set[str] = set()
    for op, argument in items:
        item_first, can_be_empty = _first_of(op, argument)
        chars |= item_first
        if not can_be_empty:
            break
    return chars


def _first_of(op, argument) -> tuple[set[str], bool]:
    """(first characters, can match the empty string) of one parsed item."""
    if op is sre.LITERAL:
        return {chr(argument)}, False
    if op is sre.NOT_LITERAL:
        return set(SAMPLE) - {chr(argument)}, False
    if op is sre.ANY:
        return set(SAMPLE), False
    if op is sre.IN:
        return {c for c in SAMPLE if _in_class(c, argument)}, False
    if op in _REPEATS:
        low, _high, body = argument
        return _first(list(body)), low == 0 or _nullable(list(body))
    if op in (sre.SUBPATTERN, sre.ATOMIC_GROUP):
        body = list(argument[-1] if op is sre.SUBPATTERN else argument)
        return _first(body), _nullable(body)
    if op is sre.BRANCH:
        alternatives = [list(a) for a in argument[1]]
        return set().union(*map(_first, alternatives)), any(map(_nullable, alternatives))
    if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
        return set(), True
    return set(SAMPLE), True  # a back-reference and the like: assume the worst


def _nullable(items: list) -> bool:
    return all(_first_of(op, argument)[1] for op, argument in items)


_CATEGORIES = {
    sre.CATEGORY_DIGIT: re.compile(r"\d"), sre.CATEGORY_NOT_DIGIT: re.compile(r"\D"),
    sre.CATEGORY_SPACE: re.compile(r"\s"), sre.CATEGORY_NOT_SPACE: re.compile(r"\S"),
    sre.CATEGORY_WORD: re.compile(r"\w"), sre.CATEGORY_NOT_WORD: re.compile(r"\W"),
}


def _in_class(char: str, items) -> bool:
    negate = False
    found = False
    for op, argument in items:
        if op is sre.NEGATE:
            negate = True
        elif op is sre.LITERAL:
            found = found or char == chr(argument)
        elif op is sre.RANGE:
            found = found or argument[0] <= ord(char) <= argument[1]
        elif op is sre.CATEGORY:
            pattern = _CATEGORIES.get(argument)
            found = found or (pattern is None or bool(pattern.match(char)))
    return found != negate
