"""Golden tests for the FreeBSD jail plan: exact jail.conf, fstab and argv lists.

FreeBSD is not available on the workbench, so what the jail driver would
write and run is pinned down here. Regenerate after an intended change with
    UPDATE_GOLDEN=1 python -m pytest tests/golden/test_jail_plan.py
and review the diff of tests/golden/data/.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest

from jocker.containers import identity
from jocker.envvars import env_dict
from jocker.errors import InvalidName, UsageError
from jocker.runtime import jail_devfs as devfs
from jocker.runtime import jail_exec
from jocker.runtime import jail_plan as jp
from jocker.runtime.spec import ContainerSpec, JailOptions, Limits, Mount
from jocker.templates import jailquote, render, template_dirs

DATA = Path(__file__).parent / "data"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
CID = "ab12cd34ef56" + "7" * 52
ROOT = f"/var/db/jocker/containers/{CID}/root"
RUNDIR = f"/var/run/jocker/{CID}"
PASSWD = ("# image passwd\nroot:*:0:0:Charlie &:/root:/bin/sh\n"
          "www:*:80:80:World Wide Web Owner:/nonexistent:/usr/sbin/nologin\n"
          "app:*:1001:1001:App:/home/app:/bin/sh\n")
GROUP = "wheel:*:0:root\nwww:*:80:\napp:*:1001:\n"
PHYSMEM = 8 << 30
# `sysctl -N security.jail.param.allow` as a 14.x kernel without vmm.ko prints
# it: the names of kern_jail.c's pr_flag_allow table plus the ones modules
# register (SYSCTL_JAIL_PARAM), subnodes with a trailing dot.
KNOWN = jp.parse_allow((DATA / "sysctl-N-allow.txt").read_text())


def make_spec(**kw) -> ContainerSpec:
    base = dict(id=CID, name="web", rootfs=ROOT, rundir=RUNDIR, argv=["/bin/echo", "hi"])
    jail = {k: kw.pop(k) for k in ("devices", "allow", "params", "securelevel") if k in kw}
    if "jail_params" in kw:
        jail["params"] = kw.pop("jail_params")
    base.update(kw)
    return ContainerSpec(**base, jail=JailOptions(**jail))


CASES = {
    "minimal": {},
    "volumes": dict(workdir="/data/app", mounts=[
        Mount("/srv/conf", "/etc/app", readonly=True),
        Mount("/var/db/jocker/volumes/data", "/data", kind="volume"),
        Mount("/srv/logs", "/data/logs/"),
        Mount("/srv/logs/archive", "/data/logs/old"),
        Mount("", "/tmp", kind="tmpfs"),
        Mount("/srv/site", "/usr/local/www/./site", readonly=True),
    ]),
    "tmpfs_memory": dict(limits=Limits(memory=256 << 20), mounts=[Mount("", "/run", kind="tmpfs")]),
    "limits": dict(limits=Limits(memory=512 * 1024 * 1024, cpus=1.5, pids=100)),
    "devices": dict(devices=["bpf*", "/dev/tun*", "bpf*"]),
    "allow_params": dict(allow=["raw_sockets", "allow.chflags"], jail_params={
        "osrelease": "14.3-RELEASE", "sysvshm": "inherit", "allow.mlock": "",
        "allow.noset_hostname": "", "meta": 'tag "x" costs $5 \\o/'}),
    "network_none": dict(network="none", securelevel=3, hostname="db.internal",
                         stop_timeout=30),
    "user_workdir": dict(user="www", workdir="/srv/app", argv=["php-fpm", "-F"]),
    "env": dict(user="1001:1001", env=["PATH=/usr/local/bin:/usr/bin:/bin",
                                       "GREETING=hello world", 'QUOTE="it\'s"', "EMPTY="]),
}


def golden(name: str, text: str) -> None:
    path = DATA / name
    if UPDATE:
        DATA.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"missing golden file {path}: run with UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def _steps(label: str, plan: dict) -> list[str]:
    return [f"# {label}"] + ["  " + " ".join(json.dumps(a) for a in step) for step in jail_exec.steps(plan)]


def plan(spec: ContainerSpec, **kw):
    return jp.plan(spec, known_allow=KNOWN, physmem=PHYSMEM, **kw)


def commands_text(spec: ContainerSpec) -> str:
    p = plan(spec)
    name = p.name
    ident = identity.resolve(spec.user, PASSWD, GROUP)
    env = env_dict(identity.process_env(spec.env, hostname=spec.hostname or spec.short_id,
                                           tty=False, home=ident.home))
    lines = ["# devfs ruleset (per-container, only with --device)"]
    lines += [shlex.join(c) for c in p.ruleset_commands]
    lines += ["# create", shlex.join(jp.jail_create_command(p.conf_path, name)),
              shlex.join(jp.applyset_command(spec.rootfs, p.devfs_ruleset))]
    lines += [shlex.join(c) for c in p.rctl_add]
    lines.append("# mount targets: created in BASE at PATH without following symlinks")
    lines += [f"{t.base} {t.path}" for t in p.mount_targets]
    lines += _steps("main process (forked child of the supervisor)",
                    jail_exec.make_plan(7, ident, spec.workdir, spec.argv, env))
    lines += _steps("exec", jail_exec.make_plan(
        7, ident, spec.workdir, ["/bin/sh", "-c", "ls -l $HOME"], env_dict(
            identity.process_env(spec.env + ["EXTRA=1"], hostname="h", tty=True, home=ident.home))))
    lines += ["# signal, pids, top", shlex.join(jp.signal_command(name, 15)),
              shlex.join(jp.pids_command(name)), shlex.join(["ps", "-o", "x"] + jp.ps_selector(name))]
    lines += ["# destroy", shlex.join(jp.jail_exists_command(name)),
              shlex.join(jp.jail_remove_command(p.conf_path, name)),
              shlex.join(jp.jail_dying_command(name))]
    if p.rctl_add:
        lines.append(shlex.join(jp.rctl_remove_command(name)))
    if p.ruleset_commands:
        lines.append(shlex.join(devfs.delete_command(p.devfs_ruleset)))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("case", sorted(CASES))
def test_jail_conf_golden(case):
    golden(f"{case}.conf", plan(make_spec(**CASES[case])).conf_text)


@pytest.mark.parametrize("case", sorted(CASES))
def test_commands_golden(case):
    golden(f"{case}.commands.txt", commands_text(make_spec(**CASES[case])))


def test_fstab_golden():
    p = plan(make_spec(**CASES["volumes"]))
    assert p.fstab_path == f"{RUNDIR}/fstab"
    golden("volumes.fstab.txt", p.fstab_text)


def test_no_fstab_without_mounts():
    p = plan(make_spec())
    assert p.fstab_path is None and p.fstab_text is None
    assert "mount.fstab =" not in p.conf_text


def test_prepare_host_rulesets_golden():
    text = "\n".join(shlex.join(c) for c in devfs.ruleset_commands(100)
                      + devfs.ruleset_commands(101, vnet=True)) + "\n"
    golden("rulesets.txt", text)


# ---------------------------------------------------------------- names and small helpers

def test_jail_name():
    assert jp.jail_name(CID) == "jk_ab12cd34ef56"
    assert jp.NAME_RE.match(jp.jail_name(CID))


@pytest.mark.parametrize("bad", ["", "AB12CD34EF56", "ab12cd", "ab12cd34ef5g", "../etc/passwd"])
def test_bad_container_id(bad):
    with pytest.raises(InvalidName):
        jp.jail_name(bad)


def test_jailquote_escapes_backslash_quote_dollar():
    assert jailquote('a\\b"c$d') == '"a\\\\b\\"c\\$d"'
    assert jailquote("") == '""'


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\0b", "a\x1bb"])
def test_jailquote_refuses_control_characters(bad):
    with pytest.raises(UsageError):
        jailquote(bad)


def test_templates_found_in_checkout():
    assert template_dirs()[0] == Path(__file__).resolve().parents[2] / "templates"
    with pytest.raises(Exception):   # StrictUndefined: a missing variable is an error
        render("jail.fstab.j2")


def test_unmount_order_deepest_first():
    assert jp.unmount_order(["/r/a", "/r/a/b/c", "/r/dev", "/r/a/b"]) == \
        ["/r/a/b/c", "/r/a/b", "/r/dev", "/r/a"]


def test_leftover_mounts_from_mount_p():
    mount_p = (f"zroot/jocker/containers/x\t{ROOT}\tzfs rw 0 0\n"
               f"devfs\t\t\t{ROOT}/dev\tdevfs rw 0 0\n"
               f"/srv/logs\t{ROOT}/data/logs\tnullfs rw 0 0\n"
               f"/var/db/jocker/volumes/data\t{ROOT}/data\tnullfs rw 0 0\n"
               f"/srv\t{ROOT}x/other\tnullfs rw 0 0\n")
    assert jp.leftover_mounts(mount_p, ROOT) == [f"{ROOT}/data/logs", f"{ROOT}/dev", f"{ROOT}/data"]


def test_device_ruleset_is_deterministic_and_skips_used_numbers():
    first = devfs.device_ruleset_candidates(CID, 1000, 1003)
    assert sorted(first) == [1000, 1001, 1002, 1003]
    assert devfs.pick_device_ruleset(CID, 1000, 1003, set()) == first[0]
    assert devfs.pick_device_ruleset(CID, 1000, 1003, {first[0]}) == first[1]
    with pytest.raises(UsageError, match="no free devfs ruleset"):
        devfs.pick_device_ruleset(CID, 1000, 1003, {1000, 1001, 1002, 1003})


def test_parse_showsets():
    assert jp.parse_showsets("1\n2\n3\n4\n5\n100\n") == {1, 2, 3, 4, 5, 100}


@pytest.mark.parametrize("cfg", [dict(base_ruleset=3), dict(device_rulesets=(10, 5)),
                                 dict(base_ruleset=1000), dict(device_rulesets=(1, 70000))])
def test_bad_ruleset_config(cfg):
    with pytest.raises(UsageError):
        jp.JailConfig(**cfg)


@pytest.mark.parametrize("cpus,pct", [(0.29, 29), (0.5, 50), (1.5, 150), (2, 200), (0.333, 33)])
def test_rctl_cpu_percent(cpus, pct):
    assert jp.rctl_rules("jk_x", Limits(cpus=cpus)) == [f"jail:jk_x:pcpu:deny={pct}"]


@pytest.mark.parametrize("limits", [Limits(memory=0), Limits(cpus=0.001), Limits(pids=-1)])
def test_rctl_bad_limits(limits):
    with pytest.raises(UsageError):
        jp.rctl_rules("jk_x", limits)


def test_signal_command_uses_names():
    assert jp.signal_command("jk_x", 9) == ["pkill", "-KILL", "-j", "jk_x"]
    assert jp.signal_command("jk_x", 1) == ["pkill", "-HUP", "-j", "jk_x"]


def test_parse_pids():
    assert jp.parse_pids("123\n456\n") == [123, 456]
    assert jp.parse_pids("") == []


@pytest.mark.parametrize("user,uid,gid,groups,home", [
    ("", 0, 0, (0,), "/root"), ("www", 80, 80, (80,), "/nonexistent"), ("80:80", 80, 80, (80,), "/nonexistent"),
    ("app:wheel", 1001, 0, (0,), "/home/app"),
    # Docker runs an unknown numeric uid with gid 0 and HOME /; jexec -U could not
    ("4242", 4242, 0, (0,), "/"), ("4242:4242", 4242, 4242, (4242,), "/")])
def test_identity_from_the_images_files(user, uid, gid, groups, home):
    ident = identity.resolve(user, PASSWD, GROUP)
    assert (ident.uid, ident.gid, ident.groups, ident.home) == (uid, gid, groups, home)


@pytest.mark.parametrize("user", ["nobody", "www:nogroup"])
def test_identity_unknown_names(user):
    with pytest.raises(identity.UnknownUser, match="unable to find"):
        identity.resolve(user, PASSWD, GROUP)


def test_process_env_docker_defaults():
    env = identity.process_env(["PATH=/bin", "A=1"], hostname="web", tty=True, home="/home/app")
    assert env == ["PATH=/bin", "HOSTNAME=web", "TERM=xterm", "A=1", "HOME=/home/app"]
    assert "HOME=/x" in identity.process_env(["HOME=/x"], hostname="h", tty=False, home="/y")


# ---------------------------------------------------------------- bad input is refused

def _one_line_error(exc_type, **kw):
    with pytest.raises(exc_type) as info:
        plan(make_spec(**kw))
    msg = str(info.value)
    assert msg and "\n" not in msg
    return msg


@pytest.mark.parametrize("key", [
    "Foo", "1abc", "a-b", "a b", "", "path", "name", "persist", "nopersist", "vnet",
    "vnet.interface", "devfs_ruleset", "mount", "mount.devfs", "mount.fstab", "exec.start",
    "exec.poststop", "enforce_statfs", "children.max", "securelevel", "host.hostname",
    "ip4.addr", "ip6", "stop.timeout", "allow.mount", "allow.mount.zfs", "allow.nomount",
    "allow.bogus", "allow.sysvipc"])
def test_bad_jail_param_keys(key):
    _one_line_error(UsageError, jail_params={key: "1"})


def test_jail_param_value_with_newline():
    msg = _one_line_error(UsageError, jail_params={"osrelease": "14.3\nexec.start=x"})
    assert "control character" in msg


@pytest.mark.parametrize("hostname", ["evil\nhost", "a\rb", "x" * 256])
def test_bad_hostname(hostname):
    _one_line_error(UsageError, hostname=hostname)


@pytest.mark.parametrize("target", ["relative/path", "data", "/data/../etc", "/../etc",
                                    "/", "/dev", "/dev/fd", "/a b", "/a#b"])
def test_bad_mount_targets(target):
    _one_line_error(UsageError, mounts=[Mount("/srv/x", target)])


@pytest.mark.parametrize("source", ["relative", "/srv/../etc", "/srv/a b"])
def test_bad_mount_sources(source):
    _one_line_error(UsageError, mounts=[Mount(source, "/x")])


def test_duplicate_mount_target():
    msg = _one_line_error(UsageError, mounts=[Mount("/a", "/x"), Mount("/b", "/x/")])
    assert "duplicate" in msg


def test_unknown_mount_kind():
    _one_line_error(UsageError, mounts=[Mount("/a", "/x", kind="overlay")])


@pytest.mark.parametrize("allow", ["bogus", "allow.nothing", "mount", "mount.devfs", "sysvipc",
                                   "raw sockets"])
def test_unknown_allow(allow):
    msg = _one_line_error(UsageError, allow=[allow])
    assert "allow" in msg


@pytest.mark.parametrize("device", ["", "../mem", "a b", "bpf'", "/dev/", "-x", "*"])
def test_bad_devices(device):
    _one_line_error(UsageError, devices=[device])


def test_bad_network_securelevel_timeout():
    _one_line_error(UsageError, network="bridge")
    _one_line_error(UsageError, securelevel=4)
    _one_line_error(UsageError, stop_timeout=-1)


def test_bad_env():
    with pytest.raises(UsageError):
        env_dict(["NOVALUE"])
    with pytest.raises(UsageError):
        env_dict(["=x"])


def test_relative_workdir_refused_by_plan():
    _one_line_error(UsageError, workdir="srv/app")
