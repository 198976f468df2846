"""`jocker events` / `jocker system events` with real containers on real ZFS:
what the engine, the CLI and each container's supervisor wrote to the one
journal, read back with --since/--until, --filter and --format."""

from __future__ import annotations

import json
import subprocess
import sys
import time


def _events(jocker, since, *args, until="0s"):
    out = jocker("events", "--since", f"{since:.6f}", "--until", until, "--format", "json", *args).stdout
    return [json.loads(line) for line in out.splitlines()]


def _wait_for_events(jocker, since, want, *args, timeout=30.0):
    end = time.time() + timeout
    while True:
        got = _events(jocker, since, *args)
        if want(got) or time.time() > end:
            return got


def test_container_lifecycle_events_with_exit_code_and_signal(jocker, busybox_image, cleanup):
    cleanup += ["ev-life", "ev-life2"]
    t0 = time.time()
    p = jocker("run", "--name", "ev-life", "-l", "tier=front", busybox_image, "sh", "-c", "exit 3", check=False)
    assert p.returncode == 3
    jocker("start", "ev-life", check=False)
    jocker("wait", "ev-life")
    jocker("rename", "ev-life", "ev-life2")
    jocker("rm", "ev-life2")
    got = _events(jocker, t0, "--filter", "type=container")
    cid = got[0]["id"]
    mine = [e for e in got if e["id"] == cid]
    assert [e["Action"] for e in mine] == ["create", "attach", "start", "die", "start", "die", "rename", "destroy"]
    die = mine[3]
    assert die["Actor"]["Attributes"] == {"exitCode": "3", "image": busybox_image, "name": "ev-life",
                                         "tier": "front"}
    assert die["status"] == "die" and die["from"] == busybox_image and die["scope"] == "local"
    assert die["time"] == die["timeNano"] // 1_000_000_000 and abs(die["time"] - t0) < 120
    assert mine[6]["Actor"]["Attributes"]["oldName"] == "/ev-life"
    assert mine[6]["Actor"]["Attributes"]["name"] == "ev-life2"
    # the label filter, the event filter, and a container filter by name or ID prefix
    assert [e["Action"] for e in _events(jocker, t0, "--filter", "label=tier=front",
                                         "--filter", "event=die")] == ["die", "die"]
    assert len(_events(jocker, t0, "--filter", f"container={cid[:10]}")) == 8
    assert [e["Action"] for e in _events(jocker, t0, "--filter", "container=ev-life2")] == ["rename", "destroy"]


def test_stop_kill_pause_exec_and_the_default_line(jocker, busybox_image, cleanup):
    cleanup += ["ev-stop"]
    t0 = time.time()
    cid = jocker("run", "-d", "--name", "ev-stop", busybox_image, "sh", "-c",
                 "trap 'exit 0' TERM; trap ':' USR1; while :; do sleep 0.1; done").stdout.strip()
    jocker("pause", "ev-stop")
    jocker("unpause", "ev-stop")
    assert jocker("exec", "ev-stop", "sh", "-c", "exit 5", check=False).returncode == 5
    jocker("kill", "--signal", "USR1", "ev-stop", check=False)
    jocker("stop", "-t", "5", "ev-stop")
    got = [e for e in _events(jocker, t0, "--filter", f"container={cid}")]
    actions = [e["Action"] for e in got]
    assert actions[:4] == ["create", "start", "pause", "unpause"]
    assert actions[4:7] == ["exec_create: sh -c exit 5", "exec_start: sh -c exit 5", "exec_die"]
    assert got[6]["Actor"]["Attributes"]["exitCode"] == "5"
    assert got[4]["Actor"]["Attributes"]["execID"] == got[6]["Actor"]["Attributes"]["execID"]
    assert actions[7:] == ["kill", "kill", "die", "stop"]
    assert [got[7]["Actor"]["Attributes"]["signal"], got[8]["Actor"]["Attributes"]["signal"]] == ["10", "15"]
    # Docker's default line: time, type, action, ID, sorted attributes
    line = jocker("system", "events", "--since", f"{t0:.6f}", "--until", "0s",
                  "--filter", f"container={cid}", "--filter", "event=stop").stdout
    stamp, rest = line.rstrip("\n").split(" ", 1)
    assert rest == f"container stop {cid} (image={busybox_image}, name=ev-stop)"
    assert len(stamp) == len("2026-11-28T09:00:00.000000000Z") and stamp[10] == "T"
    tmpl = jocker("events", "--since", f"{t0:.6f}", "--until", "0s", "--filter", f"container={cid}",
                  "--filter", "event=die", "--format", "{{.Status}} {{.Actor.Attributes.exitCode}} {{.From}}")
    assert tmpl.stdout == f"die 0 {busybox_image}\n"


