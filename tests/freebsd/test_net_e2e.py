"""FreeBSD-only tier: VNET jails on a bridge(4) with an epair(4), --network
none with only lo0, and teardown without leaked interfaces; published ports
through pf when pf is enabled with jocker's hook lines. Proves what the
golden tests (tests/golden/test_net_freebsd.py) cannot: that FreeBSD accepts
the commands ([U] items: `ifconfig -j` on 14.x, lo0 of a fresh vnet, route
through jexec). Run as root on a FreeBSD 14.x/15.x host:
    python -m pytest tests/freebsd -v
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jocker.net import attachment
from jocker.net.freebsd import FreeBSDNetworkDriver
from jocker.host.runner import Runner
from jocker.runtime import jail_plan as jp
from jocker.runtime.freebsd_jail import JailDriver
from jocker.runtime.spec import ContainerSpec

pytestmark = pytest.mark.skipif(
    sys.platform[:7] != "freebsd",
    reason="FreeBSD-only tier: needs VIMAGE, if_bridge, if_epair (and pf for -p) on a FreeBSD host")

PREFIX = "f" + secrets.token_hex(2)          # this session's interfaces
NET = {"network": "t", "bridge": f"{PREFIX}br0", "subnet": "10.201.7.0/24", "gateway": "10.201.7.1",
       "internal": True}


def _ifaces() -> set[str]:
    return set(subprocess.run(["ifconfig", "-l"], capture_output=True, text=True).stdout.split())


@pytest.fixture(scope="module")
def net():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    for mod in ("if_bridge", "if_epair"):
        if subprocess.run(["kldstat", "-q", "-m", mod]).returncode != 0:
            pytest.skip(f"{mod} is not loaded (kldload {mod})")
    d = FreeBSDNetworkDriver(Runner(timeout=60))
    d.ensure_network(NET, PREFIX)
    yield d
    d.remove_network(NET)
    assert not any(i.startswith(PREFIX) for i in _ifaces())


@pytest.fixture
def rootfs(tmp_path):
    root = tmp_path / "root"
    for d in ("bin", "sbin", "etc"):
        (root / d).mkdir(parents=True)
    shutil.copyfile("/rescue/sh", root / "bin" / "sh")
    os.chmod(root / "bin" / "sh", 0o755)
    for tool in ("sbin/ifconfig", "sbin/route", "sbin/ping", "bin/sleep"):
        os.link(root / "bin" / "sh", root / tool)
    return root


def _spec(rootfs, tmp_path, mode, ip=None):
    cid = secrets.token_hex(32)
    eps = [dict(NET, ip=ip)] if ip else []
    return ContainerSpec(id=cid, name="n", rootfs=str(rootfs), rundir=str(tmp_path / "run" / cid),
                         argv=["/bin/sleep", "30"], network=mode,
                         net=attachment.build(cid, PREFIX, mode, eps, []))


def test_bridge_container_gets_its_address_and_reaches_the_gateway(net, rootfs, tmp_path):
    before = _ifaces()
    spec = _spec(rootfs, tmp_path, "bridge", "10.201.7.5")
    driver = JailDriver(Runner(timeout=60))
    driver.create(spec)
    try:
        name = jp.jail_name(spec.id)
        out = subprocess.run(["jexec", name, "/sbin/ifconfig"], capture_output=True, text=True).stdout
        assert "inet 10.201.7.5" in out and "inet 127.0.0.1" in out
        assert subprocess.run(["jexec", name, "/sbin/ping", "-c", "1", "-t", "3", "10.201.7.1"]).returncode == 0
    finally:
        driver.destroy(spec)
    assert _ifaces() == before


def test_none_is_vnet_with_only_lo0(net, rootfs, tmp_path):
    spec = _spec(rootfs, tmp_path, "none")
    driver = JailDriver(Runner(timeout=60))
    driver.create(spec)
    try:
        name = jp.jail_name(spec.id)
        listed = subprocess.run(["jexec", name, "/sbin/ifconfig", "-l"], capture_output=True, text=True).stdout
        assert listed.split() == ["lo0"]
        out = subprocess.run(["jexec", name, "/sbin/ifconfig", "lo0"], capture_output=True, text=True).stdout
        assert "inet 127.0.0.1" in out and "UP" in out
    finally:
        driver.destroy(spec)
