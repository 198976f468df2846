"""Session-4 review regressions (s4-review1): what the run --rm hot path,
--network none without a named netns and the zstd push must not break."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from registry_fixtures import registry  # noqa: F401  (a fixture)


def zfs(*args, check=True):
    return subprocess.run(["zfs", *args], capture_output=True, text=True, check=check)


@pytest.mark.parametrize("admin", ["snapshot", "dataset"])
def test_rm_refused_by_an_admin_object_leaves_the_container_usable(jocker, jocker_env, busybox_image,
                                                                   wait_for, admin):
    """--rm on exit: an admin's snapshot of the clone (or dataset below it)
    makes the removal refuse (kept, one line), and the container must stay
    as it was: its clone mounted, `start` runs it again; the admin's object
    is untouched (a dataset stays mounted)."""
    root = jocker_env["JOCKER_DATASET"]
    jocker("run", "-d", "--rm", "--network", "none", "--name", "rvsnap", busybox_image,
           "sh", "-c", "sleep 2; cat /etc/marker 2>/dev/null || echo first")
    cid = jocker("inspect", "-f", "{{.Id}}", "rvsnap").stdout.strip()
    ds = f"{root}/containers/{cid}"
    mine = f"{ds}@mine" if admin == "snapshot" else f"{ds}/mine"
    zfs("snapshot" if admin == "snapshot" else "create", mine)
    try:
        ok = wait_for(lambda: "Exited" in jocker("ps", "-a", "-f", "name=rvsnap").stdout, timeout=30)
        assert ok, jocker("ps", "-a").stdout
        assert zfs("get", "-H", "-o", "value", "mounted", ds).stdout.strip() == "yes"
        if admin == "dataset":
            assert zfs("get", "-H", "-o", "value", "mounted", mine).stdout.strip() == "yes"
        out = jocker("start", "-a", "rvsnap", check=False)
        assert out.returncode == 0 and "first" in out.stdout, (out.stdout, out.stderr)
    finally:
        for _ in range(20):         # a namespace that just ended may hold it an instant
            res = zfs("destroy", mine, check=False)
            if res.returncode == 0 or "does not exist" in res.stderr:
                break
            time.sleep(0.5)
        jocker("rm", "-f", "rvsnap", check=False)


def _manifest(host: str, repo: str, ref: str) -> dict:
    import urllib.request
    req = urllib.request.Request(f"http://{host}/v2/{repo}/manifests/{ref}",
                                 headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    return json.loads(urllib.request.urlopen(req).read())


def _docker_archive(path, tag: str) -> None:
    """A `docker save` archive of one layer whose tar jocker would not write
    the same way (members in reverse order, old mtimes): a layer's own tar."""
    import hashlib
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name in ("zz", "mm", "aa"):
            data = (name * 500).encode()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 12345, 0o644
            t.addfile(info, io.BytesIO(data))
    layer = buf.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/aa"]},
                      "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    with tarfile.open(path, "w") as t:
        for name, data in (("l1/layer.tar", layer), ("cfg.json", cfg),
                           ("manifest.json", json.dumps([{"Config": "cfg.json", "RepoTags": [tag],
                                                          "Layers": ["l1/layer.tar"]}]).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


def _loaded_for_zstd(jocker, registry, tmp_path, images, ref: str) -> str:
    """The _docker_archive image loaded as registry/ref (skips without zstd)."""
    from registry_fixtures import need
    if need("zstd"):
        pytest.skip(need("zstd"))
    name = f"{registry.host}/{ref}"
    images.append(name)
    _docker_archive(tmp_path / "a.tar", name)
    jocker("load", "-i", str(tmp_path / "a.tar"))
    return name


def test_zstd_push_of_a_loaded_layer_with_an_old_blob_entry_keeps_the_image(jocker, jocker_env, registry,
                                                                           tmp_path, images):
    """A layer loaded (or pulled) by a jocker from before blob entries named
    their tar's diff ID (`<type> <digest> <size>`): a zstd push makes its
    blob from the stored blob (the layer's own tar), so the registry gets the
    same config (the same image) as a gzip push, not a tar written anew from
    the tree under a new image ID."""
    name = _loaded_for_zstd(jocker, registry, tmp_path, images, "rvold/web:gz")
    jocker("push", "--compression-format", "gzip", name)
    gz = _manifest(registry.host, "rvold/web", "gz")
    root = jocker_env["JOCKER_DATASET"]
    lid = json.loads(jocker("inspect", name).stdout)[0]["RootFS"]["Layers"][0]
    found = False
    for line in zfs("get", "-H", "-r", "-o", "name,value", "jocker:layer.blob", f"{root}/layers").stdout.splitlines():
        ds, value = line.split("\t")
        if gz["layers"][0]["digest"] in value:
            old = ",".join(" ".join(e.split()[:3]) for e in value.split(","))     # the old format
            zfs("set", f"jocker:layer.blob={old}", ds)
            found = True
    assert found, lid
    zname = f"{registry.host}/rvold/web:zst"
    images.append(zname)
    jocker("tag", name, zname)
    jocker("push", "--compression-format", "zstd", zname)
    zs = _manifest(registry.host, "rvold/web", "zst")
    assert zs["config"]["digest"] == gz["config"]["digest"]


def test_a_bad_compression_level_blames_the_option_not_the_configuration(jocker, busybox_image, images):
    name = "127.0.0.1:1/rvlevel/web:1"
    images.append(name)
    jocker("tag", busybox_image, name)
    res = jocker("push", "--compression-level", "12", name, check=False)
    err = res.stderr.strip().splitlines()
    assert res.returncode == 125 and len(err) == 1, res.stderr
    assert "invalid gzip compression level 12" in err[0] and "push_compression" not in err[0], err[0]


def test_start_with_a_snapshot_read_as_the_run_ended_writes_no_lost_end(jocker, engine, busybox_image, cleanup):
    """`start` reads the datasets, then supervisor.json: a run that ends
    between the two reads looks like a lost supervisor (started, no end, no
    supervisor). The start must read the state again before writing a die
    255 over the real end (readers would see two dies, one of them false)."""
    import time
    from jocker.containers import lifecycle
    cleanup.append("rvrace")
    t0 = time.time()
    cid = jocker("run", "-d", "--network", "none", "--name", "rvrace", busybox_image,
                 "sh", "-c", "sleep 1; exit 3").stdout.strip()
    c = lifecycle.get(engine, cid)                   # read while it runs
    assert c.running
    assert jocker("wait", "rvrace").stdout.strip() == "3"
    c.runtime = {}                                   # ... and its supervisor.json after it ended
    lifecycle.start(engine, c)
    jocker("stop", "-t", "0", "rvrace")
    out = jocker("events", "--since", f"{t0:.6f}", "--until", "0s", "--format", "json",
                 "--filter", f"container={cid}", "--filter", "event=die").stdout
    codes = [json.loads(line)["Actor"]["Attributes"]["exitCode"] for line in out.splitlines()]
    assert codes[0] == "3" and "255" not in codes, codes


def test_ctrl_c_stops_a_push_that_is_making_layer_blobs(jocker, jocker_env, registry, busybox_image,
                                                        tmp_path, images):
    """Ctrl-C while push makes the blobs of several layers: it stops at once
    (as it did when they were made one by one), not after every layer's blob
    is written (the pool's shutdown waited for queued ones too)."""
    import signal
    import sys
    import time
    name = f"{registry.host}/rvint/web:1"
    images.append(name)
    steps = "".join(f"RUN dd if=/dev/urandom of=/b{i} bs=1M count=60 2>/dev/null\n" for i in range(4))
    (tmp_path / "Dockerfile").write_text(f"FROM {busybox_image}\n{steps}")
    jocker("build", "-q", "-t", name, str(tmp_path))
    blobdir = os.path.join(jocker_env["JOCKER_MOUNTPOINT"], "blobs", "sha256")
    before = set(os.listdir(blobdir)) if os.path.isdir(blobdir) else set()
    p = subprocess.Popen([sys.executable, "-m", "jocker", "push", name], env=jocker_env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in p.stdout:
        if "Preparing" in line:
            break
    time.sleep(0.5)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=300)
    took = time.monotonic() - t0
    made = {n for n in os.listdir(blobdir) if not n.startswith(".")} - before
    assert p.returncode != 0
    assert len(made) <= 1, (len(made), took)


def test_a_default_push_after_a_zstd_push_of_a_layer_without_its_blob_is_gzip(jocker, jocker_env, registry,
                                                                            tmp_path, images):
    """A layer that kept no blob (pulled before blobs were kept, received
    with `send --no-blobs`): a zstd push makes its first blob; a default
    push (push_compression=gzip) afterwards must still be gzip, not that
    zstd blob taken as "the one it came with"."""
    name = _loaded_for_zstd(jocker, registry, tmp_path, images, "rvnoblob/web:z")
    root = jocker_env["JOCKER_DATASET"]
    for line in zfs("get", "-H", "-r", "-s", "local", "-o", "name,value", "jocker:layer.blob",
                    f"{root}/layers").stdout.splitlines():
        ds, _ = line.split("\t")
        zfs("inherit", "jocker:layer.blob", ds)           # no blob kept
    jocker("push", "--compression-format", "zstd", name)
    gname = f"{registry.host}/rvnoblob/web:g"
    images.append(gname)
    jocker("tag", name, gname)
    jocker("push", gname)
    g = _manifest(registry.host, "rvnoblob/web", "g")
    assert {l["mediaType"] for l in g["layers"]} == {"application/vnd.oci.image.layer.v1.tar+gzip"}


def test_rmi_of_another_tag_of_an_image_being_sent_untags_it(jocker, jocker_env, busybox_image, images):
    """The send lease keeps the image from being deleted; `rmi` of one of its
    other tags only untags (Docker's rmi of one of several tags), so it is
    not refused for the minutes a send over ssh takes."""
    import sys
    jocker("tag", busybox_image, "rvsend:1")
    jocker("tag", busybox_image, "rvsend:other")
    images += ["rvsend:1", "rvsend:other"]
    send = subprocess.Popen([sys.executable, "-m", "jocker", "image", "send", "rvsend:1"],
                            env=jocker_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        send.stdout.read(4096)                      # started; the pipe is now full
        time.sleep(1)
        res = jocker("rmi", "rvsend:other", check=False)
        assert res.returncode == 0 and "Untagged: rvsend:other" in res.stdout, res.stderr
    finally:
        send.kill()
        send.wait()
