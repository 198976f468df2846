#!/usr/bin/env python3
"""Container benchmarks: `jocker run --rm` against podman, `jocker ps -a` as
containers pile up, and the per-container supervisor's memory.

    python tests/benchmarks/bench_containers.py [run] [ps] [rss]   # as root, from the repo root

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
                    "--ulimit", "nproc=1024:1024"]
PSS_GOAL_MB = 4.0


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
JOCKER_BRIDGE = "jocker run --rm (bridge)"
JOCKER_NONE = "jocker run --rm --network none"
JOCKER_EXEC = "jocker run --rm (bridge), forkserver_idle=0"
JOCKER_COLD = "jocker run --rm --network none, warm_cli_idle=0"
PODMAN_BRIDGE = "podman run --rm (bridge)"
PODMAN_NONE = "podman run --rm --network none"
FLOOR = "floor: python -c pass + zfs clone + zfs destroy"


def floor_fn(sb: Sandbox, snapshot: str):
    """One interpreter start (the CLI's own, with site) and the ZFS work no
    engine can skip: a mounted clone of the image and its destroy (retried
    while zfs-fuse says busy, as jocker's runner does)."""
    root = sb.env["JOCKER_DATASET"]
    mnt = Path(sb.env["JOCKER_MOUNTPOINT"]) / "floor"

    def once():
        ds = f"{root}/containers/floor{os.getpid()}"
        subprocess.run([PY, "-c", "pass"], env=sb.env, check=True)
        subprocess.run(["zfs", "clone", "-o", f"mountpoint={mnt}", snapshot, ds], check=True,
                       capture_output=True)
        for delay in (0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 0):
            p = subprocess.run(["zfs", "destroy", "-r", ds], capture_output=True, text=True)
            if p.returncode == 0:
                return
            if "busy" not in p.stderr or not delay:
                raise RuntimeError(f"zfs destroy {ds}: {p.stderr.strip()}")
            time.sleep(delay)
    return once


def bench_run(sb: Sandbox, summary: Summary, podman: Podman) -> None:
    """jocker and podman on a bridge and with no network, and the floor,
    interleaved. The first jocker run leaves the fork-server and the warm
    CLI server behind: the warm-ups absorb them, as a host that started one
    container already has. One row has the warm CLI off (every command
    starts its own interpreter and imports): what the warm CLI saves."""
    bridge_argv = sb.jocker_argv("run", "--rm", "busybox:latest", "true")
    none_argv = sb.jocker_argv("run", "--rm", "--network", "none", "busybox:latest", "true")
    traced = sb.trace_host_commands("run", "--rm", "busybox:latest", "true")
    snapshot = next(cmd.split()[-2] for _, cmd in traced if cmd.startswith("zfs clone"))
    exec_env = {**sb.env, "JOCKER_FORKSERVER_IDLE": "0"}     # every start execs its supervisor
    cold_env = {**sb.env, "JOCKER_WARM_CLI_IDLE": "0"}       # every command starts an interpreter
    peers = {JOCKER_BRIDGE: lambda: time_once(bridge_argv, env=sb.env),
             JOCKER_NONE: lambda: time_once(none_argv, env=sb.env),
             JOCKER_EXEC: lambda: time_once(bridge_argv, env=exec_env),
             JOCKER_COLD: lambda: time_once(none_argv, env=cold_env)}
    log("setting up podman")
    podman_ok = podman.setup(sb.busybox_rootfs())
    if podman_ok:
        pb = podman.argv("run", *PODMAN_RUN_FLAGS, podman.image, "true")
        pn = podman.argv("run", *PODMAN_RUN_FLAGS, "--network", "none", podman.image, "true")
        peers[PODMAN_BRIDGE] = lambda: time_once(pb)
        peers[PODMAN_NONE] = lambda: time_once(pn)
    else:
        print(f"podman: unavailable ({podman.reason})")
    peers[FLOOR] = floor_fn(sb, snapshot)
    log(f"{len(peers)} peer(s), {RUN_WARMUPS} warm-ups then {RUN_RUNS} interleaved runs each")
    times = time_interleaved(peers, RUN_RUNS, warmup=RUN_WARMUPS)
    traced = sb.trace_host_commands("run", "--rm", "busybox:latest", "true")
    lines = [cmd for _, cmd in traced]
    # The runner traces every try: the same write command twice in a row is a
    # retry after a "busy" answer (reads are never retried).
    retries = sum(1 for a, b in zip(lines, lines[1:]) if a == b and not a.startswith("zfs get"))
    print_table(f"`run --rm busybox true`, {RUN_WARMUPS} warm-ups then median of {RUN_RUNS} interleaved runs",
                ["command", "median", "p25 .. p75", "vs jocker (bridge)"], peer_rows(times, JOCKER_BRIDGE))
    if podman_ok:
        print("podman command: " + " ".join(pb))
    print(f"jocker (bridge): {len(lines)} host commands per run ({command_mix(lines)}); "
          f"{ms(sum(t for t, _ in traced))} inside the commands that were waited for"
          + (f"; {retries} retried after a busy answer" if retries else ""))
    jb, jn, fl = (median(times[k]) for k in (JOCKER_BRIDGE, JOCKER_NONE, FLOOR))
    for label, j, peer in (("bridge", jb, PODMAN_BRIDGE), ("none", jn, PODMAN_NONE)):
        if podman_ok:
            r = ratio(j, median(times[peer]))
            summary.add(f"run --rm true ({label}): jocker/podman", "<= 1.00x", fmt_ratio(r), r <= 1.0)
        else:
            summary.add(f"run --rm true ({label}): jocker/podman", "<= 1.00x",
                        f"jocker {ms(j)}; podman unavailable", None, "no peer")
        r = ratio(j, fl)
        summary.add(f"run --rm true ({label}): jocker/floor", "<= 1.50x",
                    f"{ms(j)} / {ms(fl)} = {fmt_ratio(r)}", r <= 1.5)


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


def pss_mb(pid: int) -> float:
    """Proportional set size: pages shared with the fork-server (and the
    other supervisors) count as a share, so this is a container's marginal
    memory."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no Pss for pid {pid}")


def forkserver_pid(rundir: Path, lock_name: str = "forkserver.lock") -> int | None:
    """The fork-server of this sandbox (or, with "warmcli.lock", its warm
    CLI server): the process holding its lock."""
    lock = str(rundir / lock_name)
    for p in os.listdir("/proc"):
        if p.isdigit() and str(rundir) in _cmdline(p):
            try:
                if any(os.readlink(f"/proc/{p}/fd/{fd}") == lock for fd in os.listdir(f"/proc/{p}/fd")):
                    return int(p)
            except OSError:
                continue
    return None


def _cmdline(pid) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


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
        rows, rss, pss = [], [], []
        for cid in ids:
            info = json.loads((rundir / cid / "supervisor.json").read_text())
            pid = int(info["pid"])
            mb, share = rss_mb(pid), pss_mb(pid)
            rss.append(mb)
            pss.append(share)
            how = "forked" if "forkserver" in _cmdline(pid) else "exec'd"
            rows.append([cid[:12], pid, how, info.get("status", "?"), f"{mb:.1f} MB", f"{share:.1f} MB"])
        server = forkserver_pid(rundir)
        if server:
            rows.append(["(fork-server)", server, "-", "-", f"{rss_mb(server):.1f} MB", f"{pss_mb(server):.1f} MB"])
        warm = forkserver_pid(rundir, "warmcli.lock")
        if warm:        # not a supervisor's: one per host, it holds the CLI's imports
            rows.append(["(warm CLI server)", warm, "-", "-", f"{rss_mb(warm):.1f} MB", f"{pss_mb(warm):.1f} MB"])
        # Peer: the same interpreter with the supervisor's own flags, doing nothing.
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        first = min((argv.index(x) for x in ("-m", "-c") if x in argv), default=len(argv))
        flags = argv[1:first]
        peer_argv = [argv[0], *flags, "-c", "import time; time.sleep(60)"]
        peer = subprocess.Popen(peer_argv)
        time.sleep(0.5)
        bare = rss_mb(peer.pid)
        print_table(f"supervisor memory ({SUPERVISORS} x `{what}`, VmRSS and Pss)",
                    ["container", "supervisor pid", "started", "status", "VmRSS", "Pss"], rows)
        print(f"supervisor command: {' '.join(argv).strip()}")
        print(f"median {median(rss):.1f} MB, max {max(rss):.1f} MB; peer: the bare interpreter with the same "
              f"flags ({' '.join(peer_argv[1:-1])} 'import time; time.sleep(60)') = {bare:.1f} MB, so jocker's "
              f"own share is {median(rss) - bare:+.1f} MB (ratio {fmt_ratio(ratio(median(rss), bare))})")
        summary.add("supervisor RSS (max of 5)" + (", healthchecked" if run_flags else ""),
                    f"<= {RSS_GOAL_MB:.0f} MB",
                    f"median {median(rss):.1f} MB, max {max(rss):.1f} MB (bare interpreter {bare:.1f} MB)",
                    max(rss) <= RSS_GOAL_MB)
        summary.add("supervisor PSS, marginal per container (max of 5)" + (", healthchecked" if run_flags else ""),
                    f"<= {PSS_GOAL_MB:.0f} MB", f"median {median(pss):.1f} MB, max {max(pss):.1f} MB"
                    + (f"; fork-server {pss_mb(server):.1f} MB PSS once" if server else "; no fork-server"),
                    max(pss) <= PSS_GOAL_MB)
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
            only = set(sys.argv[1:])         # e.g. `run` or `rss`: just those
            for name, fn in (("run --rm", lambda: bench_run(sb, summary, podman)),
                             ("ps -a", lambda: bench_ps(sb, summary)),
                             ("supervisor RSS", lambda: bench_supervisor_rss(sb, summary)),
                             ("supervisor RSS, healthchecked",
                              lambda: bench_supervisor_rss(sb, summary, HEALTH_FLAGS))):
                if only and name.split()[0].strip("-") not in only and not (
                        "rss" in only and name.startswith("supervisor")):
                    continue
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
