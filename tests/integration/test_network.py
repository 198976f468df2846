"""Networking end to end on the Linux workbench: a netns per container on a
bridge of the session's own, nftables DNAT for -p (TCP and UDP, 127.0.0.1
and the host's own address), names through /etc/hosts, teardown on rm and
after a SIGKILLed supervisor. The leak check (conftest) fails any test that
leaves this session's netns, veths or nft tables behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from support import IS_FREEBSD, NET_PREFIX, net_objects

pytestmark = pytest.mark.skipif(IS_FREEBSD, reason="the Linux network driver; tests/freebsd covers jails")


def _free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def _host_address() -> str:
    """An address of this machine other than loopback (traffic stays here)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        words = line.split()
        if not words[1].startswith(NET_PREFIX) and "inet" in words:
            return words[words.index("inet") + 1].split("/")[0]
    pytest.skip("this machine has no global IPv4 address besides jocker's bridges")


def _http_get(url: str, timeout=10.0) -> str:
    end = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read().decode()
        except OSError:
            if time.time() > end:
                raise
            time.sleep(0.1)


def _inspect(jocker, name):
    return json.loads(jocker("inspect", name).stdout)[0]


def test_publish_tcp_reaches_httpd_from_localhost_and_host_address(jocker, busybox_image, cleanup):
    port = _free_port()
    cleanup.append("web")
    jocker("run", "-d", "--name", "web", "-p", f"{port}:80", busybox_image,
           "sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && httpd -f -p 80 -h /www")
    assert _http_get(f"http://127.0.0.1:{port}/") == "hello-from-web\n"
    assert _http_get(f"http://{_host_address()}:{port}/") == "hello-from-web\n"
    info = _inspect(jocker, "web")
    ns = info["NetworkSettings"]
    assert ns["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(port)}]}
    assert ns["IPAddress"] and ns["Networks"]["bridge"]["IPAddress"] == ns["IPAddress"]
    assert info["HostConfig"]["NetworkMode"] == "bridge"
    assert f"0.0.0.0:{port}->80/tcp" in jocker("ps", "--filter", "name=web").stdout
    assert jocker("port", "web").stdout == f"80/tcp -> 0.0.0.0:{port}\n"
    assert jocker("port", "web", "80").stdout == f"0.0.0.0:{port}\n"
    mine = f"{NET_PREFIX}ns-{_inspect(jocker, 'web')['Id'][:12]}"
    assert mine in net_objects()["netns"]
    jocker("rm", "-f", "web")
    assert mine not in net_objects()["netns"]
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)


UDP_ECHO = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5353))
while True:
    data, peer = s.recvfrom(100)
    s.sendto(b"pong:" + data, peer)
