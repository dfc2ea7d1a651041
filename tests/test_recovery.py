"""Recovery: the state made to agree with the output after a crash (reconcile, at every crawl's
start) or after the state was lost (`newscrawl state rebuild`), and the output lock as a crawl
sees it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crawler.output import JsonlWriter
from crawler.recovery import DONE_RUN_TO_STOP, lines_backwards, output_files, rebuild, reconcile
from crawler.sites import load_site
from crawler.state import CrawlState

REPO = Path(__file__).resolve().parent.parent
DEMO = load_site(REPO / "selectors" / "demo.toml")
MIB = 1024 * 1024


def record(n: int, body_bytes: int = 100, site: str = "demo") -> dict:
    return {"url": f"https://demo.example/article/{n}", "site": site, "content_hash": f"sha256:{n}",
            "fetched_at": "2026-12-02T10:00:00+00:00", "body": "x" * body_bytes}


def write_today(tmp_path: Path, records: list[dict]) -> tuple[JsonlWriter, Path]:
    writer = JsonlWriter(str(tmp_path / "out/{site}/{date}.jsonl"))
    with JsonlWriter(writer.template) as appender:
        for one in records:
            path = appender.write(one)
    return writer, path


def mark(state: CrawlState, records: list[dict]) -> None:
    with state.transaction():
        for one in records:
            state.mark_done(one["url"], one["site"], one["content_hash"], one["fetched_at"])


def test_lines_backwards_yields_every_line_last_first_whatever_its_length(tmp_path):
    path = tmp_path / "lines"
    lines = [b"", b"a", b"bb" * 5, b"", b"c" * 23, b"d" * 7, b"e"]
    path.write_bytes(b"\n".join(lines) + b"\n")
    for chunk in (1, 3, 7, 8, 64 * 1024):
        assert list(lines_backwards(path, chunk)) == [b"", *reversed(lines)], chunk
    path.write_bytes(b"no newline at all")
    assert list(lines_backwards(path, 4)) == [b"no newline at all"]
    path.write_bytes(b"")
    assert list(lines_backwards(path)) == [b""]


def test_reconcile_with_an_empty_state_marks_every_line_of_the_file_not_only_its_last_mebibyte(tmp_path):
    # With the state deleted, 167 of 400 articles used to be fetched and written again.
    records = [record(n, body_bytes=5000) for n in range(400)]  # about 2 MiB
    writer, path = write_today(tmp_path, records)
    assert path.stat().st_size > 1.5 * MIB
    with CrawlState(tmp_path / "state.sqlite") as state:
        assert reconcile(writer, state, [DEMO]) == 400
        assert all(state.is_seen(one["url"]) for one in records)
        assert reconcile(writer, state, [DEMO]) == 0


def test_a_line_over_a_mebibyte_written_just_before_a_crash_is_marked_done(tmp_path):
    records = [record(n) for n in range(10)]
    big = record(10, body_bytes=3 * MIB)
    writer, _ = write_today(tmp_path, [*records, big])
    with CrawlState(tmp_path / "state.sqlite") as state:
        mark(state, records)  # the crash came between writing the big line and marking it
        assert reconcile(writer, state, [DEMO]) == 1
        assert state.is_seen(big["url"])


def test_reconcile_marks_lines_written_between_done_ones_and_yesterdays_too(tmp_path):
    yesterday = JsonlWriter(str(tmp_path / "out/{site}/{date}.jsonl"),
                            clock=lambda: datetime.now(UTC) - timedelta(days=1))
    with yesterday:
        yesterday.write(record(1000))
    records = [record(n) for n in range(40)]
    writer, _ = write_today(tmp_path, records)
    in_flight = {5, 17, 38}  # written by the workers in flight when the crawl was killed
    with CrawlState(tmp_path / "state.sqlite") as state:
        mark(state, [one for n, one in enumerate(records) if n not in in_flight])
        assert reconcile(writer, state, [DEMO]) == len(in_flight) + 1
        assert all(state.is_seen(one["url"]) for one in records)
        assert state.is_seen(record(1000)["url"])


@pytest.mark.parametrize(("done_between", "older_found"),
                         [(DONE_RUN_TO_STOP, False), (DONE_RUN_TO_STOP - 1, True)])
def test_reconcile_looks_no_further_back_than_a_long_run_of_done_records(tmp_path, done_between,
                                                                         older_found):
    # An intact state costs a few hundred lines, however long the file.
    older, newer = record(0), record(1)
    done = [record(n) for n in range(2, 2 + done_between)]
    writer, _ = write_today(tmp_path, [older, *done, newer])
    with CrawlState(tmp_path / "state.sqlite") as state:
        mark(state, done)
        assert reconcile(writer, state, [DEMO]) == 1 + older_found
        assert state.is_seen(newer["url"])
        assert state.is_seen(older["url"]) == older_found


def test_output_files_are_every_file_the_template_can_name(tmp_path):
    template = str(tmp_path / "out/{site}/{date}.jsonl")
    wanted = [tmp_path / "out/demo/2026-12-01.jsonl", tmp_path / "out/demo/2026-12-02.jsonl",
              tmp_path / "out/other/2025-01-31.jsonl"]
    for path in [*wanted, tmp_path / "out/demo/notes.jsonl", tmp_path / "out/demo/2026-12-02.jsonl.bak",
                 tmp_path / "out/summary.json"]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    assert output_files(template) == sorted(wanted)
    assert output_files(str(tmp_path / "none/{site}.jsonl")) == []


def test_rebuild_marks_every_record_of_every_output_file(tmp_path):
    template = str(tmp_path / "out/{site}/{date}.jsonl")
    files = {"demo/2026-11-30.jsonl": [record(1), record(2)], "demo/2026-12-01.jsonl": [record(3)],
             "other/2026-12-01.jsonl": [record(4, site="other")]}
    for name, records in files.items():
        path = tmp_path / "out" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(one) + "\n" for one in records))
    with (tmp_path / "out/demo/2026-12-01.jsonl").open("a") as torn:
        torn.write('{"url": "https://demo.example/article/5", "si')
    with CrawlState(tmp_path / "state.sqlite") as state:
        state.mark_done(record(1)["url"], "demo", "sha256:1")
        rebuilt = rebuild(template, state)
        assert (rebuilt.files, rebuilt.records, rebuilt.marked, rebuilt.skipped) == (3, 4, 3, 1)
        assert all(state.is_seen(record(n)["url"]) for n in range(1, 5))
        assert not state.is_seen("https://demo.example/article/5")
        assert state.counts("other") == {"done": 1, "failed": 0}
        row = state._db.execute("SELECT site, content_hash, fetched_at FROM articles WHERE url = ?",
                                (record(4)["url"],)).fetchone()
        assert row == ("other", "sha256:4", "2026-12-02T10:00:00+00:00")


def test_state_rebuild_command_reads_every_file_and_says_what_it_marked(tmp_path, newscrawl_command, child_env):
    out = tmp_path / "out"
    (out / "demo").mkdir(parents=True)
    (out / "demo/2026-11-30.jsonl").write_text("".join(json.dumps(record(n)) + "\n" for n in range(3)))
    (out / "demo/2026-12-01.jsonl").write_text(json.dumps(record(3)) + "\n")
    command = [*newscrawl_command, "state", "rebuild", "--out", str(out / "{site}/{date}.jsonl")]
    result = subprocess.run(command, cwd=tmp_path, env=child_env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    state_path = (out / "state.sqlite").resolve()  # the crawl's default: beside the output
    assert result.stdout == f"{state_path}: read 2 output files, 4 records, 4 newly marked done\n"
    with CrawlState(state_path) as state:
        assert state.counts("demo")["done"] == 4
    again = subprocess.run(command, cwd=tmp_path, env=child_env, capture_output=True, text=True,
                           timeout=60, check=False)
    assert again.stdout.endswith("4 records, 0 newly marked done\n")


HOLD_RUN_LOCK = """
import sys, time
from crawler.state import run_lock
with run_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(30)
"""


def test_state_rebuild_waits_for_no_crawl_it_exits_3_while_one_holds_the_state(tmp_path, newscrawl_command,
                                                                               child_env):
    state_path = tmp_path / "state.sqlite"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_RUN_LOCK, str(state_path)], cwd=REPO,
                              env=child_env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = subprocess.run([*newscrawl_command, "state", "rebuild", "--state", str(state_path),
                                 "--out", str(tmp_path / "out/{site}/{date}.jsonl")],
                                cwd=REPO, env=child_env, capture_output=True, text=True, timeout=60,
                                check=False)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=5)
        holder.stdout.close()
    assert result.returncode == 3
    assert f"process {holder.pid} holds the lock" in result.stderr


REBUILD_MEASURED = """
import resource, sys
from crawler.cli import main
code = main(sys.argv[1:])
print("maxrss_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
"""


def rebuild_peak_kib(out: Path, child_env) -> int:
    result = subprocess.run([sys.executable, "-c", REBUILD_MEASURED, "state", "rebuild",
                             "--out", str(out / "{site}/{date}.jsonl")],
                            cwd=REPO, env=child_env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split("maxrss_kib")[1])


def test_state_rebuild_streams_its_memory_stays_flat_on_a_big_file(tmp_path, child_env):
    small, big = tmp_path / "small", tmp_path / "big"
    for out, count in ((small, 10), (big, 40_000)):
        (out / "demo").mkdir(parents=True)
        with open(out / "demo/2026-12-01.jsonl", "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(record(n, body_bytes=2000)) + "\n" for n in range(count))
    assert (big / "demo/2026-12-01.jsonl").stat().st_size > 75 * MIB
    baseline, peak = rebuild_peak_kib(small, child_env), rebuild_peak_kib(big, child_env)
    assert peak - baseline < 30 * 1024, (baseline, peak)  # KiB: far below the file's 80 MiB


# ------------------------------------------------------------------ at the start of a crawl

def crawl_options(tmp_path, fast_politeness, template="out/{site}/{date}.jsonl"):
    return {"out_template": str(tmp_path / template), "state_path": tmp_path / "state.sqlite",
            "politeness_overrides": fast_politeness, "render_override": "http"}


def test_after_the_state_is_lost_state_rebuild_keeps_the_next_crawl_from_writing_anything_again(
        tmp_path, demo_server, demo_config, fast_politeness, capsys):
    from crawler.crawl import run_crawl

    options = crawl_options(tmp_path, fast_politeness)
    first = run_crawl([demo_config], **options)
    assert first.total("new") == 30
    [today] = (tmp_path / "out/demo").glob("*.jsonl")
    older = today.rename(today.with_name("2020-01-01.jsonl"))  # written on an earlier day
    (tmp_path / "state.sqlite").unlink()
    capsys.readouterr()

    with CrawlState(tmp_path / "state.sqlite") as state:
        rebuilt = rebuild(options["out_template"], state)
    assert (rebuilt.files, rebuilt.records, rebuilt.marked) == (1, 30, 30)
    second = run_crawl([demo_config], **options)
    assert second.total("new") == 0 and second.total("seen") == 30
    assert not today.exists() and len(older.read_text().splitlines()) == 30
    assert "state rebuild" not in capsys.readouterr().err


def test_a_crawl_starting_with_an_empty_state_beside_older_output_warns_once_naming_state_rebuild(
        tmp_path, demo_server, demo_config, fast_politeness, capsys):
    from crawler.crawl import run_crawl

    options = crawl_options(tmp_path, fast_politeness)
    older = tmp_path / "out/demo/2020-01-01.jsonl"
    older.parent.mkdir(parents=True)
    older.write_text(json.dumps(record(1)) + "\n")
    run_crawl([demo_config], max_articles=1, **options)
    warnings = [line for line in capsys.readouterr().err.splitlines() if "state rebuild" in line]
    state_path = options["state_path"]
    assert warnings == [(
        f"warning: the state {state_path} is empty, but {options['out_template']} names 1 output "
        "file(s) with articles; a crawl reads only today's and yesterday's, so older articles would "
        f"be written again: stop it and run `newscrawl state rebuild --out '{options['out_template']}' "
        f"--state {state_path}`")]
    run_crawl([demo_config], max_articles=1, **options)  # the state knows articles now
    assert "state rebuild" not in capsys.readouterr().err


HOLD_OUTPUT = """
import sys, time
from crawler.output import JsonlWriter
print(JsonlWriter(sys.argv[1]).claim("demo"), flush=True)
time.sleep(30)
"""


def test_a_crawl_sharing_another_crawls_output_exits_3_before_fetching_anything(
        tmp_path, demo_server, demo_selectors, newscrawl_command, child_env):
    template = str(tmp_path / "out/{site}/{date}.jsonl")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_OUTPUT, template], cwd=REPO, env=child_env,
                              stdout=subprocess.PIPE, text=True)
    try:
        path = holder.stdout.readline().strip()
        started = time.monotonic()
        result = subprocess.run([*newscrawl_command, "crawl", "--selectors", str(demo_selectors), "-q",
                                 "--render", "http", "--min-delay", "0", "--out", template,
                                 "--state", str(tmp_path / "own-state.sqlite")],
                                cwd=REPO, env=child_env, capture_output=True, text=True, timeout=120,
                                check=False)
        assert time.monotonic() - started < 60
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=5)
        holder.stdout.close()
    assert result.returncode == 3, result.stderr
    assert result.stderr == (f"newscrawl: another crawl (process {holder.pid}) is writing {path}; two "
                             "crawls cannot share it: give each its own --out and --state\n")
    assert demo_server.requests == []  # not even robots.txt
    assert os.path.getsize(path) == 0


def test_a_crawl_holds_todays_output_while_it_runs_and_releases_it_at_the_end(
        tmp_path, demo_server, demo_config, fast_politeness):
    from crawler.crawl import run_crawl
    from crawler.errors import OutputLockedError
    from crawler.progress import Progress

    options = crawl_options(tmp_path, fast_politeness)
    clashes = []

    class TryTheOutput(Progress):
        def article(self, site, url, outcome, detail=""):
            try:
                JsonlWriter(options["out_template"]).claim("demo")
            except OutputLockedError as error:
                clashes.append(error)

    run_crawl([demo_config], max_articles=2, progress=TryTheOutput(), **options)
    assert len(clashes) == 2
    with JsonlWriter(options["out_template"]) as after:
        after.claim("demo")
