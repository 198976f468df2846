"""Shared helpers for the benchmark scripts (not pytest tests).

A benchmark runs against a throwaway ZFS pool in a sparse file (the same way
tests/conftest.py does it), prints tables, and compares every number against
a peer measured in the same run: machines are noisy, so only ratios of
medians mean anything, and nothing here ever asserts a timing.

    with Sandbox("images") as sb:          # pool + env + `jocker system init`
        sb.import_busybox()
        sb.jocker("images")
        print(sb.count_host_commands("images"))
    # the pool, its file and every mount are gone here, whatever happened

Everything created is removed in `finally` blocks: containers (their
supervisors first), the pool (which takes every dataset and mount with it),
and the work directory with the pool file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PY = sys.executable


# -- preconditions -------------------------------------------------------------
def check_host() -> None:
    """Exit with a one-line reason when the benchmarks cannot run here."""
    problems = []
    if os.geteuid() != 0:
        problems.append("run as root (zpool create on a file)")
    if not shutil.which("zpool") or not shutil.which("zfs"):
        problems.append("zpool/zfs missing (run `sh tests/run-all.sh` first: it installs zfs-fuse)")
    if not (shutil.which("busybox") or os.path.exists("/bin/busybox")):
        problems.append("busybox missing (apt-get install busybox-static)")
    if problems:
        sys.exit("benchmark: cannot run: " + "; ".join(problems))


def _term_to_exit() -> None:
    """SIGTERM/SIGHUP raise SystemExit so that `finally` blocks clean up."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, handler)


# -- statistics and tables ---------------------------------------------------------
def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def quartiles(xs: Sequence[float]) -> tuple[float, float]:
    if len(xs) < 2:
        return (xs[0], xs[0]) if xs else (float("nan"), float("nan"))
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def peer_rows(times: dict[str, list[float]], base: str) -> list[list[str]]:
    """Table rows [peer, median, p25 .. p75, ratio of medians to `base`]."""
    b = median(times[base])
    rows = []
    for k, ts in times.items():
        q1, q3 = quartiles(ts)
        rows.append([k, ms(median(ts)), f"{ms(q1)} .. {ms(q3)}", fmt_ratio(ratio(median(ts), b))])
    return rows


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def fmt_ratio(r: float) -> str:
    return f"{r:.2f}x"