"""


def _host_python_args() -> list[str]:
    """busybox has no UDP server: run the host's python3 (its /usr mounted
    read-only at /hostusr) through its own dynamic loader."""
    import glob
    import sys
    real = os.path.realpath("/usr/bin/python3")
    loaders = glob.glob("/usr/lib/*-linux-gnu/ld-linux*.so.*")
    if not real.startswith("/usr/") or not loaders:
        pytest.skip("needs a system python3 under /usr with a glibc loader (Debian)")
    libdir = os.path.dirname(loaders[0])
    return ["-v", "/usr:/hostusr:ro", "-e", "PYTHONHOME=/hostusr", "busybox:latest",
            "/hostusr" + loaders[0][4:], "--library-path", "/hostusr" + libdir[4:],
            "/hostusr" + real[4:], "-S", "-c", UDP_ECHO]


def test_publish_udp_on_localhost_only(jocker, busybox_image, cleanup):
    port = _free_port(socket.SOCK_DGRAM)
    cleanup.append("udp")
    jocker("run", "-d", "--name", "udp", "-p", f"127.0.0.1:{port}:5353/udp", *_host_python_args())
    assert jocker("port", "udp").stdout == f"5353/udp -> 127.0.0.1:{port}\n"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    got = b""
    for _ in range(30):
        s.sendto(b"ping", ("127.0.0.1", port))
        try:
            got = s.recv(100)
            break
        except socket.timeout:
            continue
    s.close()
    assert got == b"pong:ping"


def test_names_resolve_on_a_user_network_and_not_across(jocker, busybox_image, cleanup):
    cleanup += ["srv", "cli", "stranger"]
    jocker("network", "create", "--subnet", "10.199.7.0/24", "tnet")
    try:
        jocker("run", "-d", "--name", "srv", "--network", "tnet", "--network-alias", "db",
               "--ip", "10.199.7.50", busybox_image,
               "sh", "-c", "mkdir -p /w && echo srv-page > /w/index.html && httpd -f -p 80 -h /w")
        out = jocker("run", "--name", "cli", "--network", "tnet", busybox_image,
                     "sh", "-c", "cat /etc/hosts; wget -q -O- http://srv/ && wget -q -O- http://db/").stdout
        assert "10.199.7.50\tsrv" in out
        assert out.count("srv-page") == 2
        # The server's hosts file learned about the client when it came.
        assert "cli" in jocker("exec", "srv", "cat", "/etc/hosts").stdout
        # A container on the default network knows no such name, and cannot
        # reach the other network's addresses either.
        res = jocker("run", "--name", "stranger", busybox_image, "sh", "-c",
                     "grep -w srv /etc/hosts; echo x | nc -w 2 10.199.7.50 80", check=False)
        assert res.returncode != 0 and "srv" not in res.stdout
        info = json.loads(jocker("network", "inspect", "tnet").stdout)[0]
        assert info["IPAM"]["Config"] == [{"Subnet": "10.199.7.0/24", "Gateway": "10.199.7.1"}]
        assert sorted(v["Name"] for v in info["Containers"].values()) == ["cli", "srv"]
        # In use: refused, nothing changed.
        res = jocker("network", "rm", "tnet", check=False)
        assert res.returncode == 1 and "active endpoints" in res.stderr
        jocker("rm", "-f", "cli")
        assert "cli" not in jocker("exec", "srv", "cat", "/etc/hosts").stdout
        jocker("rename", "srv", "srv2")
        assert " srv2 db\n" in jocker("exec", "srv2", "cat", "/etc/hosts").stdout
        cleanup.append("srv2")
    finally:
        for n in cleanup:
            jocker("rm", "-fv", n, check=False)
        jocker("network", "rm", "tnet", check=False)
    assert "tnet" not in jocker("network", "ls").stdout


def test_network_connect_running_container(jocker, busybox_image, cleanup):
    cleanup += ["hub", "late"]
    jocker("network", "create", "tconn")
    try:
        jocker("run", "-d", "--name", "hub", "--network", "tconn", busybox_image,
               "sh", "-c", "mkdir -p /w && echo hub > /w/index.html && httpd -f -p 80 -h /w")
        jocker("run", "-d", "--name", "late", busybox_image, "sleep", "300")
        jocker("network", "connect", "tconn", "late")
        out = jocker("exec", "late", "wget", "-q", "-O-", "http://hub/").stdout
        assert out == "hub\n"
        nets = _inspect(jocker, "late")["NetworkSettings"]["Networks"]
        assert sorted(nets) == ["bridge", "tconn"]
        jocker("network", "disconnect", "tconn", "late")
        assert sorted(_inspect(jocker, "late")["NetworkSettings"]["Networks"]) == ["bridge"]
    finally:
        for n in cleanup:
            jocker("rm", "-fv", n, check=False)
        jocker("network", "rm", "tconn", check=False)


def test_stopped_container_disconnected_from_every_network_keeps_mode_and_ports(
        jocker, busybox_image, cleanup):
    """As with dockerd (docker-compose relies on it): disconnecting a created
    container from its only network keeps its mode and -p; it would start
    with loopback only, and connect gives it the network back, so its port
    is published at start."""
    cleanup.append("roamer")
    jocker("network", "create", "troam")
    port = _free_port()
    try:
        jocker("create", "--name", "roamer", "--network", "troam", "-p", f"127.0.0.1:{port}:80",
               busybox_image, "sh", "-c", "mkdir -p /w && echo roamer > /w/index.html && httpd -f -p 80 -h /w")
        jocker("network", "disconnect", "troam", "roamer")
        c = _inspect(jocker, "roamer")
        assert c["HostConfig"]["NetworkMode"] == "troam" and c["NetworkSettings"]["Networks"] == {}
        assert c["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
        if not IS_FREEBSD:          # started so, it has loopback only
            jocker("start", "roamer")
            devs = jocker("exec", "roamer", "cat", "/proc/net/dev").stdout
            assert [l.split(":")[0].strip() for l in devs.splitlines()[2:]] == ["lo"], devs
            jocker("stop", "-t", "1", "roamer")
        jocker("network", "connect", "--alias", "back", "troam", "roamer")
        jocker("start", "roamer")
        assert _http_get(f"http://127.0.0.1:{port}/") == "roamer\n"
        assert "back" in _inspect(jocker, "roamer")["NetworkSettings"]["Networks"]["troam"]["Aliases"]
    finally:
        for n in cleanup:
            jocker("rm", "-fv", n, check=False)
        jocker("network", "rm", "troam", check=False)


def _nft_tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout


@pytest.mark.parametrize("supervisor", ["alive", "sigkilled"])
def test_disconnect_of_the_only_network_then_rm_leaves_no_port_table(
        jocker, busybox_image, jocker_env, cleanup, wait_for, supervisor):
    """Review item 4: `network disconnect` turns a running container's mode
    into "none" (and drops its PortBindings); its DNAT table from -p must
    still go at rm -f, also when rm rebuilds the attachment from the store
    because the supervisor that knew the table is dead."""
    cleanup.append("lonely")
    jocker("network", "create", "tlone")
    cid = ""
    try:
        cid = jocker("run", "-d", "--name", "lonely", "--network", "tlone", "-p", f"{_free_port()}:80",
                     busybox_image, "sleep", "300").stdout.strip()
        table = f"{NET_PREFIX}c{cid[:12]}"
        assert table in _nft_tables()
        jocker("network", "disconnect", "tlone", "lonely")
        if supervisor == "sigkilled":
            info = json.load(open(os.path.join(jocker_env["JOCKER_RUNDIR"], cid, "supervisor.json")))
            os.kill(info["pid"], signal.SIGKILL)
            os.kill(info["main_pid"], signal.SIGKILL)
            assert wait_for(lambda: not os.path.exists(f"/proc/{info['main_pid']}"))
        jocker("rm", "-f", "lonely")
        assert table not in _nft_tables()
    finally:
        for n in cleanup:
            jocker("rm", "-fv", n, check=False)
        jocker("network", "rm", "tlone", check=False)
        if cid:                     # what a failing run left behind
            subprocess.run(["nft", "delete", "table", "ip", f"{NET_PREFIX}c{cid[:12]}"], capture_output=True)


def _link_index(name: str) -> str:
    try:
        return open(f"/sys/class/net/{name}/ifindex").read().strip()
    except FileNotFoundError:
        return ""


def test_network_create_skips_a_foreign_bridge_and_table_with_the_next_name(jocker):
    """Review item 5: a bridge (and nft table) of jocker's next name that
    this store did not make (another store with the same prefix, an admin)
    is left alone; the new network takes another name."""
    taken = {json.loads(jocker("network", "inspect", n).stdout)[0]["Options"]
             ["com.docker.network.bridge.name"]
             for n in jocker("network", "ls", "--format", "{{.Name}}").stdout.split()
             if n not in ("host", "none")}
    index = 1
    while f"{NET_PREFIX}br{index}" in taken or _link_index(f"{NET_PREFIX}br{index}"):
        index += 1
    foreign = f"{NET_PREFIX}br{index}"
    subprocess.run(["ip", "link", "add", foreign, "type", "bridge"], check=True)
    try:
        subprocess.run(["nft", "add", "table", "ip", foreign], check=True)
        before = _link_index(foreign)
        jocker("network", "create", "tforeign")
        got = json.loads(jocker("network", "inspect", "tforeign").stdout)[0]["Options"][
            "com.docker.network.bridge.name"]
        assert got != foreign
        assert _link_index(got)                          # its own bridge is up
        assert _link_index(foreign) == before            # the foreign one was never recreated
        assert f"table ip {foreign}\n" in _nft_tables()
        jocker("network", "rm", "tforeign")
        assert _link_index(foreign) == before and f"table ip {foreign}\n" in _nft_tables()
    finally:
        jocker("network", "rm", "tforeign", check=False)
        subprocess.run(["nft", "delete", "table", "ip", foreign], capture_output=True)
        subprocess.run(["ip", "link", "del", "dev", foreign], capture_output=True)


def test_network_create_replaces_its_own_leftover_bridge(jocker, jocker_env):
    """A bridge this store made for a network it lost (marked with the
    store's dataset in its ifalias) is reused, not skipped forever."""
    jocker("network", "create", "tlost")
    try:
        rec = json.loads(jocker("network", "inspect", "tlost").stdout)[0]
        bridge = rec["Options"]["com.docker.network.bridge.name"]
        assert open(f"/sys/class/net/{bridge}/ifalias").read().strip() == \
            f"jocker:{jocker_env['JOCKER_DATASET']}"
        # lose the network record, keep its bridge and table
        subprocess.run(["zfs", "destroy", f"{jocker_env['JOCKER_DATASET']}/networks/{rec['Id']}"], check=True)
        jocker("network", "create", "tlost")
        again = json.loads(jocker("network", "inspect", "tlost").stdout)[0]
        assert again["Options"]["com.docker.network.bridge.name"] == bridge
    finally:
        jocker("network", "rm", "tlost", check=False)


def test_none_has_only_loopback_up(jocker, busybox_image):
    out = jocker("run", "--rm", "--network", "none", busybox_image, "ip", "-o", "link").stdout
    assert "lo:" in out and "UP" in out.split("lo:")[1].split("\n")[0]
    assert "eth0" not in out
    host = jocker("run", "--rm", "--network", "host", busybox_image, "ip", "-o", "link").stdout
    assert "eth0" in host


def test_none_is_an_unnamed_stack_with_loopback_reachable_by_exec(jocker, busybox_image, cleanup):
    """--network none makes no named netns and runs no `ip` command: the
    stack comes from unshare and goes with the container; exec joins it."""
    cleanup.append("quiet")
    before = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    cid = jocker("run", "-d", "--name", "quiet", "--network", "none", busybox_image,
                 "sleep", "300").stdout.strip()
    now = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    assert not [n for n in now - before if cid[:12] in n]
    out = jocker("exec", "quiet", "sh", "-c", "ip -o link; ping -c1 -W1 127.0.0.1").stdout
    assert "lo:" in out and "UP" in out.split("lo:")[1].split("\n")[0] and "eth0" not in out
    assert " 0% packet loss" in out
    key = _inspect(jocker, "quiet")["NetworkSettings"]["SandboxKey"]
    assert key.startswith("/proc/") and os.readlink(key) != os.readlink("/proc/self/ns/net")
    jocker("rm", "-f", "quiet")
    assert not os.path.exists(key)


def test_teardown_after_sigkilled_supervisor_and_restart_keeps_address(
        jocker, busybox_image, jocker_env, cleanup, wait_for):
    cleanup += ["phoenix", "orphan"]
    port = _free_port()
    cid = jocker("run", "-d", "--name", "phoenix", "--restart", "always", "-p", f"{port}:80",
                 busybox_image, "sh", "-c", "mkdir -p /w && echo up > /w/index.html && httpd -f -p 80 -h /w"
                 ).stdout.strip()
    orphan = jocker("run", "-d", "--name", "orphan", "-p", f"{_free_port()}:80", busybox_image,
                    "sleep", "300").stdout.strip()
    ip = _inspect(jocker, "phoenix")["NetworkSettings"]["IPAddress"]
    assert _http_get(f"http://127.0.0.1:{port}/") == "up\n"
    for c in (cid, orphan):
        info = json.load(open(os.path.join(jocker_env["JOCKER_RUNDIR"], c, "supervisor.json")))
        os.kill(info["pid"], signal.SIGKILL)
        assert wait_for(lambda: not os.path.exists(f"/proc/{info['main_pid']}"))
    # A "reboot": system boot reconciles the containers whose supervisor died
    # (their netns, veth and nft table go) and brings back the --restart one
    # with the same address and port.
    out = jocker("system", "boot").stdout
    assert "phoenix: started" in out and "orphan" not in out
    objs = net_objects()
    assert not any(orphan[:12] in n or orphan[:9] in n for v in objs.values() for n in v), objs
    assert sum(cid[:12] in n for n in objs["netns"]) == 1
    assert _inspect(jocker, "phoenix")["NetworkSettings"]["IPAddress"] == ip
    assert _http_get(f"http://127.0.0.1:{port}/") == "up\n"


def test_twenty_concurrent_containers_get_distinct_addresses(jocker, busybox_image, cleanup):
    names = [f"par{i}" for i in range(20)]
    cleanup += names

    def create(n):
        return jocker("create", "--name", n, busybox_image, "true").stdout.strip()
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(create, names))
    fmt = "{{.NetworkSettings.Networks.bridge.IPAddress}}"
    addrs = [jocker("inspect", "-f", fmt, n).stdout.strip() for n in names]
    assert len(set(addrs)) == 20 and all(addrs)


