"""Golden tests of the FreeBSD network plans and driver: every ifconfig,
route, jexec and pfctl command and every pf anchor text, through the same
planners the driver uses (freebsd.md §3, §4). Regenerate after an intended
change with
    UPDATE_GOLDEN=1 python -m pytest tests/golden/test_net_freebsd.py
and review the diff of tests/golden/data/net_*."""

from __future__ import annotations

import shlex

import pytest

from jocker.net import attachment, freebsd_plan as fp, naming
from jocker.net.freebsd import FreeBSDNetworkDriver
from jocker.host.runner import Result, Runner
from jocker.runtime import jail_plan as jp
from jocker.runtime.spec import ContainerSpec
from test_jail_plan import CID, ROOT, RUNDIR, golden

NET = {"network": "bridge", "bridge": "jkbr0", "subnet": "10.88.0.0/16", "gateway": "10.88.0.1",
       "internal": False}
PUBLISH_FORMS = {
    "tcp 8080:80": {"host_ip": "", "host_port": 8080, "port": 80, "proto": "tcp"},
    "udp 5353:53/udp": {"host_ip": "", "host_port": 5353, "port": 53, "proto": "udp"},
    "localhost 127.0.0.1:8443:443": {"host_ip": "127.0.0.1", "host_port": 8443, "port": 443, "proto": "tcp"},
    "one address 192.0.2.7:2222:22": {"host_ip": "192.0.2.7", "host_port": 2222, "port": 22, "proto": "tcp"},
}


def att(ports=(), mode="bridge", endpoints=None):
    eps = [dict(NET, ip="10.88.0.5")] if endpoints is None else endpoints
    return attachment.build(CID, "jk", mode, eps if mode == "bridge" else [], list(ports))


class Recorder(Runner):
    """Records argv and stdin; answers like FreeBSD's ifconfig would."""

    def __init__(self, exists=False, fail=()):
        super().__init__()
        self.calls, self.exists, self.fail = [], exists, set(fail)

    def _run_once(self, argv, input, stdin, stdout, timeout, env, cwd):
        self.calls.append((list(argv), input))
        line = " ".join(argv)
        if line in self.fail:
            return Result(list(argv), 1, "", f"{argv[0]}: simulated failure")
        if argv == fp.bridge_create_command():
            return Result(list(argv), 0, "bridge3\n", "")
        if argv == fp.epair_create_command():
            return Result(list(argv), 0, "epair7a\n", "")
        if argv == fp.egress_command():
            return Result(list(argv), 0, "   route to: default\n   gateway: 192.0.2.1\n  interface: vtnet0\n", "")
        if argv[:1] == ["ifconfig"] and len(argv) == 2:
            return Result(list(argv), 0 if self.exists else 1, "", f"ifconfig: interface {argv[1]} does not exist")
        return Result(list(argv), 0, "", "")

    def text(self):
        out = []
        for argv, stdin in self.calls:
            out.append(shlex.join(argv))
            if stdin:
                out += ["  | " + l for l in stdin.splitlines()]
        return "\n".join(out) + "\n"


def test_names_fit_15_characters():
    host_if, ctr_if = naming.endpoint_ifnames("jk", 0, CID)
    assert (host_if, ctr_if) == ("jk0aab12cd34ef5", "jk0bab12cd34ef5")
    assert all(len(n) <= 15 for n in (host_if, ctr_if, naming.bridge_name("abcde", 123)))
    assert naming.container_anchor("jk", CID) == "jocker/jkcab12cd34ef56"


MARK = naming.store_marker("zroot/jocker")


def test_network_setup_golden():
    r = Recorder()
    assert FreeBSDNetworkDriver(r).ensure_network(NET, "jk", MARK)
    golden("net_freebsd_bridge.txt", r.text())
    # the anchor is parsed (pfctl -n) before it is loaded
    argvs = [a for a, _ in r.calls]
    assert argvs.index(fp.pf_check_command("jocker/jkbr0")) < argvs.index(fp.pf_load_command("jocker/jkbr0"))


def test_existing_bridge_is_left_alone():
    r = Recorder(exists=True)
    assert not FreeBSDNetworkDriver(r).ensure_network(NET, "jk")
    assert [a for a, _ in r.calls] == [["ifconfig", "jkbr0"]]


class Described(Recorder):
    """`ifconfig jkbr0` shows a bridge with the given description (None: no
    such interface)."""

    def __init__(self, description):
        super().__init__()
        self.description = description

    def _run_once(self, argv, input, stdin, stdout, timeout, env, cwd):
        if argv[:1] == ["ifconfig"] and len(argv) == 2:
            self.calls.append((list(argv), input))
            if self.description is None:
                return Result(list(argv), 1, "", f"ifconfig: interface {argv[1]} does not exist")
            desc = f"\tdescription: {self.description}\n" if self.description else ""
            return Result(list(argv), 0, f"{argv[1]}: flags=8843<UP,BROADCAST> mtu 1500\n{desc}"
                          "\tether 58:9c:fc:10:ff:ae\n", "")
        return super()._run_once(argv, input, stdin, stdout, timeout, env, cwd)


@pytest.mark.parametrize("description,held", [(None, "absent"), (MARK, "ours"), ("", "foreign"),
                                              ("jocker:otherpool/jocker", "foreign")])
