"""Shared fixtures: the demo news site on a loopback port, its selector file pointed at that
port, and politeness fast enough for tests (the pacing test sets its own delay)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO_SELECTORS = ROOT / "selectors" / "demo.toml"
DEMO_PORT_IN_FILE = "127.0.0.1:8765"

# Fast but still real: no delay between requests, quick back-off, short timeouts.
FAST_POLITENESS = {"min_delay": 0.0, "jitter": 0.0, "backoff_base": 0.1, "backoff_max": 1.0,
                   "timeout": 5.0, "max_retries": 3}


@pytest.fixture
def demo_site():
    from crawler.demo.site import DemoSite

    return DemoSite(articles=30, per_page=4)


@pytest.fixture
def demo_server(demo_site):
    from crawler.demo.server import DemoServer

    with DemoServer(demo_site) as server:
        yield server


def write_demo_selectors(folder: Path, base_url: str) -> Path:
    """A copy of selectors/demo.toml whose section URLs point at `base_url`."""
    folder.mkdir(parents=True, exist_ok=True)
    text = DEMO_SELECTORS.read_text(encoding="utf-8")
    host_port = base_url.split("://", 1)[1]
    (folder / "demo.toml").write_text(text.replace(DEMO_PORT_IN_FILE, host_port), encoding="utf-8")
    return folder


@pytest.fixture
def demo_selectors(tmp_path, demo_server) -> Path:
    return write_demo_selectors(tmp_path / "selectors", demo_server.base_url)


@pytest.fixture
def demo_config(demo_selectors):
    from crawler.sites import load_site

    return load_site(demo_selectors / "demo.toml")


@pytest.fixture
def fast_politeness() -> dict:
    return dict(FAST_POLITENESS)


@pytest.fixture
def newscrawl_command():
    """argv prefix that runs the CLI of this checkout in a child process."""
    return [sys.executable, "-m", "crawler.cli"]


@pytest.fixture
def child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env
