"""The pure network planners: IPAM, -p parsing, Linux netns/veth/nft plans."""

from __future__ import annotations

import socket

import pytest

from jocker.errors import Conflict, UsageError
from jocker.net import attachment, hosts, ipam, linux_plan as lp, naming, ports

CID = "ab12cd34ef56" + "7" * 52


def test_default_subnet_then_first_free_of_the_pool():
    assert ipam.choose_subnet("10.88.0.0/13", 16, {}, []) == "10.88.0.0/16"
    assert ipam.choose_subnet("10.88.0.0/13", 16, {"bridge": "10.88.0.0/16"}, ["10.89.0.0/16"]) == "10.90.0.0/16"
    assert ipam.choose_subnet("10.120.0.0/16", 24, {}, ["10.120.0.0/24"]) == "10.120.1.0/24"
    with pytest.raises(Conflict, match="no free /24"):
        ipam.choose_subnet("10.120.0.0/23", 24, {"a": "10.120.0.0/24"}, ["10.120.1.0/24"])


def test_subnet_overlap_and_host_route_refused():
    with pytest.raises(Conflict, match="overlaps network 'a'"):
        ipam.check_subnet_free("10.1.0.0/16", {"a": "10.1.2.0/24"}, [])
    with pytest.raises(Conflict, match="host route 192.168.1.0/24"):
        ipam.check_subnet_free("192.168.0.0/16", {}, ["192.168.1.0/24"])
    for bad in ("10.1.0.1/16", "nonsense", "10.0.0.0/31", "10.0.0.0/4"):
        with pytest.raises(UsageError):
            ipam.parse_subnet(bad)


def test_allocation_skips_gateway_and_taken_and_honours_ip():
    assert ipam.allocate("10.5.0.0/24", "10.5.0.1", {"10.5.0.2"}) == "10.5.0.3"
    assert ipam.allocate("10.5.0.0/24", "10.5.0.1", set(), "10.5.0.77") == "10.5.0.77"
    with pytest.raises(UsageError, match="not a host address"):
        ipam.allocate("10.5.0.0/24", "10.5.0.1", set(), "10.6.0.7")
    with pytest.raises(Conflict, match="in use"):
        ipam.allocate("10.5.0.0/24", "10.5.0.1", {"10.5.0.9"}, "10.5.0.9")
    with pytest.raises(Conflict, match="gateway"):
        ipam.allocate("10.5.0.0/24", "10.5.0.1", set(), "10.5.0.1")
    with pytest.raises(Conflict, match="no free address"):
        ipam.allocate("10.5.0.0/30", "10.5.0.1", {"10.5.0.2"})


@pytest.mark.parametrize("spec, expected", [
    ("8080:80", {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}),
    ("5353:53/udp", {"53/udp": [{"HostIp": "", "HostPort": "5353"}]}),
    ("127.0.0.1:8443:443", {"443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8443"}]}),
    ("127.0.0.1::443", {"443/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}),
    ("80", {"80/tcp": [{"HostIp": "", "HostPort": ""}]}),
])
def test_publish_forms(spec, expected):
    assert ports.parse_publish([spec]) == expected


@pytest.mark.parametrize("specs, words", [
    (["99999:80"], "ports are 1-65535"), (["abc"], "invalid -p"), (["80:0"], "invalid"),
    (["8080:80", "8080:81"], "twice"), (["80", "80"], "twice"),
    (["1.2.3.999:80:80"], "invalid host IP"), (["8000-8001:80"], "invalid"),
    (["80/sctp"], "only tcp and udp"), (["1:2:3:4"], "invalid -p"),
])
def test_bad_publish(specs, words):
    with pytest.raises(UsageError, match=words):
        ports.parse_publish(specs)


def test_resolve_bindings_conflicts():
    b = ports.parse_publish(["18080:80"])
    others = {"web": [{"host_ip": "", "host_port": 18080, "port": 80, "proto": "tcp"}]}
    with pytest.raises(Conflict, match="already allocated by container 'web'"):
        ports.resolve_bindings(b, others)
    # the same port number over UDP is another port
    assert ports.resolve_bindings(ports.parse_publish(["18080:80/udp"]), others)
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        with pytest.raises(Conflict, match="host process"):
            ports.resolve_bindings(ports.parse_publish([f"{s.getsockname()[1]}:80"]), {})
    got = ports.resolve_bindings(ports.parse_publish(["80"]), {})
    assert got["80/tcp"][0]["HostPort"].isdigit()


