"""Never destroy what is not ours (issue 9, item 5): the garbage collector
and rmi leave an admin's snapshots and foreign datasets under the store
alone."""

from __future__ import annotations

import subprocess

import pytest

pytestmark = pytest.mark.reliability


def zfs(*args, check=True):
    return subprocess.run(["zfs", *args], capture_output=True, text=True, check=check)


def _snapshots(root):
    return set(zfs("list", "-H", "-o", "name", "-t", "snapshot", "-r", root).stdout.split())


def test_admin_snapshots_survive_rmi_and_prune(jocker, jocker_env, busybox_image, tmp_path):
    root = jocker_env["JOCKER_DATASET"]
    (tmp_path / "Dockerfile").write_text(f"FROM {busybox_image}\nRUN echo data > /owned\n")
    jocker("build", "-q", "-t", "owned:1", str(tmp_path))
    zfs("snapshot", "-r", f"{root}@backup")
    try:
        backups = {s for s in _snapshots(root) if s.endswith("@backup")}
        assert any("/layers/" in s for s in backups)
        jocker("rmi", "owned:1")
        jocker("system", "prune", "-f")
        assert {s for s in _snapshots(root) if s.endswith("@backup")} == backups
        assert "owned" not in jocker("images").stdout
    finally:
        zfs("destroy", "-r", f"{root}@backup", check=False)
    # Once the admin's snapshots are gone, the layer is jocker's to collect.
    out = jocker("system", "prune", "-f").stdout
    assert "layers/" in out


def test_foreign_datasets_under_layers_survive(jocker, jocker_env, busybox_image):
    root = jocker_env["JOCKER_DATASET"]
    foreign = [f"{root}/layers/x", f"{root}/layers/{'f' * 64}"]
    for name in foreign:
        zfs("create", "-o", "canmount=noauto", name)
    try:
        jocker("system", "prune", "-f")
        jocker("images")
        listed = set(zfs("list", "-H", "-o", "name", "-r", f"{root}/layers").stdout.split())
        assert set(foreign) <= listed
    finally:
        for name in foreign:
            zfs("destroy", name, check=False)


def test_prune_unmounts_a_layer_a_killed_process_left_mounted(jocker, jocker_env, busybox_image):
    """Sealed layers are mounted only inside store.layer_mounted(), under the
    engine lock; a process SIGKILLed there leaves the layer mounted (the kill
    loop found one). `system prune` unmounts it; the layer itself stays."""
    root = jocker_env["JOCKER_DATASET"]
    layer = zfs("list", "-H", "-o", "name", "-d", "1", f"{root}/layers").stdout.split()[1]
    zfs("mount", layer)
    try:
        assert zfs("get", "-H", "-o", "value", "mounted", layer).stdout.strip() == "yes"
        jocker("system", "prune", "-f")
        assert zfs("get", "-H", "-o", "value", "mounted", layer).stdout.strip() == "no"
        jocker("run", "--rm", "--network", "none", busybox_image, "true")    # still usable
    finally:
        zfs("unmount", layer, check=False)


