#!/usr/bin/env python3
"""API server benchmarks (`jocker serve`), each against a peer in the same run:

1. `docker ps -a` through `jocker serve` vs `jocker ps -a`, with 100
   containers (created, not started), and host commands per request.
2. `docker run --rm busybox true` through the API vs `jocker run --rm` vs
   podman (private storage, as bench_containers.py).
3. The server's RSS idle and under 50 concurrent clients (create, start,
   wait, remove).

Prints tables; asserts nothing. Run as root: python3 tests/benchmarks/bench_api.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (PY, Sandbox, check_host, log, peer_rows, print_table,  # noqa: E402
                    time_interleaved, time_once)
from bench_containers import PODMAN_RUN_FLAGS, Podman  # noqa: E402

N_CONTAINERS = 100
PS_RUNS = 10
RUN_RUNS = 10
CLIENTS = 50


def rss_kb(pid: int) -> int:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def trace_path(sb: Sandbox) -> Path:
    return Path(sb.workdir) / "serve-trace.txt"


def start_server(sb: Sandbox, sock: str) -> subprocess.Popen:
    """The server traces its host commands (the runner's JOCKER_TRACE file)."""
    proc = subprocess.Popen([PY, "-m", "jocker", "serve", "--host", f"unix://{sock}", "--group", "root"],
                            env={**sb.env, "JOCKER_TRACE": str(trace_path(sb))},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        if os.path.exists(sock):
            return proc
        time.sleep(0.05)
    proc.kill()
    sys.exit("bench_api: jocker serve did not start")


def docker_env(sock: str, cfg: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_HOST=f"unix://{sock}", DOCKER_CONFIG=cfg)
    return env



def bench_ps(sb: Sandbox, denv: dict) -> None:
    log(f"creating {N_CONTAINERS} containers")
    for i in range(N_CONTAINERS):
        sb.jocker("create", "--name", f"bench{i}", "busybox:latest", "true")
    peers = {"docker ps -a (via jocker serve)": lambda: time_once(["docker", "ps", "-a"], env=denv),
             "jocker ps -a": lambda: time_once(sb.jocker_argv("ps", "-a"), env=sb.env)}
    times = time_interleaved(peers, PS_RUNS, warmup=1)
    print_table(f"`ps -a` with {N_CONTAINERS} containers, median of {PS_RUNS} interleaved runs",
                ["command", "median", "p25 .. p75", "vs jocker ps"], peer_rows(times, "jocker ps -a"))
    lines = lambda p: sum(1 for _ in open(p)) if p.exists() else 0  # noqa: E731
    before = lines(trace_path(sb))
    time_once(["docker", "ps", "-a"], env=denv)
    served = lines(trace_path(sb)) - before
    cli_trace = Path(sb.workdir) / "cli-trace.txt"
    time_once(sb.jocker_argv("ps", "-a"), env={**sb.env, "JOCKER_TRACE": str(cli_trace)})
    print(f"host commands per request: docker ps via serve {served}, jocker ps {lines(cli_trace)}")


def bench_run(sb: Sandbox, denv: dict, podman: Podman) -> None:
    peers = {"docker run --rm (via jocker serve)":
             lambda: time_once(["docker", "run", "--rm", "busybox:latest", "true"], env=denv),
             "jocker run --rm": lambda: time_once(sb.jocker_argv("run", "--rm", "busybox:latest", "true"),
                                                  env=sb.env)}
    log("setting up podman")
    if podman.setup(sb.busybox_rootfs()):
        argv = podman.argv("run", *PODMAN_RUN_FLAGS, podman.image, "true")
        peers["podman run --rm"] = lambda: time_once(argv)
    else:
        print(f"podman: unavailable ({podman.reason})")
    times = time_interleaved(peers, RUN_RUNS, warmup=2)
    print_table(f"`run --rm busybox true`, median of {RUN_RUNS} interleaved runs",
                ["command", "median", "p25 .. p75", "vs jocker run"], peer_rows(times, "jocker run --rm"))


def bench_rss(server: subprocess.Popen, sock: str) -> None:
    import docker
    idle = rss_kb(server.pid)
    peak = [idle]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kb(server.pid))
            time.sleep(0.05)
    errors: list[str] = []

    def client(i: int):
        c = docker.APIClient(base_url=f"unix://{sock}", version="1.44", timeout=600)
        try:
            cid = c.create_container("busybox:latest", ["true"], name=f"rss{i}")["Id"]
            c.start(cid)
            c.wait(cid)
            c.remove_container(cid, force=True)
        except Exception as e:       # counted and reported, never hidden
            errors.append(str(e))
        finally:
            c.close()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - started
    stop.set()
    sampler.join()
    after = rss_kb(server.pid)
    print_table(f"`jocker serve` RSS, {CLIENTS} concurrent clients (create, start, wait, remove)",
                ["state", "RSS"], [["idle (after start-up and the runs above)", f"{idle / 1024:.1f} MB"],
                                   ["peak under load", f"{peak[0] / 1024:.1f} MB"],
                                   ["idle again", f"{after / 1024:.1f} MB"]])
    print(f"{CLIENTS} clients done in {took:.1f} s, {len(errors)} errors"
          + (f" (first: {errors[0]})" if errors else ""))


def main() -> None:
    check_host()
    if not shutil.which("docker"):
        sys.exit("bench_api: the docker CLI is missing (apt-get install docker.io)")
    podman = Podman()
    cfg = tempfile.mkdtemp(prefix="jocker-bench-dockercfg-")
    server = None
    try:
        with Sandbox("api") as sb:
            sb.import_busybox()
            sock = str(Path(sb.workdir) / "api.sock")
            server = start_server(sb, sock)
            denv = docker_env(sock, cfg)
            bench_run(sb, denv, podman)
            bench_rss(server, sock)
            bench_ps(sb, denv)
            server.terminate()
            server.wait(10)
    finally:
        if server and server.poll() is None:
            server.kill()
        podman.cleanup()
        shutil.rmtree(cfg, ignore_errors=True)


if __name__ == "__main__":
    main()
