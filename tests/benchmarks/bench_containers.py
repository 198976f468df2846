#!/usr/bin/env python3
"""Container benchmarks: `jocker run --rm` against podman, `jocker ps -a` as
containers pile up, and the per-container supervisor's memory.

    python tests/benchmarks/bench_containers.py    # as root, from the repo root

Every measurement is compared against a peer measured in the same run and
reported as a ratio of medians; nothing is asserted. If podman is missing it
is installed with `apt-get install -y podman runc` (and the output says so);
if podman still cannot run, its numbers are reported as unavailable and the
rest goes on. Podman uses a private storage (--root/--runroot/--tmpdir under a
temporary directory) that is removed at the end, as is the throwaway pool.
See tests/benchmarks/README.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (PY, REPO, Sandbox, Summary, check_host, command_mix, fmt_ratio, listing_row, log,  # noqa: E402
                    median, ms, peer_rows, print_table, ratio, run, time_interleaved, time_once)

RUN_RUNS = 10
RUN_WARMUPS = 2
CONTAINER_COUNTS = (10, 50, 200)
PS_RUNS = 5
SUPERVISORS = 5
RSS_GOAL_MB = 12.0
PODMAN_RUN_FLAGS = ["--rm", "--runtime", "runc", "--ulimit", "nofile=1024:1024",
                    "--ulimit", "nproc=1024:1024", "--network", "host"]


# -- podman, in a private storage ----------------------------------------------------
# Outside its --root/--runroot/--tmpdir, podman 4.3 as root still creates these
# (c/image's blob-info cache, runc's default state root probed even with
# --runtime-flag root=..., the per-user config directory): whichever did not
# exist before the benchmark is removed after it (directories only if empty).
HOST_SIDE_EFFECTS = ["/var/lib/containers/cache/blob-info-cache-v1.boltdb", "/var/lib/containers/cache",
                     "/var/lib/containers", "/run/runc",
                     os.path.expanduser("~/.config/containers/podman"),
                     os.path.expanduser("~/.config/containers")]


class Podman:
    """podman with --root/--runroot/--tmpdir (and runc's --root) in a
    temporary directory: the host's container storage is never used, and
    what podman creates elsewhere is removed afterwards."""

    def __init__(self):
        self.dir: Path | None = None
        self.storage_driver = ""
        self.image = ""
        self.reason = ""
        self.installed_now = False
        self.preexisting: dict[str, bool] = {}

    def global_flags(self) -> list[str]:
        d = self.dir
        flags = ["--root", str(d / "root"), "--runroot", str(d / "runroot"), "--tmpdir", str(d / "tmp"),
                 "--cgroup-manager=cgroupfs", "--events-backend=file",
                 "--runtime-flag", f"root={d / 'runc'}"]
        if self.storage_driver:
            flags += ["--storage-driver", self.storage_driver]
        return flags

    def argv(self, *args) -> list[str]:
        return ["podman", *self.global_flags(), *map(str, args)]

    def ensure_installed(self) -> bool:
        if shutil.which("podman") and shutil.which("runc"):
            return True
        log("podman or runc not found: installing them with `apt-get install -y podman runc`")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = ["apt-get", "install", "-y", "-q", "podman", "runc"]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            log("apt-get install failed; running `apt-get update` once and retrying")
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, text=True)
            p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            self.reason = f"apt-get install -y podman runc failed: {p.stderr.strip().splitlines()[-1:]}"
            return False
        self.installed_now = True
        log("installed podman and runc with apt-get")
        return bool(shutil.which("podman") and shutil.which("runc"))

    def setup(self, rootfs: Path) -> bool:
        """Import the busybox rootfs and check that `run` works; False (with
        self.reason) when podman cannot run here."""
        if not self.ensure_installed():
            self.reason = self.reason or "podman/runc not installed"
            return False
        self.preexisting = {p: os.path.lexists(p) for p in HOST_SIDE_EFFECTS}
        self.dir = Path(tempfile.mkdtemp(prefix="jocker-bench-podman-", dir="/var/tmp"))
        tarball = self.dir / "busybox.tar"
        run(["tar", "-C", rootfs, "-cf", tarball, "."])
        errors = []
        for driver in ("", "vfs"):      # podman's default (overlay), else vfs
            self.storage_driver = driver
            p = subprocess.run(self.argv("import", tarball, "localhost/jocker-bench-busybox:latest"),
                               capture_output=True, text=True, timeout=300)
            if p.returncode != 0:
                errors.append(f"import ({driver or 'default driver'}): {_last_line(p.stderr)}")
                self._reset_storage()
                continue
            self.image = "localhost/jocker-bench-busybox:latest"
            p = subprocess.run(self.argv("run", *PODMAN_RUN_FLAGS, self.image, "true"),
                               capture_output=True, text=True, timeout=300)
            if p.returncode == 0:
                info = subprocess.run(self.argv("info", "--format", "{{.Store.GraphDriverName}}"),
                                      capture_output=True, text=True)
                self.storage_driver = driver
                log(f"podman {self.version()}: storage driver {info.stdout.strip() or driver or '?'}, "
                    f"private storage in {self.dir}")
                return True
            errors.append(f"run ({driver or 'default driver'}): {_last_line(p.stderr)}")
            self._reset_storage()
        self.reason = "; ".join(errors)
        return False

    def version(self) -> str:
        p = subprocess.run(["podman", "--version"], capture_output=True, text=True)
        return p.stdout.strip().split()[-1] if p.returncode == 0 else "?"

    def _reset_storage(self) -> None:
        subprocess.run(self.argv("rm", "-af"), capture_output=True, timeout=300)
        subprocess.run(self.argv("rmi", "-af"), capture_output=True, timeout=300)
        _unmount_under(self.dir)
        for sub in ("root", "runroot", "tmp", "runc"):
            shutil.rmtree(self.dir / sub, ignore_errors=True)

    def cleanup(self) -> None:
        if self.dir is None:
            return
        try:
            self._reset_storage()
        finally:
            _unmount_under(self.dir)
            shutil.rmtree(self.dir, ignore_errors=True)
            removed, kept = self._undo_host_side_effects()
            log(f"cleaned up: podman's private storage {self.dir} removed"
                + (f"; removed what podman created outside it: {', '.join(removed)}" if removed else "")
                + (f"; left (not empty): {', '.join(kept)}" if kept else ""))
            self.dir = None

    def _undo_host_side_effects(self) -> tuple[list[str], list[str]]:
        removed, kept = [], []
        for p in HOST_SIDE_EFFECTS:         # files first, then their directories
            if self.preexisting.get(p, True) or not os.path.lexists(p):
                continue
            try:
                if os.path.isdir(p) and not os.path.islink(p):
                    os.rmdir(p)
                else:
                    os.unlink(p)
                removed.append(p)
            except OSError:
                kept.append(p)
        return removed, kept


def _last_line(text: str) -> str:
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-1][:300] if lines else "(no output)"


def _unmount_under(d: Path | None) -> None:
    if d is None:
        return
    prefix = str(d) + "/"
    with open("/proc/self/mounts") as f:
        mounts = [line.split()[1] for line in f if line.split()[1].startswith(prefix)]
    for m in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)


# -- 1. run --rm true ------------------------------------------------------------------
def bench_run(sb: Sandbox, summary: Summary, podman: Podman) -> None:
    # --network host on both sides: the same work (bench_network.py compares bridges)
    jocker_argv = sb.jocker_argv("run", "--rm", "--network", "host", "busybox:latest", "true")
    peers = {"jocker run --rm busybox true": lambda: time_once(jocker_argv, env=sb.env)}
    log("setting up podman")
    podman_ok = podman.setup(sb.busybox_rootfs())
    if podman_ok:
        podman_argv = podman.argv("run", *PODMAN_RUN_FLAGS, podman.image, "true")
        peers["podman run --rm ... true"] = lambda: time_once(podman_argv)
    else:
        print(f"podman: unavailable ({podman.reason})")
    traced = sb.trace_host_commands("run", "--rm", "--network", "host", "busybox:latest", "true")
    lines = [cmd for _, cmd in traced]
    # The runner traces every try: the same write command twice in a row is a
    # retry after a "busy" answer (reads are never retried).
    retries = sum(1 for a, b in zip(lines, lines[1:]) if a == b and not a.startswith("zfs get"))
    log(f"{len(peers)} peer(s), {RUN_WARMUPS} warm-ups then {RUN_RUNS} interleaved runs each")
    times = time_interleaved(peers, RUN_RUNS, warmup=RUN_WARMUPS)
    jm = median(times["jocker run --rm busybox true"])
    rows = peer_rows(times, "jocker run --rm busybox true")
    print_table(f"`run --rm busybox true`, {RUN_WARMUPS} warm-ups then median of {RUN_RUNS} interleaved runs",
                ["command", "median", "p25 .. p75", "vs jocker"], rows)
    if podman_ok:
        print("podman command: " + " ".join(podman.argv("run", *PODMAN_RUN_FLAGS, podman.image, "true")))
    print(f"jocker: {len(lines)} host commands per run ({command_mix(lines)}); "
          f"{ms(sum(t for t, _ in traced))} inside the commands that were waited for"
          + (f"; {retries} retried after a busy answer (each retry sleeps >= 50 ms first)" if retries else ""))
    if podman_ok:
        r = ratio(jm, median(times["podman run --rm ... true"]))
        summary.add("run --rm true: jocker/podman", "< 1.00x (jocker faster)", fmt_ratio(r), r < 1.0)
    else:
        summary.add("run --rm true: jocker/podman", "< 1.00x (jocker faster)",
                    f"jocker {ms(jm)}; podman unavailable", None, "no peer")


# -- 2. ps -a with N containers -------------------------------------------------------------
def add_containers(sb: Sandbox, count: int) -> None:
    from jocker.engine_api import CreateRequest, JockerAPI
    api = JockerAPI(sb.engine)
    for _ in range(count):
        api.containers.create(CreateRequest.from_cli("busybox:latest", ["true"]))


def bench_ps(sb: Sandbox, summary: Summary) -> None:
    rows, create_rows, counts, medians = [], [], [], {}
    have = 0
    for n in CONTAINER_COUNTS:
        log(f"creating containers up to N={n} in-process (create_container; ZFS clones, not started)")
        start = time.perf_counter()
        add_containers(sb, n - have)
        create_rows.append([f"{have + 1} -> {n}", ms((time.perf_counter() - start) / (n - have))])
        have = n
        listed = len(sb.jocker("ps", "-aq").stdout.split())
        ncmd, medians[n], row = listing_row(sb, "ps -a", n, PS_RUNS, medians.get(CONTAINER_COUNTS[0]), listed)
        counts.append(ncmd)
        rows.append(row)
    print_table(f"`jocker ps -a` with N containers (host commands from JOCKER_TRACE; median of {PS_RUNS} "
                "runs, interleaved with its `zfs get -r` alone)",
                ["N", "listed", "host cmds/call", "which", "median", "p25 .. p75",
                 f"vs N={CONTAINER_COUNTS[0]}", "zfs get alone", "share"], rows)
    print_table("in-process create_container (informational)", ["containers", "time per container"],
                create_rows)
    summary.add("ps -a: host commands per call", "constant as N grows (one zfs get -r)",
                " / ".join(f"N={n}: {c}" for n, c in zip(CONTAINER_COUNTS, counts)), len(set(counts)) == 1)
    big, small = CONTAINER_COUNTS[-1], CONTAINER_COUNTS[0]
    summary.add(f"ps -a: time N={big} vs N={small}", "informational",
                f"{ms(medians[big])} vs {ms(medians[small])} = {fmt_ratio(ratio(medians[big], medians[small]))}",
                None)
    ids = sb.jocker("ps", "-aq", "--no-trunc").stdout.split()
    start = time.perf_counter()
    p = sb.jocker("rm", "-f", *ids, check=False, timeout=1800)
    took = time.perf_counter() - start
    log(f"`jocker rm -f` of {len(ids)} containers took {took:.1f} s ({ms(took / max(1, len(ids)))} each), "
        f"exit {p.returncode}" + (f": {_last_line(p.stderr)}" if p.returncode else ""))


# -- 3. supervisor memory -----------------------------------------------------------------------
def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


HEALTH_FLAGS = ("--health-cmd", "true", "--health-interval", "200ms")


def bench_supervisor_rss(sb: Sandbox, summary: Summary, run_flags: tuple[str, ...] = ()) -> None:
    """With run_flags=HEALTH_FLAGS: supervisors that have run a few healthcheck probes."""
    rundir = Path(sb.env["JOCKER_RUNDIR"])
    ids: list[str] = []
    peer = None
    what = " ".join(("jocker run -d", *run_flags, "busybox sleep 300"))
    try:
        for _ in range(SUPERVISORS):
            ids.append(sb.jocker("run", "-d", "--network", "host", *run_flags, "busybox:latest", "sleep", "300").stdout.strip())
        time.sleep(1.0)                 # let each supervisor settle into its loop (and probe)
        rows, rss = [], []
        for cid in ids:
            info = json.loads((rundir / cid / "supervisor.json").read_text())
            pid = int(info["pid"])
            mb = rss_mb(pid)
            rss.append(mb)
            rows.append([cid[:12], pid, info.get("status", "?"), f"{mb:.1f} MB"])
        # Peer: the same interpreter with the supervisor's own flags, doing nothing.
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        flags = argv[1:argv.index("-m")] if "-m" in argv else []
        peer_argv = [argv[0], *flags, "-c", "import time; time.sleep(60)"]
        peer = subprocess.Popen(peer_argv)
        time.sleep(0.5)
        bare = rss_mb(peer.pid)
        print_table(f"supervisor RSS ({SUPERVISORS} x `{what}`, VmRSS)",
                    ["container", "supervisor pid", "status", "VmRSS"], rows)
        print(f"supervisor command: {' '.join(argv).strip()}")
        print(f"median {median(rss):.1f} MB, max {max(rss):.1f} MB; peer: the bare interpreter with the same "
              f"flags ({' '.join(peer_argv[1:-1])} 'import time; time.sleep(60)') = {bare:.1f} MB, so jocker's "
              f"own share is {median(rss) - bare:+.1f} MB (ratio {fmt_ratio(ratio(median(rss), bare))})")
        summary.add("supervisor RSS (max of 5)" + (", healthchecked" if run_flags else ""),
                    f"<= {RSS_GOAL_MB:.0f} MB",
                    f"median {median(rss):.1f} MB, max {max(rss):.1f} MB (bare interpreter {bare:.1f} MB)",
                    max(rss) <= RSS_GOAL_MB)
    finally:
        if peer is not None:
            peer.kill()
            peer.wait()
        if ids:
            start = time.perf_counter()
            p = sb.jocker("rm", "-f", *ids, check=False)
            log(f"`jocker rm -f` of {len(ids)} running containers took {time.perf_counter() - start:.1f} s, "
                f"exit {p.returncode}" + (f": {_last_line(p.stderr)}" if p.returncode else ""))


def main() -> int:
    check_host()
    os.chdir(REPO)
    summary = Summary("bench_containers")
    print(f"bench_containers: python {sys.version.split()[0]} ({PY}), repo {REPO}")
    podman = Podman()
    try:
        with Sandbox("ctr", pool_size=4 << 30) as sb:
            sb.import_busybox()
            for name, fn in (("run --rm", lambda: bench_run(sb, summary, podman)),
                             ("ps -a", lambda: bench_ps(sb, summary)),
                             ("supervisor RSS", lambda: bench_supervisor_rss(sb, summary)),
                             ("supervisor RSS, healthchecked",
                              lambda: bench_supervisor_rss(sb, summary, HEALTH_FLAGS))):
                try:
                    fn()
                except Exception as e:          # report and go on with the others
                    print(f"\n!! {name} benchmark failed: {e}", file=sys.stderr)
                    summary.add(name, "-", f"failed: {str(e)[:120]}", False)
    finally:
        podman.cleanup()
    if podman.installed_now:
        print("\nnote: podman and runc were installed by this run (apt-get install -y podman runc)")
    summary.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
