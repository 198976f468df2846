"""Every file under a container's run directory, `<rundir>/<id>/`, and the
engine's own files at the top of `<rundir>`, named once. Volatile state
only: after a reboot the directory is gone, and so is everything it says. Small on purpose: the supervisor and nsinit import it.

Who writes what:
    supervisor   SUPERVISOR_JSON (pid, main pid, status), SUPERVISOR_LOCK
                 (held for its life), SUPERVISOR_ERR (its stderr), ATTACH_SOCK
                 (attach and control connections), HEALTH_JSON (State.Health;
                 kept after the run, as Docker keeps the last health)
    engine       JOB_JSON (the supervisor's typed job), START_LOCK
    fork-server  FORKSERVER_SOCK, FORKSERVER_LOCK (at the top of <rundir>:
                 containers/forkserver.py)
    warm CLI     WARM_CLI_SOCK, WARM_CLI_LOCK (its pid in it: warm/server.py)
    runtime      SPEC_JSON, INIT_PID (Linux namespaces); JAIL_CONF, FSTAB,
                 DEVFS_RULESET, JAIL_PROCESS, RCTL_RULES (FreeBSD jails)

At the top of the run directory, shared by all (Layout.events_path):
    everyone     EVENTS_JOURNAL (jocker/events/journal.py: every process
                 appends, `events` readers tail it)
"""

from __future__ import annotations

import os

SUPERVISOR_JSON = "supervisor.json"
SUPERVISOR_LOCK = "supervisor.lock"
SUPERVISOR_ERR = "supervisor.err"
ATTACH_SOCK = "attach.sock"
HEALTH_JSON = "health.json"
PAUSED = "paused"
JOB_JSON = "job.json"
START_LOCK = "start.lock"
SPEC_JSON = "spec.json"
INIT_PID = "init.pid"
JAIL_CONF = "jail.conf"
FSTAB = "fstab"
DEVFS_RULESET = "devfs_ruleset"
JAIL_PROCESS = "process.json"
RCTL_RULES = "rctl"
FORKSERVER_SOCK = "forkserver.sock"
FORKSERVER_LOCK = "forkserver.lock"
WARM_CLI_SOCK = "warmcli.sock"
WARM_CLI_LOCK = "warmcli.lock"
EVENTS_JOURNAL = "events.jsonl"      # <rundir>/events.jsonl, not per container

# What a supervisor leaves behind only while it runs (removed when it ends,
# or by the cleanup after it was killed).
WHILE_RUNNING = (SUPERVISOR_JSON, ATTACH_SOCK, PAUSED)


def path(rundir: str, name: str) -> str:
    return os.path.join(rundir, name)


def remove_running_files(rundir: str) -> None:
    for name in WHILE_RUNNING:
        try:
            os.unlink(os.path.join(rundir, name))
        except FileNotFoundError:
            pass


# Run-to-completion (build step) containers live beside the per-container
# directories as `oneshot-<pid>-<id12>`: the pid says whose they are, so the
# next build removes what a killed one left (containers/oneshot.py).
ONESHOT_PREFIX = "oneshot"
ONESHOT_NET = "net.json"


def oneshot_dir_name(pid: int, cid: str) -> str:
    return f"{ONESHOT_PREFIX}-{pid}-{cid[:12]}"


def oneshot_owner(name: str) -> int | None:
    """The pid in a oneshot directory's name (also the older `build-` spelling),
    or None when the name is not one."""
    parts = name.split("-")
    if len(parts) == 3 and parts[0] in (ONESHOT_PREFIX, "build") and parts[1].isdigit():
        return int(parts[1])
    return None
