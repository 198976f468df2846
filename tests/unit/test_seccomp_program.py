"""The default seccomp filter is made once (as BPF, by libseccomp) and
loaded with one syscall per container start: what it refuses must be what
the rule-by-rule filter refused."""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import sys

import pytest

if not sys.platform.startswith("linux"):
    pytest.skip("seccomp filters are Linux's (jail(8) confines a FreeBSD container)", allow_module_level=True)

from jocker.runtime import linux_security as sec  # noqa: E402
from jocker.runtime.security import DEFAULT_CAPABILITIES  # noqa: E402

if sec.libseccomp() is None or not sec.kernel_has_seccomp():
    pytest.skip("libseccomp2 or kernel seccomp missing", allow_module_level=True)

CLONE_NEWUTS = 0x04000000


def _in_child(fn) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(fn())
        except BaseException:
            os._exit(99)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_program_is_made_once_per_capability_set():
    prog = sec.seccomp_program(list(DEFAULT_CAPABILITIES))
    assert prog and len(prog) % 8 == 0
    assert sec.seccomp_program(list(reversed(DEFAULT_CAPABILITIES))) is prog
    assert sec.seccomp_program(list(DEFAULT_CAPABILITIES) + ["SYS_ADMIN"]) != prog


def test_loaded_program_refuses_what_docker_refuses_and_allows_the_rest():
    prog = sec.seccomp_program(list(DEFAULT_CAPABILITIES))

    def child() -> int:
        libc = ctypes.CDLL(None, use_errno=True)
        sec.set_no_new_privs()
        sec.load_program(prog)
        if libc.unshare(CLONE_NEWUTS) != -1 or ctypes.get_errno() != errno.EPERM:
            return 1                    # unshare is SYS_ADMIN's: refused
        if libc.syscall(250, 0, 0, 0, 0, 0) != -1 or ctypes.get_errno() != errno.EPERM:
            return 2                    # keyctl (x86_64 nr 250): always refused
        if os.getpid() <= 0 or not os.listdir("/"):
            return 3                    # everything else goes on
        with open("/proc/self/status") as f:
            return 0 if "Seccomp:\t2" in f.read() else 4
    if os.uname().machine != "x86_64":
        pytest.skip("the keyctl number used here is x86_64's")
    assert _in_child(child) == 0


def test_prepared_filter_is_what_a_forked_start_inherits():
    sec._PROGRAMS.clear()
    sec.prepare_default_filter(DEFAULT_CAPABILITIES)
    key = tuple(sorted(DEFAULT_CAPABILITIES))
    assert key in sec._PROGRAMS
    conf = sec.Confinement({"privileged": False, "seccomp": "default", "capabilities": list(DEFAULT_CAPABILITIES),
                            "capability_mask": 0, "confine_fs": True})
    assert conf.program is sec._PROGRAMS[key]


PTRACE_ATTACH, PTRACE_SECCOMP_GET_FILTER = 16, 0x420C


def _installed_filter(install) -> bytes:
    """The BPF a child ends up running after install(), read back from the
    kernel (PTRACE_SECCOMP_GET_FILTER: needs CAP_SYS_ADMIN)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    libc.ptrace.restype = ctypes.c_long
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            sec.set_no_new_privs()
            install()
            os.write(w, b"1")
            signal.pause()                  # until read back and killed
        finally:
            os._exit(0)
    os.close(w)
    try:
        if os.read(r, 1) != b"1":
            pytest.fail("the child could not install its filter")
        if libc.ptrace(PTRACE_ATTACH, pid, None, None) != 0:
            pytest.skip(f"cannot ptrace a child here: {os.strerror(ctypes.get_errno())}")
        os.waitpid(pid, 0)
        buf = ctypes.create_string_buffer(8 * 4096)
        n = libc.ptrace(PTRACE_SECCOMP_GET_FILTER, pid, None, ctypes.cast(buf, ctypes.c_void_p))
        if n < 0:
            pytest.skip(f"cannot read a filter back here: {os.strerror(ctypes.get_errno())}")
        return buf.raw[:8 * n]
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(r)


@pytest.mark.parametrize("caps", [list(DEFAULT_CAPABILITIES), list(DEFAULT_CAPABILITIES) + ["SYS_ADMIN"], []],
                         ids=["default", "sys_admin", "none"])
def test_prctl_installs_exactly_what_seccomp_load_installed(caps):
    """Byte for byte, other architectures' checks (x86, x32) included."""
    def by_libseccomp():
        lib, ctx = sec.build_seccomp(caps)
        if lib.seccomp_load(ctx) < 0:
            os._exit(3)
    old = _installed_filter(by_libseccomp)
    new = _installed_filter(lambda: sec.load_program(sec.seccomp_program(caps)))
    assert old and new == old == sec.seccomp_program(caps)
