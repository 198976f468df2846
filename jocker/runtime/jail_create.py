"""Create a container's jail in a short-lived process of its own.

Rendering jail.conf needs jinja2 (and the plan's dataclasses), several
megabytes the per-container supervisor should not carry for the container's
whole life. So on FreeBSD the supervisor runs this helper through the runner
for every (re)start: `python3 -c 'from jocker.runtime.jail_create import main;
main()' JOB.json`. Exit status 0, or the error's own exit code with its one
line on stderr.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    from ..errors import JockerError, start_status
    from ..host.runner import Runner
    from .freebsd_jail import JailDriver
    from .jail_plan import JailConfig
    from .spec import from_dict
    from ..containers.job import Job
    job = Job.load(sys.argv[1])
    cfg = JailConfig(job.devfs_ruleset, state_dir=os.path.dirname(job.rundir.rstrip("/")))
    try:
        JailDriver(Runner(), cfg).create(from_dict(job.spec))
    except JockerError as e:
        sys.stderr.write(f"{e}\n")
        sys.exit(start_status(e))


if __name__ == "__main__":
    main()
