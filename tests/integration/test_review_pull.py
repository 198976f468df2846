"""Review of s4-pull (pull/load speed work): crash windows of the layer
sealer and of layers shared between concurrent imports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
import time

from support import layer_tar
from test_archive import _moby_archive

# Runs `jocker load` with the sealer's unmount + readonly held back, as a
# SIGKILL (or a slow `zfs unmount`) in that window would leave it.
_SLOW_SEALER = """
import runpy, sys, time
import jocker.images.store as store
store.LayerSealer._seal = lambda self, dataset: time.sleep(3600)
sys.argv = ["jocker", *sys.argv[1:]]
runpy.run_module("jocker", run_name="__main__")
"""


def _layer_snapshots(env) -> set[str]:
    out = subprocess.run(["zfs", "list", "-H", "-r", "-t", "snapshot", "-o", "name",
                          env["JOCKER_DATASET"] + "/layers"], capture_output=True, text=True)
    return {n for n in out.stdout.split() if n.endswith("@layer")}


def test_a_layer_left_unsealed_by_a_killed_load_is_not_reused(jocker, jocker_env, engine, tmp_path,
                                                               images):
    """A load killed after layer 1's snapshot but before the sealer made it
    readonly leaves it complete (snapshot) and unsealed (readonly=off,
    mounted). The next load of an image with that layer must not build on
    it: an image must never stand on a layer that was not sealed."""
    base = layer_tar([("etc/", tarfile.DIRTYPE, 0o755, ""), ("etc/base", tarfile.REGTYPE, 0o644, b"rv-base\n")])
    top = layer_tar([("big", tarfile.REGTYPE, 0o644, os.urandom(8 << 20))])
    first, second = tmp_path / "a.tar", tmp_path / "b.tar"
    _moby_archive(first, [("rvpull/a:1", [base, top])])
    _moby_archive(second, [("rvpull/b:1", [base])])
    images += ["rvpull/a:1", "rvpull/b:1"]
    before = _layer_snapshots(jocker_env)
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_SEALER, "load", "-i", str(first)],
                            env=jocker_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (_layer_snapshots(jocker_env) - before) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _layer_snapshots(jocker_env) - before, "layer 1 was never snapshotted"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    res = jocker("load", "-i", str(second), check=False)
    assert res.returncode == 0, res.stderr
    st = engine.load_state()
    img = st.resolve("rvpull/b:1")
    ds = engine.zfs.get(engine.layout.layer(img.layer))
    assert ds.get("readonly") == "on", f"image rvpull/b:1 stands on an unsealed layer: {dict(ds)}"
    jocker("rmi", "-f", "rvpull/b:1")
    jocker("image", "prune", "-f")


# Runs `jocker load` whose layer 2 fails (corrupt data) once FLAG exists.
_FAILING_LAYER_2 = """
import os, runpy, sys, time
import jocker.distribution.assemble as assemble
from jocker.images.layertar import LayerError
flag, real, calls = sys.argv[1], assemble.apply_layer, []
def apply_layer(stream, root, **kw):
    calls.append(root)
    if len(calls) == 2:
        while not os.path.exists(flag):
            time.sleep(0.05)
        raise LayerError("layer 2: corrupt (simulated)")
    return real(stream, root, **kw)