@pytest.mark.parametrize("args, words", [
    (["-p", "99999:80"], "ports are 1-65535"),
    (["-p", "abc"], "invalid -p"),
    (["-p", "8080:80", "-p", "8080:80"], "twice"),
    (["--network", "nosuchnet"], "network nosuchnet not found"),
    (["--network", "bad/name"], "not found"),
    (["--network", "host", "-p", "80"], "-p cannot be used with --network host"),
    (["--ip", "10.1.2.3"], "user-defined network"),
])
def test_bad_network_input_is_one_line_125_and_changes_nothing(jocker, busybox_image, args, words):
    before = net_objects()
    res = jocker("run", "--rm", *args, busybox_image, "true", check=False)
    assert res.returncode == 125, res.stderr
    assert words in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert net_objects() == before
    assert jocker("ps", "-aq").stdout == ""


def test_port_conflicts_and_ip_and_subnet_checks(jocker, busybox_image, cleanup):
    cleanup += ["holder", "x"]
    port = _free_port()
    jocker("create", "--name", "holder", "-p", f"{port}:80", busybox_image, "true")
    res = jocker("run", "--rm", "-p", f"{port}:80", busybox_image, "true", check=False)
    assert res.returncode == 125 and "already allocated" in res.stderr and "holder" in res.stderr
    with socket.socket() as s:                # a host process holds a port
        s.bind(("0.0.0.0", 0))
        s.listen()
        res = jocker("run", "--rm", "-p", f"{s.getsockname()[1]}:80", busybox_image, "true", check=False)
    assert res.returncode == 125 and "host process" in res.stderr
    jocker("network", "create", "--subnet", "10.198.3.0/24", "tsub")
    try:
        res = jocker("network", "create", "--subnet", "10.198.0.0/16", "tover", check=False)
        assert res.returncode == 1 and "overlaps network 'tsub'" in res.stderr
        res = jocker("network", "create", "--subnet", "192.0.2.0/24", "thost", check=False)
        host_net = subprocess.run(["ip", "-4", "route", "show", "192.0.2.0/24"], capture_output=True,
                                  text=True).stdout
        if host_net:
            assert "host route" in res.stderr
        else:
            jocker("network", "rm", "thost", check=False)
        res = jocker("run", "--rm", "--network", "tsub", "--ip", "10.9.9.9", busybox_image, "true",
                     check=False)
        assert res.returncode == 125 and "not a host address of the subnet 10.198.3.0/24" in res.stderr
        jocker("create", "--name", "x", "--network", "tsub", "--ip", "10.198.3.9", busybox_image, "true")
        res = jocker("run", "--rm", "--network", "tsub", "--ip", "10.198.3.9", busybox_image, "true",
                     check=False)
        assert res.returncode == 125 and "already in use" in res.stderr
        res = jocker("network", "create", "bad/name", check=False)
        assert res.returncode != 0 and "invalid network name" in res.stderr
    finally:
        jocker("rm", "-f", "x", check=False)
        jocker("network", "rm", "tsub", check=False)


