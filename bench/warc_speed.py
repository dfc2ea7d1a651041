"""WARC library speed: warcio vs FastWARC, writing and reading news pages.

Benchmark, not a test. Writes N `response` records (generated news pages of 50-300 KB, the
HTTP headers a server sends, block and payload digests, WARC/1.0, each record its own gzip
member) with each library, then reads them back (every response's headers and payload bytes).
Each run is its own child process, so its CPU time and peak RSS are its own. Prints a table.
    .venv/bin/python bench/warc_speed.py [--pages N] [--level 1-9] [--repeat R]
`--archive` adds a row for crawler.archive.ArchiveWriter.write_page (which fsyncs each page).

Measured (2 shared cores, `--pages 400 --level 6 --archive`; 182 KiB pages, 71 MiB in all; CPU
is the figure to compare, wall time moves with the other work on the machine):
    library    phase   records/s    MB/s  CPU ms/rec  peak RSS MiB  (+ over import)  file MiB
    warcio     write         198      37        5.05          21.7              0.0      22.4
    warcio     read         1350     251        0.74          21.7              0.0      22.4
    fastwarc   write         314      58        3.16          22.9              1.2      22.4
    fastwarc   read         3282     610        0.30          21.8              0.1      22.4
    archive    write         261      49        3.57          34.3              4.8      22.4
At `--level 9` (warcio's own gzip) writing costs 8.35 (warcio) and 4.68 (FastWARC) ms per
record for files no smaller; reading 0.81 and 0.32. FastWARC is chosen: 2.5x less CPU to read
(what `newscrawl extract` over CC-NEWS files spends), 1.6x less to write, memory flat in both.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import json
import random
import resource
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from base64 import b32encode
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADERS = [("Server", "nginx"), ("Date", "Tue, 02 Dec 2025 08:00:00 GMT"),
           ("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "max-age=60"),
           ("Vary", "Accept-Encoding"), ("X-Cache", "HIT"),
           ("Set-Cookie", "consent=1; Path=/; Max-Age=31536000; SameSite=Lax")]


# ------------------------------------------------------------------ the pages

def make_pages(path: Path, count: int, seed: int = 11) -> int:
    """Write `count` news-like pages (50-300 KB of markup, prose, scripts) to `path`, each as
    a 4-byte length and the bytes; return the total bytes. Prose from a fixed vocabulary
    compresses about as real pages do (4-6x)."""
    rng = random.Random(seed)
    vocabulary = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyzäöü", k=rng.randint(2, 11)))
                  for _ in range(6000)]
    zipf = [1 / rank for rank in range(1, len(vocabulary) + 1)]  # word frequencies as in prose
    words = rng.choices(vocabulary, weights=zipf, k=200_000)  # drawn once; pages take slices
    script = "".join(f"function {w}(e){{return e.{v}(this,{len(w)})}};" for w, v in itertools.pairwise(words[:2000]))
    total = 0
    with open(path, "wb") as out:
        for number in range(count):
            target = rng.randint(50_000, 300_000)
            parts = ["<!doctype html><html lang=de><head><meta charset=utf-8>",
                     f"<title>{' '.join(sample(rng, words, 8))}</title>",
                     f"<script>{script[:rng.randint(2000, 20000)]}</script></head><body>",
                     "<nav>" + "".join(f'<a href="/ressort/{w}">{w}</a>' for w in sample(rng, words, 60))
                     + "</nav><article><h1>" + " ".join(sample(rng, words, 10)) + "</h1>"]
            size = sum(map(len, parts))
            while size < target:
                paragraph = f'<p class="text">{" ".join(sample(rng, words, rng.randint(30, 120)))}</p>\n'
                parts.append(paragraph)
                size += len(paragraph)
            parts.append(f"</article><footer>page {number}</footer></body></html>")
            page = "".join(parts).encode("utf-8")
            out.write(struct.pack(">I", len(page)) + page)
            total += len(page)
    return total


def sample(rng: random.Random, words: list[str], count: int) -> list[str]:
    start = rng.randrange(len(words) - count)
    return words[start:start + count]


def read_pages(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as source:
        while header := source.read(4):
            yield source.read(struct.unpack(">I", header)[0])


def url_of(number: int) -> str:
    return f"https://www.example-news.test/politik/artikel-{number}.html"


def sha1_label(data: bytes) -> str:
    return "sha1:" + b32encode(hashlib.sha1(data).digest()).decode("ascii")


def http_head(headers: list[tuple[str, str]], length: int) -> bytes:
    lines = ["HTTP/1.1 200 OK", *(f"{k}: {v}" for k, v in headers), f"Content-Length: {length}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# ------------------------------------------------------------------ one library each

def write_warcio(pages: Path, out_path: Path, level: int) -> int:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    count = 0
    with open(out_path, "wb") as out:
        if level == 9:  # warcio's own gzip (always level 9)
            writer = WARCWriter(out, gzip=True, warc_version="1.0")
        else:  # warcio builds the uncompressed record, we compress it as its own member
            buffer = io.BytesIO()
            writer = WARCWriter(buffer, gzip=False, warc_version="1.0")
        for number, body in enumerate(read_pages(pages)):
            headers = StatusAndHeaders("200 OK", [*HEADERS, ("Content-Length", str(len(body)))],
                                       protocol="HTTP/1.1")
            record = writer.create_warc_record(url_of(number), "response", payload=io.BytesIO(body),
                                               length=len(body), http_headers=headers)
            writer.write_record(record)
            if level != 9:
                packer = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS + 16)
                out.write(packer.compress(buffer.getvalue()) + packer.flush())
                buffer.seek(0)
                buffer.truncate()
            count += 1
    return count


def write_fastwarc(pages: Path, out_path: Path, level: int) -> int:
    from fastwarc.stream_io import GzipWriter
    from fastwarc.warc import WarcRecord, WarcRecordType

    count = 0
    with open(out_path, "wb") as out:
        for number, body in enumerate(read_pages(pages)):
            record = WarcRecord()
            record.init_headers(WarcRecordType.response, f"uuid:{uuid.uuid4()}".encode())
            record.headers.status_line = "WARC/1.0"
            record.headers["WARC-Target-URI"] = url_of(number)
            record.headers["Content-Type"] = "application/http; msgtype=response"
            record.headers["WARC-Payload-Digest"] = sha1_label(body)
            record.set_bytes_content(http_head(HEADERS, len(body)) + body)
            member = GzipWriter(out, compression_level=level)  # one gzip member per record
            record.write(member, checksum_data=True)
            member.close()
            count += 1
    return count


def read_warcio(path: Path) -> int:
    from warcio.archiveiterator import ArchiveIterator

    count = 0
    with open(path, "rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type == "response":
                record.http_headers.headers  # noqa: B018
                count += bool(record.raw_stream.read())
    return count


def read_fastwarc(path: Path) -> int:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    count = 0
    for record in ArchiveIterator(str(path), record_types=WarcRecordType.response, parse_http=True):
        record.http_headers.to_tuples()
        count += bool(record.reader.read())
    return count


def write_archive(pages: Path, out_path: Path, level: int) -> int:
    from datetime import UTC, datetime

    from crawler.archive import ArchiveWriter

    count = 0
    import shutil

    root = out_path.parent / "archive-module"
    shutil.rmtree(root, ignore_errors=True)  # each run writes its own files
    with ArchiveWriter(root) as writer:
        for number, body in enumerate(read_pages(pages)):
            writer.write_page("bench", url=url_of(number), status=200,
                              headers=[*HEADERS, ("Content-Length", str(len(body)))], body=body,
                              fetched_at=datetime.now(UTC))
            count += 1
    return count


JOBS = {("warcio", "write"): write_warcio, ("fastwarc", "write"): write_fastwarc,
        ("warcio", "read"): read_warcio, ("fastwarc", "read"): read_fastwarc,
        ("archive", "write"): write_archive}


def child(library: str, phase: str, pages: Path, warc: Path, level: int) -> None:
    """Run one job in this process and print its figures as one JSON line."""
    if library == "archive":
        import crawler.archive  # noqa: F401
    else:
        __import__(library)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu, wall = time.process_time(), time.perf_counter()
    if phase == "write":
        records = JOBS[library, phase](pages, warc, level)
    else:
        records = JOBS[library, phase](warc)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(json.dumps({"records": records, "cpu": cpu, "wall": wall, "rss_before_kb": rss_before,
                      "rss_peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def run_child(library: str, phase: str, pages: Path, warc: Path, level: int) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", library, phase, str(pages), str(warc),
                           str(level)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--level", type=int, default=6, help="gzip level (warcio's own gzip is 9)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per job; the best is shown")
    parser.add_argument("--archive", action="store_true", help="also time crawler.archive")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        library, phase, pages, warc, level = args.child
        child(library, phase, Path(pages), Path(warc), int(level))
        return

    with tempfile.TemporaryDirectory(prefix="warc-speed-") as folder:
        pages = Path(folder) / "pages.bin"
        total = make_pages(pages, args.pages)
        print(f"{args.pages} pages, {total / args.pages / 1024:.0f} KiB average, "
              f"{total / 2**20:.0f} MiB in all; gzip level {args.level}; best of {args.repeat}")
        print(f"{'library':<10} {'phase':<6} {'records/s':>10} {'MB/s':>7} {'CPU ms/rec':>11} "
              f"{'peak RSS MiB':>13} {'(+ over import)':>16} {'file MiB':>9}")
        libraries = ["warcio", "fastwarc"] + (["archive"] if args.archive else [])
        for library in libraries:
            warc = Path(folder) / f"{library}.warc.gz"
            for phase in ("write", "read"):
                if library == "archive" and phase == "read":
                    continue
                runs = [run_child(library, phase, pages, warc, args.level) for _ in range(args.repeat)]
                best = min(runs, key=lambda run: run["cpu"])
                records = best["records"]
                size = (sum(f.stat().st_size for f in (Path(folder) / "archive-module").rglob("*.warc.gz"))
                        if library == "archive" else warc.stat().st_size)
                print(f"{library:<10} {phase:<6} {records / best['wall']:>10.0f} "
                      f"{total / best['wall'] / 1e6:>7.0f} {best['cpu'] * 1000 / records:>11.2f} "
                      f"{best['rss_peak_kb'] / 1024:>13.1f} "
                      f"{(best['rss_peak_kb'] - best['rss_before_kb']) / 1024:>16.1f} "
                      f"{size / 2**20:>9.1f}")


if __name__ == "__main__":
    main()