def test_ps_ports_column():
    from jocker.cli.rows import format_api_ports
    items = [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
             {"IP": "127.0.0.1", "PrivatePort": 53, "PublicPort": 53, "Type": "udp"},
             {"PrivatePort": 9000, "Type": "tcp"}]
    assert format_api_ports(items) == "0.0.0.0:8080->80/tcp, 127.0.0.1:53->53/udp, 9000/tcp"


NET = {"network": "bridge", "bridge": "jkbr0", "subnet": "10.88.0.0/16", "gateway": "10.88.0.1"}


def test_linux_container_plan():
    att = attachment.build(CID, "jk", "bridge", [dict(NET, ip="10.88.0.5")],
                           [{"host_ip": "", "host_port": 8080, "port": 80, "proto": "tcp"},
                            {"host_ip": "127.0.0.1", "host_port": 5353, "port": 53, "proto": "udp"}])
    stack = lp.container_stack(att)
    assert stack["netns"] == "jkns-ab12cd34ef56"
    assert stack["veths"] == [{"host": "jk0aab12cd34ef5", "inside": "eth0", "mac": "02:42:0a:58:00:05",
                               "bridge": "jkbr0"}]
    assert stack["addresses"] == [{"dev": "eth0", "ip": "10.88.0.5", "prefixlen": 16}]
    assert stack["up"] == ["lo", "eth0"] and stack["default_via"] == "10.88.0.1"
    nft = stack["nft"]
    assert "table ip jkcab12cd34ef56 {" in nft
    assert nft.count("fib daddr type local tcp dport 8080 dnat to 10.88.0.5:80") == 2   # prerouting + output
    assert nft.count("ip daddr 127.0.0.1 udp dport 5353 dnat to 10.88.0.5:53") == 2
    assert "ip saddr 127.0.0.0/8 ip daddr 10.88.0.5 tcp dport 80 masquerade" in nft
    assert "ip saddr 10.88.0.0/16 ip daddr 10.88.0.5 udp dport 53 masquerade" in nft
    down = lp.container_teardown(att)
    assert [s["argv"] for s in down["steps"]] == [["nft", "delete", "table", "ip", "jkcab12cd34ef56"]]
    assert (down["netns"], down["links"]) == ("jkns-ab12cd34ef56", ["jk0aab12cd34ef5"])
    assert not any(s["check"] for s in down["steps"])


def test_linux_none_is_a_netns_with_lo_up_and_host_has_nothing():
    att = attachment.build(CID, "jk", "none", [], [])
    assert lp.container_stack(att) == {"netns": "jkns-ab12cd34ef56", "veths": [], "addresses": [],
                                       "up": ["lo"], "default_via": None, "nft": None}
    assert lp.container_teardown(attachment.build(CID, "jk", "host", [], [])) == \
        {"steps": [], "netns": None, "links": []}


def test_linux_teardown_after_disconnect_deletes_the_port_table():
    """Review item 4: after `network disconnect` of its only network a
    running container is rebuilt as "none" (no "table" key); its DNAT table
    from start must still go at stop/rm."""
    down = lp.container_teardown(attachment.build(CID, "jk", "none", [], []))
    assert down["steps"][0]["argv"] == ["nft", "delete", "table", "ip", "jkcab12cd34ef56"]
    assert (down["netns"], down["links"]) == ("jkns-ab12cd34ef56", [])


def test_linux_teardown_of_the_started_attachment_without_ports_runs_no_nft():
    """The supervisor tears down the attachment its container started with:
    no published ports there means no table was ever made."""
    att = dict(attachment.build(CID, "jk", "none", [], []), as_started=True)
    down = lp.container_teardown(att)
    assert down == {"steps": [], "netns": "jkns-ab12cd34ef56", "links": []}


def test_linux_network_nft_never_touches_other_tables():
    text = lp.network_nft(dict(NET), "jk")
    assert text.startswith("table ip jkbr0 {")
    assert "flush" not in text and "delete" not in text
    assert 'iifname "jkbr0" oifname != "jkbr0" oifname "jkbr*" drop' in text
    assert "masquerade" not in lp.network_nft(dict(NET, internal=True), "jk")