@pytest.fixture
def host_http(tmp_path):
    """An HTTP server on all of this machine's addresses (traffic stays here)."""
    import functools
    import http.server
    import threading
    (tmp_path / "hello.txt").write_text("from-the-host\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_build_run_steps_use_the_default_network(jocker, busybox_image, host_http):
    """RUN reaches this machine's own address from the default network (its
    NAT reaches further when the host forwards); --network none cannot;
    --network host shares the host's loopback."""
    addr = _host_address()
    df = f"FROM busybox\nRUN wget -q -O /got http://{addr}:{host_http}/hello.txt && cat /got\n"
    out = jocker("build", "--no-cache", "-t", "bt-netrun", "-", input=df).stdout
    assert "from-the-host" in out
    res = jocker("build", "--no-cache", "--network", "none", "-", input=df, check=False)
    assert res.returncode != 0
    out = jocker("build", "--no-cache", "--network", "host", "-t", "bt-netrun-host", "-",
                 input=df.replace(addr, "127.0.0.1")).stdout
    assert "from-the-host" in out
    jocker("rmi", "bt-netrun", "bt-netrun-host")
    assert not os.listdir(os.path.join(jocker.env["JOCKER_RUNDIR"], "net-leases"))


def test_dns_add_host_hostname_publish_all_and_prune(jocker, busybox_image, tmp_path, cleanup):
    cleanup.append("etc")
    out = jocker("run", "--name", "etc", "--hostname", "box.example", "--dns", "192.0.2.53",
                 "--dns-search", "corp.example", "--add-host", "db.local:10.1.2.3", busybox_image,
                 "sh", "-c", "cat /etc/resolv.conf /etc/hosts; hostname").stdout
    assert "nameserver 192.0.2.53\nsearch corp.example\n" in out
    assert "10.1.2.3\tdb.local\n" in out and out.endswith("box.example\n")
    info = _inspect(jocker, "etc")["HostConfig"]
    assert info["Dns"] == ["192.0.2.53"] and info["ExtraHosts"] == ["db.local:10.1.2.3"]
    res = jocker("run", "--rm", "--add-host", "nocolon", busybox_image, "true", check=False)
    assert res.returncode == 125 and "--add-host" in res.stderr
    # -P: every EXPOSEd port on a free host port
    (tmp_path / "Dockerfile").write_text("FROM busybox\nEXPOSE 80 53/udp\n")
    jocker("build", "-q", "-t", "bt-exposed", str(tmp_path))
    cleanup.append("pall")
    jocker("run", "-d", "--name", "pall", "-P", "bt-exposed", "sleep", "300")
    lines = jocker("port", "pall").stdout.splitlines()
    assert sorted(l.split(" -> ")[0] for l in lines) == ["53/udp", "80/tcp"]
    assert all(l.split(":")[-1].isdigit() for l in lines)
    jocker("rm", "-f", "pall")
    jocker("rmi", "bt-exposed")
    # prune removes unused user networks, never the default one
    jocker("network", "create", "tprune")
    out = jocker("network", "prune", "-f").stdout
    assert "tprune" in out and "bridge" not in out
    assert "bridge" in jocker("network", "ls", "--format", "{{.Name}}").stdout


def test_hairpin_from_the_same_network(jocker, busybox_image, cleanup):
    if open("/proc/sys/net/ipv4/ip_forward").read().strip() != "1":
        pytest.skip("hairpin is routed back out of the bridge: needs net.ipv4.ip_forward=1, "
                    "which the tests never change on the host")
    port = _free_port()
    cleanup += ["hpweb", "hpcli"]
    jocker("run", "-d", "--name", "hpweb", "-p", f"{port}:80", busybox_image,
           "sh", "-c", "mkdir -p /w && echo hairpin > /w/index.html && httpd -f -p 80 -h /w")
    out = jocker("run", "--name", "hpcli", busybox_image, "wget", "-q", "-O-",
                 f"http://{_host_address()}:{port}/").stdout
    assert out == "hairpin\n"


def _ours_on_host() -> set[str]:
    """jocker's network objects of this test session on the host: netns
    names, interface names, nft tables."""
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    names = {line.split(": ")[1].split("@")[0] for line in links.splitlines() if ": " in line}
    netns = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    tables = set(_nft_tables().split())
    return {n for n in names | netns | tables if n.startswith(NET_PREFIX)}


def test_run_rm_returns_after_the_network_teardown(jocker, busybox_image):
    """The teardown of a `--rm` container's network runs beside the removal
    of its file system, and `run --rm` returns only when both are done: no
    netns, veth or port table is left when it returns, nor the clone."""
    jocker("run", "--rm", busybox_image, "true")        # the default bridge exists before we look
    before = _ours_on_host()
    out = jocker("run", "--rm", "-p", f"{_free_port()}:80", busybox_image, "sh", "-c",
                 "ip -o -4 addr show eth0 | wc -l").stdout
    assert out.strip() == "1"                           # it had its own stack
    assert _ours_on_host() == before
    assert jocker("ps", "-aq").stdout == ""


def test_container_stack_is_a_netns_iproute2_knows(jocker, busybox_image, cleanup):
    """The stack built over netlink is what `ip netns add` + `ip -b` made:
    `ip netns list` names it, `ip -n` sees eth0 with its address and MAC, the
    default route and lo up, and the host end sits on the bridge."""
    cleanup.append("nl-stack")
    cid = jocker("run", "-d", "--name", "nl-stack", busybox_image, "sleep", "60").stdout.strip()
    net = _inspect(jocker, "nl-stack")["NetworkSettings"]["Networks"]["bridge"]
    ns = f"{NET_PREFIX}ns-{cid[:12]}"
    assert ns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    addr = subprocess.run(["ip", "-n", ns, "-o", "-4", "addr", "show", "eth0"], capture_output=True,
                          text=True).stdout
    assert f"inet {net['IPAddress']}/{net['IPPrefixLen']}" in addr
    link = subprocess.run(["ip", "-n", ns, "-o", "link"], capture_output=True, text=True).stdout
    assert net["MacAddress"] in link and "lo: <LOOPBACK,UP" in link
    route = subprocess.run(["ip", "-n", ns, "route", "show", "default"], capture_output=True, text=True).stdout
    assert f"default via {net['Gateway']} dev eth0" in route
    host_if = f"{NET_PREFIX}0a{cid}"[:15]
    master = subprocess.run(["ip", "-o", "link", "show", host_if], capture_output=True, text=True).stdout
    assert " master " in master and ",UP" in master
    # and the container itself reaches its gateway through it
    assert jocker("exec", "nl-stack", "ping", "-c", "1", "-W", "2", net["Gateway"], check=False).returncode == 0


def test_stack_failure_is_one_line_and_leaves_the_caller_in_the_host_netns():
    from jocker.errors import JockerError
    from jocker.host.runner import Runner
    from jocker.net.linux import LinuxNetworkDriver
    drv = LinuxNetworkDriver(Runner())
    own = os.stat("/proc/thread-self/ns/net").st_ino
    name = f"{NET_PREFIX}ns-nonexistent"
    with pytest.raises(JockerError) as e:
        drv._build({"netns": name, "veths": [], "addresses": [{"dev": "eth0", "ip": "10.1.2.3", "prefixlen": 24}],
                    "up": ["lo"], "default_via": None, "nft": None}, new_netns=False)
    assert name in str(e.value) and "No such file" in str(e.value) and "\n" not in str(e.value)
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        with pytest.raises(JockerError) as e:       # no eth0 in an empty netns
            drv._build({"netns": name, "veths": [], "addresses": [{"dev": "eth0", "ip": "10.1.2.3",
                                                                    "prefixlen": 24}],
                        "up": ["lo"], "default_via": None, "nft": None}, new_netns=False)
        assert "adding 10.1.2.3/24 to eth0: no such interface" in str(e.value)
        assert os.stat("/proc/thread-self/ns/net").st_ino == own
        with pytest.raises(JockerError) as e:       # netns_add refuses an existing name
            drv._build({"netns": name, "veths": [], "addresses": [], "up": ["lo"], "default_via": None,
                        "nft": None}, new_netns=True)
        assert "File exists" in str(e.value)
        assert os.stat("/proc/thread-self/ns/net").st_ino == own
    finally:
        subprocess.run(["ip", "netns", "del", name])


def test_failed_network_connect_records_nothing_and_can_be_retried(jocker, busybox_image, cleanup):
    """A `network connect` the kernel refuses (here: eth1 is taken inside the
    container) leaves the container as it was: not listed on the network,
    its address not held, and the same connect works once the cause is gone."""
    cleanup += ["nl-conn"]
    jocker("network", "create", "tfail")
    try:
        cid = jocker("run", "-d", "--name", "nl-conn", busybox_image, "sleep", "60").stdout.strip()
        ns = f"{NET_PREFIX}ns-{cid[:12]}"
        subprocess.run(["ip", "-n", ns, "link", "add", "eth1", "type", "veth", "peer", "name", "taken1"],
                       check=True)
        res = jocker("network", "connect", "tfail", "nl-conn", check=False)
        assert res.returncode == 125 and "File exists" in res.stderr, res.stderr
        assert sorted(_inspect(jocker, "nl-conn")["NetworkSettings"]["Networks"]) == ["bridge"]
        host_if = f"{NET_PREFIX}1a{cid}"[:15]
        assert subprocess.run(["ip", "link", "show", host_if], capture_output=True).returncode != 0
        subprocess.run(["ip", "-n", ns, "link", "del", "eth1"], check=True)
        jocker("network", "connect", "tfail", "nl-conn")
        assert sorted(_inspect(jocker, "nl-conn")["NetworkSettings"]["Networks"]) == ["bridge", "tfail"]
    finally:
        jocker("rm", "-f", "nl-conn", check=False)
        jocker("network", "rm", "tfail", check=False)


def test_connect_live_failing_half_way_removes_the_veth_it_made():
    """The veth is made, then putting its host end on the bridge fails: the
    pair goes again (its inside end with it), nothing is left on the host."""
    from jocker.errors import JockerError
    from jocker.host.runner import Runner
    from jocker.net.linux import LinuxNetworkDriver
    name = f"{NET_PREFIX}ns-halfway"
    host_if = f"{NET_PREFIX}1ahalfway"
    att = {"mode": "bridge", "prefix": NET_PREFIX, "cid": "halfway", "netns": name, "ports": [],
           "endpoints": [{"index": 1, "ifname": "eth1", "host_if": host_if, "mac": "02:42:0a:59:00:07",
                          "bridge": f"{NET_PREFIX}nobr", "ip": "10.89.0.7", "prefixlen": 24}]}
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        with pytest.raises(JockerError) as e:
            LinuxNetworkDriver(Runner()).connect_live(att, 1)
        assert f"{NET_PREFIX}nobr" in str(e.value)
        assert subprocess.run(["ip", "link", "show", host_if], capture_output=True).returncode != 0
        assert "eth1" not in subprocess.run(["ip", "-n", name, "-o", "link"], capture_output=True,
                                            text=True).stdout
    finally:
        subprocess.run(["ip", "netns", "del", name])
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)