def test_health_status_events_from_a_real_healthcheck(jocker, busybox_image, cleanup):
    cleanup += ["ev-hc"]
    t0 = time.time()
    jocker("run", "-d", "--name", "ev-hc", "--health-cmd", "test -f /tmp/ok",
           "--health-interval", "200ms", "--health-retries", "2", busybox_image,
           "sh", "-c", "sleep 2; touch /tmp/ok; sleep 300")

    def both(got):
        return [e["Action"] for e in got] == ["health_status: unhealthy", "health_status: healthy"]
    got = _wait_for_events(jocker, t0, both, "--filter", "event=health_status", "--filter", "container=ev-hc")
    assert both(got), got
    assert got[1]["Actor"]["Attributes"]["name"] == "ev-hc"


def test_follow_streams_live_events_until_until_passes(jocker, busybox_image, cleanup, jocker_env):
    cleanup += ["ev-live"]
    # No --since: only what happens from now on; --until -20s: twenty seconds ahead.
    follower = subprocess.Popen([sys.executable, "-m", "jocker", "events", "--until", "-20s", "--filter",
                                 "container=ev-live", "--format", "{{.Action}}"], env=jocker_env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    jocker("create", "--name", "ev-live", busybox_image, "true")
    jocker("rm", "ev-live")
    first = [follower.stdout.readline().strip() for _ in range(2)]
    assert first == ["create", "destroy"]
    out, err = follower.communicate(timeout=60)            # it ends when --until passes
    assert follower.returncode == 0 and out == "" and err == ""


def test_volume_and_image_events(jocker, busybox_image, cleanup):
    cleanup += ["ev-vol-c"]
    t0 = time.time()
    jocker("volume", "create", "ev-vol")
    jocker("run", "--name", "ev-vol-c", "-v", "ev-vol:/data", busybox_image, "true")
    jocker("rm", "ev-vol-c")
    jocker("volume", "rm", "ev-vol")
    jocker("tag", busybox_image, "ev-tag:1")
    jocker("rmi", "ev-tag:1")
    vols = _events(jocker, t0, "--filter", "volume=ev-vol")
    assert [e["Action"] for e in vols] == ["create", "mount", "unmount", "destroy"]
    assert vols[1]["Actor"]["Attributes"]["destination"] == "/data"
    assert vols[1]["Actor"]["Attributes"]["read/write"] == "true"
    imgs = _events(jocker, t0, "--filter", "type=image")
    image_id = json.loads(jocker("inspect", busybox_image).stdout)[0]["Id"]
    assert [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"]["name"]) for e in imgs] == \
        [("tag", image_id, "ev-tag:1"), ("untag", image_id, image_id)]
    assert imgs[0]["status"] == "tag" and imgs[0]["id"] == image_id and "from" not in imgs[0]
    assert [e["Action"] for e in _events(jocker, t0, "--filter", "image=ev-tag:1")] == ["tag"]


def test_bad_arguments(jocker):
    p = jocker("events", "--since", "yesterday", check=False)
    assert p.returncode == 125 and "invalid --since value 'yesterday'" in p.stderr
    p = jocker("events", "--filter", "colour=red", check=False)
    assert p.returncode == 125 and "invalid filter 'colour=red'" in p.stderr


def test_network_and_prune_events(jocker, busybox_image, cleanup):
    cleanup += ["ev-net-c"]
    t0 = time.time()
    jocker("network", "create", "ev-net")
    jocker("run", "--name", "ev-net-c", "--network", "ev-net", busybox_image, "true")
    jocker("network", "disconnect", "ev-net", "ev-net-c")
    jocker("rm", "ev-net-c")
    jocker("network", "rm", "ev-net")
    nets = _events(jocker, t0, "--filter", "network=ev-net")
    # joined at start, left after die, then the explicit disconnect of the stopped container
    assert [e["Action"] for e in nets] == ["create", "connect", "disconnect", "disconnect", "destroy"]
    assert nets[0]["Actor"]["Attributes"] == {"name": "ev-net", "type": "bridge"}
    cid = nets[1]["Actor"]["Attributes"]["container"]
    assert len(cid) == 64 and all(e["Actor"]["Attributes"]["container"] == cid for e in nets[1:4])
    assert len({e["Actor"]["ID"] for e in nets}) == 1
    # A label nothing has: the prunes remove nothing of the other tests' and still report.
    jocker("volume", "prune", "-f", "--filter", "label=ev-none")
    jocker("system", "prune", "-f", "--volumes", "--filter", "label=ev-none")
    pr = _events(jocker, t0, "--filter", "event=prune")
    assert [e["Type"] for e in pr] == ["volume", "container", "volume", "image"]
    assert all(e["Actor"]["ID"] == "" and e["Actor"]["Attributes"]["reclaimed"].isdigit() for e in pr)


def test_build_push_pull_save_load_events(jocker, busybox_image, tmp_path, images):
    from registry_fixtures import Registry, need
    reason = need("docker-registry")
    if reason:
        import pytest
        pytest.skip(reason)
    reg = Registry(tmp_path / "registry")
    try:
        name = f"{reg.host}/ev/web:1"
        images.append(name)
        ctx = tmp_path / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(f"FROM {busybox_image}\nLABEL team=ev\nRUN echo hi > /hi\n")
        t0 = time.time()
        jocker("build", "-q", "-t", name, ctx)
        image_id = json.loads(jocker("inspect", name).stdout)[0]["Id"]
        jocker("push", name)
        jocker("rmi", name)
        jocker("pull", name)
        jocker("save", "-o", tmp_path / "web.tar", name)
        jocker("rmi", name)
        jocker("load", "-i", tmp_path / "web.tar")
    finally:
        reg.stop()
    got = [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"].get("name"))
           for e in _events(jocker, t0, "--filter", "type=image")]
    i = image_id
    rmi = [("untag", i, i), ("untag", i, i), ("delete", i, i)]      # the tag, the repo digest, the image
    assert got[:5] == [("tag", i, name), ("push", name, name)] + rmi
    parent = got[5]                      # rmi also deletes the build's untagged parent, as Docker's
    assert parent[0] == "delete" and parent[1] != i and parent[1] == parent[2]
    assert got[6:] == [("pull", name, name), ("save", i, i)] + rmi + [("load", i, i), ("tag", i, name)]
    labelled = _events(jocker, t0, "--filter", "type=image", "--filter", "label=team=ev")
    assert len(labelled) == len(got) == 13          # every event of the image carries its labels


def test_update_export_commit_events(jocker, busybox_image, cleanup, images, tmp_path):
    cleanup += ["ev-upd"]
    images += ["ev-commit:1"]
    t0 = time.time()
    cid = jocker("create", "--name", "ev-upd", busybox_image, "true").stdout.strip()
    jocker("update", "--restart", "on-failure:2", "ev-upd")
    jocker("export", "-o", tmp_path / "fs.tar", "ev-upd")
    jocker("commit", "-m", "snap", "ev-upd", "ev-commit:1")
    image_id = json.loads(jocker("inspect", "ev-commit:1").stdout)[0]["Id"]
    got = _events(jocker, t0, "--filter", f"container={cid}")
    assert [e["Action"] for e in got] == ["create", "update", "export", "commit"]
    assert {k: got[3]["Actor"]["Attributes"][k] for k in ("comment", "imageID", "imageRef")} == \
        {"comment": "snap", "imageID": image_id, "imageRef": "ev-commit:1"}
    tags = _events(jocker, t0, "--filter", "type=image", "--filter", "image=ev-commit:1")
    assert [(e["Action"], e["Actor"]["ID"]) for e in tags] == [("tag", image_id)]


def test_anonymous_volumes_are_created_and_destroyed_with_their_container(jocker, busybox_image, cleanup):
    cleanup += ["ev-anon"]
    t0 = time.time()
    cid = jocker("create", "--name", "ev-anon", "-v", "/data", busybox_image, "true").stdout.strip()
    jocker("rm", "-v", "ev-anon")
    jocker("run", "--rm", "-v", "/scratch", busybox_image, "true")
    vols = [e for e in _events(jocker, t0, "--filter", "type=volume") if e["Action"] in ("create", "destroy")]
    assert [e["Action"] for e in vols] == ["create", "destroy", "create", "destroy"]
    assert vols[0]["Actor"]["ID"] == vols[1]["Actor"]["ID"] and vols[2]["Actor"]["ID"] == vols[3]["Actor"]["ID"]
    assert [e["Action"] for e in _events(jocker, t0, "--filter", f"container={cid}")] == ["create", "destroy"]


def test_concurrent_jocker_processes_all_land_in_the_journal(jocker, jocker_env):
    t0 = time.time()
    names = [f"ev-par-{i}" for i in range(6)]
    procs = [subprocess.Popen([sys.executable, "-m", "jocker", "volume", "create", n], env=jocker_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for n in names]
    assert [p.wait(timeout=120) for p in procs] == [0] * 6
    try:
        got = _events(jocker, t0, "--filter", "type=volume", "--filter", "event=create")
        assert sorted(e["Actor"]["ID"] for e in got) == names
    finally:
        jocker("volume", "rm", *names)
