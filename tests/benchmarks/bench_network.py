#!/usr/bin/env python3
"""Network benchmarks: what a network of its own adds to `run --rm true`,
and 50 containers on one network resolving each other by name.

    python tests/benchmarks/bench_network.py    # as root, from the repo root

1. `jocker run --rm busybox true` on the default bridge network, with
   `--network none` (a stack of its own, lo only) and `--network host`,
   against podman's `run --rm` on its default bridge network, interleaved in
   the same run: medians, ratios, and the host commands each jocker mode
   runs. The bridge's setup + teardown cost is the difference to host.
2. 50 containers on one user network: the time to start them all, then
   every container checks that it resolves every other by name (/etc/hosts)
   and a sample of pairs really connects (busybox httpd + wget).

Nothing is asserted; numbers are ratios of medians measured in the same run.
Every host object is named with this run's prefix and removed at the end,
with the pool (see common.Sandbox); podman uses a private storage.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_containers import Podman  # noqa: E402
from common import (Sandbox, Summary, check_host, command_mix, fmt_ratio, log, median, ms,  # noqa: E402
                    print_table, quartiles, ratio, time_interleaved, time_once)

RUNS = 10
WARMUPS = 2
MEMBERS = 50
PAIRS = 20
PODMAN_FLAGS = ["--rm", "--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def _links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return {l.split(":")[1].strip().split("@")[0] for l in out.splitlines() if ":" in l}


def bench_run(sb: Sandbox, summary: Summary, podman: Podman) -> None:
    modes = {"bridge (default)": [], "none": ["--network", "none"], "host": ["--network", "host"]}
    fns = {f"jocker run --rm, {m}": (lambda a=a: time_once(sb.jocker_argv("run", "--rm", *a, "busybox:latest",
                                                                           "true"), env=sb.env))
           for m, a in modes.items()}
    links_before = _links()
    podman_ok = podman.setup(sb.busybox_rootfs())
    if podman_ok:
        argv = podman.argv("run", *PODMAN_FLAGS, podman.image, "true")
        fns["podman run --rm, default bridge"] = lambda: time_once(argv)
    else:
        print(f"podman: unavailable ({podman.reason})")
    times = time_interleaved(fns, RUNS, WARMUPS)
    base = median(times["jocker run --rm, host"])
    rows = []
    for name, xs in times.items():
        q1, q3 = quartiles(xs)
        rows.append([name, ms(median(xs)), f"{ms(q1)} - {ms(q3)}", fmt_ratio(ratio(median(xs), base)),
                     ms(median(xs) - base)])
    print_table(f"run --rm true ({RUNS} runs each, interleaved, after {WARMUPS} warm-ups)",
                ["command", "median", "IQR", "vs host", "added"], rows)
    rows = []
    for m, a in modes.items():
        traced = sb.trace_host_commands("run", "--rm", *a, "busybox:latest", "true")
        lines = [cmd for _, cmd in traced]
        net = [l for l in lines if l.split()[0].rsplit("/", 1)[-1] in ("ip", "nft", "sysctl", "nsenter")]
        rows.append([m, len(lines), len(net), command_mix(net)])
    print_table("host commands of one run --rm true", ["network", "all", "network", "network commands"], rows)
    bridge = median(times["jocker run --rm, bridge (default)"])
    if podman_ok:
        p = median(times["podman run --rm, default bridge"])
        summary.add("run --rm on the default bridge", "at most podman's", f"{fmt_ratio(ratio(bridge, p))} podman",
                    bridge <= p)
    summary.add("bridge setup+teardown added to run --rm", "reported", ms(bridge - base), None)
    if podman_ok:
        podman.cleanup()
    # podman's CNI bridge (and its iptables chains) stay, as podman leaves
    # them; they are podman's, so they are reported, not removed.
    leftovers = sorted(n for n in _links() - links_before if "podman" in n or n.startswith(("veth", "cni")))
    if leftovers:
        log(f"left by podman's default network (podman's own objects): {', '.join(leftovers)}")


def bench_members(sb: Sandbox, summary: Summary) -> None:
    sb.jocker("network", "create", "benchnet")
    names = [f"m{i}" for i in range(MEMBERS)]
    t0 = time.monotonic()
    for n in names:
        sb.jocker("run", "-d", "--name", n, "--network", "benchnet", "busybox:latest",
                  "sh", "-c", f"mkdir -p /w && echo {n} > /w/index.html && exec httpd -f -p 80 -h /w")
    started = time.monotonic() - t0
    script = "for n in " + " ".join(names) + "; do grep -qw $n /etc/hosts || echo missing $n; done"
    t0 = time.monotonic()
    missing = 0
    for n in names:
        out = sb.jocker("exec", n, "sh", "-c", script).stdout
        missing += out.count("missing")
    checked = time.monotonic() - t0
    rng = random.Random(7)
    ok = 0
    for _ in range(PAIRS):
        a, b = rng.sample(names, 2)
        out = sb.jocker("exec", a, "wget", "-q", "-O-", f"http://{b}/", check=False).stdout
        ok += out.strip() == b
    pairs = MEMBERS * (MEMBERS - 1)
    print_table(f"{MEMBERS} containers on one network", ["what", "result"], [
        ["start all (sequential run -d)", f"{started:.1f} s ({ms(started / MEMBERS)} each)"],
        ["name pairs resolved via /etc/hosts", f"{pairs - missing}/{pairs} ({checked:.1f} s for {MEMBERS} execs)"],
        [f"random pairs connected by name (httpd)", f"{ok}/{PAIRS}"],
    ])
    summary.add(f"{MEMBERS} members resolve each other", "every pair", f"{pairs - missing}/{pairs}",
                missing == 0)
    summary.add("sampled pairs connect by name", "all", f"{ok}/{PAIRS}", ok == PAIRS)
    for n in names:
        sb.jocker("rm", "-f", n, check=False)
    sb.jocker("network", "rm", "benchnet", check=False)


def main() -> None:
    check_host()
    summary = Summary("network benchmark summary")
    podman = Podman()
    with Sandbox("net") as sb:
        sb.import_busybox()
        try:
            bench_run(sb, summary, podman)
            bench_members(sb, summary)
        finally:
            podman.cleanup()
    summary.print()


if __name__ == "__main__":
    main()