def test_netlink_answers_count_only_from_the_kernel():
    """An acknowledgement sent to jocker's netlink socket by another process
    (any with CAP_NET_ADMIN in that namespace can: during `network connect`,
    a container's own) is not taken for the kernel's: the real answer is."""
    import struct
    from jocker.net import rtnl
    with rtnl.Rtnl() as r, socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, rtnl.NETLINK_ROUTE) as other:
        other.bind((0, 0))
        port = r.sock.getsockname()[0]
        fake = struct.pack("IHHII", 36, rtnl.NLMSG_ERROR, 0, r.seq + 1, port) + struct.pack("i", 0) + \
            struct.pack("IHHII", 16, rtnl.RTM_NEWLINK, 0, r.seq + 1, port)
        other.sendto(fake, (port, 0))
        with pytest.raises(rtnl.NetlinkError) as e:      # no interface has index 0x7ffffff0
            r.request(rtnl.RTM_NEWLINK, 0, rtnl._ifinfo(0x7ffffff0, rtnl.IFF_UP, rtnl.IFF_UP), "probe")
        assert e.value.errno == 19                      # ENODEV, the kernel's answer


def test_teardown_over_netlink_is_idempotent_and_leaves_iproute2_nothing():
    from jocker.host.runner import Runner
    from jocker.net import attachment, rtnl
    from jocker.net.linux import LinuxNetworkDriver
    cid = "f" * 64
    att = attachment.build(cid, NET_PREFIX, "none", [], [])
    rtnl.netns_add(att["netns"])
    drv = LinuxNetworkDriver(Runner())
    try:
        assert att["netns"] in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        drv.teardown(att)
        drv.teardown(att)                   # gone already: nothing raised
        assert not os.path.exists(f"/run/netns/{att['netns']}")
        assert att["netns"] not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    finally:
        subprocess.run(["ip", "netns", "del", att["netns"]], capture_output=True)


