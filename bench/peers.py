"""newscrawl side by side with its peers on the demo site (issue 10). Not a test: it prints figures.

    make bench-peers                          # once: each peer in its own venv, bench/.peers/<peer>
    .venv/bin/python bench/peers.py           # 3 rounds, 300 articles, concurrency 1 and 4
    .venv/bin/python bench/peers.py --quick   # 1 round, 60 articles: a few minutes
    .venv/bin/python bench/peers.py --tools newscrawl-http scrapy --concurrency 4 --rounds 5

The tools, each a fresh process per run (start-up and browser launch included):
  newscrawl-http       newscrawl crawl --render http
  newscrawl-browser    newscrawl crawl --render browser
  scrapy               Scrapy, no browser              bench/peers/scrapy_spider.py
  scrapy-playwright    Scrapy + scrapy-playwright      bench/peers/scrapy_playwright_spider.py
  crawlee-parsel       Crawlee for Python, Parsel      bench/peers/crawlee_parsel.py
  crawlee-playwright   Crawlee for Python, Playwright  bench/peers/crawlee_playwright.py

All crawl one demo server (`newscrawl demo-site`, its own process, on 127.0.0.1) and do the same
work: robots.txt (obeyed: it forbids the drafts the section lists link to), the three sections,
their pagination to the end, every article once, then title + body paragraphs + dateline of
each into a JSON-lines file. Politeness is the same for all: no delay, no jitter, `c` requests in
flight to the one host. The http tools read the `<noscript>` copy of each section list; the
browser tools render every page in Debian's Chromium and read the list the page's script draws.

Rounds are interleaved: each round runs every tool at every concurrency once, in a shuffled
order, so a slow spell of the (shared) machine falls on several tools, not on all runs of one.
For each run:
  - articles/min: distinct correct articles written / wall time of the whole process;
  - CPU ms/article: user + system CPU of the whole process tree (Python, Playwright's driver,
    every Chromium process), exact: this script is a child subreaper, so every process below a
    run is reaped here or by its own parent, and its CPU lands in RUSAGE_CHILDREN;
  - peak PSS: the PSS (/proc/<pid>/smaps_rollup) summed over the tree, sampled every 0.2 s;
  - the check: every line is parsed and matched against the demo site's own article (title,
    paragraph count, dateline); a run passes when each of the site's articles was written exactly
    once, correctly, and nothing else was. A failed run is flagged in the table.
The table gives the median and the range over the rounds; the ratios compare medians.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proctree import process_tree  # bench/proctree.py, beside this script

from crawler.demo.site import DemoSite

ROOT = Path(__file__).resolve().parent.parent
PEER_SCRIPTS = ROOT / "bench" / "peers"
PEER_VENVS = ROOT / "bench" / ".peers"
NEWSCRAWL = ROOT / ".venv" / "bin" / "newscrawl"
DEMO_TOML = ROOT / "selectors" / "demo.toml"
SECTIONS = DemoSite().sections  # the demo-site command's default sections
SAMPLE_INTERVAL = 0.2
MIB = 2**20
PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class Tool:
    name: str
    label: str
    mode: str  # "http" or "browser"
    venv: str | None = None  # bench/.peers/<venv>; None for newscrawl (the project's .venv)
    script: str | None = None  # bench/peers/<script>

    def python(self) -> Path:
        return PEER_VENVS / self.venv / "bin" / "python"

    def missing(self) -> str | None:
        """Why this tool cannot run, or None."""
        if self.venv is None:
            return None if NEWSCRAWL.exists() else f"{NEWSCRAWL} missing (make setup)"
        if not (PEER_VENVS / self.venv / ".installed").exists():
            return f"bench/.peers/{self.venv} not installed (make bench-peers)"
        return None


TOOLS = {tool.name: tool for tool in (
    Tool("newscrawl-http", "newscrawl http", "http"),
    Tool("newscrawl-browser", "newscrawl browser", "browser"),
    Tool("scrapy", "Scrapy", "http", "scrapy", "scrapy_spider.py"),
    Tool("scrapy-playwright", "scrapy-playwright", "browser", "scrapy-playwright", "scrapy_playwright_spider.py"),
    Tool("crawlee-parsel", "Crawlee ParselCrawler", "http", "crawlee-parsel", "crawlee_parsel.py"),
    Tool("crawlee-playwright", "Crawlee PlaywrightCrawler", "browser", "crawlee-playwright",
         "crawlee_playwright.py"),
)}


# ------------------------------------------------------------------ the demo server

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_demo_server(articles: int, log: Path) -> tuple[subprocess.Popen, str]:
    """`newscrawl demo-site` in its own process (its CPU is nobody's), once it answers."""
    port = free_port()
    server = subprocess.Popen([str(NEWSCRAWL), "demo-site", "--port", str(port), "--articles", str(articles)],
                              stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base_url + "/robots.txt", timeout=2):
                return server, base_url
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"the demo server did not start; see {log}")


