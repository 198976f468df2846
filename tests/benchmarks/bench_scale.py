#!/usr/bin/env python3
"""Scale (issue 9, item 15): `jocker images` and `jocker ps -a` with 1,000
images and 1,000 containers, against the bare `zfs get -r` each of them runs.

    python tests/benchmarks/bench_scale.py        # as root, from the repo root

Goal: within 2x of the bare read. The images (one busybox layer, 1,000
distinct configs with a tag each: one `zfs snapshot -o ...` each) and the
containers (ZFS clones, created and never started) are made in-process,
which is much faster than the CLI; what is timed is the real CLI in a
subprocess, interleaved with the exact `zfs get` it ran (from its trace).
`BENCH_SCALE_N` and `BENCH_SCALE_RUNS` change the count and the runs. Runs
on a throwaway pool destroyed at the end; nothing is asserted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_containers import add_containers  # noqa: E402
from bench_images import add_images  # noqa: E402
from common import (REPO, Sandbox, Summary, check_host, command_mix, log, median, ms,  # noqa: E402
                    print_table, quartiles, ratio, fmt_ratio, time_interleaved, time_once)

N = int(os.environ.get("BENCH_SCALE_N", "1000"))
RUNS = int(os.environ.get("BENCH_SCALE_RUNS", "7"))
GOAL = 2.0


def measure(sb: Sandbox, command: str, store: str) -> tuple[list[object], float]:
    """One row: jocker's median against its own `zfs get` run alone."""
    ncmd, lines = sb.count_host_commands(*command.split())
    zget = next(l.split() for l in lines if l.startswith("zfs get"))
    label = f"jocker {command}"
    times = time_interleaved({label: lambda: sb.time_jocker(*command.split()),
                              "zfs get": lambda: time_once(zget)}, RUNS, warmup=1)
    med, zmed = median(times[label]), median(times["zfs get"])
    q1, q3 = quartiles(times[label])
    zq1, zq3 = quartiles(times["zfs get"])
    r = ratio(med, zmed)
    return [f"`jocker {command}`", store, ncmd, command_mix(lines), ms(med), f"{ms(q1)} .. {ms(q3)}",
            ms(zmed), f"{ms(zq1)} .. {ms(zq3)}", fmt_ratio(r)], r


def main() -> int:
    check_host()
    os.chdir(REPO)
    summary = Summary("bench_scale")
    print(f"bench_scale: N={N}, median of {RUNS} interleaved runs, python {sys.version.split()[0]}")
    rows = []
    with Sandbox("scale", pool_size=4 << 30) as sb:
        try:
            base = sb.import_busybox()
            start = time.perf_counter()
            add_images(sb, base, 0, N - 1)                  # + busybox itself = N images
            log(f"{N} images made in {time.perf_counter() - start:.0f} s")
            listed = len(sb.jocker("images", "-q").stdout.split())
            row, r = measure(sb, "images", f"{listed} images")
            rows.append(row)
            summary.add(f"`images` at {listed} images vs its bare `zfs get`", f"<= {GOAL:g}x",
                        fmt_ratio(r), r <= GOAL)
            start = time.perf_counter()
            add_containers(sb, N)
            log(f"{N} containers made in {time.perf_counter() - start:.0f} s")
            listed_c = len(sb.jocker("ps", "-aq").stdout.split())
            store = f"{listed} images + {listed_c} containers"
            for command in ("ps -a", "images"):
                row, r = measure(sb, command, store)
                rows.append(row)
                summary.add(f"`{command}` at {store} vs its bare `zfs get`", f"<= {GOAL:g}x",
                            fmt_ratio(r), r <= GOAL)
        finally:
            # The pool goes at the end anyway: spare its cleanup 1,000 `rm`s.
            subprocess.run(["zfs", "destroy", "-r", f"{sb.env['JOCKER_DATASET']}/containers"],
                           capture_output=True)
            subprocess.run(["zfs", "create", f"{sb.env['JOCKER_DATASET']}/containers"], capture_output=True)
    print_table(f"listing at scale: median of {RUNS} interleaved runs (after 1 warm-up) of the CLI "
                "and of the exact `zfs get` it ran (JOCKER_TRACE)",
                ["command", "store", "host cmds", "which", "jocker", "p25 .. p75", "zfs get alone",
                 "p25 .. p75", "ratio"], rows)
    summary.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
