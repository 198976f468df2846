"""Test harness: a real ZFS pool in a file (zfs-fuse on Linux), a busybox base
image imported with `jocker import`, and a leak check that fails any test that
leaves datasets or mounts behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jocker import config as config_mod  # noqa: E402
from jocker.engine import Engine  # noqa: E402
from jocker.host.runner import Runner  # noqa: E402

# Shared with test modules, which import them from `support` (a module name
# that, unlike `conftest`, is unique across the test tree).
from support import IS_FREEBSD, NET_PREFIX, JockerCLI, net_objects  # noqa: E402,F401


def _zfs_available() -> str | None:
    """None when ZFS can be used, else the reason to skip."""
    if os.geteuid() != 0:
        return "ZFS tests need root (zpool create on a file)"
    if not shutil.which("zpool"):
        return "ZFS tests need zpool/zfs (apt-get install zfs-fuse; .ci/run does)"
    if not IS_FREEBSD and not os.path.exists("/dev/fuse"):
        return "zfs-fuse needs /dev/fuse"
    return None


def _destroy_stale_pools(runner) -> None:
    """Pools of earlier test sessions that were killed before their teardown
    (named jt<pid>, the pid now dead): destroy them and their backing files."""
    res = runner.run(["zpool", "list", "-H", "-o", "name"], check=False)
    for name in res.stdout.split():
        if not (name.startswith("jt") and name[2:].isdigit()):
            continue
        pid = int(name[2:])
        try:
            os.kill(pid, 0)
            continue                    # that session is still running
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        status = runner.run(["zpool", "status", name], check=False).stdout
        runner.run(["zpool", "destroy", "-f", name], check=False, retry_busy=True)
        for word in status.split():
            if word.startswith("/var/tmp/jocker-tests-") and word.endswith("/pool.img"):
                shutil.rmtree(os.path.dirname(word), ignore_errors=True)


@pytest.fixture(scope="session")
def zfs_pool():
    reason = _zfs_available()
    if reason:
        pytest.skip(reason)
    runner = Runner()
    if not IS_FREEBSD:
        from jocker.storage import zfsfuse
        zfsfuse.ensure_running(runner)
    _destroy_stale_pools(runner)
    _remove_stale_net_objects()
    workdir = Path(tempfile.mkdtemp(prefix="jocker-tests-", dir="/var/tmp"))
    img = workdir / "pool.img"
    with open(img, "wb") as f:
        f.truncate(4 << 30)
    pool = f"jt{os.getpid()}"
    runner.run(["zpool", "create", "-m", "none", pool, str(img)])
    yield {"pool": pool, "workdir": workdir}
    _stop_leftover_processes(str(workdir))
    _remove_net_objects()           # the session's bridges and their nft tables
    for _ in range(10):          # a dying namespace can keep a mount busy briefly
        if runner.run(["zpool", "destroy", "-f", pool], check=False, retry_busy=True).returncode == 0:
            break
        time.sleep(0.5)
    else:
        print(f"\nwarning: could not destroy test pool {pool}; the next session will", file=sys.stderr)
    shutil.rmtree(workdir, ignore_errors=True)


def _stop_leftover_processes(workdir: str) -> None:
    """Supervisors (and their containers) still running from this session."""
    if IS_FREEBSD:
        return
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
        except OSError:
            continue
        if workdir in cmdline and "jocker" in cmdline:
            try:
                os.kill(int(pid), 9)
            except ProcessLookupError:
                pass


def _remove_stale_net_objects() -> None:
    """Network objects of earlier test sessions that were killed before their
    teardown: their bridges are named t<base36 pid>br<n>; the pid now dead."""
    import re
    bridges = {m.group(1) for n in net_objects("t").get("links", ())
               if (m := re.match(r"^t([0-9a-z]{1,4})br\d+$", n))}
    for tag in bridges:
        prefix = "t" + tag
        if prefix == NET_PREFIX:
            continue
        # NET_PREFIX is the pid modulo 36**4: any live pid with that rest may be its session
        if any(int(p) % 36 ** 4 == int(tag, 36) for p in os.listdir("/proc") if p.isdigit()):
            continue
        _remove_net_objects(prefix)


def _remove_net_objects(prefix: str = NET_PREFIX) -> None:
    objs = net_objects(prefix)
    for t in objs.get("nft", ()):
        subprocess.run(["nft", "delete", "table", "ip", t], capture_output=True)
    for n in objs.get("netns", ()):
        subprocess.run(["ip", "netns", "del", n], capture_output=True)
    for link in objs.get("links", ()):
        subprocess.run(["ip", "link", "del", "dev", link], capture_output=True)


@pytest.fixture(scope="session")
def jocker_env(zfs_pool):
    """Environment variables pointing jocker at the throwaway pool."""
    work = zfs_pool["workdir"]
    conf = work / "jocker.conf"
    conf.write_text("# test configuration: everything comes from the environment\n")
    env = dict(os.environ)
    env.update({
        "JOCKER_CONFIG": str(conf),
        "JOCKER_DATASET": f"{zfs_pool['pool']}/jocker",
        "JOCKER_MOUNTPOINT": str(work / "mnt"),
        "JOCKER_RUNDIR": str(work / "run"),
        "PYTHONPATH": str(REPO),
        # Host network objects (bridges, veths, netns, nft tables) carry this
        # session's prefix, and its subnets come from a pool of its own.
        "JOCKER_NETWORK_PREFIX": NET_PREFIX,
        "JOCKER_NETWORK_POOL": f"10.{100 + os.getpid() % 150}.0.0/16",
        "JOCKER_NETWORK_SIZE": "24",
        # No warm CLI server (jocker/warm/) unless a test asks for one
        # (tests/integration/test_warm_cli.py): which path a command takes
        # would otherwise depend on when an earlier test's server came up.
        "JOCKER_WARM_CLI_IDLE": "0",
    })
    env.pop("JOCKER_TRACE", None)
    # Create the root and its skeleton now, so the leak check's baseline has them.
    subprocess.run([sys.executable, "-m", "jocker", "system", "init"], env=env, check=True,
                   capture_output=True)
    # ...and the default network (its dataset and bridge live for the session).
    subprocess.run([sys.executable, "-m", "jocker", "network", "ls"], env=env, check=True,
                   capture_output=True)
    return env


@pytest.fixture(scope="session")
def engine_config(jocker_env):
    return config_mod.load(environ=jocker_env)


@pytest.fixture
def engine(engine_config):
    return Engine(engine_config, Runner())


@pytest.fixture(scope="session")
def jocker(jocker_env):
    return JockerCLI(jocker_env)


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory):
    """A tiny base rootfs: static busybox on Linux; on FreeBSD (the jail tier of
    the same end-to-end tests) the statically linked tools of /rescue."""
    dest = tmp_path_factory.mktemp("bbroot") / "rootfs"
    if IS_FREEBSD:
        subprocess.run(["sh", str(REPO / "examples/make-rescue-rootfs.sh"), str(dest)], check=True)
        return dest
    if not (shutil.which("busybox") or os.path.exists("/bin/busybox")):
        pytest.skip("needs busybox-static (apt-get install busybox-static)")
    subprocess.run(["sh", str(REPO / "examples/make-busybox-rootfs.sh"), str(dest)], check=True)
    return dest


@pytest.fixture(scope="session")
def busybox_image(jocker, busybox_rootfs):
    """`busybox:latest`, imported once per session with the real CLI."""
    jocker("import", busybox_rootfs, "busybox:latest")
    return "busybox:latest"


def _snapshot_state(env) -> tuple[set[str], set[str]]:
    root = env["JOCKER_DATASET"]
    out = subprocess.run(["zfs", "list", "-H", "-r", "-t", "all", "-o", "name", root],
                         capture_output=True, text=True)
    datasets = set(out.stdout.split()) if out.returncode == 0 else set()
    mnt = env["JOCKER_MOUNTPOINT"]
    with open("/proc/self/mounts" if not IS_FREEBSD else os.devnull) as f:
        mounts = {line.split()[1] for line in f if line.split()[1].startswith(mnt)}
    return datasets, mounts


@pytest.fixture(autouse=True)
def leak_check(request):
    """Fail a test that leaves datasets or mounts behind under the test root."""
    if "jocker_env" not in request.fixturenames:
        yield
        return
    env = request.getfixturevalue("jocker_env")
    before = _snapshot_state(env)
    net_before = net_objects()
    yield
    after = _snapshot_state(env)
    leaked_ds = sorted(after[0] - before[0])
    leaked_mounts = sorted(after[1] - before[1])
    if leaked_ds or leaked_mounts:
        pytest.fail(f"test leaked datasets {leaked_ds} and mounts {leaked_mounts}", pytrace=False)
    # Bridges (and their tables) belong to networks, which may outlive a
    # test (the default one does); per-container objects must not.
    net_after = net_objects()
    bridge = NET_PREFIX + "br"
    leaked_net = {k: sorted(n for n in v - net_before.get(k, set()) if not n.startswith(bridge))
                  for k, v in net_after.items()}
    if any(leaked_net.values()):
        pytest.fail(f"test leaked network objects {leaked_net}", pytrace=False)


def _wait_for(cond, timeout=15.0):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def wait_for():
    """wait_for(condition, timeout=15): poll until true; False on timeout."""
    return _wait_for


@pytest.fixture
def own_images(jocker, busybox_image):
    """Remove every image the test made (tagged, cached or dangling)."""
    def ids():
        return set(jocker("images", "-a", "-q", "--no-trunc").stdout.split())
    before = ids()
    yield
    for iid in sorted(ids() - before, reverse=True):
        jocker("rmi", "-f", iid, check=False)
    for iid in sorted(ids() - before):
        jocker("rmi", "-f", iid, check=False)


@pytest.fixture
def pty_run(jocker):
    """pty_run(*args): `jocker ARGS` on a real terminal; (exit code, output bytes)."""
    import pty

    def run(*args):
        pid, fd = pty.fork()
        if pid == 0:
            os.environ.update(jocker.env)
            os.execvp(sys.executable, [sys.executable, "-m", "jocker", *map(str, args)])
        out = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), out
    return run


def _removed_after(jocker, *argv):
    """A list the test fills; each entry gets `jocker *argv ENTRY` afterwards."""
    names: list[str] = []
    yield names
    for n in names:
        jocker(*argv, n, check=False)


@pytest.fixture
def cleanup(jocker):
    """Container names to `rm -fv` after the test, whatever happened."""
    yield from _removed_after(jocker, "rm", "-fv")


@pytest.fixture
def images(jocker):
    """Image references to `rmi -f` after the test (then dangling ones pruned)."""
    yield from _removed_after(jocker, "rmi", "-f")
    jocker("image", "prune", "-f", check=False)


@pytest.fixture
def zfs_names(jocker_env):
    """zfs_names(): every dataset and snapshot under the test root, as a set."""
    def names() -> set[str]:
        out = subprocess.run(["zfs", "list", "-H", "-r", "-t", "all", "-o", "name",
                              jocker_env["JOCKER_DATASET"]], capture_output=True, text=True, check=True)
        return set(out.stdout.split())
    return names


@pytest.fixture
def http_root(tmp_path):
    """(directory, base URL) of a throwaway HTTP server on 127.0.0.1."""
    import functools
    import http.server
    import threading
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