def section_urls(base_url: str) -> list[str]:
    return [f"{base_url}/section/{name}?page=1" for name in SECTIONS]


def demo_selectors(base_url: str, folder: Path) -> Path:
    """selectors/demo.toml with the section URLs on this run's port."""
    folder.mkdir(parents=True, exist_ok=True)
    text = DEMO_TOML.read_text(encoding="utf-8").replace("127.0.0.1:8765", urlsplit(base_url).netloc)
    (folder / "demo.toml").write_text(text, encoding="utf-8")
    return folder


# ------------------------------------------------------------------ one run

@dataclass
class Run:
    tool: str
    concurrency: int
    round: int
    status: str = "ok"  # ok, exit N, timeout
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    sampled_cpu_seconds: float = 0.0
    peak_pss: int = 0
    peak_processes: int = 0
    load: float = 0.0
    check: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "ok" and self.check.get("verdict") == "ok"

    @property
    def articles(self) -> int:
        return self.check.get("correct", 0)

    @property
    def per_minute(self) -> float:
        return self.articles / self.seconds * 60 if self.seconds and self.articles else 0.0

    @property
    def cpu_ms_per_article(self) -> float:
        return self.cpu_seconds * 1000 / self.articles if self.articles else float("nan")


def newscrawl_source(source: Path) -> str:
    """Which newscrawl code is measured: the folder and, in a git checkout, its commit and whether
    crawler/ has uncommitted changes (others may be editing it while the benchmark runs)."""
    try:
        commit = subprocess.run(["git", "-C", str(source), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--", "crawler"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"{source} (not a git checkout)"
    return f"{source} at {commit}{' + uncommitted changes in crawler/' if dirty else ''}"


def command(tool: Tool, base_url: str, concurrency: int, work: Path, selectors: Path,
            chromium: str) -> tuple[list[str], Path]:
    """(argv, the JSON-lines file it writes)."""
    if tool.venv is None:
        out = work / "demo.jsonl"
        return ([str(NEWSCRAWL), "crawl", "--site", "demo", "--selectors", str(selectors),
                 "--out", str(work / "{site}.jsonl"), "--state", str(work / "state.sqlite"),
                 "--render", tool.mode, "--min-delay", "0", "--jitter", "0",
                 "--concurrency", str(concurrency), "--max-pages", "10000", "-q"], out)
    out = work / "out.jsonl"
    argv = [str(tool.python()), str(PEER_SCRIPTS / tool.script), "--concurrency", str(concurrency),
            "--out", str(out)]
    for url in section_urls(base_url):
        argv += ["--start", url]
    if tool.mode == "browser":
        argv += ["--chromium", chromium]
    return argv, out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds `pid` has used (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pss(pid: int) -> int:
    """PSS in bytes: shared pages (Chromium's processes share most of theirs) divided among sharers."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # gone meanwhile, or a kernel thread
        pass
    return 0


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class RunTree:
    """The processes of one run: below this script, outside the demo server's tree. Orphans
    (Chromium outlives a driver that was killed) are reparented here, the child subreaper."""

    def __init__(self, server_pid: int):
        self.server_pid = server_pid

    def pids(self) -> list[int]:
        me = os.getpid()
        excluded = {me, *process_tree(self.server_pid)}
        return [pid for pid in process_tree(me) if pid not in excluded]

    def kill_all(self) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def reap(self) -> None:
        """Collect orphans that ended here (their CPU then counts in RUSAGE_CHILDREN)."""
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.server_pid:
                raise SystemExit("the demo server died during the benchmark")


def run_once(tool: Tool, concurrency: int, round_number: int, base_url: str, folder: Path,
             selectors: Path, expected: dict, timeout: float, chromium: str, tree: RunTree,
             source: Path) -> Run:
    work = folder / f"r{round_number}-{tool.name}-c{concurrency}"
    work.mkdir(parents=True)
    argv, out = command(tool, base_url, concurrency, work, selectors, chromium)
    env = {**os.environ, "CRAWLEE_STORAGE_DIR": str(work / "storage"), "PYTHONDONTWRITEBYTECODE": "1"}
    if tool.venv is None and source != ROOT:
        env["PYTHONPATH"] = str(source)  # ahead of the editable install's finder
    run = Run(tool.name, concurrency, round_number)
    log = work / "log.txt"
    cpu_before = children_cpu()
    started = time.monotonic()
    with log.open("w") as log_file:
        process = subprocess.Popen(argv, cwd=work, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        sampled: dict[int, float] = {}
        while process.poll() is None:
            if time.monotonic() - started > timeout:
                run.status = "timeout"
                stop(process)
                break
            pids = tree.pids()
            run.peak_pss = max(run.peak_pss, sum(pss(pid) for pid in pids))
            run.peak_processes = max(run.peak_processes, len(pids))
            for pid in pids:
                sampled[pid] = max(sampled.get(pid, 0.0), cpu_seconds(pid))
            try:  # returns as soon as the run ends, so its wall time is not rounded up to a sample
                process.wait(SAMPLE_INTERVAL)
            except subprocess.TimeoutExpired:
                pass
        run.seconds = time.monotonic() - started
    if run.status == "ok" and process.returncode != 0:
        run.status = f"exit {process.returncode}"
    # Whatever the run left behind (a browser whose driver was killed) goes too, by pid.
    deadline = time.monotonic() + 5
    while tree.pids() and time.monotonic() < deadline:
        tree.reap()
        time.sleep(0.1)
    tree.kill_all()
    time.sleep(0.1)
    tree.reap()
    run.cpu_seconds = children_cpu() - cpu_before
    run.sampled_cpu_seconds = sum(sampled.values())
    run.load = os.getloadavg()[0]
    run.check = check_output(out, expected)
    if not run.passed:
        run.check["log"] = str(log)
    return run


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the run's process group, SIGKILL after 5 s."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


# ------------------------------------------------------------------ the check

def expected_articles(count: int) -> dict[str, tuple[str, int, str]]:
    """path -> (title, paragraphs, dateline) for every article the demo site lists."""
    site = DemoSite(articles=count)
    found = {}
    for number in range(1, count + 1):
        article = site.article(number)
        found[article.url] = (article.title, len(article.paragraphs), article.dateline_text)
    return found


def check_output(out: Path, expected: dict[str, tuple[str, int, str]]) -> dict:
    """Every article of the site written exactly once, with the right fields, and nothing else."""
    seen: set[str] = set()
    lines = unparsed = duplicates = wrong = unexpected = 0
    try:
        handle = out.open(encoding="utf-8")
    except FileNotFoundError:
        handle = None
    if handle is not None:
        with handle:
            for line in handle:
                lines += 1
                try:
                    record = json.loads(line)
                    path = urlsplit(record["url"]).path
                except (ValueError, KeyError, TypeError, AttributeError):
                    unparsed += 1
                    continue
                if path not in expected:
                    unexpected += 1
                    continue
                if path in seen:
                    duplicates += 1
                    continue
                dateline = record.get("dateline")
                if isinstance(dateline, dict):  # newscrawl's record: text, published, place
                    dateline = dateline.get("text")
                title, paragraphs, dateline_text = expected[path]
                if (record.get("title") != title or len(record.get("paragraphs") or ()) != paragraphs
                        or dateline != dateline_text):
                    wrong += 1
                seen.add(path)
    correct = len(seen) - wrong
    missing = len(expected) - len(seen)
    problems = [f"{n} {what}" for n, what in ((missing, "missing"), (duplicates, "duplicates"),
                                              (wrong, "wrong fields"), (unexpected, "not articles"),
                                              (unparsed, "unreadable lines")) if n]
    return {"lines": lines, "unique": len(seen), "correct": correct, "missing": missing,
            "duplicates": duplicates, "wrong": wrong, "unexpected": unexpected, "unparsed": unparsed,
            "verdict": "ok" if not problems and handle is not None else
            ("no output file" if handle is None else ", ".join(problems))}


# ------------------------------------------------------------------ the report

def spread(values: list[float], digits: int = 0) -> str:
    """median (min-max)."""
    values = [v for v in values if not math.isnan(v)]  # NaN when a run wrote nothing
    if not values:
        return "-"
    fmt = f"{{:,.{digits}f}}"
    median = fmt.format(statistics.median(values))
    if len(values) == 1:
        return median
    return f"{median} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def medians(runs: list[Run]) -> dict[str, float] | None:
    good = [run for run in runs if run.articles]
    if not good:
        return None
    return {"rate": statistics.median(run.per_minute for run in good),
            "cpu": statistics.median(run.cpu_ms_per_article for run in good),
            "pss": statistics.median(run.peak_pss / MIB for run in good)}


def report(runs: list[Run], tools: list[Tool], concurrencies: list[int], skipped: dict[str, str]) -> None:
    print("\n## Results (median, range over the rounds in brackets)\n")
    print("| tool | mode | c | runs passed | articles/min | CPU ms/article | peak PSS MiB |")
    print("|---|---|---|---|---|---|---|")
    grouped: dict[tuple[str, int], list[Run]] = {}
    for run in runs:
        grouped.setdefault((run.tool, run.concurrency), []).append(run)
    for tool in tools:
        for concurrency in concurrencies:
            group = grouped.get((tool.name, concurrency), [])
            if not group:
                reason = skipped.get(tool.name, "not run")
                print(f"| {tool.label} | {tool.mode} | {concurrency} | {reason} | - | - | - |")
                continue
            passed = sum(run.passed for run in group)
            flag = "" if passed == len(group) else " **FAILED CHECK**"
            print(f"| {tool.label} | {tool.mode} | {concurrency} | {passed}/{len(group)}{flag} "
                  f"| {spread([r.per_minute for r in group])} "
                  f"| {spread([r.cpu_ms_per_article for r in group], 1)} "
                  f"| {spread([r.peak_pss / MIB for r in group])} |")
    print("\nCPU: the whole process tree (Python + driver + every Chromium process), all cores;"
          " PSS summed over the tree, sampled every 0.2 s.")

    print("\n## Ratios (of medians)\n")
    for concurrency in concurrencies:
        ours_http = medians(grouped.get(("newscrawl-http", concurrency), []))
        scrapy = medians(grouped.get(("scrapy", concurrency), []))
        if ours_http and scrapy:
            rate = ours_http["rate"] / scrapy["rate"]
            cpu = ours_http["cpu"] / scrapy["cpu"]
            print(f"c={concurrency} newscrawl http vs Scrapy: {rate:.2f}x the articles/min (goal >= 1.3: "
                  f"{'met' if rate >= 1.3 else 'NOT met'}), {cpu:.2f}x the CPU per article (goal <= 1: "
                  f"{'met' if cpu <= 1 else 'NOT met'}), peak PSS {ours_http['pss']:.0f} MiB vs Scrapy's "
                  f"{scrapy['pss']:.0f} (goal < 100: {'met' if ours_http['pss'] < 100 else 'NOT met'})")
        crawlee = medians(grouped.get(("crawlee-parsel", concurrency), []))
        if ours_http and crawlee:
            print(f"c={concurrency} newscrawl http vs Crawlee ParselCrawler: "
                  f"{ours_http['rate'] / crawlee['rate']:.2f}x the articles/min, "
                  f"{ours_http['cpu'] / crawlee['cpu']:.2f}x the CPU per article")
        ours_browser = medians(grouped.get(("newscrawl-browser", concurrency), []))
        for peer in ("scrapy-playwright", "crawlee-playwright"):
            theirs = medians(grouped.get((peer, concurrency), []))
            if ours_browser and theirs:
                print(f"c={concurrency} newscrawl browser vs {TOOLS[peer].label}: "
                      f"{ours_browser['rate'] / theirs['rate']:.2f}x the articles/min, "
                      f"{theirs['cpu'] / ours_browser['cpu']:.2f}x less CPU per article, "
                      f"peak PSS {ours_browser['pss']:.0f} vs {theirs['pss']:.0f} MiB")
    failed = [run for run in runs if not run.passed]
    if failed:
        print("\n## Failed runs\n")
        for run in failed:
            print(f"- round {run.round} {run.tool} c={run.concurrency}: {run.status}; "
                  f"{run.check['verdict']} (log: {run.check.get('log')})")


# ------------------------------------------------------------------ main

def become_subreaper() -> None:
    """Orphans of a run (Chromium after its driver ends) are then reparented to this process,
    so their CPU is still counted and they can still be ended by pid."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("warning: not a child subreaper; CPU of orphaned processes may be missed", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repeats (default 3)")
    parser.add_argument("--articles", type=int, default=300, help="demo site size (default 300)")
    parser.add_argument("--tools", nargs="+", choices=list(TOOLS), default=list(TOOLS), metavar="TOOL",
                        help=f"which tools (default all: {' '.join(TOOLS)})")
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 4], metavar="N",
                        help="requests in flight to the host (default: 1 4)")
    parser.add_argument("--quick", action="store_true", help="1 round of 60 articles: a few minutes")
    parser.add_argument("--timeout", type=float, default=600, help="seconds before a run is killed (default 600)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the run order (default: random, printed)")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="for the Playwright peers")
    parser.add_argument("--newscrawl-source", type=Path, default=ROOT, metavar="DIR",
                        help="measure the crawler package in DIR (e.g. `git archive HEAD crawler | tar -x -C DIR`"
                             " for the committed code while others edit the tree); default: this tree")
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    parser.add_argument("--keep", action="store_true", help="keep each run's folder (outputs, logs)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.articles = 1, min(args.articles, 60)
    seed = args.seed if args.seed is not None else random.randrange(10_000)

    tools = [TOOLS[name] for name in args.tools]
    skipped = {tool.name: reason for tool in tools if (reason := tool.missing())}
    if any(tool.mode == "browser" and tool.venv for tool in tools) and not os.access(args.chromium, os.X_OK):
        for tool in tools:
            if tool.mode == "browser" and tool.venv:
                skipped.setdefault(tool.name, f"no Chromium at {args.chromium}")
    for name, reason in skipped.items():
        print(f"skipping {name}: {reason}")
    runnable = [tool for tool in tools if tool.name not in skipped]

    become_subreaper()
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, loadavg {os.getloadavg()[0]:.1f}; "
          f"{args.articles} articles, {args.rounds} round(s), concurrency {args.concurrency}, "
          f"timeout {args.timeout:.0f} s a run, order seed {seed}")
    source = args.newscrawl_source.resolve()
    if not (source / "crawler" / "cli.py").exists():
        parser.error(f"no crawler package in {source}")
    print(f"newscrawl: {newscrawl_source(source)}")
    folder = Path(tempfile.mkdtemp(prefix="peers-bench-"))
    expected = expected_articles(args.articles)
    runs: list[Run] = []
    server, base_url = start_demo_server(args.articles, folder / "demo-server.log")
    tree = RunTree(server.pid)
    try:
        selectors = demo_selectors(base_url, folder / "selectors")
        order = random.Random(seed)
        for round_number in range(1, args.rounds + 1):
            jobs = [(tool, c) for tool in runnable for c in args.concurrency]
            order.shuffle(jobs)
            print(f"\nround {round_number}/{args.rounds}")
            for tool, concurrency in jobs:
                run = run_once(tool, concurrency, round_number, base_url, folder, selectors, expected,
                               args.timeout, args.chromium, tree, source)
                runs.append(run)
                verdict = "check ok" if run.passed else f"CHECK FAILED: {run.status}; {run.check['verdict']}"
                print(f"  {tool.name:18} c={concurrency}  {run.check['unique']:4}/{len(expected)} unique in "
                      f"{run.seconds:6.1f} s  {run.per_minute:7,.0f}/min  {run.cpu_ms_per_article:6.1f} CPU ms/article "
                      f"(sampled {run.sampled_cpu_seconds:5.1f} of {run.cpu_seconds:5.1f} s)  "
                      f"peak PSS {run.peak_pss / MIB:5.0f} MiB in {run.peak_processes:2} processes  "
                      f"load {run.load:.1f}  {verdict}", flush=True)
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
        if args.keep or any(not run.passed for run in runs):
            print(f"\nrun folders kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)

    report(runs, tools, args.concurrency, skipped)
    print(f"\nloadavg (1, 5, 15 min) at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"command: .venv/bin/python bench/peers.py {' '.join(sys.argv[1:])}".rstrip())
    if args.json:
        args.json.write_text(json.dumps([{**run.__dict__, "per_minute": run.per_minute,
                                          "cpu_ms_per_article": run.cpu_ms_per_article} for run in runs],
                                        indent=1), encoding="utf-8")
    return 0 if runs and all(run.passed for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