def test_parse_linux_routes():
    text = ("default via 192.0.2.1 dev eth0\n192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2\n"
            "10.88.0.0/16 dev jkbr0 proto kernel\n10.9.9.9 via 192.0.2.1 dev eth0\n")
    assert lp.parse_routes(text, {"jkbr0"}) == ["192.0.2.0/24", "10.9.9.9/32"]


def test_resolv_conf_and_add_host():
    host = "# c\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch example.org\noptions edns0\n"
    assert hosts.resolv_text(host, [], [], [], own_stack=True) == \
        "nameserver 192.0.2.53\nsearch example.org\noptions edns0\n"
    assert hosts.resolv_text(host, ["9.9.9.9"], ["corp"], ["ndots:2"], own_stack=True) == \
        "nameserver 9.9.9.9\nsearch corp\noptions ndots:2\n"
    assert hosts.parse_add_host("db.local:10.0.0.9") == ("db.local", "10.0.0.9")
    with pytest.raises(UsageError):
        hosts.parse_add_host("db.local:notanip")


def test_linux_bridge_and_table_carry_the_store_marker():
    """Review item 5: what jocker creates says which store made it."""
    mark = naming.store_marker("tank/jocker")
    steps = lp.bridge_setup(dict(NET), "jk", mark)
    assert 'link set dev jkbr0 alias "jocker:tank/jocker"\n' in steps[0]["input"]
    table = lp.network_nft(dict(NET), "jk", mark)
    assert table.startswith('table ip jkbr0 {\n\tcomment "jocker:tank/jocker"\n')
    assert lp.parse_table_comment(table) == mark
    assert lp.parse_table_comment("table ip jkbr0 {\n\tchain x {\n\t}\n}\n") == ""


def test_links_name_the_linked_peer_for_the_linker_only():
    from jocker.containers.model import Container

    def member(cid, name, ip, links=()):
        spec = {"Config": {"Hostname": cid[:12]}, "HostConfig": {},
                "NetworkSettings": {"Networks": {"back": {"IPAddress": ip, "Aliases": ["svc"],
                                                          "Links": list(links) or None}}}}
        return Container(id=cid, name=name, dataset="p/c", spec=spec, state={})
    db = member("d" * 64, "proj_db_1", "10.9.0.2")
    app = member("a" * 64, "proj_app_1", "10.9.0.3", ["proj_db_1:legacydb"])
    assert "10.9.0.2\tproj_db_1 dddddddddddd svc legacydb\n" in hosts.hosts_text(app, [db], [])
    assert "legacydb" not in hosts.hosts_text(db, [app], [])
    assert hosts.parse_link("/proj_db_1:/proj_app_1/legacydb") == ("proj_db_1", "legacydb")
    assert hosts.parse_link("db") == ("db", "db")
    for bad in ("", ":x", "a b:c", "db:x y"):
        with pytest.raises(UsageError, match="invalid link"):
            hosts.parse_link(bad)


def test_both_network_drivers_implement_every_declared_method():
    import inspect
    from jocker.net.driver import NetworkDriver
    from jocker.net.freebsd import FreeBSDNetworkDriver
    from jocker.net.linux import LinuxNetworkDriver
    assert inspect.isabstract(NetworkDriver)
    for cls in (LinuxNetworkDriver, FreeBSDNetworkDriver):
        assert issubclass(cls, NetworkDriver) and not inspect.isabstract(cls), cls


def test_linux_endpoint_stack_adds_one_veth_into_the_existing_netns():
    att = attachment.build(CID, "jk", "bridge", [dict(NET, ip="10.88.0.5"),
                                                 dict(NET, network="b2", bridge="jkbr1", subnet="10.89.0.0/24",
                                                      gateway="10.89.0.1", ip="10.89.0.7", index=1)], [])
    stack = lp.endpoint_stack(att, 1)
    assert stack["veths"] == [{"host": "jk1aab12cd34ef5", "inside": "eth1", "mac": "02:42:0a:59:00:07",
                               "bridge": "jkbr1"}]
    assert stack["addresses"] == [{"dev": "eth1", "ip": "10.89.0.7", "prefixlen": 24}]
    assert (stack["up"], stack["default_via"], stack["nft"]) == (["eth1"], None, None)
