"""The crawl's per-article work in worker processes, each page under a time limit.

The regexes of a selector file (`clean`, `pattern`, `drop`) run on text a site sends, and a
catastrophic one (`^(\\w+\\s?)*$` on a long paragraph) can run for hours. A regex that is
matching holds the interpreter: in the crawl's process the event loop, its timers and SIGTERM
would all wait for it. So each article is parsed and extracted in a worker process; a page
over the time limit gets its worker killed (nothing else stops a running regex) and
replaced, the article fails with its reason, and the crawl goes on. The extraction also runs
on a second core meanwhile.

Workers are started as the crawl needs them, up to `processes`, and each keeps the Sites it
was sent: a Site crosses the pipe once per worker, not once a page.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import subprocess
import sys
from collections import deque
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Self

from .errors import ExtractionError, ExtractionTimeout
from .extraction import Page, extract_parsed
from .record import Article
from .settings import EXTRACT_PROCESSES, EXTRACT_STOP_GRACE, EXTRACT_TIMEOUT
from .sites import Site
from .urls import canonical_url

# Each worker is a fresh interpreter (what multiprocessing calls "spawn"), started with
# subprocess. Not fork: the crawl's process has threads (the event loop's executor, the demo
# server's in tests), and a forked child can inherit a lock one of them held, then hang on it.
# Not multiprocessing's spawn or forkserver either: both re-run the parent's __main__ in the
# worker, which breaks any script that calls run_crawl without an `if __name__ == "__main__"`
# guard. The workers are children of the crawl itself, so the kernel kills them when it dies
# (PR_SET_PDEATHSIG below). A worker costs about 0.1 s of CPU to start: once per worker, and
# once per page killed.
WORKER_START_TIMEOUT = 60.0  # seconds a new worker may take to import the extraction
PR_SET_PDEATHSIG = 1  # linux/prctl.h
_READY = "ready"


def extract_article(html: str, final_url: str, site: Site, fetched_at: str | None) -> tuple[str, Article]:
    """(key, article) for a fetched page: the key is the canonical URL (the page's
    <link rel=canonical> when it stays on the site); the record is filed, and its relative
    links resolved, under it. Pure; what every worker runs."""
    page = Page(html, final_url)  # parsed once, for the key and the record
    canonical_link = page.css_first('link[rel="canonical"]')
    key = canonical_url(final_url, canonical_link.attributes.get("href") if canonical_link else None)
    page.url = key
    return key, extract_parsed(page, site, fetched_at=fetched_at)


# ------------------------------------------------------------------ in the worker

def _worker_main() -> None:
    """`python -c "...; _worker_main()" FD PARENT_PID`: serve the crawl on socket FD."""
    _serve(Connection(int(sys.argv[1])), int(sys.argv[2]))


def _serve(connection: Connection, parent_pid: int) -> None:
    """A worker's life: answer (token, site or None, html, url, fetched_at) with
    ("ok", (key, article)) or ("error", exception), until the pipe closes."""
    # Ctrl-C reaches the whole process group; the crawl decides when its workers end.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent_pid)
    sites: dict[int, Site] = {}
    connection.send(_READY)
    while True:
        try:
            token, site, html, url, fetched_at = connection.recv()
        except (EOFError, OSError):
            return  # the crawl closed the pipe, or ended
        if site is not None:
            sites[token] = site
        try:
            reply: tuple[str, object] = ("ok", extract_article(html, url, sites[token], fetched_at))
        except Exception as exc:  # noqa: BLE001  raised again in the crawl, as before the pool
            reply = ("error", exc)
        try:
            connection.send(reply)
        except Exception as exc:  # noqa: BLE001  an exception that does not pickle
            connection.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))


def _die_with_parent(parent_pid: int) -> None:
    """Have the kernel kill this worker when the crawl dies, even by kill -9 and even while
    a regex runs here (Linux; elsewhere a stuck worker outlives a killed crawl)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the crawl died before the prctl
        os._exit(0)


# ------------------------------------------------------------------ in the crawl

class _Worker:
    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        code = "from crawler.extract_pool import _worker_main; _worker_main()"
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code, str(theirs.fileno()), str(os.getpid())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=_worker_env())
        finally:
            theirs.close()
        self.connection = Connection(ours.detach())
        self.sites: set[int] = set()  # tokens of the Sites this worker holds

    @property
    def exit_code(self) -> int | None:
        return self.process.poll()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass  # unkillable (stuck in the kernel); init reaps it once it goes
        self.connection.close()


def _worker_env() -> dict[str, str]:
    """The environment, with this copy of the package first on the path: a worker must run
    the same code as the crawl, installed or not."""
    env = dict(os.environ)
    here = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


