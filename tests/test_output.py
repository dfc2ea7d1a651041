"""JSON-lines output: whole lines, durable, a torn tail repaired, paths kept inside the root."""

import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from crawler.errors import ConfigError, OutputLockedError
from crawler.output import JsonlWriter, repair

REPO = Path(__file__).resolve().parent.parent


def fixed_clock(text):
    return lambda: datetime.fromisoformat(text)


def read_records(path):
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_records_are_appended_one_per_line_to_the_site_and_utc_date_file(tmp_path):
    # 23:30 at UTC-02:00 is already the next day in UTC.
    writer = JsonlWriter(str(tmp_path / "out/{site}/{date}.jsonl"),
                         clock=fixed_clock("2025-03-03T23:30:00-02:00"))
    first = writer.write({"site": "demo", "title": "One\nwith a newline", "body": "ü"})
    second = writer.write({"site": "demo", "title": "Two"})
    other = writer.write({"site": "other", "title": "Three"})
    writer.close()
    assert first == second == tmp_path / "out/demo/2025-03-04.jsonl"
    assert other == tmp_path / "out/other/2025-03-04.jsonl"
    assert [r["title"] for r in read_records(first)] == ["One\nwith a newline", "Two"]
    assert read_records(other) == [{"site": "other", "title": "Three"}]
    assert first.read_bytes().endswith(b"\n")


def test_a_new_day_starts_a_new_file(tmp_path):
    now = ["2025-03-03T23:59:59+00:00"]
    writer = JsonlWriter(str(tmp_path / "{site}-{date}.jsonl"), clock=lambda: datetime.fromisoformat(now[0]))
    before = writer.write({"site": "demo", "n": 1})
    now[0] = "2025-03-04T00:00:01+00:00"
    after = writer.write({"site": "demo", "n": 2})
    writer.close()
    assert before.name == "demo-2025-03-03.jsonl" and after.name == "demo-2025-03-04.jsonl"


def test_a_later_writer_appends_after_earlier_lines(tmp_path):
    template = str(tmp_path / "{site}/{date}.jsonl")
    with JsonlWriter(template) as writer:
        path = writer.write({"site": "demo", "n": 1})
    with JsonlWriter(template) as writer:
        writer.write({"site": "demo", "n": 2})
    assert [r["n"] for r in read_records(path)] == [1, 2]


def test_repair_cuts_only_a_torn_last_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"n": 1}\n{"n": 2}\n{"n": 3, "bo')
    assert repair(path) == len(b'{"n": 3, "bo')
    assert path.read_bytes() == b'{"n": 1}\n{"n": 2}\n'
    assert repair(path) == 0  # whole lines are left alone
    assert repair(tmp_path / "missing.jsonl") == 0


def test_repair_gives_a_whole_json_last_line_its_missing_newline_instead_of_cutting_it(tmp_path):
    # An operator's editor saved the file without the final newline; the state says done.
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"n": 1}\n{"n": 2, "title": "whole"}')
    assert repair(path) == 0
    assert path.read_bytes() == b'{"n": 1}\n{"n": 2, "title": "whole"}\n'
    path.write_bytes(b'{"n": 1}\n{"n": 2, "title": "who')  # torn: still cut
    assert repair(path) == len(b'{"n": 2, "title": "who')
    path.write_bytes(b'{"n": 1}\n[2]')  # whole JSON, but not a record
    repair(path)
    assert path.read_bytes() == b'{"n": 1}\n'


def test_a_writer_appends_after_a_whole_last_line_that_lacked_its_newline(tmp_path):
    template = str(tmp_path / "{site}/{date}.jsonl")
    with JsonlWriter(template) as writer:
        path = writer.write({"site": "demo", "n": 1})
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    with JsonlWriter(template) as writer:
        writer.write({"site": "demo", "n": 2})
    assert [r["n"] for r in read_records(path)] == [1, 2]


def test_repair_of_a_file_with_no_complete_line_empties_it(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"x" * 200_000)  # longer than one repair chunk
    repair(path)
    assert path.read_bytes() == b""


def test_writing_after_a_crash_first_repairs_the_torn_tail(tmp_path):
    template = str(tmp_path / "{site}/{date}.jsonl")
    with JsonlWriter(template) as writer:
        path = writer.write({"site": "demo", "n": 1})
    with path.open("ab") as torn:
        torn.write(b'{"site": "demo", "n": 2, "ti')
    with JsonlWriter(template) as writer:
        writer.write({"site": "demo", "n": 3})
    assert [r["n"] for r in read_records(path)] == [1, 3]


@pytest.mark.parametrize("site", ["..", "../escape", "a/b", "", ".", "a\\b"])
def test_site_names_that_would_leave_the_output_root_are_refused(tmp_path, site):
    writer = JsonlWriter(str(tmp_path / "out/{site}/{date}.jsonl"))
    with pytest.raises(ValueError):
        writer.write({"site": site})
    writer.close()
    assert not (tmp_path / "escape").exists()


def test_an_unknown_template_placeholder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"\{section\}"):
        JsonlWriter(str(tmp_path / "{site}/{section}.jsonl"))


HOLDING_WRITER = """
import sys, time
from crawler.output import JsonlWriter
writer = JsonlWriter(sys.argv[1])
print(writer.write({"site": "demo", "n": 0}), flush=True)
time.sleep(30)
"""