@pytest.mark.parametrize("held", [False, True])
def test_teardown_removes_the_host_veth_whether_or_not_the_namespace_dies(held):
    """The host end of a container's veth goes with its namespace when the
    kernel cleans that up; when something else keeps the namespace (here a
    process inside it), the teardown deletes the host end itself. Either
    way the veth is gone when teardown returns, and the namespace's name."""
    from jocker.host.runner import Runner
    from jocker.net import attachment, rtnl
    from jocker.net.linux import LinuxNetworkDriver
    bridge = f"{NET_PREFIX}tdbr"
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    att = attachment.build("e" * 64, NET_PREFIX, "bridge",
                           [{"network": "n", "bridge": bridge, "subnet": "10.87.0.0/24", "gateway": "10.87.0.1",
                             "ip": "10.87.0.5"}], [])
    host_if = att["endpoints"][0]["host_if"]
    drv = LinuxNetworkDriver(Runner())
    holder = None
    try:
        drv.setup(att)
        assert subprocess.run(["ip", "link", "show", host_if], capture_output=True).returncode == 0
        if held:
            holder = subprocess.Popen(["ip", "netns", "exec", att["netns"], "sleep", "60"])
            assert _wait(lambda: os.readlink(f"/proc/{holder.pid}/ns/net") !=
                         os.readlink("/proc/self/ns/net"), 10)
        drv.teardown(att)
        assert subprocess.run(["ip", "link", "show", host_if], capture_output=True).returncode != 0
        assert not os.path.exists(rtnl.netns_path(att["netns"]))
    finally:
        if holder is not None:
            holder.kill()
            holder.wait()
        subprocess.run(["ip", "netns", "del", att["netns"]], capture_output=True)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)


def _wait(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return True
        except OSError:
            pass
        time.sleep(0.02)
    return False
