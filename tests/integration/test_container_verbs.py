"""The container verbs of issue 12 through the real CLI: update, export,
container prune, attach with detach keys. Real ZFS clones, real processes."""

from __future__ import annotations

import io
import json
import tarfile

from support import PtyProcess


def _inspect(jocker, name):
    return json.loads(jocker("inspect", name).stdout)[0]


def test_update_stores_limits_and_the_policy(jocker, busybox_image, cleanup):
    cleanup.append("upd")
    jocker("create", "--name", "upd", busybox_image, "true")
    p = jocker("update", "--memory", "64m", "--cpus", "1.5", "--pids-limit", "50",
               "--restart", "on-failure:3", "--cpu-shares", "512", "upd")
    assert p.stdout == "upd\n"
    # the Linux workbench runtime records limits, it does not enforce them: it says so
    assert "does not enforce" in p.stderr
    host = _inspect(jocker, "upd")["HostConfig"]
    assert (host["Memory"], host["NanoCpus"], host["PidsLimit"], host["CpuShares"]) == \
        (64 << 20, 1_500_000_000, 50, 512)
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    jocker("update", "--pids-limit", "-1", "upd")           # Docker's way to lift it
    host = _inspect(jocker, "upd")["HostConfig"]
    assert host["PidsLimit"] in (None, 0) and host["Memory"] == 64 << 20    # the rest unchanged


def test_update_restart_policy_applies_to_the_running_container(jocker, busybox_image, cleanup, wait_for):
    """The supervisor learns the new policy at once: the run that is going on
    when `update` comes ends in a restart it would not have had."""
    cleanup.append("upd-live")
    jocker("run", "-d", "--name", "upd-live", busybox_image, "sh", "-c", "sleep 2; exit 1")
    jocker("update", "--restart", "on-failure:1", "upd-live")
    assert wait_for(lambda: _inspect(jocker, "upd-live")["RestartCount"] == 1, 30)
    assert wait_for(lambda: not _inspect(jocker, "upd-live")["State"]["Running"], 30)
    assert _inspect(jocker, "upd-live")["RestartCount"] == 1           # the limit of 1 held


def test_update_bad_values(jocker, busybox_image, cleanup):
    cleanup.append("upd-bad")
    jocker("create", "--name", "upd-bad", "--rm", busybox_image, "true")
    for args, words in ((["--memory", "1k"], "the minimum is 6m"),
                        (["--memory", "lots"], "invalid --memory"),
                        (["--restart", "sometimes"], "invalid restart policy"),
                        (["--cpu-period", "10"], "CPU cfs period"),
                        (["--cpus", "0"], "invalid --cpus"),
                        ([], "one or more flags")):
        p = jocker("update", *args, "upd-bad", check=False)
        assert p.returncode == 125, (args, p.stderr)
        assert p.stderr.count("\n") == 1 and words in p.stderr, (args, p.stderr)
    # a conflict with the container's own config: Docker's message, the others still done
    p = jocker("update", "--restart", "always", "upd-bad", check=False)
    assert p.returncode == 1 and "AutoRemove is enabled" in p.stderr
    p = jocker("update", "--memory", "64m", "no-such-ctr", check=False)
    assert p.returncode == 1 and "no-such-ctr" in p.stderr
    assert _inspect(jocker, "upd-bad")["HostConfig"]["Memory"] == 0


def test_export_is_the_containers_filesystem(jocker, busybox_image, cleanup, tmp_path):
    cleanup.append("exp")
    jocker("run", "--name", "exp", "-v", "/data", busybox_image, "sh", "-c",
           "echo hello > /root/new.txt; ln -s /etc/passwd /root/link; echo vol > /data/in-volume; "
           "rm /bin/rmdir; mkdir -p /a/b; ln /root/new.txt /a/b/hard")
    out = tmp_path / "exp.tar"
    jocker("export", "-o", out, "exp")
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        assert tar.extractfile("a/b/hard").read() == b"hello\n"
        link = tar.getmember("root/link")
        assert link.issym() and link.linkname == "/etc/passwd"       # a link, never followed
        hard = tar.getmember("root/new.txt")                           # the second name of a file
        assert hard.islnk() and hard.linkname == "a/b/hard"
    assert "bin/sh" in names and "bin/rmdir" not in names and "etc/passwd" in names
    assert not any(n.startswith("data/") for n in names)             # volumes are not exported
    assert not [p for p in tmp_path.iterdir() if p.name != "exp.tar"]   # no temporary left
    # to standard output: the same archive, and it imports as an image
    raw = jocker("export", "exp", input=b"").stdout
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        assert set(tar.getnames()) == names
    p = jocker("export", "nope", check=False)
    assert p.returncode == 1 and "nope" in p.stderr and p.stderr.count("\n") == 1