SECOND_WRITER = """
import sys
from crawler.errors import OutputLockedError
from crawler.output import JsonlWriter
writer = JsonlWriter(sys.argv[1])
try:
    for n in range(1, 31):
        writer.write({"site": "demo", "n": n})
except OutputLockedError as error:
    print(error)
    sys.exit(3)
"""


def start_holding_writer(template):
    """A writer process that has written one line and keeps the file open; (process, path)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDING_WRITER, template], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    return holder, Path(holder.stdout.readline().strip())


def stop(process):
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=5)
    process.stdout.close()


def test_a_second_writer_process_on_the_same_file_fails_at_once_and_names_the_first(tmp_path):
    # Two crawls with their own --state but one --out wrote every article twice.
    template = str(tmp_path / "out/{site}/{date}.jsonl")
    holder, path = start_holding_writer(template)
    try:
        started = time.monotonic()
        second = subprocess.run([sys.executable, "-c", SECOND_WRITER, template], cwd=REPO, check=False,
                                capture_output=True, text=True, timeout=30)
        assert time.monotonic() - started < 10
        assert second.returncode == 3, second.stderr
        message = second.stdout.strip()
        assert message == (f"another crawl (process {holder.pid}) is writing {path}; two crawls "
                           "cannot share it: give each its own --out and --state")
        assert [r["n"] for r in read_records(path)] == [0]
    finally:
        stop(holder)
    # The kernel dropped the killed holder's lock: the next writer gets the file.
    second = subprocess.run([sys.executable, "-c", SECOND_WRITER, template], cwd=REPO, check=False,
                            capture_output=True, text=True, timeout=30)
    assert second.returncode == 0, second.stdout + second.stderr
    assert [r["n"] for r in read_records(path)] == list(range(31))


def test_repair_never_cuts_a_line_another_live_writer_is_writing(tmp_path):
    # A starting writer's repair used to truncate lines the other process was writing.
    template = str(tmp_path / "out/{site}/{date}.jsonl")
    holder, path = start_holding_writer(template)
    try:
        with path.open("ab") as in_flight:  # the holder's next line, half on disk so far
            in_flight.write(b'{"site": "demo", "n": 1, "body": "half')
        before = path.read_bytes()
        with pytest.raises(OutputLockedError, match=f"process {holder.pid}"):
            repair(path)
        with pytest.raises(OutputLockedError), JsonlWriter(template) as writer:
            writer.claim("demo")
        assert path.read_bytes() == before
    finally:
        stop(holder)


def test_claim_locks_the_file_before_anything_is_written_and_an_unused_claim_leaves_no_file(tmp_path):
    template = str(tmp_path / "out/{site}/{date}.jsonl")
    with JsonlWriter(template) as first:
        path = first.claim("demo")
        assert path.exists() and path.stat().st_size == 0
        with pytest.raises(OutputLockedError, match="give each its own --out and --state"):
            JsonlWriter(template).claim("demo")
    assert not path.exists()
    with JsonlWriter(template) as writer:  # released: a later writer claims and writes
        assert writer.claim("demo") == writer.write({"site": "demo", "n": 1}) == path
    assert read_records(path) == [{"site": "demo", "n": 1}]


APPENDER = """
import sys
from crawler.output import JsonlWriter
writer = JsonlWriter(sys.argv[1])
start, filler = int(sys.argv[2]), "x" * 300_000   # big lines: a kill can land mid-write
for n in range(start, start + 100_000):
    writer.write({"site": "demo", "n": n, "body": filler})
    print(n, flush=True)   # printed only after write returned (fsynced)
"""


def run_appender_and_kill(template, start, lines_before_kill):
    """Run a writer process, SIGKILL it after it reported `lines_before_kill` lines."""
    child = subprocess.Popen([sys.executable, "-c", APPENDER, template, str(start)], cwd=REPO,
                             stdout=subprocess.PIPE, text=True)
    reported = []
    try:
        deadline = time.monotonic() + 5
        while len(reported) < lines_before_kill and time.monotonic() < deadline:
            reported.append(int(child.stdout.readline()))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=5)
        child.stdout.close()
    return reported


TORN_WRITER = """
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
os.write(fd, b'{"site": "demo", "n": -1, "body": "half a li')
print("torn", flush=True)
time.sleep(10)
"""


def tear_last_line_and_kill(path):
    """A process killed half-way through a line: the crash our writer must recover from.

    Our own writer's single write+fsync is rarely caught mid-line by a kill, so this makes
    the torn tail certain instead of lucky.
    """
    child = subprocess.Popen([sys.executable, "-c", TORN_WRITER, str(path)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "torn"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=5)
        child.stdout.close()


def test_after_kill_9_and_a_rerun_every_line_is_whole_and_none_is_lost(tmp_path):
    template = str(tmp_path / "out/{site}/{date}.jsonl")
    first = run_appender_and_kill(template, 0, 20)
    [path] = (tmp_path / "out/demo").glob("*.jsonl")
    tear_last_line_and_kill(path)
    assert not path.read_bytes().endswith(b"\n")
    second = run_appender_and_kill(template, 1_000_000, 20)  # its writer repairs the tail
    assert len(first) == len(second) == 20, "the writer made too little progress in 5 s"

    repair(path)  # whatever the last kill left
    numbers = [record["n"] for record in read_records(path)]  # raises on any partial line
    assert len(numbers) == len(set(numbers))
    assert set(first) | set(second) <= set(numbers)
    assert -1 not in numbers
