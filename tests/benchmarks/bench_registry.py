#!/usr/bin/env python3
"""Shipping benchmarks: push and pull of a 200 MB image (5 layers of random
data) over loopback against `skopeo copy` of the same image, a pull whose
layers are already present (host commands and bytes), and the ZFS
host-to-host path (with and without the layer blobs) against `save | load`.

    python tests/benchmarks/bench_registry.py      # as root, from the repo root
    BENCH_RUNS=5 BENCH_LAYER_MB=40 python tests/benchmarks/bench_registry.py

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

from common import (PY, Sandbox, Summary, check_host, fmt_ratio, log, median, print_table,  # noqa: E402
                    ratio, run)
from registry_fixtures import Proxy, Registry  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
LAYER_MB = int(os.environ.get("BENCH_LAYER_MB", "40"))
LAYERS = 5


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
        push_j, push_s, pull_j, pull_s = [], [], [], []
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
            finally:
                reg.stop()
                shutil.rmtree(reg.dir, ignore_errors=True)
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
    summary.print()


def _envs(env: dict) -> str:
    import shlex
    keys = ("JOCKER_CONFIG", "JOCKER_DATASET", "JOCKER_MOUNTPOINT", "JOCKER_RUNDIR")
    return " ".join(f"{k}={shlex.quote(env[k])}" for k in keys)


if __name__ == "__main__":
    main()
