"""Test names under `.test` in /etc/hosts, so a test can give a name any loopback address
(127.0.0.11 is as private as 127.0.0.1, but a different server can listen on it). Each
name is removed again when the block ends, even if the test fails."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

HOSTS = Path("/etc/hosts")
MARK = "# newscrawl-test"


def can_edit_hosts() -> bool:
    return os.access(HOSTS, os.W_OK)


needs_hosts = pytest.mark.skipif(not can_edit_hosts(), reason="/etc/hosts is not writable here")


@contextmanager
def hosts_entries(names: dict[str, str]) -> Iterator[None]:
    """Map each name (which must end in `.test`) to its address for the `with` block."""
    assert all(name.endswith(".test") for name in names), names
    tag = f"{MARK} {os.getpid()}"
    original = HOSTS.read_text()
    added = "".join(f"{address} {name} {tag}\n" for name, address in names.items())
    HOSTS.write_text(original + ("" if original.endswith("\n") else "\n") + added)
    try:
        yield
    finally:
        kept = [line for line in HOSTS.read_text().splitlines(keepends=True) if tag not in line]
        HOSTS.write_text("".join(kept))
