"""save/load against the real Docker Engine (a private dockerd, Debian's
docker.io): `docker load` reads what `jocker save` writes, and `jocker load`
reads what `docker save` writes. Linux images only: a Linux dockerd refuses
os=freebsd images."""

from __future__ import annotations

import json
import shutil

import pytest

from support import private_docker

pytestmark = pytest.mark.skipif(not shutil.which("dockerd") or not shutil.which("docker"),
                                reason="needs Docker as the peer (apt-get install docker.io)")


@pytest.fixture(scope="module")
def docker():
    with private_docker(timeout=300) as run:
        yield run


def test_docker_loads_jocker_save_and_jocker_loads_docker_save(jocker, docker, busybox_image, tmp_path, images):
    images += ["dk/jocker-made:1", "dk/docker-made:1"]
    assert json.loads(jocker("inspect", busybox_image).stdout)[0]["Os"] == "linux"
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {busybox_image}\nRUN echo from-jocker > /hello\n"
                                    "CMD [\"cat\", \"/hello\"]\n")
    jocker("build", "-q", "-t", "dk/jocker-made:1", ctx)
    mine = json.loads(jocker("inspect", "dk/jocker-made:1").stdout)[0]
    jocker("save", "-o", tmp_path / "j.tar", "dk/jocker-made:1")

    out = docker("load", "-i", tmp_path / "j.tar").stdout
    assert "Loaded image: dk/jocker-made:1" in out
    theirs = json.loads(docker("image", "inspect", "dk/jocker-made:1").stdout)[0]
    assert theirs["Id"] == mine["Id"]                                # the same config bytes
    assert theirs["RootFS"]["Layers"] == mine["RootFS"]["Layers"]    # docker checked every diff ID
    assert docker("run", "--rm", "--network", "none", "dk/jocker-made:1").stdout.strip() == "from-jocker"

    # Docker builds on top of it and saves; jocker loads that (sharing the
    # layers it has) and runs it
    (ctx / "Dockerfile").write_text("FROM dk/jocker-made:1\nRUN echo from-docker >> /hello\n")
    docker("build", "-q", "-t", "dk/docker-made:1", ctx)
    built = json.loads(docker("image", "inspect", "dk/docker-made:1").stdout)[0]
    docker("save", "-o", tmp_path / "d.tar", "dk/docker-made:1")
    out = jocker("load", "-i", tmp_path / "d.tar").stdout
    assert "Loaded image: dk/docker-made:1" in out
    got = json.loads(jocker("inspect", "dk/docker-made:1").stdout)[0]
    assert got["Id"] == built["Id"] and got["RootFS"]["Layers"] == built["RootFS"]["Layers"]
    assert jocker("run", "--rm", "dk/docker-made:1").stdout.split() == ["from-jocker", "from-docker"]