def print_table(title: str, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    rows = [[str(c) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    line = "  ".join("-" * w for w in widths)
    print()
    print(f"== {title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print(line)
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    sys.stdout.flush()


class Summary:
    """Goal vs measured, with PASS/MISS wording; never an assertion."""

    def __init__(self, title: str):
        self.title = title
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, what: str, goal: str, measured: str, ok: bool | None, note: str = "") -> None:
        verdict = "n/a" if ok is None else ("PASS" if ok else "MISS")
        self.rows.append((what, goal, measured, verdict + (f" ({note})" if note else "")))

    def print(self) -> None:
        print_table(f"{self.title}: summary (ratios of medians; timings are never asserted)",
                    ["benchmark", "goal", "measured", "verdict"], self.rows)
        misses = sum(1 for r in self.rows if r[3].startswith("MISS"))
        unknown = sum(1 for r in self.rows if r[3].startswith("n/a"))
        print(f"\n{len(self.rows) - misses - unknown} PASS, {misses} MISS, {unknown} n/a "
              "(a MISS is reported, not failed: exit status stays 0)")


def log(msg: str) -> None:
    print(f"-- {msg}", flush=True)


# -- running commands ------------------------------------------------------------------
def run(argv: Sequence[str], env: dict | None = None, check: bool = True, timeout: float = 600,
        **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(map(str, argv)), env=env, capture_output=True, text=True,
                          timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {proc.returncode}: "
                           f"{(proc.stderr or proc.stdout).strip()[-2000:]}")
    return proc


def time_once(argv: Sequence[str], env: dict | None = None, check: bool = True) -> float:
    start = time.perf_counter()
    proc = subprocess.run(list(map(str, argv)), env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return elapsed


def time_runs(fn: Callable[[], object], n: int, warmup: int = 0) -> list[float]:
    """Wall times of n calls of fn (after warmup unmeasured calls)."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def time_interleaved(fns: dict[str, Callable[[], object]], n: int, warmup: int = 0) -> dict[str, list[float]]:
    """Alternate the peers (A B A B ...) so that drift in machine load hits
    both alike; returns each peer's n wall times."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(n):
        for k, fn in fns.items():
            start = time.perf_counter()
            fn()
            out[k].append(time.perf_counter() - start)
    return out


# -- the sandbox: a throwaway pool and a jocker pointed at it -------------------------------
class Sandbox:
    """A throwaway pool in a sparse file plus the JOCKER_* environment for it.

    Use as a context manager; everything is removed on exit, whatever happened.
    """

    def __init__(self, tag: str, pool_size: int = 4 << 30):
        self.tag = tag
        self.pool_size = pool_size
        self.workdir: Path | None = None
        self.pool = ""
        self.env: dict[str, str] = {}
        self._engine = None
        self._pool_created = False
        self.net_prefix = "b" + format(os.getpid() % 36 ** 4, "x")[:4]

    # -- set up / tear down --
    def __enter__(self) -> "Sandbox":
        _term_to_exit()
        try:
            self._setup()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()

    def _setup(self) -> None:
        from jocker.host.runner import Runner
        from jocker.storage import zfsfuse
        if sys.platform.startswith("linux"):
            zfsfuse.ensure_running(Runner())
        self.workdir = Path(tempfile.mkdtemp(prefix=f"jocker-bench-{self.tag}-", dir="/var/tmp"))
        img = self.workdir / "pool.img"
        with open(img, "wb") as f:
            f.truncate(self.pool_size)          # sparse
        self.pool = f"jb{self.tag[:6]}{os.getpid()}"
        run(["zpool", "create", "-m", "none", self.pool, img])
        self._pool_created = True
        conf = self.workdir / "jocker.conf"
        conf.write_text("# benchmark configuration: everything comes from the environment\n")
        env = dict(os.environ)
        env.update({
            "JOCKER_CONFIG": str(conf),
            "JOCKER_DATASET": f"{self.pool}/jocker",
            "JOCKER_MOUNTPOINT": str(self.workdir / "mnt"),
            "JOCKER_RUNDIR": str(self.workdir / "run"),
            "PYTHONPATH": str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
            # network objects (bridges, veths, netns, nft tables) of this run's own
            "JOCKER_NETWORK_PREFIX": self.net_prefix,
            "JOCKER_NETWORK_POOL": f"10.{100 + os.getpid() % 150}.0.0/16",
            "JOCKER_NETWORK_SIZE": "20",
        })
        env.pop("JOCKER_TRACE", None)
        # Bytecode cached as an installed package has it (the workbench sets
        # PYTHONDONTWRITEBYTECODE, which makes every start compile jocker
        # anew); the cache lives in the work directory, never in the checkout.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(self.workdir / "pycache")
        self.env = env
        self.jocker("system", "init")
        log(f"pool {self.pool} on {img} ({self.pool_size >> 20} MB sparse), root {env['JOCKER_DATASET']}")

    def cleanup(self) -> None:
        """Containers (supervisors first), then the pool, then the files."""
        if self.workdir is None:
            return
        try:
            if self._pool_created:
                self._remove_containers()
        except Exception as e:                       # keep going: the pool must go
            print(f"cleanup: removing containers: {e}", file=sys.stderr)
        try:
            self._kill_supervisors()
        except Exception as e:
            print(f"cleanup: stopping supervisors: {e}", file=sys.stderr)
        if self._pool_created:
            for delay in (0, 0.2, 0.5, 1, 2, 4):
                time.sleep(delay)
                p = subprocess.run(["zpool", "destroy", "-f", self.pool], capture_output=True, text=True)
                if p.returncode == 0 or "no such pool" in p.stderr:
                    self._pool_created = False
                    break
            else:
                print(f"cleanup: zpool destroy -f {self.pool} failed: {p.stderr.strip()}", file=sys.stderr)
        self._unmount_leftovers()
        self._remove_network_objects()
        if not self._pool_created:
            shutil.rmtree(self.workdir, ignore_errors=True)
            log(f"cleaned up: pool {self.pool} destroyed, {self.workdir} removed")
        else:
            print(f"cleanup: left {self.workdir} (pool {self.pool} still imported)", file=sys.stderr)
        self.workdir = None

    def _remove_network_objects(self) -> None:
        """This run's bridges, veths, netns and nft tables (by their prefix)."""
        if not sys.platform.startswith("linux") or not shutil.which("ip"):
            return
        p = self.net_prefix
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        for line in tables.splitlines():
            if line.split()[-1:] and line.split()[-1].startswith(p):
                subprocess.run(["nft", "delete", "table", "ip", line.split()[-1]], capture_output=True)
        for line in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith(p):
                subprocess.run(["ip", "netns", "del", line.split()[0]], capture_output=True)
        links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
        for line in links.splitlines():
            name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
            if name.startswith(p):
                subprocess.run(["ip", "link", "del", "dev", name], capture_output=True)

    def _remove_containers(self) -> None:
        p = subprocess.run([PY, "-m", "jocker", "ps", "-aq", "--no-trunc"], env=self.env,
                           capture_output=True, text=True, timeout=300)
        ids = p.stdout.split() if p.returncode == 0 else []
        if ids:
            subprocess.run([PY, "-m", "jocker", "rm", "-f", "-v", *ids], env=self.env,
                           capture_output=True, text=True, timeout=900)

    def _kill_supervisors(self) -> None:
        """Any supervisor still alive for this sandbox (we started them): by pid."""
        rundir = Path(self.env.get("JOCKER_RUNDIR", "/nonexistent"))
        pids = []
        for f in rundir.glob("*/supervisor.json"):
            try:
                pids.append(int(json.loads(f.read_text())["pid"]))
            except (OSError, ValueError, KeyError):
                pass
        pids += self._server_pids(rundir)       # the fork-server and the warm CLI server
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if pids:
            time.sleep(0.5)

    @staticmethod
    def _server_pids(rundir: Path) -> list[int]:
        """Processes holding a server lock of this sandbox's run directory."""
        locks = {str(rundir / name) for name in ("forkserver.lock", "warmcli.lock")}
        out = []
        for p in os.listdir("/proc") if os.path.isdir("/proc") else ():
            if not p.isdigit() or int(p) == os.getpid():
                continue
            try:
                if any(os.readlink(f"/proc/{p}/fd/{fd}") in locks for fd in os.listdir(f"/proc/{p}/fd")):
                    out.append(int(p))
            except OSError:
                continue
        return out

    def _unmount_leftovers(self) -> None:
        if self.workdir is None or not os.path.exists("/proc/self/mounts"):
            return
        prefix = str(self.workdir) + "/"
        with open("/proc/self/mounts") as f:
            mounts = [line.split()[1] for line in f if line.split()[1].startswith(prefix)]
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)

    # -- jocker --
    def jocker(self, *args, check: bool = True, env: dict | None = None,
               timeout: float = 600) -> subprocess.CompletedProcess:
        return run([PY, "-m", "jocker", *args], env={**self.env, **(env or {})}, check=check,
                   timeout=timeout)

    def jocker_argv(self, *args) -> list[str]:
        return [PY, "-m", "jocker", *map(str, args)]

    def time_jocker(self, *args) -> float:
        return time_once(self.jocker_argv(*args), env=self.env)

    def count_host_commands(self, *args) -> tuple[int, list[str]]:
        """Host commands one `jocker ARGS` ran (and its supervisor, if any),
        from the JOCKER_TRACE file the runner appends to."""
        entries = self.trace_host_commands(*args)
        return len(entries), [cmd for _, cmd in entries]

    def trace_host_commands(self, *args) -> list[tuple[float, str]]:
        """(seconds, command line) of each host command `jocker ARGS` ran;
        a command retried after a "busy" answer appears once per attempt,
        and spawned long-lived processes show 0 seconds."""
        fd, trace = tempfile.mkstemp(prefix="trace-", dir=self.workdir)
        os.close(fd)
        try:
            self.jocker(*args, env={"JOCKER_TRACE": trace})
            time.sleep(0.2)             # a supervisor may still be writing its last lines
            with open(trace) as f:
                out = []
                for line in f:
                    secs, _, cmd = line.rstrip("\n").partition("\t")
                    if cmd:
                        out.append((float(secs), cmd))
        finally:
            os.unlink(trace)
        return out

    @property
    def engine(self):
        """An in-process Engine on the sandbox (for creating many objects fast)."""
        if self._engine is None:
            from jocker import config as config_mod
            from jocker.engine import Engine
            from jocker.host.runner import Runner
            self._engine = Engine(config_mod.load(environ=self.env), Runner())
        return self._engine

    # -- images --
    def busybox_rootfs(self) -> Path:
        dest = self.workdir / "busybox-rootfs"
        if not dest.exists():
            run(["sh", REPO / "examples/make-busybox-rootfs.sh", dest])
        return dest

    def import_busybox(self, ref: str = "busybox:latest") -> str:
        self.jocker("import", self.busybox_rootfs(), ref)
        return ref

    def inspect(self, ref: str) -> dict:
        return json.loads(self.jocker("inspect", ref).stdout)[0]


def short_cmd(line: str) -> str:
    """`zfs get -Hp -r ... pool/x` -> `zfs get` (for tables of host commands)."""
    if line.startswith("(in a forked child)"):
        return "forked child"           # the runner's mark for our own code in a child
    words = line.split()
    if not words:
        return ""
    prog = os.path.basename(words[0])
    rest, sub = words[1:], ""
    while rest:
        w = rest.pop(0)
        if w in ("-n", "-netns") and prog == "ip":
            rest = rest[1:]             # `ip -n NETNS ...`: the option's value is no subcommand
        elif not w.startswith("-"):
            sub = w
            break
    if prog.startswith("python"):
        return "python " + " ".join(words[1:3])
    return f"{prog} {sub}".strip()


def command_mix(lines: Sequence[str]) -> str:
    counts: dict[str, int] = {}
    for l in lines:
        k = short_cmd(l)
        if k.startswith("zfs get") and " -r " in f" {l} ":
            k = "zfs get -r"
        counts[k] = counts.get(k, 0) + 1
    return ", ".join(f"{v}x {k}" for k, v in counts.items()) or "-"


def listing_row(sb: "Sandbox", command: str, n: int, runs: int, baseline: float | None,
                listed: int) -> tuple[int, float, list[object]]:
    """One row of an `images`/`ps -a` scaling table: host commands per call,
    the median time interleaved with jocker's own `zfs get -r` run alone, and
    the share of that read. Returns (host commands, median, row)."""
    ncmd, lines = sb.count_host_commands(*command.split())
    zget = next((l.split() for l in lines if l.startswith("zfs get")), None)
    label = f"jocker {command}"
    peers = {label: lambda: sb.time_jocker(*command.split())}
    if zget:
        peers["zfs get alone"] = lambda: time_once(zget)
    times = time_interleaved(peers, runs)
    t = times[label]
    q1, q3 = quartiles(t)
    med = median(t)
    zmed = median(times["zfs get alone"]) if zget else float("nan")
    row = [n, listed, ncmd, command_mix(lines), ms(med), f"{ms(q1)} .. {ms(q3)}",
           fmt_ratio(ratio(med, baseline if baseline is not None else med)), ms(zmed),
           f"{100 * zmed / med:.0f}%"]
    return ncmd, med, row