def test_rm_never_destroys_an_admin_snapshot_of_a_container(jocker, jocker_env, busybox_image, wait_for):
    """jocker makes no snapshot of a container's clone, so one there is an
    admin's: `rm`, `rm -f` (which must not even stop it first), `--rm` and
    `container prune` refuse or skip with one line naming the snapshot; once
    the admin destroys it, `rm` works."""
    root = jocker_env["JOCKER_DATASET"]
    jocker("run", "-d", "--network", "none", "--name", "snapkeep", busybox_image, "sleep", "300")
    cid = jocker("inspect", "-f", "{{.Id}}", "snapkeep").stdout.strip()
    snap = f"{root}/containers/{cid}@mine"
    zfs("snapshot", snap)
    try:
        res = jocker("rm", "-f", "snapkeep", check=False)
        assert res.returncode == 1
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and snap in lines[0] and "zfs destroy" in lines[0], res.stderr
        assert jocker("inspect", "-f", "{{.State.Running}}", "snapkeep").stdout.strip() == "true"
        jocker("stop", "-t", "0", "snapkeep")
        assert jocker("rm", "snapkeep", check=False).returncode == 1
        assert cid not in jocker("system", "prune", "-f").stdout
        assert snap in zfs("list", "-H", "-o", "name", "-t", "snapshot", "-r", root).stdout.split()
        assert "snapkeep" in jocker("ps", "-a").stdout
        # --rm: the supervisor removes on exit, and must refuse the same way.
        jocker("run", "-d", "--rm", "--network", "none", "--name", "snaprm", busybox_image, "sleep", "2")
        rid = jocker("inspect", "-f", "{{.Id}}", "snaprm").stdout.strip()
        zfs("snapshot", f"{root}/containers/{rid}@mine")
        ok = wait_for(lambda: "Exited" in jocker("ps", "-a", "-f", "name=snaprm").stdout, timeout=30)
        assert ok, jocker("ps", "-a").stdout + jocker("inspect", "snaprm").stdout
        assert f"{root}/containers/{rid}@mine" in zfs("list", "-H", "-o", "name", "-t", "snapshot",
                                                       "-r", root).stdout.split()
    finally:
        for name in ("snapkeep", "snaprm"):
            try:
                cid2 = jocker("inspect", "-f", "{{.Id}}", name, check=False).stdout.strip()
                if cid2:
                    zfs("destroy", f"{root}/containers/{cid2}@mine", check=False)
            finally:
                jocker("rm", "-f", name, check=False)
    assert "snapkeep" not in jocker("ps", "-a").stdout
    assert "snaprm" not in jocker("ps", "-a").stdout


def test_volume_removal_never_destroys_an_admin_snapshot(jocker, jocker_env, busybox_image):
    """The same for volumes: `volume rm` and `rm -v` (an anonymous volume)
    refuse in one line naming the snapshot, and `rm -v` refuses before it
    destroys anything; once the snapshot is gone they work."""
    root = jocker_env["JOCKER_DATASET"]
    jocker("volume", "create", "keepvol")
    jocker("create", "--name", "anonkeep", "--network", "none", "-v", "/data", busybox_image, "true")
    anon = jocker("inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "anonkeep").stdout.strip()
    snaps = [f"{root}/volumes/keepvol@mine", f"{root}/volumes/{anon}@mine"]
    for s in snaps:
        zfs("snapshot", s)
    try:
        for args, snap in ((("volume", "rm", "keepvol"), snaps[0]), (("rm", "-v", "anonkeep"), snaps[1])):
            res = jocker(*args, check=False)
            lines = res.stderr.strip().splitlines()
            assert res.returncode == 1 and len(lines) == 1 and snap in lines[0], (args, res.stderr)
        assert "anonkeep" in jocker("ps", "-a").stdout
        assert {"keepvol", anon} <= set(jocker("volume", "ls", "-q").stdout.split())
        # Prune removes the stopped container and skips its volume.
        jocker("system", "prune", "-f", "--volumes")
        assert set(snaps) <= set(_snapshots(root))
        assert anon in jocker("volume", "ls", "-q").stdout.split()
    finally:
        for s in snaps:
            zfs("destroy", s, check=False)
        jocker("rm", "-f", "anonkeep", check=False)
    jocker("volume", "rm", "keepvol", anon)
    assert not {"keepvol", anon} & set(jocker("volume", "ls", "-q").stdout.split())


def test_rmi_of_an_image_an_admin_cloned_keeps_its_tag(jocker, jocker_env, busybox_image, tmp_path):
    """A clone outside jocker's tree holds an image's snapshot: rmi refuses in
    one line and the image keeps its tag (it used to be untagged first, then
    fail, leaving it `<none>`)."""
    root = jocker_env["JOCKER_DATASET"]
    (tmp_path / "Dockerfile").write_text(f"FROM {busybox_image}\nRUN echo data > /cloned\n")
    jocker("build", "-q", "-t", "cloned:1", str(tmp_path))
    tags = zfs("get", "-H", "-r", "-o", "name,value", "jocker:image.tags", root).stdout
    snap = next(line.split("\t")[0] for line in tags.splitlines() if "cloned:1" in line and "@" in line)
    clone = root.split("/")[0] + "/adminclone"
    zfs("clone", snap, clone)
    try:
        res = jocker("rmi", "cloned:1", check=False)
        assert res.returncode != 0 and "unable to delete" in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert "cloned" in jocker("images").stdout
    finally:
        zfs("destroy", clone, check=False)
    jocker("rmi", "cloned:1")
    assert "cloned" not in jocker("images").stdout