def test_container_prune_with_filters(jocker, busybox_image, cleanup):
    cleanup.extend(["pr-old", "pr-keep", "pr-run", "pr-new"])
    jocker("create", "--name", "pr-old", "--label", "ci=1", busybox_image, "true")
    jocker("create", "--name", "pr-keep", busybox_image, "true")
    jocker("run", "-d", "--name", "pr-run", "--label", "ci=1", busybox_image, "sleep", "60")
    import time
    time.sleep(2.1)
    jocker("create", "--name", "pr-new", "--label", "ci=1", busybox_image, "true")
    old = jocker("inspect", "-f", "{{.Id}}", "pr-old").stdout.strip()
    p = jocker("container", "prune", "-f", "--filter", "label=ci=1", "--filter", "until=2s")
    assert p.stdout.startswith(f"Deleted Containers:\n{old}\n\n") and "Total reclaimed space:" in p.stdout
    left = set(jocker("ps", "-a", "--format", "{{.Names}}").stdout.split())
    assert {"pr-keep", "pr-run", "pr-new"} <= left and "pr-old" not in left
    p = jocker("container", "prune", "-f", "--filter", "color=red", check=False)
    assert p.returncode == 125 and "invalid filter" in p.stderr
    # without -f it asks; "n" keeps everything
    p = jocker("container", "prune", input="n\n")
    assert "Are you sure you want to continue?" in p.stdout
    assert "pr-keep" in jocker("ps", "-a", "--format", "{{.Names}}").stdout


def _jocker_pty(jocker, *args):
    import sys
    return PtyProcess([sys.executable, "-m", "jocker", *map(str, args)], jocker.env)


def test_detach_keys_leave_the_container_running(jocker, busybox_image, cleanup, wait_for, tmp_path):
    cleanup.append("dk")
    t = _jocker_pty(jocker, "run", "-it", "--name", "dk", busybox_image, "sh")
    t.expect(b"# ")
    t.send(b"echo one-$((1+1))\r")
    t.expect(b"one-2")
    t.send(b"\x10\x11")                              # Docker's default: ctrl-p, ctrl-q
    assert t.wait() == 0
    assert _inspect(jocker, "dk")["State"]["Running"]
    # attach with other keys; ctrl-p alone now reaches the shell
    t = _jocker_pty(jocker, "attach", "--detach-keys", "ctrl-x,x", "dk")
    t.send(b"echo two-$((2+2))\r")
    t.expect(b"two-4")
    t.send(b"\x18x")
    assert t.wait() == 1 and b"read escape sequence" in t.out     # docker attach's habit
    assert _inspect(jocker, "dk")["State"]["Running"]
    # exec -it: the exec'd shell goes on after the keys
    t = _jocker_pty(jocker, "exec", "-it", "--detach-keys", "ctrl-a", "dk", "sh")
    t.expect(b"# ")
    t.send(b"echo e-$((4+4))\r")
    t.expect(b"e-8")
    t.send(b"\x01")
    assert t.wait() == 1 and b"read escape sequence" in t.out
    top = jocker("top", "dk").stdout
    assert sum(1 for line in top.splitlines()[1:] if line.split()[-1] == "sh") == 2, top
    # and without keys it ends with the command's status
    t = _jocker_pty(jocker, "exec", "-it", "dk", "sh")
    t.expect(b"# ")
    t.send(b"exit 4\r")
    assert t.wait() == 4
    # attached until the end: attach exits with the container's status
    t = _jocker_pty(jocker, "attach", "dk")
    t.send(b"exit 3\r")
    assert t.wait() == 3
    assert wait_for(lambda: not _inspect(jocker, "dk")["State"]["Running"])
    # the docker CLI's config.json detachKeys, when no flag is given
    import sys
    (tmp_path / "config.json").write_text('{"detachKeys": "ctrl-b"}')
    t = PtyProcess([sys.executable, "-m", "jocker", "start", "-ai", "dk"],
                   {**jocker.env, "DOCKER_CONFIG": str(tmp_path)})
    t.send(b"echo cfg\r")
    t.expect(b"cfg")
    t.send(b"\x02")
    assert t.wait() == 0
    assert _inspect(jocker, "dk")["State"]["Running"]
    jocker("stop", "-t", "1", "dk")
    # start -a -i with keys, then detach
    t = _jocker_pty(jocker, "start", "-ai", "--detach-keys", "ctrl-a", "dk")
    t.send(b"echo three\r")
    t.expect(b"three")
    t.send(b"\x01")
    assert t.wait() == 0
    assert _inspect(jocker, "dk")["State"]["Running"]


def test_detach_keys_bad_and_attach_to_stopped(jocker, busybox_image, cleanup):
    cleanup.append("dk-bad")
    p = jocker("run", "--rm", "--detach-keys", "ctrl-1", busybox_image, "true", check=False)
    assert p.returncode == 125 and "invalid detach keys" in p.stderr and p.stderr.count("\n") == 1
    assert jocker("ps", "-aq").stdout == "" or "dk-bad" not in jocker("ps", "-a").stdout
    jocker("create", "--name", "dk-bad", busybox_image, "true")
    p = jocker("attach", "dk-bad", check=False)
    assert p.returncode == 1 and "You cannot attach to a stopped container" in p.stderr
