#!/usr/bin/env python3
"""Image benchmarks: `jocker images` as the store grows, `jocker --version`
start-up, and clone time against layer size.

    python tests/benchmarks/bench_images.py        # as root, from the repo root

Every measurement is compared against a peer measured in the same run, and
reported as a ratio of medians; nothing is asserted. Runs on a throwaway pool
that is destroyed at the end, whatever happens. See tests/benchmarks/README.md.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (PY, REPO, Sandbox, Summary, check_host, fmt_ratio, listing_row, log,  # noqa: E402
                    median, ms, print_table, quartiles, ratio, time_interleaved, time_once)

IMAGE_COUNTS = (10, 50, 200)
IMAGES_RUNS = 5
VERSION_RUNS = 20
CLONE_RUNS = 10
SMALL_MB = 1
LARGE_MB = 500
CLONE_NOISE_BAND = 1.5      # "same within noise": the ratio lies within 1/1.5 .. 1.5


# -- 1. `jocker images` with N images ----------------------------------------------
def add_images(sb: Sandbox, base_ref: str, start: int, stop: int) -> None:
    """Images bench-<i>:latest, i in [start, stop), on the busybox layer: one
    `zfs snapshot -o ...` each, through the store, with a label making each
    config (and so each image ID) distinct."""
    engine = sb.engine
    base = engine.load_state().resolve(base_ref)
    for i in range(start, stop):
        cfg = copy.deepcopy(base.config)
        cfg.setdefault("config", {}).setdefault("Labels", {})["bench.index"] = str(i)
        engine.store.create_image(base.layer, cfg, [f"bench-{i}:latest"])


def bench_images_list(sb: Sandbox, summary: Summary) -> None:
    base = sb.import_busybox()
    rows, create_rows = [], []
    counts = []
    medians = {}
    have = 0
    for n in IMAGE_COUNTS:
        log(f"creating images up to N={n} in-process (ImageStore.create_image)")
        start = time.perf_counter()
        add_images(sb, base, have, n - 1)   # + busybox itself = n images
        per_image = (time.perf_counter() - start) / max(1, n - 1 - have)
        create_rows.append([f"{have + 1} -> {n}", ms(per_image)])
        have = n - 1
        listed = len(sb.jocker("images", "-q").stdout.split())
        ncmd, medians[n], row = listing_row(sb, "images", n, IMAGES_RUNS, medians.get(IMAGE_COUNTS[0]), listed)
        counts.append(ncmd)
        rows.append(row)
    print_table(f"`jocker images` with N images (host commands from JOCKER_TRACE; "
                f"median of {IMAGES_RUNS} runs of `python -m jocker images`, interleaved with "
                "its `zfs get -r` alone)",
                ["N", "listed", "host cmds/call", "which", "median", "p25 .. p75",
                 f"vs N={IMAGE_COUNTS[0]}", "zfs get alone", "share"], rows)
    print_table("in-process ImageStore.create_image (one full-tree read + one snapshot each), "
                "informational", ["images", "time per image"], create_rows)
    constant = len(set(counts)) == 1
    summary.add("images: host commands per call", "constant as N grows (one zfs get -r)",
                " / ".join(f"N={n}: {c}" for n, c in zip(IMAGE_COUNTS, counts)), constant)
    big, small = IMAGE_COUNTS[-1], IMAGE_COUNTS[0]
    summary.add(f"images: time N={big} vs N={small}", "informational",
                f"{ms(medians[big])} vs {ms(medians[small])} = {fmt_ratio(ratio(medians[big], medians[small]))}",
                None)


# -- 2. start-up ------------------------------------------------------------------------
def _shebang_interpreter(path: str) -> str:
    try:
        with open(path, "rb") as f:
            first = f.readline().decode("utf-8", "replace").strip()
    except OSError:
        return ""
    return first[2:].split()[0] if first.startswith("#!") and first[2:].split() else ""


def version_command() -> tuple[list[str], str]:
    """The installed console script when it runs on this interpreter, else -m.

    A wrapper on PATH (a pyenv shim) is not timed itself: the console script
    it dispatches to, next to sys.executable, is used when its interpreter
    is this one."""
    on_path = shutil.which("jocker")
    beside = os.path.join(os.path.dirname(PY), "jocker")
    notes = []
    for script, where in ((on_path, "on PATH"), (beside, "beside sys.executable")):
        if not script or not os.path.isfile(script):
            continue
        interp = _shebang_interpreter(script)
        if interp and os.path.realpath(interp) == os.path.realpath(PY):
            extra = f"; PATH has {on_path}" if where != "on PATH" and on_path else ""
            return [script, "--version"], f"console script {script} ({where}{extra})"
        notes.append(f"{script} runs {interp or 'an unknown interpreter'}")
    why = "; ".join(notes) if notes else "no installed `jocker` console script"
    return [PY, "-m", "jocker", "--version"], f"{os.path.basename(PY)} -m jocker --version ({why})"


def bench_startup(sb: Sandbox, summary: Summary) -> None:
    argv, how = version_command()
    env = sb.env
    out = subprocess.run(argv, env=env, capture_output=True, text=True)
    log(f"start-up: using {how}: prints {out.stdout.strip()!r}")
    times = time_interleaved({
        "python3 -c pass": lambda: time_once([PY, "-c", "pass"], env=env),
        "jocker --version": lambda: time_once(argv, env=env),
    }, VERSION_RUNS, warmup=2)
    base = median(times["python3 -c pass"])
    rows = []
    for k, ts in times.items():
        q1, q3 = quartiles(ts)
        rows.append([k, ms(median(ts)), f"{ms(q1)} .. {ms(q3)}", fmt_ratio(ratio(median(ts), base))])
    print_table(f"start-up, median of {VERSION_RUNS} interleaved runs, same interpreter ({PY}); "
                f"jocker as: {how}", ["command", "median", "p25 .. p75", "vs python3 -c pass"], rows)
    r = ratio(median(times["jocker --version"]), base)
    summary.add("jocker --version start-up", "<= 2x python3 -c pass", fmt_ratio(r), r <= 2.0)


# -- 3. clone time vs layer size ----------------------------------------------------------
def make_dir_with_file(path: Path, mb: int) -> None:
    """A rootfs-like directory with one incompressible file of mb MB
    (random data: a sparse or zero file would compress to nothing)."""
    (path / "data").mkdir(parents=True)
    with open(path / "data" / "blob", "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1 << 20))


def bench_clone(sb: Sandbox, summary: Summary) -> None:
    snaps = {}
    for mb in (SMALL_MB, LARGE_MB):
        d = sb.workdir / f"data-{mb}m"
        log(f"writing {mb} MB of random data and importing it as clone-{mb}m:latest")
        make_dir_with_file(d, mb)
        t = time_once(sb.jocker_argv("import", d, f"clone-{mb}m:latest"), env=sb.env)
        shutil.rmtree(d)
        info = sb.inspect(f"clone-{mb}m:latest")
        snaps[mb] = info["GraphDriver"]["Data"]["Snapshot"]
        log(f"  imported in {t:.1f} s, image size {info['Size'] / 1e6:.1f} MB, snapshot {snaps[mb]}")
    scratch = f"{sb.env['JOCKER_DATASET'].split('/')[0]}/bench-scratch"
    subprocess.run(["zfs", "create", "-o", "mountpoint=none", scratch], check=True)
    mnt = sb.workdir / "scratch"
    seq = {"n": 0}
    destroy_times: dict[int, list[float]] = {SMALL_MB: [], LARGE_MB: []}
    busy: dict[int, int] = {SMALL_MB: 0, LARGE_MB: 0}

    def clone_then_destroy(mb: int):
        # Mounted like a container clone is (jocker clones with a mountpoint).
        seq["n"] += 1
        name = f"{scratch}/c{seq['n']}"
        t = time_once(["zfs", "clone", "-o", f"mountpoint={mnt}/c{seq['n']}", snaps[mb], name])
        took, tries = destroy(name)
        destroy_times[mb].append(took)
        busy[mb] += tries - 1
        return t

    def destroy(name: str) -> tuple[float, int]:
        """Time to destroy (retrying "busy" as jocker's runner does) and tries."""
        start = time.perf_counter()
        for tries, delay in enumerate((0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6), 1):
            time.sleep(delay)
            p = subprocess.run(["zfs", "destroy", name], capture_output=True, text=True)
            if p.returncode == 0:
                return time.perf_counter() - start, tries
            if "busy" not in p.stderr:
                raise RuntimeError(f"zfs destroy {name}: {p.stderr.strip()}")
        raise RuntimeError(f"zfs destroy {name}: still busy")

    try:
        clone_times = {SMALL_MB: [], LARGE_MB: []}
        for _ in range(2):              # warm-up, both sizes
            for mb in (SMALL_MB, LARGE_MB):
                clone_then_destroy(mb)
        for ts in destroy_times.values():
            ts.clear()
        busy.update({SMALL_MB: 0, LARGE_MB: 0})
        for _ in range(CLONE_RUNS):     # interleaved: small, large, small, large ...
            for mb in (SMALL_MB, LARGE_MB):
                clone_times[mb].append(clone_then_destroy(mb))
    finally:
        subprocess.run(["zfs", "destroy", "-r", scratch], capture_output=True)
    base = median(clone_times[SMALL_MB])
    rows = []
    for mb in (SMALL_MB, LARGE_MB):
        ts = clone_times[mb]
        q1, q3 = quartiles(ts)
        rows.append([f"{mb} MB layer", ms(median(ts)), f"{ms(q1)} .. {ms(q3)}",
                     fmt_ratio(ratio(median(ts), base)), ms(median(destroy_times[mb])), busy[mb]])
    print_table(f"`zfs clone` of an image snapshot (mounted) into a scratch dataset, then destroyed; "
                f"median of {CLONE_RUNS} interleaved runs",
                ["source", "clone median", "p25 .. p75", f"vs {SMALL_MB} MB", "destroy median",
                 "destroys retried (busy)"], rows)
    r = ratio(median(clone_times[LARGE_MB]), base)
    summary.add(f"clone time {LARGE_MB} MB vs {SMALL_MB} MB layer",
                f"same within noise (1/{CLONE_NOISE_BAND} .. {CLONE_NOISE_BAND}x)", fmt_ratio(r),
                1 / CLONE_NOISE_BAND <= r <= CLONE_NOISE_BAND)


def main() -> int:
    check_host()
    os.chdir(REPO)
    summary = Summary("bench_images")
    print(f"bench_images: python {sys.version.split()[0]} ({PY}), repo {REPO}")
    with Sandbox("img", pool_size=4 << 30) as sb:
        for name, fn in (("images list", bench_images_list), ("start-up", bench_startup),
                         ("clone", bench_clone)):
            try:
                fn(sb, summary)
            except Exception as e:          # report and go on with the others
                print(f"\n!! {name} benchmark failed: {e}", file=sys.stderr)
                summary.add(name, "-", f"failed: {str(e)[:120]}", False)
        # Images go with the pool; remove them through jocker anyway so that a
        # slow or broken `rmi` shows up here rather than hiding behind the pool.
        ids = sorted(set(sb.jocker("images", "-aq", "--no-trunc", check=False).stdout.split()))
        if ids:
            start = time.perf_counter()
            p = sb.jocker("rmi", "-f", *ids, check=False)
            took = time.perf_counter() - start
            log(f"cleanup: `jocker rmi -f` of {len(ids)} images took {took:.1f} s "
                f"({ms(took / len(ids))} per image), exit {p.returncode}"
                + (f": {p.stderr.strip()[:300]}" if p.returncode else ""))
    summary.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
