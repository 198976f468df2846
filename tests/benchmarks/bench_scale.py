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

from common import (REPO, Sandbox, Summary, check_host, command_mix, log, median, ms,  # noqa: E402
                    print_table, quartiles, ratio, fmt_ratio, time_interleaved, time_once)

N = int(os.environ.get("BENCH_SCALE_N", "1000"))
RUNS = int(os.environ.get("BENCH_SCALE_RUNS", "7"))
GOAL = 2.0


def add_images(sb: Sandbox, base_ref: str, count: int) -> None:
    """bench-<i>:latest on the busybox layer, distinct by a label: one `zfs
    snapshot -o ...` each, against one picture of the store kept current (a
    fresh read per image would make this quadratic)."""
    import copy
    engine = sb.engine
    st = engine.load_state()
    base = st.resolve(base_ref)
    for i in range(count):
        cfg = copy.deepcopy(base.config)
        cfg.setdefault("config", {}).setdefault("Labels", {})["bench.index"] = str(i)
        engine.store.create_image(base.layer, cfg, [f"bench-{i}:latest"], state=st)


def add_containers(sb: Sandbox, count: int) -> None:
    """One container made by the engine API (`--network none`, never
    started), then count-1 more like it, each one `zfs clone -o ...` of the
    same image snapshot with the first one's spec under a new ID and name:
    what create writes (but unmounted), without its per-container read of
    the whole store (quadratic at this scale)."""
    from jocker.engine_api import CreateRequest, JockerAPI
    from jocker.ids import new_id
    from jocker.storage import props as P
    engine = sb.engine
    first = JockerAPI(engine).containers.create(
        CreateRequest.from_cli("busybox:latest", ["true"], network="none", name="scale-0"))
    ds = engine.zfs.get(engine.layout.container(first))
    spec = P.decode_json(ds, "container.config")
    origin = ds.get("origin")
    for i in range(1, count):
        cid = new_id()
        spec = dict(spec, Id=cid, Name=f"/scale-{i}")
        # Not mounted (mountpoint=none): a listing reads the same properties
        # either way, and zfs-fuse fails past ~750 FUSE mounts on this host.
        props = {"mountpoint": "none", "jocker:container.name": f"scale-{i}"}
        props.update(P.encode_json("container.config", spec))
        os.makedirs(engine.layout.container_dir(cid), exist_ok=True)
        engine.zfs.clone(origin, engine.layout.container(cid), props)


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
    # An installed jocker (the port, pip) has its bytecode compiled; this
    # workbench sets PYTHONDONTWRITEBYTECODE, so without this every run
    # would compile ~60 modules first (~0.2 s, more than the read itself).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "jocker")], check=True)
    rows = []
    with Sandbox("scale", pool_size=4 << 30) as sb:
        try:
            base = sb.import_busybox()
            start = time.perf_counter()
            add_images(sb, base, N - 1)                     # + busybox itself = N images
            log(f"{N} images made in {time.perf_counter() - start:.0f} s")
            listed = len(sb.jocker("images", "-q").stdout.split())
            row, r = measure(sb, "images", f"{listed} images")
            rows.append(row)
            log("measured: " + " | ".join(map(str, row)))
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
                log("measured: " + " | ".join(map(str, row)))
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
