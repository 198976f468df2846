"""Containers end to end: real ZFS clones, real processes in namespaces, the
real CLI, the real supervisor."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time



def _ids(jocker, *names):
    return [jocker("inspect", "-f", "{{.Id}}", n).stdout.strip() for n in names]




def test_run_output_and_exit_codes(jocker, busybox_image):
    p = jocker("run", "--rm", busybox_image, "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (p.returncode, p.stdout, p.stderr) == (3, "out\n", "err\n")
    p = jocker("run", "--rm", busybox_image, "no-such-command", check=False)
    assert p.returncode == 127 and "executable file not found" in p.stderr
    p = jocker("run", "--rm", "nosuchimage:1", "true", check=False)
    assert p.returncode == 125 and "Unable to find image 'nosuchimage:1' locally" in p.stderr
    p = jocker("run", "--rm", "--name", "bad name", busybox_image, "true", check=False)
    assert p.returncode == 125 and "invalid container name" in p.stderr
    p = jocker("run", "--rm", "--network", "host", "-p", "80:80", busybox_image, "true", check=False)
    assert p.returncode == 125 and "-p cannot be used with --network host" in p.stderr
    assert jocker("ps", "-aq").stdout == ""      # --rm really removed them


def test_isolation_env_user_workdir_hostname(jocker, busybox_image):
    out = jocker("run", "--rm", "-e", "FOO=bar baz", "-w", "/tmp", "-u", "nobody", "-h", "box",
                 busybox_image, "sh", "-c", 'echo "$FOO|$(pwd)|$(id -u)|$(hostname)|$$"').stdout
    assert out.strip() == "bar baz|/tmp|65534|box|1"
    procs = jocker("run", "--rm", busybox_image, "ps", "-o", "pid,comm").stdout.split("\n")
    assert len([l for l in procs[1:] if l.strip()]) == 1      # only ps itself: a private PID namespace


def test_stdin_and_real_tty(jocker, busybox_image, pty_run):
    p = subprocess.run([sys.executable, "-m", "jocker", "run", "-i", "--rm", busybox_image, "tr", "a-z", "A-Z"],
                       input="hello\n", capture_output=True, text=True, env=jocker.env, timeout=60)
    assert p.stdout == "HELLO\n"
    code, out = pty_run("run", "-t", "--rm", busybox_image, "sh", "-c", "tty; test -t 0 && echo is-a-tty")
    assert code == 0
    assert b"/dev/pts/" in out and b"is-a-tty" in out


def test_detached_ps_logs_stop_escalation(jocker, busybox_image, cleanup, wait_for):
    cleanup.append("sleeper")
    cid = jocker("run", "-d", "--name", "sleeper", busybox_image, "sh", "-c",
                 "echo started; echo warn >&2; exec sleep 300").stdout.strip()
    assert len(cid) == 64
    ps = jocker("ps").stdout
    assert "sleeper" in ps and "Up " in ps
    assert wait_for(lambda: "started" in jocker("logs", "sleeper").stdout)
    logs = jocker("logs", "sleeper")
    assert logs.stdout == "started\n" and logs.stderr == "warn\n"
    stamped = jocker("logs", "-t", "--tail", "1", "sleeper")        # the last line was stderr's
    assert stamped.stdout == "" and stamped.stderr.startswith("20") and stamped.stderr.endswith("Z warn\n")
    # sleep as PID 1 ignores SIGTERM: the grace period ends in SIGKILL -> 137.
    t0 = time.time()
    assert jocker("stop", "-t", "1", "sleeper").stdout.strip() == "sleeper"
    assert 0.9 < time.time() - t0 < 8
    status = jocker("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout
    assert "sleeper Exited (137)" in status
    state = json.loads(jocker("inspect", "sleeper").stdout)[0]["State"]
    assert state["ExitCode"] == 137 and not state["Running"] and state["FinishedAt"] > state["StartedAt"]


def test_stop_signal_handled_quickly(jocker, busybox_image, cleanup):
    cleanup.append("trapper")
    jocker("run", "-d", "--name", "trapper", busybox_image, "sh", "-c",
           "trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done")
    time.sleep(0.5)
    t0 = time.time()
    jocker("stop", "trapper")
    assert time.time() - t0 < 5
    assert "Exited (0)" in jocker("ps", "-a", "--filter", "name=trapper", "--format", "{{.Status}}").stdout
    assert "bye" in jocker("logs", "trapper").stdout


def test_attached_run_forwards_signals(jocker, busybox_image):
    proc = subprocess.Popen([sys.executable, "-m", "jocker", "run", "--rm", busybox_image, "sh", "-c",
                             "trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.1; done"],
                            stdout=subprocess.PIPE, text=True, env=jocker.env)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 7 and "got-term" in out


def test_restart_policy_and_wait(jocker, busybox_image, cleanup):
    cleanup.append("flaky")
    jocker("run", "-d", "--name", "flaky", "--restart", "on-failure:2", busybox_image,
           "sh", "-c", "echo try; exit 4")
    assert jocker("wait", "flaky").stdout.strip() == "4"
    insp = json.loads(jocker("inspect", "flaky").stdout)[0]
    assert insp["RestartCount"] == 2
    assert insp["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert jocker("logs", "flaky").stdout == "try\ntry\ntry\n"


def test_rm_running_refuses_without_force(jocker, busybox_image, cleanup):
    cleanup.append("busy")
    jocker("run", "-d", "--name", "busy", busybox_image, "sleep", "300")
    p = jocker("rm", "busy", check=False)
    assert p.returncode == 1 and "cannot remove a running container" in p.stderr
    assert jocker("rm", "-f", "busy").stdout.strip() == "busy"
    assert jocker("ps", "-aq").stdout == ""


def test_truthful_state_after_supervisor_sigkill_and_reboot(jocker, busybox_image, jocker_env, cleanup, wait_for):
    cleanup += ["victim", "finished"]
    t0 = time.time()
    cid = jocker("run", "-d", "--name", "victim", busybox_image, "sleep", "300").stdout.strip()
    info = json.load(open(os.path.join(jocker_env["JOCKER_RUNDIR"], cid, "supervisor.json")))
    os.kill(info["pid"], signal.SIGKILL)
    # The container dies with its supervisor (Linux: parent-death signal; a
    # FreeBSD jail is removed by the next ps), and ps says so.
    if sys.platform.startswith("linux"):
        assert wait_for(lambda: not os.path.exists(f"/proc/{info['main_pid']}"))
    assert "victim Exited (255)" in jocker("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout
    assert jocker("ps", "-q").stdout == ""
    # inspect derives the same from what it reads (ps and inspect never write).
    state = json.loads(jocker("inspect", "victim").stdout)[0]["State"]
    assert state["ExitCode"] == 255 and "supervisor died" in state["Error"]
    # A "reboot": the volatile run directory is gone; exit statuses are kept in ZFS.
    jocker("run", "--name", "finished", busybox_image, "sh", "-c", "exit 9", check=False)
    shutil.rmtree(jocker_env["JOCKER_RUNDIR"] + "/" + _ids(jocker, "finished")[0], ignore_errors=True)
    assert "finished Exited (9)" in jocker("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout
    # And the killed one can simply be started again.
    jocker("start", "victim")
    assert "victim" in jocker("ps", "--format", "{{.Names}}").stdout
    # Events readers get the end the supervisor could not report, once,
    # before the next start (the start writes it down).
    out = jocker("events", "--since", f"{t0:.6f}", "--until", "0s", "--format", "json",
                 "--filter", f"container={cid}", "--filter", "type=container").stdout
    acts = [json.loads(line)["Action"] for line in out.splitlines()]
    assert acts == ["create", "start", "die", "start"], acts
    assert '"exitCode":"255"' in out.splitlines()[2]


def test_rm_of_a_container_whose_supervisor_was_killed_reports_its_die_once(
        jocker, busybox_image, jocker_env, cleanup, wait_for):
    cleanup.append("lostrm")
    t0 = time.time()
    cid = jocker("run", "-d", "--name", "lostrm", busybox_image, "sleep", "300").stdout.strip()
    info = json.load(open(os.path.join(jocker_env["JOCKER_RUNDIR"], cid, "supervisor.json")))
    os.kill(info["pid"], signal.SIGKILL)
    assert wait_for(lambda: "Exited (255)" in jocker("ps", "-a", "-f", "name=lostrm").stdout)
    jocker("rm", "lostrm")
    out = jocker("events", "--since", f"{t0:.6f}", "--until", "0s", "--format", "{{.Action}}",
                 "--filter", f"container={cid}", "--filter", "type=container").stdout.split()
    assert out == ["create", "start", "die", "destroy"], out


def test_racing_run_same_name_one_wins(jocker, busybox_image, cleanup):
    cleanup.append("racer")
    cmd = [sys.executable, "-m", "jocker", "run", "-d", "--name", "racer", busybox_image, "sleep", "300"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=jocker.env)
             for _ in range(3)]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    assert sorted(r[0] for r in results) == [0, 125, 125]
    assert all('The container name "/racer" is already in use' in err for code, err in results if code)
    assert jocker("ps", "--filter", "name=racer", "-q").stdout.count("\n") == 1


def test_named_and_anonymous_volumes(jocker, busybox_image, tmp_path, cleanup):
    cleanup += ["w1", "w2"]
    jocker("run", "--name", "w1", "-v", "keep:/data", busybox_image, "sh", "-c", "echo persisted > /data/f")
    jocker("rm", "w1")
    out = jocker("run", "--rm", "-v", "keep:/data:ro", busybox_image, "sh", "-c",
                 "cat /data/f; touch /data/x 2>/dev/null || echo readonly").stdout
    assert out == "persisted\nreadonly\n"
    host = tmp_path / "share"
    host.mkdir()
    jocker("run", "--rm", "-v", f"{host}:/mnt", busybox_image, "sh", "-c", "echo from-ctr > /mnt/out")
    assert (host / "out").read_text() == "from-ctr\n"
    # An image VOLUME gets an anonymous volume; rm -v removes it, the named one stays.
    tarball = tmp_path / "v.tar"
    subprocess.run(["tar", "-cf", str(tarball), "-C", str(tmp_path), "share"], check=True)
    jocker("import", "-c", "VOLUME /anon", str(tarball), "volimg:1")
    jocker("create", "--name", "w2", "-v", "keep:/data", "volimg:1", "/bin/true")
    vols_before = set(jocker("volume", "ls", "-q").stdout.split())
    anon = [v for v in vols_before if len(v) == 64]
    assert anon and "keep" in vols_before
    p = jocker("volume", "rm", "keep", check=False)
    assert p.returncode == 1 and "volume is in use" in p.stderr
    jocker("rm", "-v", "w2")
    after = set(jocker("volume", "ls", "-q").stdout.split())
    assert "keep" in after and not (set(anon) & after)
    jocker("volume", "rm", "keep")
    jocker("rmi", "volimg:1")


def test_exec_cp_diff_commit_top(jocker, busybox_image, tmp_path, cleanup):
    cleanup.append("work")
    jocker("run", "-d", "--name", "work", busybox_image, "sleep", "300")
    p = jocker("exec", "-u", "nobody", "-w", "/tmp", "-e", "X=1", "work", "sh", "-c",
               'echo "$(id -u) $(pwd) $X"; exit 5', check=False)
    assert (p.returncode, p.stdout) == (5, "65534 /tmp 1\n")
    assert "sleep 300" in jocker("top", "work").stdout
    src = tmp_path / "hello.txt"
    src.write_text("hi there\n")
    jocker("cp", str(src), "work:/etc/")
    jocker("exec", "work", "rm", "/bin/vi")
    assert jocker("exec", "work", "cat", "/etc/hello.txt").stdout == "hi there\n"
    jocker("cp", "work:/etc/hello.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "hi there\n"
    diff = jocker("diff", "work").stdout.splitlines()
    assert "A /etc/hello.txt" in diff and "D /bin/vi" in diff and "C /etc" in diff
    assert not any("resolv.conf" in d or "hostname" in d for d in diff)
    new_id = jocker("commit", "-m", "snap", "work", "committed:1").stdout.strip()
    assert new_id.startswith("sha256:")
    out = jocker("run", "--rm", "committed:1", "sh", "-c", "cat /etc/hello.txt; test -e /bin/vi || echo novi").stdout
    assert out == "hi there\nnovi\n"
    assert json.loads(jocker("inspect", "committed:1").stdout)[0]["Parent"] == _ids(jocker, busybox_image)[0]
    jocker("rm", "-f", "work")
    jocker("rmi", "committed:1")


def test_rename_inspect_and_filters(jocker, busybox_image, cleanup):
    cleanup += ["renamed"]
    jocker("create", "--name", "orig", "-l", "tier=web", busybox_image, "true")
    jocker("rename", "orig", "renamed")
    insp = json.loads(jocker("inspect", "renamed").stdout)[0]
    assert insp["Name"] == "/renamed" and insp["State"]["Status"] == "created"
    assert insp["GraphDriver"]["Name"] == "zfs" and insp["Config"]["Labels"] == {"tier": "web"}
    assert jocker("ps", "-a", "--filter", "label=tier=web", "--format", "{{.Names}}").stdout.strip() == "renamed"
    assert jocker("ps", "-a", "--filter", "status=created", "-q").stdout.strip() == insp["Id"][:12]
    assert jocker("ps", "-a", "--filter", "ancestor=" + busybox_image, "-q").stdout.strip() == insp["Id"][:12]
    p = jocker("rmi", busybox_image, check=False)
    assert p.returncode == 1 and "is using its referenced image" in p.stderr


def test_boot_and_shutdown(jocker, busybox_image, cleanup):
    cleanup += ["always", "unless", "never"]
    for name, policy in (("always", "always"), ("unless", "unless-stopped"), ("never", "no")):
        jocker("create", "--name", name, "--restart", policy, busybox_image, "sleep", "300")
    out = jocker("system", "boot").stdout
    assert "always: started" in out and "unless: started" in out and "never" not in out
    down = jocker("system", "shutdown", "-t", "1").stdout
    assert "always: stopped" in down and "unless: stopped" in down
    # A system shutdown is not the user's stop: unless-stopped comes back.
    assert "unless: started" in jocker("system", "boot").stdout
    jocker("stop", "-t", "1", "unless")               # the user's stop: stays down
    jocker("stop", "-t", "1", "always")
    out = jocker("system", "boot").stdout
    assert "always: started" in out and "unless" not in out
