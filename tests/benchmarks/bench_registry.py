#!/usr/bin/env python3
"""Shipping benchmarks: push and pull of a 200 MB image (5 layers of random
data) over loopback against `skopeo copy` of the same image, the pull also
against like-for-like peers that unpack the layers (`podman pull`, `skopeo
copy` into containers-storage) and against the zfs-fuse floor (the same tars
extracted by `tar -x` into a chain of datasets), a pull whose layers are
already present (host commands and bytes), and the ZFS host-to-host path
(with and without the layer blobs) against `save | load`.

    python tests/benchmarks/bench_registry.py      # as root, from the repo root
    BENCH_RUNS=5 BENCH_LAYER_MB=40 python tests/benchmarks/bench_registry.py
    BENCH_PARTS=pull python tests/benchmarks/bench_registry.py   # push/pull only

Each registry run uses a fresh docker-registry (so nothing is already there
and no cross-repository mount helps either side). Ratios of medians, nothing
asserted; everything is removed at the end. See tests/benchmarks/README.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from bench_containers import HOST_SIDE_EFFECTS, Podman, _last_line  # noqa: E402
from common import (PY, Sandbox, Summary, check_host, fmt_ratio, log, median, print_table,  # noqa: E402
                    ratio, run)
from registry_fixtures import Proxy, Registry  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
LAYER_MB = int(os.environ.get("BENCH_LAYER_MB", "40"))
LAYERS = 5
# Which parts run: pull (push and pull against the peers), repull, ship.
PARTS = set(os.environ.get("BENCH_PARTS", "pull,repull,ship").split(","))


def timed(argv, env=None, **kw) -> float:
    import time
    start = time.perf_counter()
    proc = subprocess.run(list(map(str, argv)), env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, **kw)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(map(str, argv))[:200]} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return time.perf_counter() - start


def build_image(sb: Sandbox, ref: str) -> None:
    ctx = sb.workdir / "ctx"
    ctx.mkdir()
    steps = "".join(f"RUN head -c {LAYER_MB * 1000000} /dev/urandom > /layer{i}\n" for i in range(LAYERS))
    (ctx / "Dockerfile").write_text(f"FROM busybox\n{steps}")
    sb.jocker("build", "-q", "-t", ref, ctx, timeout=1800)


def fresh_registry(work: Path) -> Registry:
    d = Path(tempfile.mkdtemp(prefix="reg-", dir=work))
    return Registry(d)


class PullPeers:
    """The like-for-like pull peers, each into a private storage in one
    temporary directory (podman's --root/--runroot/--tmpdir, which skopeo's
    containers-storage transport reuses), emptied after every pull: podman's
    default storage driver (overlay), else vfs. What podman creates outside
    the directory is removed at the end (bench_containers.Podman)."""

    def __init__(self):
        self.podman = Podman()
        self.ok = False
        self.chosen = False             # a driver pulled once: keep it
        self.skopeo_reason = ""

    def setup(self) -> None:
        if not self.podman.ensure_installed():
            self.podman.reason = self.podman.reason or "podman not installed"
            return
        self.podman.preexisting = {p: os.path.lexists(p) for p in HOST_SIDE_EFFECTS}
        self.podman.dir = Path(tempfile.mkdtemp(prefix="jocker-bench-podman-", dir="/var/tmp"))
        self.ok = True

    def pull(self, ref: str) -> float | None:
        """`podman pull` of everything into the empty storage; None (and the
        reason) when podman cannot pull here with either driver."""
        if not self.ok:
            return None
        for driver in [self.podman.storage_driver] if self.chosen else ["", "vfs"]:
            self.podman.storage_driver = driver
            try:
                t = timed(self.podman.argv("pull", "-q", "--tls-verify=false", ref))
                self.chosen = True
                return t
            except RuntimeError as e:
                self.podman.reason = f"podman pull ({driver or 'default driver'}): {_last_line(str(e))}"
            finally:
                self.reset()
        self.ok = False
        return None

    def driver(self) -> str:
        return self.podman.storage_driver or "overlay"

    def skopeo_storage(self, skopeo: list[str], ref: str) -> float | None:
        """`skopeo copy docker://REF containers-storage:[DRIVER@ROOT+RUNROOT]`
        into the same private storage podman used."""
        if not self.ok:
            return None
        d = self.podman.dir
        dest = f"containers-storage:[{self.driver()}@{d / 'root'}+{d / 'runroot'}]localhost/bench/skopeo:1"
        try:
            return timed([*skopeo, "copy", "-q", "--src-tls-verify=false", f"docker://{ref}", dest])
        except RuntimeError as e:
            self.skopeo_reason = _last_line(str(e))
            return None
        finally:
            self.reset()

    def reset(self) -> None:
        self.podman._reset_storage()

    def cleanup(self) -> None:
        if self.podman.dir is not None:
            self.podman.cleanup()


def plain_layers(oci: Path, work: Path) -> list[Path]:
    """The image's layer tars, uncompressed (for the floor), from the OCI
    layout `jocker save` wrote."""
    import gzip
    import json
    index = json.loads((oci / "index.json").read_text())
    mdigest = index["manifests"][0]["digest"]
    manifest = json.loads((oci / "blobs" / "sha256" / mdigest[7:]).read_text())
    out = []
    for i, layer in enumerate(manifest["layers"]):
        tar = work / f"floor-{i}.tar"
        with gzip.open(oci / "blobs" / "sha256" / layer["digest"][7:]) as src, open(tar, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        out.append(tar)
    return out


def floor_pull(sb: Sandbox, tars: list[Path], n: int) -> float:
    """What zfs-fuse itself costs for the same data: a chain of datasets as a
    pull makes (the first created, each next one cloned from the previous
    one's snapshot), each tar extracted by GNU `tar -x` in 1 MiB records
    (`-b 2048`: tar's default 10 KiB writes cost ~3x more through FUSE) and
    snapshotted. No download, decompression or hashing; destroyed
    afterwards (untimed)."""
    import time
    base = f"{sb.pool}/floor{n}"        # a busy leftover never blocks the next run
    mnt = sb.workdir / base.rsplit("/", 1)[1]
    run(["zfs", "create", "-o", "mountpoint=none", base])
    try:
        start = time.perf_counter()
        prev = ""
        for i, tar in enumerate(tars):
            ds = f"{base}/l{i}"
            where = ["-o", f"mountpoint={mnt / f'l{i}'}"]
            run(["zfs", "clone", *where, prev, ds] if prev else ["zfs", "create", *where, ds])
            run(["tar", "-xf", tar, "-b", "2048", "-C", mnt / f"l{i}", "--numeric-owner"])
            run(["zfs", "snapshot", f"{ds}@layer"])
            prev = f"{ds}@layer"
        return time.perf_counter() - start
    finally:
        for _ in range(10):         # a just-written dataset can answer "busy" for a moment
            p = run(["zfs", "destroy", "-R", base], check=False)
            if p.returncode == 0:
                break
            time.sleep(0.5)
        else:
            log(f"floor: {base} not destroyed yet ({_last_line(p.stderr)}); the pool goes at the end")


def main() -> None:
    check_host()
    for tool in ("docker-registry", "skopeo"):
        if not shutil.which(tool):
            sys.exit(f"benchmark: cannot run: {tool} missing (sh examples/install-host-deps.sh)")
    summary = Summary("registry")
    with Sandbox("registry", pool_size=8 << 30) as sb, Sandbox("regrecv", pool_size=8 << 30) as host2:
        sb.import_busybox()
        log(f"building a {LAYERS} x {LAYER_MB} MB image")
        build_image(sb, "bench/big:1")
        oci = sb.workdir / "oci"
        tarball = sb.workdir / "big.tar"
        sb.jocker("save", "-o", tarball, "bench/big:1", timeout=1800)   # also makes the gzip blobs
        oci.mkdir()
        run(["tar", "-xf", tarball, "-C", oci])
        skopeo = ["skopeo", "--insecure-policy"]

        # -- 1. push and pull against skopeo copy ------------------------------------
        if "pull" in PARTS:
            push_pull(sb, host2, oci, skopeo, summary)
        if "repull" in PARTS:
            repull(sb, summary)
        if "ship" in PARTS:
            ship(sb, host2, summary)
    summary.print()


def push_pull(sb: Sandbox, host2: Sandbox, oci: Path, skopeo: list[str], summary: Summary) -> None:
    push_j, push_s, pull_j, pull_s = [], [], [], []
    pull_pm, pull_ss, pull_floor = [], [], []
    tars = plain_layers(oci, sb.workdir)
    peers = PullPeers()
    peers.setup()
    try:
        for i in range(RUNS):
            reg = fresh_registry(sb.workdir)
            try:
                ref = f"{reg.host}/bench/big:1"
                sb.jocker("tag", "bench/big:1", ref)
                push_j.append(timed(sb.jocker_argv("push", "-q", ref), env=sb.env))
                push_s.append(timed([*skopeo, "copy", "--dest-tls-verify=false", f"oci:{oci}:1",        # the tag is the OCI ref name
                                     f"docker://{reg.host}/bench/skopeo:1"]))
                sb.jocker("rmi", ref)         # untags only: bench/big:1 keeps the image
                dest = sb.workdir / f"pulled-{i}"
                pull_s.append(timed([*skopeo, "copy", "--src-tls-verify=false", f"docker://{ref}",
                                     f"oci:{dest}:x"]))
                shutil.rmtree(dest, ignore_errors=True)
                # a pull that fetches everything: into the second store, which has nothing
                pull_j.append(timed(host2.jocker_argv("pull", "-q", ref), env=host2.env))
                host2.jocker("rmi", ref)
                host2.jocker("image", "prune", "-f")
                # the like-for-like peers: they unpack the layers too
                t = peers.pull(ref)
                if t is not None:
                    pull_pm.append(t)
                t = peers.skopeo_storage(skopeo, ref)
                if t is not None:
                    pull_ss.append(t)
                pull_floor.append(floor_pull(sb, tars, i))
            finally:
                reg.stop()
                shutil.rmtree(reg.dir, ignore_errors=True)
    finally:
        peers.cleanup()
    mb = LAYERS * LAYER_MB
    rows = [("push", f"{median(push_j):.2f} s", f"{median(push_s):.2f} s",
             fmt_ratio(ratio(median(push_j), median(push_s)))),
            ("pull", f"{median(pull_j):.2f} s", f"{median(pull_s):.2f} s",
             fmt_ratio(ratio(median(pull_j), median(pull_s))))]
    print_table(f"{mb} MB image over loopback, median of {RUNS} (jocker / skopeo copy)",
                ["", "jocker", "skopeo copy", "ratio"], rows)
    for what, j, s in (("push", push_j, push_s), ("pull", pull_j, pull_s)):
        r = ratio(median(j), median(s))
        summary.add(f"{what} {mb} MB vs skopeo copy", "<= 1.00x", fmt_ratio(r), r <= 1.0)
    # the pull against peers that unpack every layer, and the zfs-fuse floor
    drv = peers.driver()
    like = [(f"podman pull (private storage, {drv})", pull_pm,
             f"podman unavailable: {peers.podman.reason}"),
            (f"skopeo copy to containers-storage ({drv})", pull_ss,
             f"unavailable: {peers.skopeo_reason or peers.podman.reason}"),
            ("floor: tar -x into a zfs-fuse dataset chain + snapshots", pull_floor, "")]
    jm = median(pull_j)
    rows = [("jocker pull", f"{jm:.2f} s", "1.00x")]
    for label, times, missing in like:
        rows.append((label, f"{median(times):.2f} s", fmt_ratio(ratio(jm, median(times))))
                    if times else (label, missing, "-"))
    print_table(f"pull of {mb} MB unpacking every layer, median of {RUNS} (ratio: jocker / peer)",
                ["", "time", "ratio"], rows)
    for label, times, missing in like[:2]:
        name = label.split(" (")[0]
        if times:
            r = ratio(jm, median(times))
            summary.add(f"pull {mb} MB vs {name}", "<= 1.00x", fmt_ratio(r), r <= 1.0)
        else:
            summary.add(f"pull {mb} MB vs {name}", "<= 1.00x", missing[:80], None, "no peer")
    if pull_floor:
        r = ratio(jm, median(pull_floor))
        summary.add(f"pull {mb} MB vs the zfs-fuse floor", "informational", fmt_ratio(r), None)


def repull(sb: Sandbox, summary: Summary) -> None:
    # -- 2. pull with every layer present -------------------------------------------
    reg = fresh_registry(sb.workdir)
    proxy = Proxy(reg.host)
    try:
        ref = f"{proxy.host}/bench/big:1"
        sb.jocker("tag", "bench/big:1", ref)
        sb.jocker("push", "-q", ref, timeout=1800)
        proxy.bytes_out = 0
        n, cmds = sb.count_host_commands("pull", "-q", ref)
        manifest_only = proxy.bytes_out
        blob_gets = [s for s in proxy.seen if s.startswith("GET") and "/blobs/" in s]
        print_table("pull of an image whose layers are all present",
                    ["host commands", "bytes from the registry", "blob GETs"],
                    [(n, manifest_only, len(blob_gets))])
        summary.add("re-pull: bytes transferred", "manifests and config only",
                    f"{manifest_only} B", manifest_only < 64 * 1024)
    finally:
        proxy.stop()
        reg.stop()


def ship(sb: Sandbox, host2: Sandbox, summary: Summary) -> None:
    mb = LAYERS * LAYER_MB
    # -- 3. zfs send | receive against save | load -----------------------------------
    zfs_t, bare_t, arch_t = [], [], []
    for _ in range(RUNS):
        for opts, times in (("", zfs_t), ("--no-blobs ", bare_t)):
            times.append(timed(["sh", "-c", f"{PY} -m jocker image send {opts}bench/big:1 | "
                                f"env {_envs(host2.env)} {PY} -m jocker image receive"], env=sb.env))
            host2.jocker("rmi", "bench/big:1")
            host2.jocker("image", "prune", "-f")
        arch_t.append(timed(["sh", "-c", f"{PY} -m jocker save bench/big:1 | "
                             f"env {_envs(host2.env)} {PY} -m jocker load"], env=sb.env))
        host2.jocker("rmi", "bench/big:1")
        host2.jocker("image", "prune", "-f")
    r = ratio(median(zfs_t), median(arch_t))
    rb = ratio(median(bare_t), median(arch_t))
    print_table(f"host to host, {mb} MB image, median of {RUNS}",
                ["image send | receive (with blobs)", "send --no-blobs", "save | load", "ratios"],
                [(f"{median(zfs_t):.2f} s", f"{median(bare_t):.2f} s", f"{median(arch_t):.2f} s",
                  f"{fmt_ratio(r)} / {fmt_ratio(rb)}")])
    summary.add("zfs send|receive vs save|load", "<= 1.00x", fmt_ratio(r), r <= 1.0)
    summary.add("zfs send --no-blobs|receive vs save|load", "<= 1.00x", fmt_ratio(rb), rb <= 1.0)


def _envs(env: dict) -> str:
    import shlex
    keys = ("JOCKER_CONFIG", "JOCKER_DATASET", "JOCKER_MOUNTPOINT", "JOCKER_RUNDIR")
    return " ".join(f"{k}={shlex.quote(env[k])}" for k in keys)


if __name__ == "__main__":
    main()
