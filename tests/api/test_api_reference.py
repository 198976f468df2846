"""The real Docker Engine as the reference: the same requests to a private
dockerd (Debian's docker.io, its own data root and socket, no iptables, no
bridge, vfs) and to `jocker serve`, compared status by status, header by
header and field by field."""

from __future__ import annotations


import pytest

from apiserver import Api, api, api_cleanup, api_sock, dockerd  # noqa: F401  (fixtures)


V = "/v1.41"          # a version both speak (dockerd 20.10's newest)

# Where dockerd 20.10 and newer Docker differ, jocker follows the newer one:
# malformed JSON is a client error (400) since Docker 23, not a 500.
NEWER_STATUS = {"{not json": 400, "%7Bbad": 400}

# (method, path, body, compare the message text too)
CASES = [
    ("GET", V + "/containers/nope/json", None, True),
    ("DELETE", V + "/containers/nope", None, True),
    ("POST", V + "/containers/nope/start", None, True),
    ("POST", V + "/containers/nope/stop", None, True),
    ("GET", V + "/containers/nope/logs?stdout=1", None, True),
    ("GET", V + "/images/nope:1/json", None, True),
    ("GET", V + "/exec/nope/json", None, True),
    ("GET", V + "/nonsense/endpoint", None, True),
    ("GET", V + "/swarm", None, True),
    ("GET", V + "/services", None, True),
    ("GET", V + "/nodes", None, True),
    ("GET", V + "/secrets", None, True),
    ("GET", V + "/configs", None, True),
    ("POST", V + "/swarm/leave", None, False),
    ("POST", V + "/containers/create", {"Image": "nope:latest"}, True),
    ("POST", V + "/containers/create", b"{not json", False),
    ("GET", "/v1.99/version", None, False),
    ("GET", V + "/containers/json?filters=%7Bbad", None, False),
    ("GET", V + "/containers/json", None, False),
    ("GET", V + "/volumes", None, False),
    ("GET", V + "/volumes/nope", None, False),
    ("GET", V + "/networks/nope", None, False),
    ("GET", V + "/plugins", None, False),
    ("POST", V + "/containers/nope/update", {"Memory": 0, "RestartPolicy": {"Name": ""}}, True),
    ("GET", V + "/containers/nope/export", None, True),
    ("POST", V + "/containers/prune?filters=%7B%22color%22%3A%5B%22red%22%5D%7D", None, False),
    ("POST", V + "/containers/prune?filters=%7B%22label%22%3A%5B%22none-has-this%22%5D%7D", None, False),
]


@pytest.mark.parametrize("method,path,body,same_text", CASES, ids=[f"{m} {p}" for m, p, _, _ in CASES])
def test_same_status_and_error_shape(dockerd, api, method, path, body, same_text):
    hdrs = {"Content-Type": "application/json"} if body is not None else {}
    theirs, tbody = dockerd.request(method, path, body, headers=hdrs)
    ours, obody = api.request(method, path, body, headers=hdrs)
    newer = next((st for k, st in NEWER_STATUS.items() if k in path or k in str(body)), None)
    assert ours.status == (newer or theirs.status), (tbody, obody)
    assert ours.getheader("Content-Type") == theirs.getheader("Content-Type")
    for h in ("Api-Version", "Ostype", "Server", "Docker-Experimental"):
        assert ours.getheader(h) or not theirs.getheader(h), h
    if theirs.status >= 400:
        assert set(obody) == set(tbody) == {"message"}
        if same_text:
            # dockerd 20.10 says "no such image: X: No such image: X"; newer ones the latter.
            assert obody["message"] == tbody["message"] or \
                tbody["message"].endswith(": " + obody["message"])
    elif isinstance(tbody, (list, dict)):
        assert type(obody) is type(tbody)
        if isinstance(tbody, dict):
            assert set(tbody) <= set(obody), set(tbody) - set(obody)


def test_ping_headers_like_dockerd(dockerd, api):
    for method in ("HEAD", "GET"):
        theirs, tbody = dockerd.request(method, "/_ping", raw=True)
        ours, obody = api.request(method, "/_ping", raw=True)
        assert (ours.status, obody) == (theirs.status, tbody)
        for h in ("Content-Type", "Cache-Control", "Pragma", "Docker-Experimental", "Content-Length"):
            assert ours.getheader(h) == theirs.getheader(h), h
        for h in ("Api-Version", "Ostype", "Server"):
            assert ours.getheader(h) and theirs.getheader(h), h
        # Newer than dockerd 20.10 (API 1.44 documents both): Builder-Version
        # 1 (the legacy builder, so the CLI does not try BuildKit) and Swarm.
        assert ours.getheader("Builder-Version") == "1" and ours.getheader("Swarm") == "inactive"


