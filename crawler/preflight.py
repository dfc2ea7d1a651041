"""Before the first fetch: can this run write where it must? Each output file of today, the
state file and their folders are checked for write access, free space and an escape through
a symlink, so a read-only disk or a typo in --out is one clear line and exit 2, not a
traceback after the first page was fetched."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .errors import PathNotWritable

MIN_FREE_BYTES = 1024 * 1024  # below this a crawl would fail at its first line: say so now


def check_writable_file(path: Path, what: str) -> None:
    """Raise PathNotWritable unless `path` (a file that may not exist yet) can be written:
    its folder exists or can be made, is writable, and has MIN_FREE_BYTES free."""
    path = Path(path)
    if path.is_dir():
        raise PathNotWritable(str(path), f"the {what} is a folder, not a file")
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise PathNotWritable(str(folder), f"the {what} folder's path holds a file, not a folder") from None
    except OSError as exc:
        raise PathNotWritable(str(folder), f"cannot create the {what} folder: {_problem(exc)}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PathNotWritable(str(folder), f"the {what} folder is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise PathNotWritable(str(path), f"the {what} is not writable")
    probe = folder / f".newscrawl-write-test-{os.getpid()}"
    try:  # os.access does not see a read-only mount for root; a real create does
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise PathNotWritable(str(folder), f"cannot write in the {what} folder: {_problem(exc)}") from None
    free = free_bytes(folder)
    if free is not None and free < MIN_FREE_BYTES:
        raise PathNotWritable(str(folder), f"no space left for the {what} ({free} bytes free)")


def free_bytes(folder: Path) -> int | None:
    try:
        stats = os.statvfs(folder)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def _problem(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    return exc.strerror or str(exc)


def check_crawl_paths(writer, state_path: Path, site_names: list[str], archive=None) -> None:
    """Every path a crawl of `site_names` writes today: each site's output file, the state,
    and each site's archive file (when `archive`, an ArchiveWriter, is given)."""
    for name in site_names:
        try:
            path = writer.path_for(name)
        except ValueError as exc:  # e.g. a symlinked folder that leads out of the output root
            raise PathNotWritable(writer.template, str(exc)) from None
        check_writable_file(path, "output file")
        if archive is not None:
            try:
                archive_path = archive.path_for(name)
            except ValueError as exc:
                raise PathNotWritable(str(archive.root), str(exc)) from None
            check_writable_file(archive_path, "archive")
    check_writable_file(Path(state_path), "state")