def test_bridge_owner_by_description(description, held):
    """Review item 5: a bridge name the host already uses is another store's
    or the admin's unless its description names this store."""
    r = Described(description)
    assert FreeBSDNetworkDriver(r).bridge_owner("jkbr0", MARK) == held
    assert [a for a, _ in r.calls] == [["ifconfig", "jkbr0"]]      # looking never changes anything


def test_failed_anchor_check_removes_the_bridge_and_loads_nothing():
    r = Recorder(fail={"pfctl -a jocker/jkbr0 -n -f -"})
    with pytest.raises(Exception):
        FreeBSDNetworkDriver(r).ensure_network(NET, "jk")
    argvs = [a for a, _ in r.calls]
    assert fp.pf_load_command("jocker/jkbr0") not in argvs
    assert argvs[-1] == ["ifconfig", "jkbr0", "destroy"]


def test_container_lifecycle_golden():
    a = att(PUBLISH_FORMS.values())
    r = Recorder()
    d = FreeBSDNetworkDriver(r)
    r.calls.append((["# setup (before jail -c)"], None))
    d.setup(a)
    r.calls.append((["# after jail -c"], None))
    d.after_create(a, jp.jail_name(CID))
    r.calls.append((["# teardown (after jail -r)"], None))
    d.teardown(a)
    golden("net_freebsd_container.txt", r.text())


@pytest.mark.parametrize("form", sorted(PUBLISH_FORMS))
def test_anchor_text_per_publish_form(form):
    golden(f"net_freebsd_anchor_{form.split()[0]}.txt", fp.container_anchor_text(att([PUBLISH_FORMS[form]])))


def test_jail_conf_of_a_bridge_container():
    spec = ContainerSpec(id=CID, name="web", rootfs=ROOT, rundir=RUNDIR, argv=["/bin/sh"],
                         network="bridge", net=att())
    golden("net_freebsd_bridge.conf", jp.plan(spec).conf_text)


def test_none_is_a_vnet_jail_with_lo0_up():
    a = att(mode="none")
    assert fp.jail_params(a) == [("vnet", "new")]
    assert fp.inside_commands("jk_x", a) == [["ifconfig", "-j", "jk_x", "lo0", "inet", "127.0.0.1/8", "up"]]
    assert fp.jail_params(att(mode="host")) == [("ip4", "inherit"), ("ip6", "inherit")]


def test_internal_network_has_no_nat():
    assert fp.network_anchor_text(dict(NET, internal=True), "vtnet0") == ""
    assert fp.network_anchor_text(NET, "vtnet0") == \
        "nat on vtnet0 inet from 10.88.0.0/16 to ! 10.88.0.0/16 -> (vtnet0)\n"


def test_parse_routes_from_netstat_libxo():
    text = ('{"statistics": {"route-information": {"route-table": {"rt-family": [{"address-family": '
            '"Internet", "rt-entry": [{"destination": "default", "interface-name": "vtnet0"}, '
            '{"destination": "192.0.2.0/24", "interface-name": "vtnet0"}, '
            '{"destination": "127.0.0.1", "interface-name": "lo0"}, '
            '{"destination": "10.88.0.0/16", "interface-name": "jkbr0"}]}]}}}}')
    assert fp.parse_routes(text, {"jkbr0"}) == ["192.0.2.0/24", "127.0.0.1/32"]


def test_connect_live_moves_the_new_epair_into_the_jail():
    a = att(endpoints=[dict(NET, ip="10.88.0.5"), dict(NET, network="b2", bridge="jkbr1",
                                                       subnet="10.89.0.0/16", gateway="10.89.0.1",
                                                       ip="10.89.0.9", index=1)])
    r = Recorder()
    FreeBSDNetworkDriver(r).connect_live(a, 1)
    argvs = [a for a, _ in r.calls]
    assert ["ifconfig", "jk1bab12cd34ef5", "vnet", "jk_ab12cd34ef56"] in argvs
    assert ["ifconfig", "-j", "jk_ab12cd34ef56", "jk1bab12cd34ef5", "inet", "10.89.0.9/16", "up"] in argvs


def test_jail_conf_of_a_container_on_two_networks_appends_the_second_interface():
    two = att(endpoints=[dict(NET, ip="10.88.0.5"), dict(NET, network="b2", bridge="jkbr1",
                                                         subnet="10.89.0.0/16", gateway="10.89.0.1",
                                                         ip="10.89.0.9", index=1)])
    spec = ContainerSpec(id=CID, name="web", rootfs=ROOT, rundir=RUNDIR, argv=["/bin/sh"],
                         network="bridge", net=two)
    conf = jp.plan(spec).conf_text
    assert '\tvnet.interface = "jk0bab12cd34ef5";\n\tvnet.interface += "jk1bab12cd34ef5";\n' in conf


def test_teardown_after_disconnect_flushes_the_containers_anchor():
    """Review item 4: `network disconnect` of a running container's only
    network rebuilds its attachment as "none" (no anchor key), yet the rdr
    anchor loaded at start is still in pf; teardown flushes it by the name
    the container id gives it."""
    r = Recorder()
    FreeBSDNetworkDriver(r).teardown(att(mode="none"))
    golden("net_freebsd_teardown_disconnected.txt", r.text())
    assert [a for a, _ in r.calls] == [["pfctl", "-a", naming.container_anchor("jk", CID), "-F", "all"]]
