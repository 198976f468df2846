"""Benchmark `jocker build` (a script, not a pytest test):

    python tests/benchmarks/bench_build.py

On a throwaway pool in a sparse file under /var/tmp (removed at the end,
whatever happens) it measures:

* a 20-step Dockerfile: the cold build, then fully cached rebuilds (median of
  5) in-process (engine time) and through the CLI (wall time, interpreter
  start included), and the host commands a cached rebuild runs, counted from
  the JOCKER_TRACE file the runner appends to (goal: at most one per cached
  step, ideally zero);
* a COPY of a 100 MB context: the first content hash (time and bytes read),
  and the cached rebuild's bytes hashed (goal: 0, thanks to the persistent
  file-hash cache).

Nothing is asserted: the tables report goal vs measured.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (PY, Sandbox, Summary, check_host, log, median, ms, print_table,  # noqa: E402
                    run, time_runs)

SHIM = ("import jocker.cli.main as m; m.COMMANDS.setdefault('build', 'build:build_cmd'); m.run()")

DOCKERFILE_20 = """\
FROM busybox
LABEL org.example.bench=build
ENV APP=/srv/app MODE=bench
ARG VERSION=1.0
WORKDIR /srv/app
COPY app/ ./
RUN echo "$VERSION" > version
RUN mkdir -p data && echo one > data/one
ENV STAGE=two
RUN echo two > data/two
EXPOSE 8080
VOLUME ["/srv/app/data"]
USER nobody
RUN id -u > /tmp/uid
USER root
COPY config.ini /etc/app.ini
HEALTHCHECK --interval=30s CMD true
STOPSIGNAL SIGTERM
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /srv/app/version"]
"""


def _context_20(root: Path) -> Path:
    ctx = root / "ctx20"
    (ctx / "app").mkdir(parents=True)
    (ctx / "Dockerfile").write_text(DOCKERFILE_20)
    for i in range(20):
        (ctx / "app" / f"file{i}.txt").write_text(f"content {i}\n" * 100)
    (ctx / "config.ini").write_text("[app]\nmode=bench\n")
    return ctx


def _context_100mb(root: Path) -> Path:
    ctx = root / "ctx100"
    (ctx / "blob").mkdir(parents=True)
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY blob/ /blob/\n")
    chunk = os.urandom(1 << 20)
    for i in range(10):                          # 10 files of 10 MiB
        with open(ctx / "blob" / f"part{i}.bin", "wb") as f:
            for _ in range(10):
                f.write(chunk)
    return ctx


def _build(sb: Sandbox, ctx: Path, tags=(), no_cache=False):
    from jocker.builder.builder import build
    from jocker.engine_api.requests import BuildOptions
    opts = BuildOptions(context=str(ctx), tags=list(tags), no_cache=no_cache)
    return build(sb.engine, opts, stdout=io.BytesIO(), stderr=io.BytesIO())


def _traced(fn) -> tuple[object, list[str]]:
    fd, trace = tempfile.mkstemp(prefix="trace-")
    os.close(fd)
    os.environ["JOCKER_TRACE"] = trace
    try:
        result = fn()
        with open(trace) as f:
            lines = [l.rstrip("\n").split("\t", 1)[-1] for l in f if l.strip()]
    finally:
        del os.environ["JOCKER_TRACE"]
        os.unlink(trace)
    return result, lines


def bench_20_steps(sb: Sandbox, summary: Summary) -> None:
    ctx = _context_20(sb.workdir)
    steps = DOCKERFILE_20.count("\n")
    start = time.perf_counter()
    cold = _build(sb, ctx, tags=["bench:20"])
    cold_time = time.perf_counter() - start
    log(f"cold build: {cold.steps} steps, {ms(cold_time)}")
    warm_times = time_runs(lambda: _build(sb, ctx, tags=["bench:20"]), 5)
    warm, trace = _traced(lambda: _build(sb, ctx, tags=["bench:20"]))
    assert warm.image.id == cold.image.id, "a cached rebuild must give the same image"
    cli_times = time_runs(lambda: run([PY, "-c", SHIM, "build", "-t", "bench:20", ctx], env=sb.env), 5)
    per_step = len(trace) / max(warm.cached, 1)
    print_table("build: 20-step Dockerfile (busybox base)",
                ["steps", "cold build", "cached rebuild (engine, median of 5)",
                 "cached rebuild (CLI wall, median of 5)", "cache hits", "host commands (cached build)",
                 "per cached step"],
                [[steps, ms(cold_time), ms(median(warm_times)), ms(median(cli_times)),
                  f"{warm.cached}/{warm.steps}", len(trace), f"{per_step:.2f}"]])
    if trace:
        print("   host commands of the cached build: " + "; ".join(trace))
    summary.add("fully cached 20-step rebuild (engine)", "< 1 s", ms(median(warm_times)),
                median(warm_times) < 1.0)
    summary.add("host commands per cached step", "<= 1 (ideally 0)", f"{per_step:.2f}", per_step <= 1)
    sb.jocker("rmi", "bench:20")


def bench_100mb_copy(sb: Sandbox, summary: Summary) -> None:
    from jocker.builder.context import BuildContext
    ctx = _context_100mb(sb.workdir)
    size = sum(p.stat().st_size for p in (ctx / "blob").iterdir())
    # The hash alone, with an empty hash cache.
    with tempfile.TemporaryDirectory() as tmp:
        bc = BuildContext(str(ctx), cache_path=os.path.join(tmp, "hashes.json"))
        start = time.perf_counter()
        bc.content_hash(bc.resolve_sources(["blob/"]))
        hash_time = time.perf_counter() - start
        hashed_alone = bc.bytes_hashed
    start = time.perf_counter()
    first = _build(sb, ctx, tags=["bench:100mb"])
    first_time = time.perf_counter() - start
    rebuild_times = []
    for _ in range(3):
        start = time.perf_counter()
        again = _build(sb, ctx, tags=["bench:100mb"])
        rebuild_times.append(time.perf_counter() - start)
    print_table(f"build: COPY of a {size >> 20} MiB context",
                ["first hash (alone)", "bytes hashed", "first build (hash + copy + layer)",
                 "bytes hashed (first build)", "cached rebuild (median of 3)", "bytes hashed (cached rebuild)"],
                [[ms(hash_time), f"{hashed_alone:,}", ms(first_time), f"{first.bytes_hashed:,}",
                  ms(median(rebuild_times)), f"{again.bytes_hashed:,}"]])
    summary.add("cached rebuild of a 100 MB COPY: bytes hashed", "0", f"{again.bytes_hashed:,}",
                again.bytes_hashed == 0)
    sb.jocker("rmi", "bench:100mb")


def main() -> None:
    check_host()
    summary = Summary("bench_build")
    with Sandbox("build") as sb:
        sb.import_busybox()
        bench_20_steps(sb, summary)
        bench_100mb_copy(sb, summary)
    summary.print()

if __name__ == "__main__":
    main()