assemble.apply_layer = apply_layer
sys.argv = ["jocker", *sys.argv[2:]]
runpy.run_module("jocker", run_name="__main__")
"""


def test_a_failing_load_never_destroys_an_image_another_load_made_on_its_layer(
        jocker, jocker_env, engine, tmp_path, images):
    """Load A has made and sealed layer 1 and is applying layer 2; load B of
    an image made of layer 1 alone finds it and finishes. Then A's layer 2
    fails: A's clean-up must not take B's image with it."""
    base = layer_tar([("etc/", tarfile.DIRTYPE, 0o755, ""), ("etc/x", tarfile.REGTYPE, 0o644, b"rv-shared\n")])
    top = layer_tar([("top", tarfile.REGTYPE, 0o644, b"top\n")])
    first, second = tmp_path / "a.tar", tmp_path / "b.tar"
    _moby_archive(first, [("rvpull/c:1", [base, top])])
    _moby_archive(second, [("rvpull/d:1", [base])])
    images += ["rvpull/c:1", "rvpull/d:1"]
    flag = tmp_path / "go"
    before = _layer_snapshots(jocker_env)
    proc = subprocess.Popen([sys.executable, "-c", _FAILING_LAYER_2, str(flag), "load", "-i", str(first)],
                            env=jocker_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:          # layer 1 snapshotted and sealed
            new = _layer_snapshots(jocker_env) - before
            if new and engine.zfs.get(next(iter(new)).split("@")[0]).get("readonly") == "on":
                break
            time.sleep(0.05)
        else:
            raise AssertionError("layer 1 was never sealed")
        res = jocker("load", "-i", str(second), check=False)
        assert res.returncode == 0, res.stderr
    finally:
        flag.touch()
        _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and b"simulated" in err, err
    out = jocker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    assert "rvpull/d:1" in out.split(), f"load B's image is gone: {out}"
    jocker("rmi", "-f", "rvpull/d:1")
    jocker("image", "prune", "-f")


def test_load_killed_at_random_points_leaves_only_sealed_images(jocker, jocker_env, engine, tmp_path,
                                                                 images, zfs_names):
    """SIGKILL `load` of a 3-layer image at random moments (the sealer runs
    beside the applier), then load a 2-layer image sharing its first two
    layers: every image listed stands on sealed layers only (readonly,
    unmounted), and a prune leaves nothing of the killed loads."""
    import random
    seed = int(os.environ.get("JOCKER_KILL_SEED", time.time()))
    rng = random.Random(seed)
    print(f"seed {seed}")
    layers = [layer_tar([(f"l{i}", tarfile.REGTYPE, 0o644, os.urandom(4 << 20))]) for i in range(3)]
    full, part = tmp_path / "full.tar", tmp_path / "part.tar"
    _moby_archive(full, [("rvkill/full:1", layers)])
    _moby_archive(part, [("rvkill/part:1", layers[:2])])
    images += ["rvkill/full:1", "rvkill/part:1"]
    before = zfs_names()
    for _ in range(int(os.environ.get("JOCKER_KILL_ROUNDS", "6"))):
        p = subprocess.Popen([sys.executable, "-m", "jocker", "load", "-i", str(full)], env=jocker_env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 3.0))
        p.send_signal(signal.SIGKILL)
        p.wait()
        res = jocker("load", "-i", str(part), check=False)
        assert res.returncode == 0, res.stderr
        st = engine.load_state()
        for img in st.images.values():
            for layer in st.chain(img.layer):
                ds = engine.zfs.get(layer.dataset)
                assert ds.get("readonly") == "on" and ds.get("mounted") != "yes", (seed, layer.id, dict(ds))
        jocker("rmi", "-f", "rvkill/full:1", "rvkill/part:1", check=False)
        jocker("system", "prune", "-f")
    assert zfs_names() == before, seed


def test_load_interrupted_at_random_points_leaves_nothing_listed_or_uncollected(
        jocker, jocker_env, tmp_path, images, zfs_names):
    """Ctrl-C (SIGINT to the process group) during `load`, at random
    moments: one line or none, no image listed, and what the command could
    not clean itself (a `zfs clone` interrupted in begin_layer: the clone
    exists, its parent cannot be destroyed under it) a prune removes."""
    import random
    seed = int(os.environ.get("JOCKER_KILL_SEED", time.time()))
    rng = random.Random(seed)
    layers = [layer_tar([(f"l{i}", tarfile.REGTYPE, 0o644, os.urandom(4 << 20))]) for i in range(3)]
    full = tmp_path / "full.tar"
    _moby_archive(full, [("rvint/full:1", layers)])
    images.append("rvint/full:1")
    before = zfs_names()
    for _ in range(int(os.environ.get("JOCKER_KILL_ROUNDS", "6"))):
        p = subprocess.Popen([sys.executable, "-m", "jocker", "load", "-i", str(full)], env=jocker_env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        time.sleep(rng.uniform(1.0, 3.5))        # past the interpreter's start
        os.killpg(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=120)
        assert b"Traceback" not in err, (seed, err.decode())
        if p.returncode != 0:
            assert "rvint/full" not in jocker("images", "-a").stdout, seed
        jocker("rmi", "-f", "rvint/full:1", check=False)
        left = zfs_names() - before
        if left:
            print(f"seed {seed}: left for the collector after exit {p.returncode}: {sorted(left)}")
        jocker("system", "prune", "-f")
        assert zfs_names() == before, (seed, p.returncode, err.decode())


def test_two_concurrent_loads_of_one_image_leave_no_orphan_layers(jocker, jocker_env, engine, tmp_path,
                                                                   images, zfs_names):
    """Two loads of the same image at once: neither builds on the other's
    unfinished layers, both succeed, one image; the loser's layers do not
    stay behind without an image."""
    layers = [layer_tar([(f"c{i}", tarfile.REGTYPE, 0o644, os.urandom(4 << 20))]) for i in range(2)]
    arch = tmp_path / "same.tar"
    _moby_archive(arch, [("rvsame/x:1", layers)])
    images.append("rvsame/x:1")
    before = zfs_names()
    procs = [subprocess.Popen([sys.executable, "-m", "jocker", "load", "-i", str(arch)], env=jocker_env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    st = engine.load_state()
    img = st.resolve("rvsame/x:1")
    orphans = [l.id for l in st.layers.values() if not l.images and not l.children
               and l.dataset not in before and l.id != img.layer]
    assert not orphans, orphans
    jocker("rmi", "-f", "rvsame/x:1")
    jocker("image", "prune", "-f")
    assert zfs_names() == before
