"""The engine API as a server would use it: one JockerAPI shared by threads,
streams that are not the process's stdio, Docker-shaped data back."""

from __future__ import annotations

import io
import os
import threading

import pytest

from jocker.engine_api import CreateRequest, JockerAPI, Streams
from jocker.errors import CONFLICT, NOT_FOUND, JockerError


@pytest.fixture
def api(engine, busybox_image):
    return JockerAPI(engine)


def test_threads_share_one_api(api, cleanup):
    names = [f"api-thread-{i}" for i in range(4)]
    cleanup.extend(names)
    errors, ids = [], {}

    def make(name):
        try:
            ids[name] = api.containers.create(CreateRequest.from_api(
                {"Image": "busybox:latest", "Cmd": ["true"], "Labels": {"api-test": name}}, name=name))
            api.containers.list(all=True)
        except Exception as e:          # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=make, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(set(ids.values())) == 4
    listed = {c["Names"][0]: c for c in api.containers.list(all=True, filters={"label": ["api-test"]})}
    assert set(listed) == {"/" + n for n in names}
    one = listed["/" + names[0]]
    assert one["State"] == "created" and isinstance(one["Created"], int) and isinstance(one["SizeRw"], int)
    # The same name twice: a conflict, whichever thread loses.
    with pytest.raises(JockerError) as info:
        api.containers.create(CreateRequest.from_api({"Image": "busybox:latest", "Cmd": ["true"]},
                                                        name=names[0]))
    assert info.value.kind == CONFLICT


def test_run_attached_to_buffers_and_logs(api, cleanup):
    cleanup.append("api-run")
    out, err = io.BytesIO(), io.BytesIO()
    req = CreateRequest.from_api({"Image": "busybox:latest",
                                  "Cmd": ["sh", "-c", "echo out; echo err >&2; exit 3"]}, name="api-run")
    cwd = os.getcwd()
    cid, code = api.containers.run(req, detach=False, streams=Streams(stdout=out, stderr=err),
                                   sig_proxy=False)
    assert code == 3 and out.getvalue() == b"out\n" and err.getvalue() == b"err\n"
    assert os.getcwd() == cwd
    entries = list(api.containers.logs("api-run"))
    assert [(e["stream"], e["log"]) for e in entries] == [("stdout", "out\n"), ("stderr", "err\n")]
    assert [e["log"] for e in api.containers.logs(cid[:12], tail=1)] == ["err\n"]
    assert api.containers.inspect("api-run")["State"]["ExitCode"] == 3


def test_exec_into_buffers(api, cleanup):
    cleanup.append("api-exec")
    req = CreateRequest.from_cli("busybox:latest", ["sleep", "30"], name="api-exec")
    api.containers.run(req, detach=True)
    out, err = io.BytesIO(), io.BytesIO()
    code = api.containers.exec("api-exec", ["sh", "-c", "echo in; echo oops >&2; exit 4"],
                               Streams(stdout=out, stderr=err))
    assert (code, out.getvalue(), err.getvalue()) == (4, b"in\n", b"oops\n")
    assert api.containers.top("api-exec")["Titles"][1] == "PID"
    api.containers.remove("api-exec", force=True, volumes=True)


def test_inspect_finds_containers_before_images(api, cleanup):
    cleanup.append("busybox-shadow")
    api.containers.create(CreateRequest.from_cli("busybox:latest", ["true"], name="busybox-shadow"))
    found, missing = api.inspect(["busybox-shadow", "busybox:latest", "nope-nothing"])
    assert [("State" in f, "RootFS" in f) for f in found] == [(True, False), (False, True)]
    assert missing == ["nope-nothing"]
    found, missing = api.inspect(["busybox-shadow"], kind="image")
    assert not found and missing == ["busybox-shadow"]
    with pytest.raises(JockerError) as info:
        api.containers.get("nope-nothing")
    assert info.value.kind == NOT_FOUND


def test_images_and_volumes_return_numbers(api, cleanup):
    imgs = api.images.list(filters={"reference": ["busybox"]})
    assert imgs and imgs[0]["RepoTags"] == ["busybox:latest"] and isinstance(imgs[0]["Size"], int)
    hist = api.images.history("busybox:latest")
    assert isinstance(hist[0]["Created"], int) and isinstance(hist[0]["Size"], int)
    name = api.volumes.create("api-vol", {"purpose": "test"})
    try:
        vols = api.volumes.list(filters={"label": ["purpose=test"]})
        assert [v["Name"] for v in vols] == ["api-vol"] and vols[0]["UsedBy"] == []
        assert api.volumes.inspect("api-vol")["Labels"] == {"purpose": "test"}
    finally:
        api.volumes.remove(name)
    df = api.system.df()
    assert {r["Type"] for r in df["summary"]} == {"Images", "Containers", "Local Volumes"}


def test_control_messages_over_the_supervisor_socket(api, engine, cleanup, wait_for):
    """stop, kill and resize travel over the supervisor's socket; no stop files."""
    from jocker import rundir as RD
    from jocker.containers import control
    cleanup.append("api-ctl")
    cid, _ = api.containers.run(CreateRequest.from_api(
        {"Image": "busybox:latest", "Tty": True,
         "Cmd": ["sh", "-c", "trap 'echo got-hup' HUP; trap 'exit 7' USR1; "
                 "while :; do stty size; sleep 0.2; done"]},
        name="api-ctl"), detach=True)
    rundir = engine.layout.container_rundir(cid)
    api.containers.kill("api-ctl", "HUP")
    assert wait_for(lambda: any("got-hup" in e["log"] for e in api.containers.logs("api-ctl")))
    from jocker.containers import lifecycle
    lifecycle.resize(engine, api.containers.get("api-ctl"), 33, 77)
    assert wait_for(lambda: any("33 77" in e["log"] for e in api.containers.logs("api-ctl")))
    with pytest.raises(JockerError) as info:
        control.send(rundir, {"op": "explode"})
    assert "unknown control message" in str(info.value)
    assert api.containers.inspect("api-ctl")["State"]["Running"]
    api.containers.stop("api-ctl", timeout=20, signal="SIGUSR1")   # the trap exits 7 at once
    state = api.containers.inspect("api-ctl")["State"]
    assert not state["Running"] and state["ExitCode"] == 7
    assert sorted(os.listdir(rundir)) == sorted(set(os.listdir(rundir)) - {RD.SUPERVISOR_JSON, RD.ATTACH_SOCK})
    assert not [n for n in os.listdir(rundir) if n.startswith("stop-")]
    with pytest.raises(control.NotListening):
        control.send(rundir, {"op": "stop"}, wait=0.1)
