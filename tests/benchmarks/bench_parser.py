"""Dockerfile parser scaling on the inputs issue 14's fuzz run found slow.

Pure Python, no pool. For each input shape it parses (and expands) the input
at size N and 10*N and prints both times and their ratio: linear code shows a
ratio near 10, quadratic code near 100. The peer is the same parser on a
plain Dockerfile of the same size. Nothing here asserts a timing.

    python3 tests/benchmarks/bench_parser.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from jocker.builder.dockerfile import expand, parse  # noqa: E402
from jocker.builder.substitute import substitute  # noqa: E402


def _continued(n: int, unit: str = "a") -> str:
    """ENV x= + about n characters of `unit`s, over continuation lines of < 64 KiB."""
    per_line = 50000 // len(unit)
    lines, rest = divmod(n // len(unit), per_line)
    return "FROM s\nENV x=" + (unit * per_line + "\\\n") * lines + unit * rest + "b\n"


SHAPES = {
    "plain RUN lines (peer)": lambda n: "FROM s\n" + "RUN echo hello world\n" * (n // 21),
    "comment lines of spaces": lambda n: ("#a=x" + " " * 60000 + "y\n") * max(1, n // 60000) + "FROM s\n",
    "ENV over continuations": _continued,
    "${a:-} chains": lambda n: _continued(n, "${a:-b}"),
    "pattern ops": lambda n: _continued(n, "${x##*/}"),
}


def _time(text: str) -> float:
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        for stage in parse(text).stages:
            for instr in stage.instructions:
                expand(instr, {"x": "a/b/c"})
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    print(f"{'input':28} {'N':>9} {'t(N) ms':>9} {'t(10N) ms':>10} {'ratio':>6}")
    for name, make in SHAPES.items():
        for n in (6000, 60000):
            small, big = _time(make(n)), _time(make(n * 10))
            print(f"{name:28} {n:>9} {small * 1000:>9.2f} {big * 1000:>10.2f} {big / small:>6.1f}")
    start = time.perf_counter()
    substitute('"' + "a" * 1_000_000 + '"', {})
    print(f"substitute of 1 M quoted characters: {(time.perf_counter() - start) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
