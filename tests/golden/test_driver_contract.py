"""One contract, both runtime drivers: the Linux namespace driver for real on
the workbench, the jail driver through its recording runner. What the engine
and the supervisor rely on holds for each."""

from __future__ import annotations

import inspect
import os

import pytest

from jocker.host.runner import Runner
from jocker.runtime import base
from jocker.runtime import freebsd_jail as fj
from jocker.runtime.linux_ns import LinuxNamespaceDriver
from jocker.runtime.spec import ContainerSpec, Limits, Mount, from_dict

from test_jail_driver_commands import CID, RecordingRunner  # same directory (pytest prepends it)

CAPABILITIES = ("creates_console", "reports_init_pid", "binds_single_files", "updates_limits_live")


def _linux():
    return LinuxNamespaceDriver(Runner()), None


def _jail():
    fj.reset_probes()
    r = RecordingRunner()
    return fj.JailDriver(r), r


@pytest.fixture(params=["linux", "jail"])
def driver(request):
    d, recorder = {"linux": _linux, "jail": _jail}[request.param]()
    yield d, recorder
    fj.reset_probes()


@pytest.fixture
def spec(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "bin" / "echo").write_text("#!/bin/sh\n")
    (root / "bin" / "echo").chmod(0o755)
    (root / "bin" / "sh").write_text("")
    (root / "bin" / "sh").chmod(0o755)
    return ContainerSpec(id=CID, name="web", rootfs=str(root), rundir=str(tmp_path / "run"),
                         argv=["/bin/echo", "hi"], env=["A=1"], workdir="/",
                         mounts=[Mount("/srv", "/data", True)], limits=Limits(memory=64 << 20))


def test_every_method_is_declared_and_implemented(driver):
    d, _ = driver
    assert isinstance(d, base.RuntimeDriver) and not inspect.isabstract(type(d))
    assert d.name in ("linux", "jail")
    for cap in CAPABILITIES:
        assert isinstance(getattr(type(d), cap), bool), cap


def test_capabilities_match_the_methods(driver):
    """A capability says a method does real work; without it, the base default."""
    d, _ = driver
    cls = type(d)
    assert (cls.console_command is not base.RuntimeDriver.console_command) == cls.creates_console
    assert (cls.init_pid is not base.RuntimeDriver.init_pid) == cls.reports_init_pid
    assert (cls.update_limits is not base.RuntimeDriver.update_limits) == cls.updates_limits_live


def test_create_then_commands_are_argv_lists(driver, spec):
    d, _ = driver
    d.create(spec)
    for cmd in (d.main_command(spec),
                d.exec_command(spec, ["/bin/sh", "-c", "true"], user="", workdir="/", env=["B=2"],
                               tty=False, main_pid=os.getpid())):
        assert isinstance(cmd, base.ProcessCommand)
        assert cmd.argv and all(isinstance(a, str) for a in cmd.argv)
        assert isinstance(cmd.env, dict)


def test_destroy_is_idempotent_and_signals_need_no_process(driver, spec):
    d, _ = driver
    os.makedirs(spec.rundir, exist_ok=True)
    d.destroy(spec)
    d.destroy(spec)
    d.signal_main(spec, 0, None)          # no main process: nothing to signal, no error


def test_the_spec_has_one_serialisation(spec):
    data = base.spec_to_dict(spec)
    assert from_dict(data) == spec
    # The supervisor's attribute view of the same JSON serialises the same way.
    view = base.spec_view(data)
    assert view.short_id == spec.short_id and view.jail.securelevel == spec.jail.securelevel
    assert base.spec_to_dict(view) == data


def test_a_spec_written_before_the_jail_section_still_loads(spec):
    """Job files of supervisors that outlived an upgrade have the jail keys
    at the top level; the jail driver and the supervisor still read them."""
    data = base.spec_to_dict(spec)
    data.pop("jail")
    data.update(devices=["bpf*"], allow=["raw_sockets"], jail_params={"osrelease": "14.3"}, securelevel=2)
    old = from_dict(data)
    assert (old.jail.devices, old.jail.allow, old.jail.params, old.jail.securelevel) == \
        (["bpf*"], ["raw_sockets"], {"osrelease": "14.3"}, 2)
    view = base.spec_view(data)
    assert view.jail.params == {"osrelease": "14.3"} and not hasattr(view, "devices")
