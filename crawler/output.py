"""The JSON-lines output: one article per line, appended, every line whole and durable.

Each record goes out as ONE `os.write` of the full line on an O_APPEND file descriptor,
followed by `os.fsync`, so when `write` returns the line is on disk. A crash can only ever
tear the line being written; `repair` cuts that torn tail off before this process first
appends to a file, so no partial line survives a kill -9 into the next run.
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from .errors import ConfigError
from .settings import OUTPUT_TEMPLATE

TEMPLATE_FIELDS = frozenset({"site", "date"})
REPAIR_CHUNK = 64 * 1024


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
        except BaseException:
            os.ftruncate(fd, size_before)
            raise
        return path

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _fd(self, path: Path) -> int:
        fd = self._fds.get(path)
        if fd is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            is_new = not path.exists()
            repair(path)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            if is_new:
                _fsync_dir(path.parent)  # so the new file's name survives a crash too
            self._fds[path] = fd
        return fd


def repair(path: Path) -> int:
    """Cut a trailing partial line (left by a crash) off `path`; return the bytes removed.

    A missing or empty file, or one ending in a newline, is left alone.
    """
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return 0
    try:
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return 0
        keep = _end_of_last_line(fd, size)
        os.ftruncate(fd, keep)
        os.fsync(fd)
        return size - keep
    finally:
        os.close(fd)


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
