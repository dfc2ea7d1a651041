"""Which HTTP client for http mode (issue 10, section 1)? Not a test: it prints figures.

    .venv/bin/python bench/http_clients.py                  # 600 pages, c=1 and c=4, 3 repeats
    .venv/bin/python bench/http_clients.py --pages 300 --repeats 5 --page-kb 100

A loopback server in its own process serves --articles demo article pages, each padded to
--page-kb KiB with the markup a real article page carries (navigation, inline script). Each
client fetches --pages pages (cycling over the articles) with 1 and with 4 requests in flight,
in a fresh child process per run, and the runs are interleaved (client A, B, C, A, B, C...) so
that a load that drifts on a shared machine touches every client alike. Per run:
  - pages/s: pages over the wall time of the fetch phase (after start-up and 10 warm-up pages);
  - CPU ms/page: user + system CPU of the client's whole process tree during the fetch phase
    (Python, and Playwright's node driver for APIRequestContext);
  - peak RSS and PSS of that tree (PSS divides shared pages between processes).
The table gives the median and, in brackets, the range over the repeats.

httpx, h2 and hypercorn are not newscrawl's dependencies: a client whose modules are missing is
skipped with the pip line that installs them.

Clients: Playwright's APIRequestContext (http mode before this change), httpx over HTTP/1.1,
httpx over HTTP/2, aiohttp. aiohttp has no HTTP/2 client. On loopback there is no TLS, so HTTP/2
is tested as h2c with prior knowledge (httpx http1=False) against hypercorn, the one server here
that speaks it; the HTTP/1.1 runs use an aiohttp server. `--hypercorn` also runs httpx HTTP/1.1
against hypercorn, so that the h1/h2 comparison is on one server.

Measured 2026-12 (`bench/http_clients.py --hypercorn`: 600 pages of 100 KiB from 300 articles,
3 repeats, median [range]) on the 2-core machine while other engineers' tests and benchmarks
ran on it (load average 11-16): pages/s swings with that load, CPU per page and memory hardly.

    client                        c   pages/s          CPU ms/page        peak RSS MiB  peak PSS MiB
    Playwright APIRequestContext  1    237 [140-288]   2.66 [2.48-2.84]   207           162
    httpx HTTP/1.1                1    207 [154-400]   1.30 [1.21-1.30]    41            31
    httpx HTTP/2 (h2c, hypercorn) 1    120 [79-459]    1.77 [1.49-2.25]    41            31
    httpx HTTP/1.1 (hypercorn)    1    239 [155-521]   1.28 [1.16-1.38]    41            31
    aiohttp                       1   1071 [417-1958]  0.26 [0.25-0.33]    36            24
    Playwright APIRequestContext  4    161 [140-173]   2.67 [2.61-3.02]   219           172
    httpx HTTP/1.1                4    183 [120-522]   1.33 [1.13-1.43]    43            32
    httpx HTTP/2 (h2c, hypercorn) 4    119 [92-123]    1.80 [1.77-1.84]    44            33
    httpx HTTP/1.1 (hypercorn)    4    205 [195-498]   1.21 [1.16-1.31]    44            33
    aiohttp                       4    821 [630-906]   0.28 [0.25-0.30]    37            25

aiohttp was chosen: a tenth of Playwright's CPU per page and a fifth of httpx's, no driver
process (PSS 25 MiB against 162-172), and the fastest by far. HTTP/2 did not help httpx on
loopback (more CPU than its HTTP/1.1, against the same server); over TLS to a distant host it
may, but one connection per host at our concurrencies leaves it little to multiplex.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from proctree import process_tree  # bench/proctree.py, beside this script

CLIENTS = ("playwright", "httpx-h1", "httpx-h2", "aiohttp")
WARM_UP = 10
PADDING_BLOCK = ('<nav class="mega-menu"><ul>' + "".join(
    f'<li><a href="/section/s{n}">Section {n}</a></li>' for n in range(20)) +
    '</ul></nav><script>window.dataLayer=window.dataLayer||[];dataLayer.push({"event":"view"});</script>\n')


# ------------------------------------------------------------------ the server (its own process)

def render_pages(articles: int, page_kb: int) -> dict[str, bytes]:
    from crawler.demo.site import DemoSite

    site = DemoSite(articles=articles, per_page=25)
    pages = {}
    for article_id in range(1, articles + 1):
        article = site.article(article_id)
        html = site.render_article(article)
        missing = max(0, page_kb * 1024 - len(html.encode()))
        padding = PADDING_BLOCK * (missing // len(PADDING_BLOCK) + 1)
        pages[article.url] = html.replace("</body>", padding[:missing] + "</body>", 1).encode()
    return pages


def serve(kind: str, port_file: Path, articles: int, page_kb: int) -> None:
    pages = render_pages(articles, page_kb)
    if kind == "aiohttp":
        from aiohttp import web

        async def page(request):
            body = pages.get(request.path_qs)
            if body is None:
                return web.Response(status=404)
            return web.Response(body=body, content_type="text/html", charset="utf-8")

        async def main():
            app = web.Application()
            app.router.add_get("/{tail:.*}", page)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, backlog=256)
            await site.start()
            port = runner.addresses[0][1]
            port_file.write_text(str(port))
            await asyncio.sleep(3600)

        asyncio.run(main())
        return
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = pages.get(scope["path"])
        await send({"type": "http.response.start", "status": 200 if body else 404,
                    "headers": [(b"content-type", b"text/html; charset=utf-8"),
                                (b"content-length", str(len(body or b"")).encode())]})
        await send({"type": "http.response.body", "body": body or b""})

    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = config.errorlog = None
    config.loglevel = "WARNING"

    async def main():
        task = asyncio.ensure_future(hypercorn_serve(app, config))
        await asyncio.sleep(0.5)
        port_file.write_text(str(port))
        await task

    asyncio.run(main())


# ------------------------------------------------------------------ one client run (its own process)

def tree_cpu(root: int) -> float:
    total = 0.0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            continue
    return total


def tree_memory(root: int) -> tuple[int, int]:
    rss = pss = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
                for line in handle:
                    key, _, rest = line.partition(" ")
                    if key == "Rss:":
                        rss += int(rest.split()[0]) * 1024
                    elif key == "Pss:":
                        pss += int(rest.split()[0]) * 1024
        except OSError:
            continue
    return rss, pss


class PeakMemory(threading.Thread):
    def __init__(self, interval: float = 0.1):
        super().__init__(daemon=True)
        self.interval, self.rss, self.pss = interval, 0, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            rss, pss = tree_memory(os.getpid())
            self.rss, self.pss = max(self.rss, rss), max(self.pss, pss)


async def open_client(name: str, concurrency: int):
    """(get(url) -> body bytes, close())."""
    if name == "playwright":
        from playwright.async_api import async_playwright

        playwright = await async_playwright().start()
        context = await playwright.request.new_context()

        async def get(url):
            response = await context.get(url)
            body = await response.body()
            await response.dispose()
            return body

        async def close():
            await context.dispose()
            await playwright.stop()
        return get, close
    if name.startswith("httpx"):
        import httpx

        h2 = name == "httpx-h2"
        client = httpx.AsyncClient(http1=not h2, http2=h2,
                                   limits=httpx.Limits(max_connections=concurrency))

        async def get(url):
            response = await client.get(url)
            return response.content
        return get, client.aclose
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit_per_host=concurrency))

    async def get(url):
        async with session.get(url) as response:
            return await response.read()
    return get, session.close


async def client_run(name: str, urls: list[str], concurrency: int) -> dict:
    get, close = await open_client(name, concurrency)
    for url in urls[:WARM_UP]:
        await get(url)
    memory = PeakMemory()
    memory.start()
    queue = list(reversed(urls))
    received = 0

    async def worker():
        nonlocal received
        while queue:
            received += len(await get(queue.pop()))

    cpu_before, started = tree_cpu(os.getpid()), time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds, cpu = time.monotonic() - started, tree_cpu(os.getpid()) - cpu_before
    memory.done.set()
    memory.join()
    await close()
    return {"pages": len(urls), "seconds": seconds, "cpu": cpu, "rss": memory.rss, "pss": memory.pss,
            "bytes": received}


# ------------------------------------------------------------------ the parent

def start_server(kind: str, folder: Path, articles: int, page_kb: int) -> tuple[subprocess.Popen, int]:
    port_file = folder / f"{kind}.port"
    server = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port-file", str(port_file),
                               "--articles", str(articles), "--page-kb", str(page_kb)])
    deadline = time.monotonic() + 60
    while not port_file.exists() or not port_file.read_text():
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise SystemExit(f"the {kind} server did not start")
        time.sleep(0.1)
    return server, int(port_file.read_text())


def one_run(name: str, base_url: str, paths: list[str], pages: int, concurrency: int, folder: Path) -> dict | None:
    urls = [base_url + paths[i % len(paths)] for i in range(pages + WARM_UP)]
    url_file = folder / "urls.json"
    url_file.write_text(json.dumps({"warm": urls[:WARM_UP], "urls": urls[WARM_UP:]}))
    done = subprocess.run([sys.executable, __file__, "--client", name, "--concurrency", str(concurrency),
                           "--url-file", str(url_file)], check=False, capture_output=True, text=True,
                          timeout=600)
    if done.returncode != 0:
        print(f"  {name} c={concurrency} failed: {done.stderr.strip().splitlines()[-1:]}", flush=True)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


NEEDS = {"playwright": ("playwright",), "httpx-h1": ("httpx",), "httpx-h2": ("httpx", "h2", "hypercorn"),
         "aiohttp": ("aiohttp",)}


def installed(client: str) -> bool:
    """Whether `client` (and, for HTTP/2, its server) can run here; says what is missing."""
    import importlib.util

    missing = [module for module in NEEDS[client] if importlib.util.find_spec(module) is None]
    if missing:
        print(f"  skipping {client}: `.venv/bin/pip install {' '.join(missing)}` to measure it")
    return not missing


def summarise(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    return f"{format(statistics.median(values), fmt)} [{format(min(values), fmt)}-{format(max(values), fmt)}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=600, help="pages fetched per run")
    parser.add_argument("--articles", type=int, default=300, help="distinct article pages served")
    parser.add_argument("--page-kb", type=int, default=100, help="size of each page, KiB")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--hypercorn", action="store_true", help="also httpx-h1 against hypercorn")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port-file", help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url-file", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve:
        serve(args.serve, Path(args.port_file), args.articles, args.page_kb)
        return 0
    if args.client:
        urls = json.loads(Path(args.url_file).read_text())
        result = asyncio.run(client_run(args.client, urls["warm"] + urls["urls"], args.concurrency))
        print(json.dumps(result))
        return 0

    from crawler.demo.site import DemoSite

    site = DemoSite(articles=args.articles, per_page=25)
    paths = [site.article(i).url for i in range(1, args.articles + 1)]
    clients = [name for name in args.clients.split(",") if installed(name)]
    if args.hypercorn and not installed("httpx-h2"):
        args.hypercorn = False
    print(f"{os.cpu_count()} CPUs; {args.pages} pages of {args.page_kb} KiB from {args.articles} articles; "
          f"{args.repeats} repeats; loadavg {os.getloadavg()[0]:.1f}", flush=True)
    results: dict[tuple[str, int], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="http-clients-") as tmp:
        folder = Path(tmp)
        servers = {"aiohttp": start_server("aiohttp", folder, args.articles, args.page_kb)}
        if "httpx-h2" in clients or args.hypercorn:
            servers["hypercorn"] = start_server("hypercorn", folder, args.articles, args.page_kb)
        runs = [(name, "hypercorn" if name == "httpx-h2" else "aiohttp") for name in clients]
        if args.hypercorn:
            runs.append(("httpx-h1", "hypercorn"))
        try:
            for repeat in range(args.repeats):
                for concurrency in (1, 4):
                    for name, server in runs:
                        result = one_run(name, f"http://127.0.0.1:{servers[server][1]}", paths,
                                         args.pages, concurrency, folder)
                        if result:
                            result["load"] = os.getloadavg()[0]
                            results.setdefault((f"{name} ({server} server)", concurrency), []).append(result)
                print(f"  repeat {repeat + 1} done, loadavg {os.getloadavg()[0]:.1f}", flush=True)
        finally:
            for server, _ in servers.values():
                server.kill()
    mib = 2**20
    print(f"\n{'client':32} {'c':>2} {'pages/s':>20} {'CPU ms/page':>18} {'peak RSS MiB':>16} "
          f"{'peak PSS MiB':>16}")
    for (name, concurrency), runs_done in results.items():
        print(f"{name:32} {concurrency:2} "
              f"{summarise([r['pages'] / r['seconds'] for r in runs_done], '.0f'):>20} "
              f"{summarise([r['cpu'] * 1000 / r['pages'] for r in runs_done], '.2f'):>18} "
              f"{summarise([r['rss'] / mib for r in runs_done], '.0f'):>16} "
              f"{summarise([r['pss'] / mib for r in runs_done], '.0f'):>16}")
    print(f"\nloadavg (1, 5, 15 min) at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
