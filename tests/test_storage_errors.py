"""Paths the crawl cannot write: one clear line instead of a traceback, exit 2 when found
before any fetch, exit 4 when found mid-run (with the summary still written), and an `--every`
loop that outlives a failed run. Real small tmpfs mounts stand in for full and read-only disks.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path

from mounts import fill, needs_mount, tmpfs

from crawler.state import CrawlState

EXIT_CONFIG, EXIT_STORAGE = 2, 4


def crawl_command(newscrawl_command, selectors: Path, out: str, state: Path, *extra: str) -> list[str]:
    return [*newscrawl_command, "crawl", "--selectors", str(selectors), "--out", out,
            "--state", str(state), "--render", "http", "--min-delay", "0", "--jitter", "0", *extra]


def run(command, env, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def assert_one_line_error(stderr: str, *needles: str) -> None:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if "error" in line.lower() or "stopping" in line]
    assert lines, stderr
    assert all(needle in stderr for needle in needles), stderr


# ------------------------------------------------------------------ found before any fetch

@needs_mount
def test_a_read_only_output_folder_is_one_line_and_exit_2_before_any_fetch(
        tmp_path, demo_server, demo_selectors, newscrawl_command, child_env):
    with tmpfs(tmp_path / "ro", "1m", read_only=True) as folder:
        done = run(crawl_command(newscrawl_command, demo_selectors, str(folder / "{site}.jsonl"),
                                 tmp_path / "state.sqlite"), child_env)
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert_one_line_error(done.stderr, str(folder))
    assert demo_server.requests == []


@needs_mount
def test_a_read_only_state_folder_is_one_line_and_exit_2_before_any_fetch(
        tmp_path, demo_server, demo_selectors, newscrawl_command, child_env):
    with tmpfs(tmp_path / "ro", "1m", read_only=True) as folder:
        done = run(crawl_command(newscrawl_command, demo_selectors, str(tmp_path / "out" / "{site}.jsonl"),
                                 folder / "state.sqlite"), child_env)
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert_one_line_error(done.stderr, str(folder), "state")
    assert demo_server.requests == []


@needs_mount
def test_a_full_disk_is_one_line_and_exit_2_before_any_fetch(
        tmp_path, demo_server, demo_selectors, newscrawl_command, child_env):
    with tmpfs(tmp_path / "full", "2m") as folder:
        fill(folder)
        done = run(crawl_command(newscrawl_command, demo_selectors, str(folder / "{site}.jsonl"),
                                 tmp_path / "state.sqlite"), child_env)
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert_one_line_error(done.stderr, str(folder), "space")
    assert demo_server.requests == []


def test_a_symlink_out_of_the_output_folder_is_refused_before_any_fetch(
        tmp_path, demo_server, demo_selectors, newscrawl_command, child_env):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "demo").symlink_to(elsewhere)
    done = run(crawl_command(newscrawl_command, demo_selectors, str(tmp_path / "out" / "{site}" / "{date}.jsonl"),
                             tmp_path / "state.sqlite"), child_env)
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert_one_line_error(done.stderr, "escapes")
    assert demo_server.requests == [] and list(elsewhere.iterdir()) == []


# ------------------------------------------------------------------ found mid-run

@needs_mount
def test_a_disk_that_fills_mid_run_stops_the_crawl_with_exit_4_and_every_line_whole(
        tmp_path, demo_server, demo_selectors, newscrawl_command, child_env):
    summary_path = tmp_path / "summary.json"
    with tmpfs(tmp_path / "disk", "3m") as folder:
        output = folder / "demo.jsonl"
        lines = lambda: output.read_bytes().count(b"\n") if output.exists() else 0
        child = subprocess.Popen(
            crawl_command(newscrawl_command, demo_selectors, str(folder / "{site}.jsonl"),
                          tmp_path / "state.sqlite", "--min-delay", "0.15", "--summary-json",
                          str(summary_path)),
            env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while lines() < 4 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
        fill(folder)
        stdout, stderr = child.communicate(timeout=60)
        records = [json.loads(line) for line in output.read_text().splitlines()]
        assert output.read_bytes().endswith(b"\n")  # nothing half-written
    assert child.returncode == EXIT_STORAGE, stderr
    # Whichever write met the full disk first: the output file, or the archive beside it.
    assert_one_line_error(stderr)
    assert str(output) in stderr or str(folder / "archive" / "demo") in stderr, stderr
    assert 4 <= len(records) < 30
    assert "run stopped" in stdout
    assert json.loads(summary_path.read_text())["storage_error"]
    with CrawlState(tmp_path / "state.sqlite") as state:  # done only what is on disk
        assert state.counts("demo")["done"] <= len(records)


@needs_mount
def test_every_logs_a_failed_run_and_tries_again_at_the_next_tick(
        tmp_path, demo_server, demo_selectors, newscrawl_command, child_env):
    with tmpfs(tmp_path / "disk", "3m") as folder:
        filler = fill(folder)
        child = subprocess.Popen(
            crawl_command(newscrawl_command, demo_selectors, str(folder / "{site}.jsonl"),
                          tmp_path / "state.sqlite", "--every", "1s"),
            env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stderr_lines: list[str] = []
        reader = threading.Thread(target=lambda: stderr_lines.extend(child.stderr), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 30
            while not any("space" in line for line in stderr_lines) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert child.poll() is None, "the --every loop ended after one failed run"
            filler.unlink()
            output = folder / "demo.jsonl"
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not (
                    output.exists() and output.read_bytes().count(b"\n") >= 30):
                time.sleep(0.1)
            written = output.read_bytes().count(b"\n") if output.exists() else 0
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=30)
    assert written == 30
    assert child.returncode == 0
    assert not any("Traceback" in line for line in stderr_lines), stderr_lines


@needs_mount
def test_a_state_disk_that_fills_mid_run_stops_the_crawl_with_exit_4(
        tmp_path, demo_server, demo_selectors, newscrawl_command, child_env):
    output = tmp_path / "out" / "demo.jsonl"
    with tmpfs(tmp_path / "disk", "3m") as folder:
        child = subprocess.Popen(
            crawl_command(newscrawl_command, demo_selectors, str(tmp_path / "out" / "{site}.jsonl"),
                          folder / "state.sqlite", "--min-delay", "0.15"),
            env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while (not output.exists() or output.read_bytes().count(b"\n") < 4) and \
                time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
        fill(folder)
        _stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == EXIT_STORAGE, stderr
    assert_one_line_error(stderr, "state")
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert 4 <= len(records) < 30 and output.read_bytes().endswith(b"\n")

