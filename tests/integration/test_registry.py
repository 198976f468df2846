"""pull/push/login against a real registry (Debian's docker-registry) on
127.0.0.1, validated with skopeo."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest

from registry_fixtures import Podman, Proxy, need, put_blob, put_manifest, registry  # noqa: F401  (registry: a fixture)


def _build(jocker, tmp_path, base, tag, text):
    ctx = tmp_path / f"ctx-{tag.replace('/', '_').replace(':', '_')}"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {base}\nRUN echo {text} > /hello && mkdir -p /data "
                                    f"&& ln /hello /data/hard && rm -rf /etc/motd\nCMD [\"cat\", \"/hello\"]\n")
    jocker("build", "-q", "-t", tag, ctx)


def test_build_push_rmi_pull_run_round_trip(jocker, registry, busybox_image, tmp_path, images):
    name = f"{registry.host}/rt/web:1"
    images.append(name)
    _build(jocker, tmp_path, busybox_image, name, "shipped")
    before = json.loads(jocker("inspect", name).stdout)[0]
    out = jocker("push", name).stdout
    assert "1: digest: sha256:" in out
    digest = out.split("digest: ")[1].split()[0]
    assert json.loads(jocker("inspect", name).stdout)[0]["RepoDigests"] == [f"{registry.host}/rt/web@{digest}"]
    again = jocker("push", name).stdout        # every blob already there
    assert "Layer already exists" in again and "Pushed" not in again
    jocker("rmi", name)
    pulled = jocker("pull", name).stdout
    assert f"Digest: {digest}" in pulled
    after = json.loads(jocker("inspect", name).stdout)[0]
    assert after["Id"] == before["Id"]         # same config bytes, same layers
    assert after["RootFS"]["Layers"] == before["RootFS"]["Layers"]
    run = jocker("run", "--rm", name)
    assert run.stdout.strip() == "shipped"
    # pull again: nothing to fetch, every layer already exists
    again = jocker("pull", name).stdout
    assert "Downloading" not in again and f"Status: Image is up to date for {name}" in again
    # by digest, and listed with --digests
    jocker("pull", f"{registry.host}/rt/web@{digest}")
    assert digest in jocker("images", "--digests").stdout
    jocker("rmi", name)


def test_skopeo_reads_what_jocker_pushed(jocker, registry, busybox_image, tmp_path, images):
    reason = need("skopeo")
    if reason:
        pytest.skip(reason)
    name = f"{registry.host}/sk/web:2"
    images.append(name)
    _build(jocker, tmp_path, busybox_image, name, "skopeo")
    jocker("push", name)
    insp = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{name}"],
                          capture_output=True, text=True, check=True)
    info = json.loads(insp.stdout)
    img = json.loads(jocker("inspect", name).stdout)[0]
    assert info["Layers"] and len(info["Layers"]) == len(img["RootFS"]["Layers"])
    dest = tmp_path / "oci"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{name}", f"oci:{dest}:x"],
                   capture_output=True, text=True, check=True)
    index = json.loads((dest / "index.json").read_text())
    manifest = json.loads((dest / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_text())
    config = json.loads((dest / "blobs" / "sha256" / manifest["config"]["digest"][7:]).read_text())
    assert config["rootfs"]["diff_ids"] == img["RootFS"]["Layers"]
    jocker("rmi", name)


def test_pull_errors_name_the_image(jocker, registry):
    res = jocker("pull", f"{registry.host}/nope/missing:1", check=False)
    assert res.returncode != 0
    assert "nope/missing" in res.stderr and "404" in res.stderr
    res = jocker("pull", f"{registry.host}/x/y:1", "--platform", "bogus", check=False)
    assert res.returncode == 125 and "invalid platform" in res.stderr


@pytest.fixture(scope="module")
def shipped(jocker, registry, busybox_image, tmp_path_factory):
    """An image jocker pushed to the registry, not present locally: (name on
    the registry, its manifest)."""
    name = f"{registry.host}/faults/web:1"
    ctx = tmp_path_factory.mktemp("shipped")
    (ctx / "Dockerfile").write_text(f"FROM {busybox_image}\n"
                                    "RUN head -c 3000000 /dev/urandom > /big && echo faulty > /hello\n")
    jocker("build", "-q", "-t", name, ctx)
    jocker("push", name)
    jocker("rmi", name)
    jocker("image", "prune", "-f")
    req = urllib.request.Request(f"http://{registry.host}/v2/faults/web/manifests/1",
                                 headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    return "faults/web:1", json.loads(urllib.request.urlopen(req).read())


@pytest.fixture
def proxy(registry):
    p = Proxy(registry.host)
    yield p
    p.stop()


@pytest.mark.parametrize("where, fault, expect", [
    ("layer", "corrupt", "digest mismatch"),
    ("layer", "truncate", "layer 2/2"),
    ("config", "corrupt", "config digest mismatch"),
    ("manifests", "404", "404"),
    ("manifests", "401", "401"),
    ("manifests", "403", "403"),
    ("manifests", "429", "rate-limits"),
    ("manifests", "500", "500"),
    ("manifests", "hang", "within 2s"),
    ("manifests", "huge", "byte limit"),
])
def test_bad_registry_answers_leave_nothing(jocker, shipped, proxy, where, fault, expect, zfs_names):
    name, manifest = shipped
    key = {"layer": manifest["layers"][-1]["digest"], "config": manifest["config"]["digest"],
           "manifests": "/manifests/"}[where]
    proxy.faults[key] = fault
    before = zfs_names()
    res = jocker("pull", f"{proxy.host}/{name}", check=False, env={"JOCKER_REGISTRY_TIMEOUT": "2"})
    assert res.returncode != 0
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and expect in err[0] and "faults/web" in err[0], res.stderr
    assert zfs_names() == before                       # no partial layer or image
    assert "faults/web" not in jocker("images", "-a").stdout


def test_token_auth_login_logout(jocker, registry, busybox_image, tmp_path, images):
    p = Proxy(registry.host, token_auth=True)
    try:
        env = {"DOCKER_CONFIG": str(tmp_path / "docker")}
        name = f"{p.host}/tok/web:1"
        images.append(name)
        jocker("tag", busybox_image, name)
        res = jocker("push", name, check=False, env=env)
        assert res.returncode != 0 and "401" in res.stderr and "jocker login" in res.stderr
        bad = jocker("login", "-u", "u", "--password-stdin", p.host, input="wrong\n", check=False, env=env)
        assert bad.returncode != 0 and "401" in bad.stderr
        jocker("login", "-u", "u", "--password-stdin", p.host, input="p\n", env=env)
        stored = json.loads((tmp_path / "docker" / "config.json").read_text())
        assert p.host in stored["auths"]
        jocker("push", name, env=env)
        jocker("rmi", name)
        jocker("pull", name, env=env)
        assert any(s.startswith("GET /token") for s in p.seen)
        assert "Removing login credentials" in jocker("logout", p.host, env=env).stdout
        assert p.host not in json.loads((tmp_path / "docker" / "config.json").read_text())["auths"]
    finally:
        p.stop()


def test_all_tags_chunks_mounts_and_search_registries(jocker, registry, busybox_image, tmp_path, images):
    a, b = f"{registry.host}/multi/web:a", f"{registry.host}/multi/web:b"
    images += [a, b]
    _build(jocker, tmp_path, busybox_image, a, "tag-a")
    jocker("tag", a, b)
    # every tag; the busybox layer (bigger than the chunk size set here) in PATCH chunks
    jocker("push", "-a", f"{registry.host}/multi/web", env={"JOCKER_REGISTRY_CHUNK_SIZE": "64K"})
    # the same layers into another repository of the same registry: mounted, not uploaded
    other = f"{registry.host}/other/web:1"
    images.append(other)
    jocker("tag", a, other)
    out = jocker("push", other).stdout
    assert "Mounted from multi/web" in out and "Pushed" not in out
    jocker("rmi", a, b, other)
    out = jocker("pull", "-a", f"{registry.host}/multi/web").stdout
    assert f"{registry.host}/multi/web:a" in out and f"{registry.host}/multi/web:b" in out
    assert jocker("run", "--rm", b).stdout.strip() == "tag-a"
    # a short name found through the configured search registries
    images.append("multi/web:a")
    out = jocker("pull", "multi/web:a",
                 env={"JOCKER_REGISTRIES_SEARCH": f"127.0.0.1:1 {registry.host}"}).stdout
    assert "Status: Downloaded newer image for multi/web:a" in out


def test_podman_pulls_what_jocker_pushed_and_back(jocker, registry, busybox_image, tmp_path, images):
    reason = need("podman")
    if reason:
        pytest.skip(reason)
    name = f"{registry.host}/pod/web:1"
    images.append(name)
    _build(jocker, tmp_path, busybox_image, name, "from-jocker")
    jocker("push", name)
    pod = Podman(tmp_path)
    try:
        pod("pull", "--tls-verify=false", name)
        assert pod.file_of(name, "/hello") == b"from-jocker\n"
        ctx = tmp_path / "podctx"
        ctx.mkdir()
        (ctx / "Containerfile").write_text(f"FROM {name}\nCOPY made-by-podman /made-by-podman\n"
                                           "CMD [\"cat\", \"/made-by-podman\"]\n")
        (ctx / "made-by-podman").write_text("podman built me\n")
        built = f"{registry.host}/pod/built:1"
        pod("build", "--isolation", "chroot", "-t", built, ctx)
        pod("push", "--tls-verify=false", built)
    finally:
        pod.close()
    images.append(built)
    jocker("pull", built)
    assert jocker("run", "--rm", built).stdout.strip() == "podman built me"


def test_repull_leaves_the_old_image_dangling_and_digest_refs_remove(jocker, registry, busybox_image,
                                                                     tmp_path, images):
    name = f"{registry.host}/again/web:1"
    images.append(name)
    (tmp_path / "v1").mkdir()
    (tmp_path / "v2").mkdir()
    _build(jocker, tmp_path / "v1", busybox_image, name, "version-one")
    jocker("push", name)
    jocker("rmi", name)
    jocker("pull", name)                                   # A: version one, pulled
    old = json.loads(jocker("inspect", name).stdout)[0]
    _build(jocker, tmp_path / "v2", busybox_image, name, "version-two")
    new_digest = jocker("push", name).stdout.split("digest: ")[1].split()[0]
    jocker("rmi", name)
    # A lost its tag to the build but keeps its registry digest: listed, not dangling
    assert old["Id"][7:19] not in jocker("images", "-q", "-f", "dangling=true").stdout
    assert old["RepoDigests"][0].split("@")[1] in jocker("images", "--digests").stdout
    jocker("pull", name)                                   # the newer digest: A is dangling now
    assert json.loads(jocker("inspect", name).stdout)[0]["RepoDigests"] == \
        [f"{registry.host}/again/web@{new_digest}"]
    assert old["Id"][7:19] in jocker("images", "-q", "-f", "dangling=true").stdout
    assert old["Id"] in jocker("image", "prune", "-f").stdout
    # by digest reference: removes that reference; with it the last name, the image
    jocker("tag", name, "again-alias:1")
    jocker("rmi", name)
    out = jocker("rmi", f"{registry.host}/again/web@{new_digest}").stdout
    assert out.strip() == f"Untagged: {registry.host}/again/web@{new_digest}"
    assert jocker("inspect", "again-alias:1").returncode == 0
    jocker("pull", f"{registry.host}/again/web@{new_digest}")
    out = jocker("rmi", "again-alias:1").stdout         # the last tag: digest references go too
    assert f"Untagged: {registry.host}/again/web@{new_digest}" in out and "Deleted:" in out


@pytest.mark.parametrize("delay", [0.5, 2.4, 2.7, 3.0, 3.3])
def test_a_killed_pull_leaves_nothing_the_next_pull_does_not_clean(jocker, shipped, proxy, delay,
                                                                   zfs_names, jocker_env):
    import os
    import signal
    import sys
    import time
    name, manifest = shipped
    before = zfs_names()
    proxy.faults[manifest["layers"][-1]["digest"]] = "slow"
    proc = subprocess.Popen([sys.executable, "-m", "jocker", "pull", f"{proxy.host}/{name}"],
                            env=jocker_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    listed = jocker("images", "-a").stdout
    if "faults/web" in listed:              # it finished first: nothing was killed halfway
        jocker("rmi", f"{proxy.host}/{name}")
    listed = jocker("images", "-a").stdout
    assert "faults/web" not in listed
    proxy.faults.clear()
    jocker("pull", f"{proxy.host}/{name}")                 # cleans up, then pulls
    jocker("rmi", f"{proxy.host}/{name}")
    assert zfs_names() == before
    blobs = os.path.join(jocker_env["JOCKER_MOUNTPOINT"], "blobs", "sha256")
    assert not [n for n in os.listdir(blobs) if n.startswith(".tmp-")]


def _evil_image(host: str, repo: str, members) -> None:
    """Push a one-layer image whose layer tar holds members [(TarInfo, data)]."""
    import gzip
    import hashlib
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            info.size = len(data or b"")
            tar.addfile(info, io.BytesIO(data) if data else None)
    plain = buf.getvalue()
    blob = gzip.compress(plain)
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers",
                                 "diff_ids": ["sha256:" + hashlib.sha256(plain).hexdigest()]}}).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": put_blob(host, repo, cfg), "size": len(cfg)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": put_blob(host, repo, blob), "size": len(blob)}]}
    put_manifest(host, repo, "1", manifest, manifest["mediaType"])


def _member(name, kind=None, link=""):
    import tarfile
    info = tarfile.TarInfo(name)
    info.type = kind or tarfile.REGTYPE
    info.linkname = link
    return info


@pytest.mark.parametrize("members, expect", [
    (lambda t: [(_member("../../etc/evil"), b"x")], "'..' component escapes the root"),
    (lambda t: [(_member("/abs"), b"x")], "absolute path"),
    (lambda t: [(_member("h", t.LNKTYPE, "../../../etc/passwd"), None)], "'..' component"),
    (lambda t: [(_member("h", t.LNKTYPE, "missing"), None)], "hard link"),
])
def test_unsafe_layers_from_a_registry_are_refused(jocker, registry, members, expect, zfs_names):
    import tarfile
    repo = f"evil/{abs(hash(expect)) % 10000}"
    _evil_image(registry.host, repo, members(tarfile))
    before = zfs_names()
    res = jocker("pull", f"{registry.host}/{repo}:1", check=False)
    err = res.stderr.strip().splitlines()
    assert res.returncode != 0 and len(err) == 1, res.stderr
    assert expect in err[0] and "layer 1/1" in err[0] and repo in err[0]
    assert zfs_names() == before


def test_absolute_symlink_in_a_layer_cannot_write_outside(jocker, registry, tmp_path, images):
    import tarfile
    outside = tmp_path / "outside"
    outside.mkdir()
    _evil_image(registry.host, "evil/symlink", [(_member("esc", tarfile.SYMTYPE, str(outside)), None),
                                                (_member("esc/pwned"), b"x")])
    images.append(f"{registry.host}/evil/symlink:1")
    jocker("pull", f"{registry.host}/evil/symlink:1")
    assert not (outside / "pwned").exists()
