"""EngineLock is correct across threads and processes: re-entrant per thread
(through any instance on the same path), exclusive between threads and
between processes."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time

from jocker.atomic import write_json
from jocker.lock import EngineLock


def test_threads_sharing_one_lock_exclude_each_other(tmp_path):
    lock = EngineLock(str(tmp_path / "engine.lock"))
    inside, peak, rounds = [0], [0], 40
    guard = threading.Lock()

    def worker():
        for _ in range(rounds):
            with lock.held():
                with guard:
                    inside[0] += 1
                    peak[0] = max(peak[0], inside[0])
                time.sleep(0.0005)
                with guard:
                    inside[0] -= 1
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 1 and inside[0] == 0


def test_reentrant_per_thread_across_instances(tmp_path):
    path = str(tmp_path / "engine.lock")
    a, b = EngineLock(path), EngineLock(path)
    other_got_it = threading.Event()

    def other():
        with b.held():
            other_got_it.set()
    with a.held():
        with b.held():                       # same thread, another instance: re-enters
            assert a.owned() and b.owned()
            t = threading.Thread(target=other)
            t.start()
            assert not other_got_it.wait(0.2)     # another thread waits...
        assert not other_got_it.wait(0.1)         # ...until the outermost hold ends
    t.join(5)
    assert other_got_it.is_set() and not a.owned()


def test_excludes_other_processes(tmp_path):
    path = str(tmp_path / "engine.lock")
    probe = ("import fcntl, os, sys\n"
             "fd = os.open(sys.argv[1], os.O_RDWR)\n"
             "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n    print('free')\n"
             "except BlockingIOError:\n    print('held')\n")
    lock = EngineLock(path)
    with lock.held():
        with lock.held():
            out = subprocess.run([sys.executable, "-c", probe, path], capture_output=True, text=True)
            assert out.stdout.strip() == "held"
    out = subprocess.run([sys.executable, "-c", probe, path], capture_output=True, text=True)
    assert out.stdout.strip() == "free"


def test_waits_for_another_process(tmp_path):
    path = str(tmp_path / "engine.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    got = threading.Event()

    def take():
        with EngineLock(path).held():
            got.set()
    t = threading.Thread(target=take)
    t.start()
    assert not got.wait(0.2)
    os.close(fd)                 # the "other process" lets go
    t.join(5)
    assert got.is_set()


def test_atomic_json_from_threads(tmp_path):
    path = str(tmp_path / "state.json")

    def writer(n):
        for i in range(50):
            write_json(path, {"writer": n, "i": i, "pad": "x" * 4096})
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    import json
    assert json.load(open(path))["i"] == 49
    assert os.listdir(tmp_path) == ["state.json"]          # no temporary file left behind


def test_attach_connect_to_a_deep_socket_keeps_the_cwd(tmp_path):
    """Run directories can be deeper than sun_path allows; connecting must
    not change the working directory threads share."""
    from jocker.containers.attach import connect
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    sock = deep / "attach.sock"
    assert len(str(sock)) > 110
    server = subprocess.Popen(
        [sys.executable, "-c",
         "import os, socket, sys\n"
         "os.chdir(sys.argv[1]); s = socket.socket(socket.AF_UNIX); s.bind('attach.sock'); s.listen(8)\n"
         "print('ready', flush=True)\n"
         "for _ in range(4):\n    c, _ = s.accept(); c.sendall(b'hi'); c.close()\n",
         str(deep)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready"
        cwd = os.getcwd()
        got = []

        def one():
            s = connect(str(sock))
            got.append(s.recv(2))
            s.close()
        threads = [threading.Thread(target=one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert got == [b"hi"] * 4 and os.getcwd() == cwd
    finally:
        server.wait(10)
    try:
        connect(str(deep / "missing.sock"))
    except OSError as e:
        assert "cannot connect" in str(e)
    else:
        raise AssertionError("connecting to a missing socket must fail")
