"""The JSON-lines output: one article per line, appended, every line whole and durable.

Each record goes out as ONE `os.write` of the full line on an O_APPEND file descriptor,
followed by `os.fsync`, so when `write` returns the line is on disk. A crash can only ever
tear the line being written; `repair` cuts that torn tail off before this process first
appends to a file, so no partial line survives a kill -9 into the next run.

One writer at a time: a writer holds an exclusive flock on each file it opens (or `claim`s,
before the crawl fetches anything) until `close`, and repairs a file only under that lock. A
second crawl pointed at the same file fails at once with OutputLockedError, instead of
doubling the lines or cutting one the first crawl is still writing. The kernel drops the
lock when its holder dies, so a killed crawl leaves none behind.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import string
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from .errors import ConfigError, OutputLockedError, StorageError
from .settings import OUTPUT_TEMPLATE

TEMPLATE_FIELDS = frozenset({"site", "date"})
REPAIR_CHUNK = 64 * 1024
OPEN_ATTEMPTS = 5  # a file removed by its holder between our open and our lock: open it again


class JsonlWriter:
    """Appends records to the file named by `template` ({site}, {date} = UTC YYYY-MM-DD)."""

    def __init__(self, template: str = OUTPUT_TEMPLATE,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.template = template
        self.root = _template_root(template).resolve()
        self._clock = clock
        self._fds: dict[Path, int] = {}

    def path_for(self, site: str) -> Path:
        """Where a record of `site` written now goes. Refuses a path outside the output root."""
        if not site or site in (".", "..") or "/" in site or "\\" in site or "\0" in site:
            raise ValueError(f"site name {site!r} cannot be part of an output path")
        day = self._clock().astimezone(UTC).strftime("%Y-%m-%d")
        path = Path(self.template.format(site=site, date=day))
        if not path.resolve().is_relative_to(self.root):
            raise ValueError(f"output path {path} for site {site!r} escapes the output root {self.root}")
        return path

    def claim(self, site: str) -> Path:
        """Take the file a record of `site` written now goes to: lock it and repair it.

        The crawl claims every site's file before its first fetch, so a clash with another
        crawl ends the run before it has asked any site for anything. Raises OutputLockedError.
        """
        path = self.path_for(site)
        self._fd(path)
        return path

    def write(self, record: dict[str, Any]) -> Path:
        """Append `record` as one whole line; return the file. Durable when this returns."""
        path = self.path_for(record["site"])
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        fd = self._fd(path)
        size_before = os.fstat(fd).st_size
        try:
            written = os.write(fd, line)
            if written != len(line):  # a short write (disk full): never leave half a line
                raise OSError(f"short write to {path}: {written} of {len(line)} bytes")
            os.fsync(fd)
        except BaseException as exc:
            os.ftruncate(fd, size_before)
            if isinstance(exc, OSError):  # disk full, read-only, I/O error: the run must stop
                raise StorageError(str(path), f"cannot write the output: {exc.strerror or exc}") from None
            raise
        return path

    def close(self) -> None:
        """Release every file; one claimed but never written to is removed, not left empty."""
        for path, fd in self._fds.items():
            try:
                if os.fstat(fd).st_size == 0:
                    path.unlink(missing_ok=True)  # still under our lock: nobody writes it
            finally:
                os.close(fd)  # and with it the lock
        self._fds.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _fd(self, path: Path) -> int:
        fd = self._fds.get(path)
        if fd is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, created = _open_locked(path, create=True)
            try:
                _repair_locked(fd)
                if created:
                    _fsync_dir(path.parent)  # so the new file's name survives a crash too
            except BaseException:
                os.close(fd)
                raise
            self._fds[path] = fd
        return fd


def repair(path: Path) -> int:
    """Make `path` end in a whole line after a crash; return the bytes removed.

    A trailing partial line is cut off. A last line that is a whole JSON object but lacks its
    newline (a hand-edited file) gets the newline instead. A missing or empty file, or one
    ending in a newline, is left alone. Raises OutputLockedError while a writer holds the file.
    """
    try:
        fd, _ = _open_locked(path, create=False)
    except FileNotFoundError:
        return 0
    try:
        return _repair_locked(fd)
    finally:
        os.close(fd)


def _repair_locked(fd: int) -> int:
    """`repair` on a file this process holds the lock of."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return 0
    keep = _end_of_last_line(fd, size)
    if _is_record(os.pread(fd, size - keep, keep)):
        os.write(fd, b"\n")  # O_APPEND: at the end
        os.fsync(fd)
        return 0
    os.ftruncate(fd, keep)
    os.fsync(fd)
    return size - keep


def _is_record(line: bytes) -> bool:
    """A whole JSON object. A torn line never is: an object's text ends at its own last brace."""
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:  # UnicodeDecodeError included
        return False


def _open_locked(path: Path, *, create: bool, flags: str = "--out and --state") -> tuple[int, bool]:
    """Open `path` to read and append, under an exclusive flock; (fd, whether we created it).

    Raises OutputLockedError at once when another open file holds the lock, and
    FileNotFoundError when the file is missing and `create` is false. `flags` names the
    options that give each crawl a file of its own.
    """
    for _ in range(OPEN_ATTEMPTS):
        created = False
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            if not create:
                raise
            try:
                fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue  # created by someone else just now: open theirs
            created = True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = _flock_holder(fd)
            os.close(fd)
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            who = f"another crawl (process {holder})" if holder else "another crawl"
            raise OutputLockedError(
                f"{who} is writing {path}; two crawls cannot share it: "
                f"give each its own {flags}") from None
        if _is_same_file(fd, path):
            return fd, created
        os.close(fd)  # its last holder removed it (empty) between our open and our lock
    raise OutputLockedError(f"{path} keeps being removed and created again while we open it; "
                            f"is another crawl writing it? Give each its own {flags}")


def _is_same_file(fd: int, path: Path) -> bool:
    opened = os.fstat(fd)
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    return (opened.st_dev, opened.st_ino) == (named.st_dev, named.st_ino)


def _flock_holder(fd: int) -> int | None:
    """The pid holding an flock on the file open at `fd`, from /proc/locks (Linux), or None.

    A line reads `1: FLOCK  ADVISORY  WRITE 5183 fe:00:2146610 0 EOF` (pid, then device and
    inode); a waiter's line has `->` after the number and is skipped.
    """
    opened = os.fstat(fd)
    file_id = f"{os.major(opened.st_dev):02x}:{os.minor(opened.st_dev):02x}:{opened.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            for line in locks:
                fields = line.split()
                if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == file_id \
                        and fields[4].isdigit():
                    return int(fields[4])
    except OSError:
        pass
    return None


def _end_of_last_line(fd: int, size: int) -> int:
    """Offset just past the last newline in the file, or 0 when there is none."""
    end = size
    while end > 0:
        start = max(0, end - REPAIR_CHUNK)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


def _template_root(template: str) -> Path:
    """The folder every rendered path must stay inside: the template's fixed leading part."""
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    unknown = fields - TEMPLATE_FIELDS
    if unknown:
        raise ConfigError("--out", template,
                          f"unknown placeholder {{{min(unknown)}}}; use {{site}} and {{date}}")
    fixed = template.split("{", 1)[0]
    if fixed.endswith(("/", os.sep)):
        return Path(fixed)
    return Path(fixed).parent


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
