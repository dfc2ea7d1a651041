"""Soak (issue 5, section 5): a long crawl of the demo site with about 10% injected faults,
kill -9 at random moments, reruns. Not a test: it prints figures (tests/test_soak.py runs a
smaller version with assertions, using the functions here).

    .venv/bin/python bench/soak.py                                   # 2,000 articles, browser
    .venv/bin/python bench/soak.py --articles 300 --render http --kills 1 --seed 7

The demo server runs in this process on 127.0.0.1; each crawl is a `newscrawl crawl` child
process with politeness delays at 0, so it can be SIGKILLed. After the kills, runs go on until
one ends by itself, then one more (incremental) run must fetch no article again. Then:
  - every fetchable article is in the output exactly once (compared with the site's own list);
  - every article made unfetchable on purpose is a failed row in the state, with its reason;
  - PSS (from /proc/<pid>/smaps_rollup) of the crawl's Python, Playwright driver and Chromium
    processes, sampled over every run, stays flat.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from proctree import process_tree  # bench/proctree.py, beside this script

from crawler.demo.server import DemoServer, Fault, Faults
from crawler.demo.site import DemoSite
from crawler.sites import POLITENESS_KEYS
from crawler.state import CrawlState

DEMO_TOML = ROOT / "selectors" / "demo.toml"
DEMO_PORT_IN_FILE = "127.0.0.1:8765"
OFFSITE = "http://127.0.0.2:9/news/politics/1-elsewhere"  # outside demo.toml's domains
MAX_PAGES = 1000  # demo.toml says 5; the soak walks every section to its end
CHILD_TIMEOUT = 900  # seconds: no crawl child outlives this

# Fault kinds. A transient one ends before the crawler's retries do (or is an on-site redirect
# or a slow answer), so the article must still be written; a permanent one never ends, so the
# article must be a failed row whose reason matches the pattern.
TRANSIENT = ("5xx-then-ok", "429-retry-after", "hang", "redirect-on-site", "reset-once", "slow-drip")
PERMANENT = {"410-gone": r"HTTP 410", "redirect-loop": r"more than \d+ redirects|ERR_TOO_MANY_REDIRECTS",
             "redirect-off-site": r"outside the site's domains", "pdf": r"not an HTML page",
             "huge-page": r"larger than \d+ bytes", "bad-gzip": r"decompress|DECODING_FAILED"}
# Per fourteen faulted articles: eight transient, six permanent.
KIND_CYCLE = ("5xx-then-ok", "410-gone", "429-retry-after", "redirect-loop", "hang", "redirect-on-site",
              "redirect-off-site", "reset-once", "pdf", "slow-drip", "huge-page", "5xx-then-ok",
              "bad-gzip", "redirect-on-site")
FOREVER = 10_000  # hits: more than any soak makes
HUGE_PAGE = 10 * 1024 * 1024


# ------------------------------------------------------------------ faults

@dataclass
class FaultPlan:
    """Which article (by id) gets which fault, and the Fault objects the server holds."""

    kinds: dict[int, str] = field(default_factory=dict)
    injected: list[tuple[str, Fault]] = field(default_factory=list)  # (kind, fault), articles and pages

    def permanent_ids(self) -> set[int]:
        return {i for i, kind in self.kinds.items() if kind in PERMANENT}

    def count_by_kind(self) -> Counter:
        return Counter(self.kinds.values())

    def responses_injected(self) -> Counter:
        """Faulty answers the server really sent, by kind (hits beyond a fault's end excluded)."""
        sent: Counter = Counter()
        for kind, fault in self.injected:
            sent[kind] += _faulty_hits(fault)
        return sent


def _faulty_hits(fault: Fault) -> int:
    limits = [len(fault.status_sequence)] if fault.status_sequence else []
    if any(value is not None for value in (fault.retry_after, fault.hang_seconds,
                                           fault.reset_after, fault.drip_seconds)):
        limits.append(fault.times)
    return min(fault.hits, max(limits)) if limits else fault.hits


def plan_faults(site: DemoSite, faults: Faults, *, rate: float, timeout: float,
                rng: random.Random) -> FaultPlan:
    """Fault `rate` of the articles (kinds cycling through KIND_CYCLE) and, transiently,
    pages 2 and 3 of every section; page 1 lists one article under two more URLs."""
    plan = FaultPlan()
    ids = list(range(1, site.article_count + 1))
    chosen = sorted(rng.sample(ids, round(rate * len(ids))))
    for number, article_id in enumerate(chosen):
        kind = KIND_CYCLE[number % len(KIND_CYCLE)]
        plan.kinds[article_id] = kind
        plan.injected.append((kind, _article_fault(faults, site.article(article_id).url, kind, timeout)))
    for section in site.sections:
        alias = _alias_fault(site, faults, section, plan.kinds) if site.page_count(section) >= 2 else None
        if alias is not None:
            plan.injected.append(("section many-urls", alias))
        if site.page_count(section) >= 3:
            plan.injected.append(("section 5xx-then-ok",
                                  faults.add(site.section_url(section, 2), status_sequence=[503])))
            plan.injected.append(("section 429-retry-after",
                                  faults.add(site.section_url(section, 3), retry_after=1.0, times=1)))
    return plan


def _article_fault(faults: Faults, path: str, kind: str, timeout: float) -> Fault:
    match kind:
        case "5xx-then-ok":
            return faults.add(path, status_sequence=[500, 503])
        case "429-retry-after":
            return faults.add(path, retry_after=1.0, times=1)
        case "hang":
            return faults.add(path, hang_seconds=timeout + 1.5, times=1)
        case "redirect-on-site":  # to path?moved=1, whose canonical link names the article
            return faults.add(re.compile("^" + re.escape(path) + "$"), redirect_to=path + "?moved=1")
        case "reset-once":
            return faults.add(path, reset_after=300, times=1)
        case "slow-drip":  # slow, but within the timeout
            return faults.add(path, drip_seconds=timeout / 2, times=1)
        case "410-gone":
            return faults.add(path, status_sequence=[410] * FOREVER)
        case "redirect-loop":
            return faults.add(path, redirect_loop=True)
        case "redirect-off-site":
            return faults.add(path, redirect_to=OFFSITE)
        case "pdf":
            return faults.add(path, content_type="application/pdf")
        case "huge-page":
            return faults.add(path, huge_bytes=HUGE_PAGE)
        case "bad-gzip":
            return faults.add(path, bad_gzip=True)
    raise ValueError(f"unknown fault kind {kind}")


def _alias_fault(site: DemoSite, faults: Faults, section: str, faulted: dict[int, str]) -> Fault | None:
    """Section page 1 also lists an unfaulted article of page 2 under an old slug (the server
    301s it) and with a tracking parameter: one article, three URLs, one line."""
    candidates = [a for a in site.section_page(section, 2) if a.id not in faulted]
    if not candidates:
        return None
    article = candidates[0]
    old_slug = article.url.rsplit("/", 1)[0] + f"/{article.id}-an-older-headline"
    return faults.add(site.section_url(section, 1), extra_links=[old_slug, article.url + "?fbclid=soak"])


# ------------------------------------------------------------------ the crawl child

def soak_politeness(timeout: float) -> dict[str, float]:
    """The demo site's [crawl.politeness] for the soak. The back-off after a fault is cut to
    0.1 s, as in the tests, where site files may set it: with the 1 s default, pacer back-off
    is three quarters of a 300-article soak's time on a loopback server."""
    settings = {"timeout": timeout, "max_retries": 3}
    if {"backoff_base", "backoff_max"} <= POLITENESS_KEYS:
        settings.update(backoff_base=0.1, backoff_max=1.0)
    return settings


def write_selectors(folder: Path, base_url: str, politeness: dict[str, float]) -> Path:
    """demo.toml pointed at the server, with the soak's politeness."""
    folder.mkdir(parents=True, exist_ok=True)
    text = DEMO_TOML.read_text(encoding="utf-8").replace(DEMO_PORT_IN_FILE, base_url.split("://", 1)[1])
    text += "\n[crawl.politeness]\n" + "".join(f"{name} = {value:g}\n" for name, value in politeness.items())
    (folder / "demo.toml").write_text(text, encoding="utf-8")
    return folder


def newscrawl_argv() -> list[str]:
    script = Path(sys.executable).parent / "newscrawl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "crawler.cli"]


@dataclass
class SoakPaths:
    folder: Path

    @property
    def selectors(self) -> Path:
        return self.folder / "selectors"

    @property
    def output(self) -> Path:
        return self.folder / "out" / "demo.jsonl"

    @property
    def state(self) -> Path:
        return self.folder / "out" / "state.sqlite"

    def crawl_command(self, render: str, concurrency: int, run: int) -> list[str]:
        return [*newscrawl_argv(), "crawl", "--selectors", str(self.selectors), "--site", "demo",
                "--out", str(self.folder / "out" / "{site}.jsonl"), "--state", str(self.state),
                "--render", render, "--min-delay", "0", "--jitter", "0",
                "--concurrency", str(concurrency), "--max-pages", str(MAX_PAGES), "--quiet",
                "--summary-json", str(self.folder / f"summary-{run}.json")]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as handle:
            return sum(1 for _ in handle)
    except FileNotFoundError:
        return 0


@dataclass
class RunResult:
    run: int
    returncode: int
    seconds: float
    lines_before: int
    lines_after: int
    killed: bool
    summary: dict | None  # the child's --summary-json (None when it was killed)


def run_child(paths: SoakPaths, command: list[str], run: int, sampler: MemorySampler,
              kill_at_lines: int | None = None, rng: random.Random | None = None) -> RunResult:
    """One crawl child; SIGKILLed once the output holds `kill_at_lines` lines (plus a random
    fraction of a second, so the kill does not always land just after a write)."""
    before = count_lines(paths.output)
    started = time.monotonic()
    child = subprocess.Popen(command, env=child_env(), stdout=subprocess.DEVNULL)
    sampler.watch(child.pid, run)
    killed = False
    try:
        while child.poll() is None:
            if time.monotonic() - started > CHILD_TIMEOUT:
                break  # a stuck crawl: killed below, and the report says the run never ended
            if kill_at_lines is not None and count_lines(paths.output) >= kill_at_lines:
                time.sleep((rng or random).uniform(0, 0.5))
                if child.poll() is None:
                    child.send_signal(signal.SIGKILL)
                    killed = True
                break
            time.sleep(0.05)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        sampler.watch(None, run)
    summary_path = paths.folder / f"summary-{run}.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() and not killed else None
    return RunResult(run, child.returncode, time.monotonic() - started, before,
                     count_lines(paths.output), killed, summary)


# ------------------------------------------------------------------ memory

def pss_kib(pid: int) -> int:
    """Proportional set size: shared pages split between the processes sharing them, so the
    sum over Chromium's processes is not inflated as RSS would be."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def process_kind(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv0 = handle.read().split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        return "other"
    name = Path(argv0).name.lower()
    if "chrom" in name or "headless_shell" in name:
        return "chromium"
    if name == "node" or name.startswith("node"):
        return "driver"  # Playwright's Node.js driver
    if "python" in name or "newscrawl" in name:
        return "python"
    return "other"


@dataclass(frozen=True)
class MemorySample:
    seconds: float  # since the soak began
    run: int
    lines: int  # output lines so far (all runs)
    pss: dict[str, int]  # KiB by process kind

    @property
    def total(self) -> int:
        return sum(self.pss.values())


class MemorySampler(threading.Thread):
    """Every `interval` seconds, the PSS of the crawl child being watched, by process kind."""

    def __init__(self, output: Path, interval: float = 1.0):
        super().__init__(daemon=True)
        self.output, self.interval = output, interval
        self.samples: list[MemorySample] = []
        self.began = time.monotonic()
        self._watched: tuple[int | None, int] = (None, 0)
        self._lock = threading.Lock()
        self.done = threading.Event()

    def watch(self, pid: int | None, run: int) -> None:
        with self._lock:
            self._watched = (pid, run)

    def run(self) -> None:
        while not self.done.wait(self.interval):
            with self._lock:
                pid, run = self._watched
            if pid is None:
                continue
            pss: Counter = Counter()
            for member in process_tree(pid):
                pss[process_kind(member)] += pss_kib(member)
            if pss.total():
                self.samples.append(MemorySample(time.monotonic() - self.began, run,
                                                 count_lines(self.output), dict(pss)))


def flatness(samples: list[MemorySample], kind: str | None = None) -> dict[str, float]:
    """Median PSS (MiB) of the samples of the longest run in its second quarter and in its
    last quarter of articles written: growth between the two would be a leak."""
    if not samples:
        return {}
    by_run: dict[int, list[MemorySample]] = {}
    for sample in samples:
        by_run.setdefault(sample.run, []).append(sample)
    longest = max(by_run.values(), key=lambda run: run[-1].lines - run[0].lines)
    first, last = longest[0].lines, longest[-1].lines
    span = max(1, last - first)

    def median_between(low: float, high: float) -> float:
        values = sorted((s.pss.get(kind, 0) if kind else s.total) for s in longest
                        if first + low * span <= s.lines <= first + high * span)
        return values[len(values) // 2] / 1024 if values else float("nan")

    return {"run": longest[0].run, "lines_from": first, "lines_to": last,
            "second_quarter_mib": median_between(0.25, 0.5),
            "last_quarter_mib": median_between(0.75, 1.0),
            "peak_mib": max((s.pss.get(kind, 0) if kind else s.total) for s in longest) / 1024}


# ------------------------------------------------------------------ the verdict

@dataclass
class Verdict:
    expected: int  # fetchable articles on the site
    lines: int
    duplicates: int  # lines beyond the first for one article
    lost: list[str]  # fetchable, not written
    unexpected: list[str]  # written, but not a fetchable article of the site
    failed_rows: dict[str, str]  # url -> reason, from the state
    missing_failures: list[str]  # unfetchable on purpose, yet no failed row
    unexpected_failures: list[str]  # a failed row for anything else, or one left queued
    wrong_reasons: dict[str, str]  # failed row whose reason does not name its fault
    not_seen: list[str]  # written, yet the state does not say done
    done_rows: int
    bad_lines: int  # lines that do not parse (a torn line surviving a crash)

    @property
    def ok(self) -> bool:
        return not (self.duplicates or self.lost or self.unexpected or self.missing_failures
                    or self.unexpected_failures or self.wrong_reasons or self.not_seen or self.bad_lines)


def article_url(server: DemoServer, article_id: int) -> str:
    return server.base_url + server.site.article(article_id).url


def judge(server: DemoServer, plan: FaultPlan, paths: SoakPaths) -> Verdict:
    site = server.site
    permanent = plan.permanent_ids()
    fetchable = {article_url(server, i) for i in range(1, site.article_count + 1) if i not in permanent}
    unfetchable = {article_url(server, i): PERMANENT[plan.kinds[i]] for i in permanent}
    urls, bad = [], 0
    with open(paths.output, encoding="utf-8") as handle:
        for line in handle:
            try:
                urls.append(json.loads(line)["url"])
            except (ValueError, KeyError):
                bad += 1
    written = Counter(urls)
    with CrawlState(paths.state) as state:
        # A permanent fault that failed in ABANDON_AFTER_RUNS runs is abandoned: still a row
        # with its reason, no longer fetched.
        failed = {url: state.failure_reason(url) or ""
                  for url in state.failed_urls("demo") + state.abandoned_urls("demo")}
        left_queued = {url for url, _ in state.pending("demo")} - set(failed)  # found, never fetched
        not_seen = sorted(url for url in written if not state.is_seen(url))
        done_rows = state.counts("demo")["done"]
    return Verdict(
        expected=len(fetchable), lines=len(urls),
        duplicates=sum(count - 1 for count in written.values()),
        lost=sorted(fetchable - set(written)), unexpected=sorted(set(written) - fetchable),
        failed_rows=failed, missing_failures=sorted(set(unfetchable) - set(failed)),
        unexpected_failures=sorted((set(failed) | left_queued) - set(unfetchable)),
        wrong_reasons={url: failed[url] for url, pattern in unfetchable.items()
                       if url in failed and not re.search(pattern, failed[url])},
        not_seen=not_seen, done_rows=done_rows, bad_lines=bad)


# ------------------------------------------------------------------ the whole soak

@dataclass
class SoakResult:
    plan: FaultPlan
    runs: list[RunResult]
    verdict: Verdict
    samples: list[MemorySample]
    article_fetches: Counter  # article path -> requests the server saw for it
    final_run_article_fetches: int  # the incremental run: fetchable articles fetched again
    seconds: float


def soak(folder: Path, *, articles: int, render: str, kills: int, seed: int, rate: float = 0.10,
         per_page: int = 8, concurrency: int = 4, timeout: float = 2.0,
         kill_between: tuple[float, float] = (0.05, 0.9), max_runs: int = 8,
         sample_every: float = 1.0, log=print) -> SoakResult:
    """Crawl until a run ends by itself (the first `kills` runs are SIGKILLed once they have
    written a random share, within `kill_between`, of what was left), then once more."""
    rng = random.Random(seed)
    paths = SoakPaths(folder)
    site = DemoSite(articles=articles, per_page=per_page)
    started = time.monotonic()
    with DemoServer(site) as server:
        plan = plan_faults(site, server.faults, rate=rate, timeout=timeout, rng=rng)
        politeness = soak_politeness(timeout)
        log(f"demo site [crawl.politeness]: {politeness}; min_delay 0, jitter 0, concurrency {concurrency}")
        write_selectors(paths.selectors, server.base_url, politeness)
        sampler = MemorySampler(paths.output, interval=sample_every)
        sampler.start()
        runs: list[RunResult] = []
        fetchable = articles - len(plan.permanent_ids())
        section_pages = sum(site.page_count(section) for section in site.sections)
        try:
            for run in range(1, max_runs + 1):
                command = paths.crawl_command(render, concurrency, run)
                kill_at = None
                written = count_lines(paths.output)
                if run <= kills and fetchable - written > 10:
                    low, high = (round(share * (fetchable - written)) for share in kill_between)
                    kill_at = written + rng.randint(max(1, low), max(1, high))
                requests_before = len(server.requests)
                result = run_child(paths, command, run, sampler, kill_at, rng)
                runs.append(result)
                pages = sum(1 for r in server.requests[requests_before:] if r.path.startswith("/section/"))
                log(f"run {run}: exit {result.returncode}{' (SIGKILL)' if result.killed else ''} after "
                    f"{result.seconds:.1f}s, output {result.lines_before} -> {result.lines_after} lines"
                    + (f" (kill aimed at {kill_at})" if kill_at else "")
                    + f"; {pages} section page requests (the site has {section_pages})")
                if not result.killed and run > kills:
                    break
            before_final = len(server.requests)
            final = run_child(paths, paths.crawl_command(render, concurrency, len(runs) + 1),
                              len(runs) + 1, sampler)
            runs.append(final)
            log(f"run {final.run} (incremental): exit {final.returncode} after {final.seconds:.1f}s, "
                f"output {final.lines_before} -> {final.lines_after} lines")
        finally:
            sampler.done.set()
            sampler.join()
        permanent_paths = {site.article(i).url for i in plan.permanent_ids()}
        final_fetches = sum(1 for r in server.requests[before_final:]
                            if r.path.startswith("/news/") and r.path.split("?")[0] not in permanent_paths)
        fetches = Counter(r.path.split("?")[0] for r in server.requests if r.path.startswith("/news/"))
        verdict = judge(server, plan, paths)
    return SoakResult(plan, runs, verdict, sampler.samples, fetches, final_fetches,
                      time.monotonic() - started)


def report(result: SoakResult, args: argparse.Namespace) -> None:
    plan, verdict = result.plan, result.verdict
    print(f"\n== soak: {args.articles} articles, {args.render} mode, concurrency {args.concurrency}, "
          f"seed {args.seed}, {result.seconds:.0f}s in all ==")
    kinds = plan.count_by_kind()
    print(f"articles faulted: {len(plan.kinds)} of {args.articles} "
          f"({len(plan.kinds) / args.articles:.1%}): " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    sent = plan.responses_injected()
    print(f"faulty responses the server sent: {sum(sent.values())}: "
          + ", ".join(f"{k} {n}" for k, n in sorted(sent.items())))
    kills = [r for r in result.runs if r.killed]
    print(f"runs: {len(result.runs)}, killed with SIGKILL: {len(kills)} "
          f"(at {', '.join(str(r.lines_after) for r in kills) or '-'} lines)")
    retries = sum(r.summary["totals"]["retries"] for r in result.runs if r.summary)
    print(f"retries (runs that ended by themselves): {retries}")
    refetched = sum(n - 1 for n in result.article_fetches.values() if n > 1)
    print(f"article requests: {sum(result.article_fetches.values())} for {len(result.article_fetches)} paths "
          f"({refetched} beyond the first: retries, redirect hops, re-fetches after a kill)")
    print(f"\nfetchable articles: {verdict.expected}; output lines: {verdict.lines}; "
          f"duplicates: {verdict.duplicates}; lost: {len(verdict.lost)}; unexpected: {len(verdict.unexpected)}; "
          f"torn lines: {verdict.bad_lines}")
    print(f"state: {verdict.done_rows} done, {len(verdict.failed_rows)} failed "
          f"(expected {len(plan.permanent_ids())}); missing failures: {len(verdict.missing_failures)}; "
          f"unexpected failures: {len(verdict.unexpected_failures)}; "
          f"wrong reasons: {len(verdict.wrong_reasons)}; written but not done: {len(verdict.not_seen)}")
    reasons = Counter(re.sub(r"https?://\S+", "<url>", reason) for reason in verdict.failed_rows.values())
    for reason, count in reasons.most_common():
        print(f"  {count:4} x {reason}")
    print(f"incremental last run: {result.final_run_article_fetches} fetchable articles fetched again")
    for name, urls in (("lost", verdict.lost), ("unexpected", verdict.unexpected),
                       ("missing failures", verdict.missing_failures),
                       ("unexpected failures", verdict.unexpected_failures)):
        if urls:
            print(f"  {name}: {', '.join(urls[:5])}{' ...' if len(urls) > 5 else ''}")
    print("\nmemory (PSS, MiB) over the soak:")
    print(f"{'sec':>6} {'run':>3} {'lines':>6} {'python':>7} {'driver':>7} {'chromium':>8} {'total':>7}")
    step = max(1, len(result.samples) // 20)
    for sample in [*result.samples[::step], *result.samples[-1:]]:
        print(f"{sample.seconds:6.0f} {sample.run:3} {sample.lines:6} {sample.pss.get('python', 0) / 1024:7.0f} "
              f"{sample.pss.get('driver', 0) / 1024:7.0f} {sample.pss.get('chromium', 0) / 1024:8.0f} "
              f"{sample.total / 1024:7.0f}")
    flat = flatness(result.samples)
    if flat:
        print(f"longest run (run {flat['run']}, lines {flat['lines_from']}..{flat['lines_to']}): median total "
              f"{flat['second_quarter_mib']:.0f} MiB in its second quarter, {flat['last_quarter_mib']:.0f} MiB "
              f"in its last; peak {flat['peak_mib']:.0f} MiB")
    stuck = [r.run for r in result.runs if not r.killed and r.returncode not in (0, 1)]
    if stuck:
        print(f"runs that did not end by themselves (killed after {CHILD_TIMEOUT}s or from outside): {stuck}")
    print("\nverdict:", "OK" if soak_ok(result) else "PROBLEMS")


def soak_ok(result: SoakResult) -> bool:
    """Nothing lost or doubled, every failure recorded, and every run not killed on purpose
    ended by itself (0, or 1 for the recorded failures)."""
    ended = all(r.killed or r.returncode in (0, 1) for r in result.runs)
    return result.verdict.ok and result.final_run_article_fetches == 0 and ended


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--render", choices=("browser", "http"), default="browser")
    parser.add_argument("--kills", type=int, default=2, help="runs to SIGKILL at a random moment")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random, printed)")
    parser.add_argument("--rate", type=float, default=0.10, help="share of articles faulted")
    parser.add_argument("--per-page", type=int, default=8, help="articles per section page")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=None,
                        help="request timeout in seconds (default 2 for http, 5 for browser)")
    parser.add_argument("--kill-between", type=float, nargs=2, default=(0.05, 0.9), metavar=("LOW", "HIGH"),
                        help="kill once this share of the articles left is written (default 0.05 0.9)")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temp folder)")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1_000_000)
    timeout = args.timeout or (5.0 if args.render == "browser" else 2.0)
    print(f"{os.cpu_count()} CPUs, loadavg {os.getloadavg()[0]:.1f}; seed {args.seed}", flush=True)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        result = soak(folder, articles=args.articles, render=args.render, kills=args.kills, seed=args.seed,
                      rate=args.rate, per_page=args.per_page, concurrency=args.concurrency, timeout=timeout,
                      kill_between=tuple(args.kill_between), log=lambda text: print(text, flush=True))
        report(result, args)
    return 0 if soak_ok(result) else 1


if __name__ == "__main__":
    sys.exit(main())
