"""The kill loop (issue 9): SIGKILL `build`, `import`, `run` and `rm` at
random points, then check that no half image is listed, that garbage
collection leaves nothing behind (the leak check compares every dataset and
mount with the state before the test), and that nothing foreign was touched."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

ROUNDS = int(os.environ.get("JOCKER_KILL_ROUNDS", "12"))


def zfs(*args, check=True):
    return subprocess.run(["zfs", *args], capture_output=True, text=True, check=check)


def test_kill_loop(jocker, jocker_env, busybox_image, busybox_rootfs, tmp_path, wait_for):
    seed = int(os.environ.get("JOCKER_KILL_SEED", time.time()))
    rng = random.Random(seed)
    print(f"kill loop seed {seed}")
    root = jocker_env["JOCKER_DATASET"]
    foreign = f"{root}/layers/foreign"
    zfs("create", "-o", "canmount=noauto", foreign)
    base_layer = next(l for l in zfs("list", "-H", "-o", "name", "-r", f"{root}/layers").stdout.split()
                      if l.count("/") == root.count("/") + 2 and l != foreign)
    zfs("snapshot", f"{base_layer}@admin-backup")
    layers_before = set(zfs("list", "-H", "-o", "name", "-t", "filesystem", "-r", f"{root}/layers").stdout.split())
    (tmp_path / "Dockerfile").write_text(
        f"FROM {busybox_image}\nRUN dd if=/dev/zero of=/big bs=1M count=30 2>/dev/null\n"
        "RUN echo step > /two\nCMD [\"sleep\", \"30\"]\n")
    made_containers: list[str] = []
    outcomes: dict[str, int] = {}
    try:
        for i in range(ROUNDS):
            op = rng.choice(["build", "import", "run", "run-attached", "rm"])
            if op == "build":
                args = ["build", "-t", f"kl{i}:1", str(tmp_path)]
            elif op == "import":
                args = ["import", str(busybox_rootfs), f"kli{i}:1"]
            elif op in ("run", "run-attached"):
                name = f"klr{i}"
                made_containers.append(name)
                args = ["run", *(["-d"] if op == "run" else []), "--name", name, busybox_image, "sleep", "30"]
            else:
                if not made_containers:
                    continue
                args = ["rm", "-f", rng.choice(made_containers)]
            p = subprocess.Popen([sys.executable, "-m", "jocker", *args], env=jocker.env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.05, 2.0))
            p.send_signal(signal.SIGKILL)
            p.wait()
            outcomes[op] = outcomes.get(op, 0) + 1
        print(f"killed: {outcomes}")
        # No half image: everything listed can be inspected and run from.
        for iid in jocker("images", "-a", "-q").stdout.split():
            jocker("inspect", iid)
        assert "Traceback" not in jocker("ps", "-a").stderr
    finally:
        for name in made_containers:
            jocker("rm", "-f", name, check=False)
        for ref in jocker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split():
            if ref.startswith(("kl", "kli")):
                jocker("rmi", "-f", ref, check=False)
        jocker("system", "prune", "-f")
        still = set(zfs("list", "-H", "-o", "name", "-t", "all", "-r", root).stdout.split())
        # A layer one prune left behind (a sealed layer whose killed child
        # it outlived used to survive one prune, about one run in five) is
        # removed here so the leak check does not report it a second time.
        stuck = sorted(n for n in still if "@" not in n and n.startswith(f"{root}/layers/")
                       and n not in layers_before)
        for name in stuck:
            zfs("destroy", "-r", name, check=False)
        zfs("destroy", f"{base_layer}@admin-backup", check=False)
        zfs("destroy", foreign, check=False)
    # Nothing foreign was touched.
    assert foreign in still and f"{base_layer}@admin-backup" in still
    # Nothing of a killed process is left running or lying around.
    assert not [n for n in os.listdir(os.path.join(jocker_env["JOCKER_MOUNTPOINT"], ".tmp"))
                if n.startswith("import-")]
    assert not stuck, f"one prune left {stuck}; replay with JOCKER_KILL_SEED={seed}"


def _layers(root: str) -> dict[str, tuple[str, str]]:
    """Every layer dataset: name -> (origin, jocker:txn)."""
    out = zfs("list", "-H", "-o", "name,origin,jocker:txn", "-t", "filesystem", "-r", f"{root}/layers").stdout
    rows = [line.split("\t") for line in out.splitlines()]
    return {r[0]: (r[1], r[2]) for r in rows if r[0] != f"{root}/layers"}


def _processes_rooted_in(paths: list[str]) -> list[int]:
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            root = os.readlink(f"/proc/{pid}/root")
        except OSError:
            continue
        if any(root == p or root.startswith(p + "/") for p in paths):
            out.append(int(pid))
    return out


def test_build_killed_in_a_step_on_a_fresh_layer_leaves_nothing_after_one_prune(
        jocker, jocker_env, busybox_image, tmp_path, wait_for):
    """The kill loop's one-in-five leak, at its exact point: a build killed
    while step 3 writes its layer, a clone of step 2's layer, which is sealed
    and carries only the untagged image of step 2. `system prune` removes
    that image (dangling), then the killed step's layer, and must then see
    step 2's layer as garbage in the same pass: it used to judge "does any
    clone still depend on it" from the picture read before the child was
    destroyed, so the sealed, now imageless layer survived one prune."""
    root = jocker_env["JOCKER_DATASET"]
    before = set(_layers(root))
    (tmp_path / "Dockerfile").write_text(
        f"FROM {busybox_image}\nRUN echo one > /one\nRUN sleep 60\n")
    p = subprocess.Popen([sys.executable, "-m", "jocker", "build", str(tmp_path)], env=jocker.env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def in_step_three():
            new = {n: v for n, v in _layers(root).items() if n not in before}
            return any(txn not in ("", "-") and origin.split("@")[0] in new
                       for origin, txn in new.values())
        assert wait_for(in_step_three, timeout=60), "the build never reached its third step"
        rundir = jocker_env["JOCKER_RUNDIR"]
        step_dirs = lambda: [d for d in os.listdir(rundir) if d.startswith(f"oneshot-{p.pid}-")]  # noqa: E731
        # Its step container's network is up (a netns and a veth on the workbench).
        assert wait_for(lambda: any(os.path.exists(os.path.join(rundir, d, "net.json"))
                                    for d in step_dirs()), timeout=30)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    left = set(_layers(root)) - before
    assert len(left) == 2           # step 2's sealed layer and step 3's clone of it
    # The step's processes die with the build (parent-death signal), but
    # asynchronously: wait until none has its root in a layer any more, so
    # the prune below does not meet a layer that is still busy.
    paths = [os.path.join(jocker_env["JOCKER_MOUNTPOINT"], "layers", n.rsplit("/", 1)[1]) for n in left]
    assert wait_for(lambda: not _processes_rooted_in(paths), timeout=30)
    out = jocker("system", "prune", "-f").stdout
    assert set(_layers(root)) - before == set()
    # The step's run directory and network went too (the leak check fixture
    # compares the host's netns, links and nft tables with before the test).
    assert step_dirs() == [] and f"oneshot-{p.pid}-" in out
