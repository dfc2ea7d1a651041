"""Every error newscrawl raises on purpose. One hierarchy, one line of docs each."""

from __future__ import annotations


class NewscrawlError(Exception):
    """Base class: anything newscrawl reports to the user rather than crashing on."""


class ConfigError(NewscrawlError):
    """A selector file is wrong. Names the file, the key and the problem."""

    def __init__(self, file: str, key: str, problem: str):
        self.file, self.key, self.problem = file, key, problem
        super().__init__(f"{file}: {key}: {problem}")


class UnknownSiteError(NewscrawlError):
    """No selector file serves this host or site name."""


class LockHeldError(NewscrawlError):
    """Another crawl holds the lock on this state file."""