class ExtractPool:
    """`key, article = await pool.extract(site, html, url, fetched_at)` in a worker process.

    Raises ExtractionTimeout when the page takes longer than `timeout` seconds, or, once
    `stop` is set, longer than `stop_grace` more (the worker is killed either way), and
    ExtractionError when the worker dies. An exception of the extraction itself is raised
    as it is. `close()` kills every worker.
    """

    def __init__(self, processes: int = EXTRACT_PROCESSES, timeout: float = EXTRACT_TIMEOUT, *,
                 stop: asyncio.Event | None = None, stop_grace: float = EXTRACT_STOP_GRACE):
        self.processes, self.timeout = max(1, processes), timeout
        self.stop, self.stop_grace = stop, stop_grace
        self._workers: list[_Worker] = []  # every live worker, starting, busy or idle
        self._idle: list[_Worker] = []
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._starting: set[asyncio.Task[None]] = set()
        self._tokens: dict[int, int] = {}  # id(site) -> token
        self._sites: list[Site] = []  # kept alive, so an id is never reused for another Site
        self.started = 0  # workers started so far, replacements included
        self._closed = False
        self._broken: str | None = None  # why a worker could not start
        self._stopping: asyncio.Task | None = None  # stop.wait(), one for every page

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers."""
        return [w.process.pid for w in self._workers]

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        self.close()

    def start(self) -> None:
        """Start one worker now, so the first article does not wait for it."""
        if not self._workers and not self._starting:
            self._start_worker()

    async def extract(self, site: Site, html: str, url: str, fetched_at: str | None) -> tuple[str, Article]:
        worker = await self._acquire()
        try:
            token = self._token(site)
            worker.connection.send((token, None if token in worker.sites else site, html, url, fetched_at))
            worker.sites.add(token)
            await self._reply_in_time(worker)
            status, value = worker.connection.recv()
        except (EOFError, OSError):
            self._discard(worker)
            raise ExtractionError(f"extraction: the worker process died (exit code "
                                  f"{worker.exit_code})") from None
        except BaseException:  # over the time limit, or the crawl is cancelled mid-page
            self._discard(worker)
            raise
        self._release(worker)
        if status == "error":
            raise value
        return value

    def close(self) -> None:
        """Kill every worker (they hold nothing worth saving). Idempotent."""
        self._closed = True
        for task in self._starting:
            task.cancel()
        if self._stopping is not None:
            self._stopping.cancel()
        for worker in self._workers:
            if worker.process.poll() is None:
                worker.process.kill()
        for worker in self._workers:
            worker.kill()
        self._workers.clear()
        self._idle.clear()
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(ExtractionError("extraction: the pool was closed"))

    # -------------------------------------------------------------- workers

    def _token(self, site: Site) -> int:
        token = self._tokens.get(id(site))
        if token is None:
            token = self._tokens[id(site)] = len(self._sites)
            self._sites.append(site)
        return token

    async def _acquire(self) -> _Worker:
        loop = asyncio.get_running_loop()
        while True:
            if self._closed:
                raise ExtractionError("extraction: the pool was closed")
            if self._broken and not self._workers:
                raise ExtractionError(self._broken)
            if self._idle:
                return self._idle.pop()
            if not self._broken and len(self._workers) < self.processes and not self._starting:
                self._start_worker()  # in the background: the first worker free is taken
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiting.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # pass the wake-up on
                raise
            finally:
                if waiter in self._waiting:
                    self._waiting.remove(waiter)

    def _wake(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _release(self, worker: _Worker) -> None:
        self._idle.append(worker)
        self._wake()

    def _discard(self, worker: _Worker) -> None:
        worker.kill()
        if worker in self._workers:
            self._workers.remove(worker)
        if worker in self._idle:
            self._idle.remove(worker)
        self._wake()  # a waiter starts the replacement

    def _start_worker(self) -> None:
        worker = _Worker()
        self._workers.append(worker)
        self.started += 1
        task = asyncio.get_running_loop().create_task(self._await_ready(worker))
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def _await_ready(self, worker: _Worker) -> None:
        try:
            ready = await _readable(worker.connection, WORKER_START_TIMEOUT)
            if ready and worker.connection.recv() == _READY:
                self._release(worker)
                return
        except (EOFError, OSError):
            pass
        except asyncio.CancelledError:
            self._discard(worker)
            raise
        # No endless restarts: with no other worker alive, the waiting articles fail.
        worker.kill()
        self._broken = (f"extraction: a worker process did not start (exit code "
                        f"{worker.exit_code})")
        self._discard(worker)
        for waiter in self._waiting:
            if not waiter.done():
                waiter.set_result(None)

    async def _reply_in_time(self, worker: _Worker) -> None:
        """Return when the worker's reply can be read; raise ExtractionTimeout when the time
        limit runs out first or, once the crawl is stopping, the grace after the stop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        ready: asyncio.Future[None] = loop.create_future()
        descriptor = worker.connection.fileno()
        loop.add_reader(descriptor, _set_once, ready)
        if self.stop is not None and self._stopping is None:
            self._stopping = loop.create_task(self.stop.wait())
        stopping = self._stopping
        try:
            await asyncio.wait({ready} if stopping is None else {ready, stopping},
                               timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED)
            if ready.done():
                return
            if stopping is None or not stopping.done():
                raise ExtractionTimeout(f"extraction: took longer than {self.timeout:g}s")
            await asyncio.wait({ready}, timeout=max(0.0, min(self.stop_grace, deadline - loop.time())))
            if not ready.done():
                raise ExtractionTimeout(f"extraction: still running {self.stop_grace:g}s after "
                                        "the crawl was asked to stop")
        finally:
            loop.remove_reader(descriptor)  # now, before the descriptor is closed and reused
            ready.cancel()


def _set_once(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _readable(connection: Connection, timeout: float) -> bool:
    """True when `connection` has something to read (a message, or its end) within `timeout`."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    descriptor = connection.fileno()
    loop.add_reader(descriptor, _set_once, ready)
    try:
        await asyncio.wait_for(ready, timeout)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(descriptor)  # now, before the descriptor can be closed and reused