def test_version_and_info_fields_like_dockerd(dockerd, api):
    for path in ("/version", V + "/info"):
        _, theirs = dockerd.get(path)
        _, ours = api.get(path)
        missing = {k for k in theirs if k not in ours}
        # Fields about Linux plumbing jocker does not have (cgroups, containerd, runc, init, ...).
        missing -= {"ContainerdCommit", "RuncCommit", "InitCommit", "CgroupDriver", "CgroupVersion",
                    "KernelMemory", "KernelMemoryTCP", "CpuCfsPeriod", "OomKillDisable",
                    "BridgeNfIptables", "BridgeNfIp6tables", "GenericResources", "HttpProxy",
                    "DefaultAddressPools", "ProductLicense", "Experimental"}
        assert not missing, (path, missing)
        for k in ("Swarm",) if path.endswith("info") else ("Components",):
            assert type(ours[k]) is type(theirs[k])


def _scratch_tar() -> bytes:
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    return buf.getvalue()


def test_update_and_prune_like_dockerd(dockerd, api, api_cleanup):
    """The same update requests to a created container on both engines (an
    imported one-file image on dockerd, busybox here: update never runs it):
    statuses, answer shapes, and the messages of the checks both make.
    (dockerd 20.10 answers "Warnings": null when there are none; jocker
    sends [], as API 1.44 documents.)"""
    resp, _ = dockerd.request("POST", V + "/images/create?fromSrc=-&repo=jref&tag=1", _scratch_tar(),
                              headers={"Content-Type": "application/x-tar"})
    assert resp.status == 200
    ids = {}
    for who, client, image in (("theirs", dockerd, "jref:1"), ("ours", api, "busybox")):
        resp, body = client.post(V + "/containers/create?name=jrefupd",
                                 {"Image": image, "Cmd": ["/hello"], "Labels": {"jref": "1"}})
        assert resp.status == 201, body
        ids[who] = body["Id"]
    api_cleanup.append(ids["ours"])
    cases = [
        ({"Memory": 64 << 20, "MemorySwap": 128 << 20, "RestartPolicy": {"Name": "on-failure",
                                                                          "MaximumRetryCount": 2}}, None),
        ({"Memory": 0, "CpuShares": 0, "RestartPolicy": {"Name": ""}}, None),
        ({"CpuPeriod": 10}, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s"),
        ({"CpuQuota": 10}, "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
        ({"Memory": 1024}, "Minimum memory limit allowed is 6MB"),
        ({"RestartPolicy": {"Name": "maybe"}}, "invalid restart policy 'maybe'"),
    ]
    for body, text in cases:
        theirs, tbody = dockerd.post(f"{V}/containers/{ids['theirs']}/update", body)
        ours, obody = api.post(f"{V}/containers/{ids['ours']}/update", body)
        assert ours.status == theirs.status, (body, tbody, obody)
        assert ours.getheader("Content-Type") == theirs.getheader("Content-Type")
        assert set(obody) == set(tbody), (body, tbody, obody)
        if text:
            assert text in tbody["message"] and text in obody["message"], (tbody, obody)
    for who, client in (("theirs", dockerd), ("ours", api)):
        _, info = client.get(f"{V}/containers/{ids[who]}/json")
        host = info["HostConfig"]
        assert (host["Memory"], host["MemorySwap"]) == (64 << 20, 128 << 20), who
        assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}, who
    # prune: the same shape, and each removes its stopped container
    flt = "filters=%7B%22label%22%3A%5B%22jref%3D1%22%5D%7D"
    (theirs, tbody), (ours, obody) = (c.post(f"{V}/containers/prune?{flt}") for c in (dockerd, api))
    assert ours.status == theirs.status == 200 and set(obody) == set(tbody)
    assert obody["ContainersDeleted"] == [ids["ours"]] and tbody["ContainersDeleted"] == [ids["theirs"]]
    assert isinstance(obody["SpaceReclaimed"], int)


def test_what_compose_sends_like_dockerd(dockerd, api, busybox_image):
    """The requests docker-compose makes (tests/api/test_api_compose.py) and
    what it reads back, on both engines: networks with labels and
    CheckDuplicate, label filters (every label must match), a container on a
    user network with aliases, Binds of a named volume that Config.Volumes
    names too, connect with aliases."""
    import json
    import os
    from urllib.parse import quote
    tag = f"jkref{os.getpid()}"
    # (create only, never run: a one-file image will do on dockerd)
    resp, _ = dockerd.request("POST", V + "/images/create?fromSrc=-&repo=jkrefc&tag=1", _scratch_tar(),
                              headers={"Content-Type": "application/x-tar"})
    assert resp.status == 200
    images = {id(dockerd): "jkrefc:1", id(api): busybox_image}
    seen = {}
    for engine in (dockerd, api):
        image = images[id(engine)]
        try:
            body = {"Name": f"{tag}net", "Labels": {"a": "1", "b": "2"}, "CheckDuplicate": True}
            assert engine.post(V + "/networks/create", body)[0].status == 201
            dup, dupbody = engine.post(V + "/networks/create", body)
            _, net = engine.get(V + f"/networks/{tag}net")
            nets = {}
            for f in ({"label": ["a=1", "b=2"]}, {"label": ["a=1", "b=3"]}):
                _, rows = engine.get(V + "/networks?filters=" + quote(json.dumps(f)))
                nets[f["label"][1]] = [n["Name"] for n in rows if n["Name"].startswith(tag)]
            create = {"Image": image, "Cmd": ["/hello"], "Labels": {"x": "1", "y": "2"},
                      "Volumes": {"/data": {}},
                      "HostConfig": {"NetworkMode": f"{tag}net", "Binds": [f"{tag}vol:/data:rw"]},
                      "NetworkingConfig": {"EndpointsConfig": {f"{tag}net": {"Aliases": ["svc"]}}}}
            made, cbody = engine.post(V + f"/containers/create?name={tag}c", create)
            assert made.status == 201, cbody
            short = cbody["Id"][:12]
            assert engine.post(V + "/networks/create", {"Name": f"{tag}two"})[0].status == 201
            conn, _ = engine.post(V + f"/networks/{tag}two/connect",
                                  {"Container": f"{tag}c", "EndpointConfig": {"Aliases": ["other"]}})
            _, c = engine.get(V + f"/containers/{tag}c/json")
            found = {}
            for f in ({"label": ["x=1", "y=2"]}, {"label": ["x=1", "y=3"]}):
                _, rows = engine.get(V + "/containers/json?all=1&filters=" + quote(json.dumps(f)))
                found[f["label"][1]] = [n for r in rows for n in r["Names"] if n.startswith("/" + tag)]
            eps = c["NetworkSettings"]["Networks"]
            seen[id(engine)] = {
                "duplicate": (dup.status, dupbody), "options": net["Options"], "labels": net["Labels"],
                "networks by label": nets, "containers by label": found, "connect": conn.status,
                "mounts": [(m["Type"], m["Name"], m["Destination"], m["RW"]) for m in c["Mounts"]],
                "second aliases": sorted(a.replace(short, "SHORT") for a in eps[f"{tag}two"]["Aliases"]),
                "first aliases": [a.replace(short, "SHORT") for a in eps[f"{tag}net"]["Aliases"]]}
        finally:
            engine.delete(V + f"/containers/{tag}c?force=1&v=1")
            for n in ("net", "two"):
                engine.delete(V + f"/networks/{tag}{n}")
            engine.delete(V + f"/volumes/{tag}vol")
    ours, theirs = seen.pop(id(api)), seen.pop(id(dockerd))
    # dockerd adds the short ID to an endpoint's aliases when the endpoint is
    # made (connect, start); jocker lists it from create on (compose reads it).
    assert theirs.pop("first aliases") == ["svc"] and ours.pop("first aliases") == ["svc", "SHORT"]
    # jocker's messages add how to fix it
    (ostatus, omsg), (tstatus, tmsg) = ours.pop("duplicate"), theirs.pop("duplicate")
    assert ostatus == tstatus == 409 and omsg["message"].startswith(tmsg["message"])
    assert ours == theirs
    assert theirs["second aliases"] == ["SHORT", "other"] and theirs["containers by label"]["y=3"] == []
