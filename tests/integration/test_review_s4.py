"""Session-4 review regressions (s4-review1): what the run --rm hot path,
--network none without a named netns and the zstd push must not break."""

from __future__ import annotations

import json
import subprocess

import pytest


def zfs(*args, check=True):
    return subprocess.run(["zfs", *args], capture_output=True, text=True, check=check)


def test_rm_refused_by_an_admin_snapshot_leaves_the_container_usable(jocker, jocker_env, busybox_image,
                                                                      wait_for):
    """--rm on exit: an admin's snapshot of the clone makes the removal
    refuse (kept, one line), and the container must stay as it was: its
    clone mounted, its files readable, `start` runs it again."""
    root = jocker_env["JOCKER_DATASET"]
    jocker("run", "-d", "--rm", "--network", "none", "--name", "rvsnap", busybox_image,
           "sh", "-c", "sleep 2; cat /etc/marker 2>/dev/null || echo first")
    cid = jocker("inspect", "-f", "{{.Id}}", "rvsnap").stdout.strip()
    ds = f"{root}/containers/{cid}"
    zfs("snapshot", f"{ds}@mine")
    try:
        ok = wait_for(lambda: "Exited" in jocker("ps", "-a", "-f", "name=rvsnap").stdout, timeout=30)
        assert ok, jocker("ps", "-a").stdout
        assert zfs("get", "-H", "-o", "value", "mounted", ds).stdout.strip() == "yes"
        out = jocker("start", "-a", "rvsnap", check=False)
        assert out.returncode == 0 and "first" in out.stdout, (out.stdout, out.stderr)
    finally:
        zfs("destroy", f"{ds}@mine", check=False)
        jocker("rm", "-f", "rvsnap", check=False)
