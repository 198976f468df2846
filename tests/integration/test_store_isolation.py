"""The store seen from the host and from other containers (issue 9, items
2-4): private modes, nosuid clones, recursive read-only binds, and binds
that cannot copy (and so pin) other containers' clones."""

from __future__ import annotations

import os
import subprocess


def _mounts() -> dict[str, list[str]]:
    out = {}
    for line in open("/proc/self/mountinfo"):
        f = line.split()
        out[f[4]] = f[5].split(",")
    return out


def _as_nobody(fn):
    pid = os.fork()
    if pid == 0:
        os.setgid(65534)
        os.setuid(65534)
        try:
            fn()
            os._exit(0)
        except PermissionError:
            os._exit(13)
        except BaseException:
            os._exit(1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_store_is_private(jocker, jocker_env, busybox_image, cleanup):
    mnt, run = jocker_env["JOCKER_MOUNTPOINT"], jocker_env["JOCKER_RUNDIR"]
    assert os.stat(mnt).st_mode & 0o777 == 0o700
    assert os.stat(run).st_mode & 0o777 == 0o700
    cleanup.append("priv")
    cid = jocker("create", "--name", "priv", busybox_image, "true").stdout.strip()
    root = os.path.join(mnt, "containers", cid, "root")
    assert _as_nobody(lambda: os.listdir(os.path.join(mnt, "containers"))) == 13
    assert _as_nobody(lambda: os.stat(root)) == 13
    # Inside, the root is nosuid under no_new_privs (setuid bits are ignored there anyway).
    opts = jocker("run", "--rm", busybox_image, "grep", " / ", "/proc/mounts").stdout.split()[3]
    assert {"nosuid", "nodev"} <= set(opts.split(","))


def test_readonly_bind_is_recursive(jocker, busybox_image, tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "jtest", str(sub)], check=True)
    try:
        p = jocker("run", "--rm", "-v", f"{tmp_path}:/h:ro", busybox_image, "sh", "-c",
                   "touch /h/top; touch /h/sub/below; echo done", check=False)
        assert "done" in p.stdout
        assert p.stderr.count("Read-only file system") == 2, p.stderr
        assert not (sub / "below").exists() and not (tmp_path / "top").exists()
        p = jocker("run", "--rm", "-v", f"{tmp_path}:/h", busybox_image, "touch", "/h/sub/below")
        assert (sub / "below").exists()
    finally:
        subprocess.run(["umount", str(sub)], check=False)


def test_recursive_bind_of_the_store_does_not_pin_other_clones(jocker, jocker_env, busybox_image, cleanup):
    """`-v /:/host` used to copy every clone's mount into the container, so
    removing any other container failed with "dataset is busy"."""
    work = os.path.dirname(jocker_env["JOCKER_MOUNTPOINT"])     # holds this session's store only
    cleanup += ["victim", "binder"]
    victim = jocker("run", "-d", "--name", "victim", busybox_image, "sleep", "60").stdout.strip()
    jocker("run", "-d", "--name", "binder", "-v", f"{work}:/host", busybox_image, "sleep", "60")
    rel = os.path.relpath(os.path.join(jocker_env["JOCKER_MOUNTPOINT"], "containers", victim, "root"), work)
    listing = jocker("exec", "binder", "ls", "-A", f"/host/{rel}").stdout
    assert listing.strip() == ""           # the clone was not copied in: an empty directory
    jocker("rm", "-f", "victim")
    assert "victim" not in jocker("ps", "-a", "--format", "{{.Names}}").stdout
