"""Every error newscrawl raises on purpose. One hierarchy, one line of docs each, and the
exit code each one ends the command with (the README's table of exit codes is this one)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # success, or stopped by SIGTERM/SIGINT with what was in flight written
    PARTIAL = 1  # some articles or pages failed (retried next run), fixtures changed, pages below target
    CONFIG = 2  # a configuration or usage error, or a path found unwritable before any fetch
    LOCKED = 3  # another crawl holds the lock on the state or on an output file
    STORAGE = 4  # the output or state could not be written mid-run (disk full, read-only)


class NewscrawlError(Exception):
    """Base class: anything newscrawl reports to the user rather than crashing on."""

    exit_code = ExitCode.PARTIAL


class ConfigError(NewscrawlError):
    """A selector file is wrong. Names the file, the key and the problem."""

    exit_code = ExitCode.CONFIG

    def __init__(self, file: str, key: str, problem: str):
        self.file, self.key, self.problem = file, key, problem
        super().__init__(f"{file}: {key}: {problem}")


class UnknownSiteError(NewscrawlError):
    """No selector file serves this host or site name."""

    exit_code = ExitCode.CONFIG


class LockHeldError(NewscrawlError):
    """Another crawl holds the lock on this state file."""

    exit_code = ExitCode.LOCKED


# ------------------------------------------------------------------ fetching
# Whether a failure is retried is decided by its class: `retryable` failures are tried again
# within the run (tenacity), `permanent` ones come back the same on every run, so after
# settings.ABANDON_AFTER_RUNS runs the article is abandoned. Everything else is tried again
# on the next run.

class FetchError(NewscrawlError):
    """A page could not be fetched. `reason` is the one line the state records."""

    retryable = False
    permanent = False

    def __init__(self, url: str, reason: str, *, status: int | None = None):
        self.url, self.reason, self.status = url, reason, status
        self.attempts = 1
        super().__init__(f"{url}: {reason}")


class FetchTimeout(FetchError):
    """No answer, or no whole page, within the timeout."""

    retryable = True


class NetworkError(FetchError):
    """The connection failed: refused, reset, cut off mid-body, or the name did not resolve."""

    retryable = True


class LastingNetworkError(FetchError):
    """A network failure that repeats on every try: a redirect loop, a body that cannot be decoded."""


class BrowserWedged(FetchError):
    """A browser call did not return in time; the browser is relaunched and the page tried again."""

    retryable = True


class HttpStatusError(FetchError):
    """The server answered with a status that is not 2xx."""

    def __init__(self, url: str, status: int, retry_after: float | None = None):
        super().__init__(url, f"HTTP {status}", status=status)
        self.retry_after = retry_after


class RetryableStatus(HttpStatusError):
    """5xx, 408 or 429: the host is struggling or asks us to wait."""

    retryable = True


class PermanentStatus(HttpStatusError):
    """Any other 4xx (404, 410, 414...): asking again will not help."""

    permanent = True


class RefusedContent(FetchError):
    """The response is no page to read: not HTML, larger than the byte cap, or a download."""


class OffDomainError(FetchError):
    """The URL, or a redirect hop, leaves the site's domains or http(s). Never retried."""


class PrivateAddressError(OffDomainError):
    """The host resolves to a loopback or private address the site file does not allow."""


class OutputLockedError(NewscrawlError):
    """Another live crawl is writing this output file; two crawls cannot share one."""

    exit_code = ExitCode.LOCKED


class StateError(NewscrawlError):
    """The state file is unreadable (corrupt, not SQLite) or from a newer newscrawl."""

    exit_code = ExitCode.CONFIG


# ------------------------------------------------------------------ extracting

class ExtractionError(NewscrawlError):
    """An article's extraction did not finish: its worker process died, or could not start."""


class ExtractionTimeout(ExtractionError):
    """An article took longer than the extraction time limit (a catastrophic regex, say)."""


# ------------------------------------------------------------------ storage

class PathNotWritable(NewscrawlError):
    """Found before any fetch: an output, state or archive path cannot be written (read-only,
    no permission, no space, a symlink out of its folder). Nothing was fetched."""

    exit_code = ExitCode.CONFIG

    def __init__(self, path: str, problem: str):
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")


class StorageError(NewscrawlError):
    """Found mid-run: writing the output, state or archive failed (disk full, read-only, I/O
    error). The run stops; what was written before stays, and nothing unwritten is marked done."""

    exit_code = ExitCode.STORAGE

    def __init__(self, path: str, problem: str):
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")
