"""Run one process inside a jail: jail_attach, credentials, directory, exec.

This is what jexec(8) does, done by jocker so the result is Docker's:
- the user was resolved once from the image's /etc/passwd and /etc/group
  (containers/identity.py); jexec -U would look it up again in the jail's
  pwd.db through getpwnam (usr.sbin/jexec/jexec.c, lib/libc/gen/getpwent.c),
  so an image that edits /etc/passwd without pwd_mkdb, or a bare uid with no
  entry, fails there;
- jexec exits 1 for its own failures (no such user, chdir, execvp
  ENOENT/EACCES: jexec.c `err(1, ...)`), so `run img nosuchcmd` gave 1.
  Here the command is looked up on the container's PATH after the attach
  (jail_attach(2) chroots into the jail, so the lookup sees the container's
  files and symlinks resolve inside it) and a missing command exits 127, one
  that cannot be executed 126, like Docker and the Linux runtime.

steps() is the pure plan of the child; execute() carries it out through a
layer of system calls (Libc here, a recording layer in the tests). The
supervisor runs it in its forked child (no interpreter start); `jocker exec`
runs this file as a script: `python3 -S jail_exec.py PLAN_JSON`. Standalone:
stdlib only, no jocker imports.
"""

import errno
import os
import sys

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def make_plan(jid: int, identity, workdir: str, argv: list, env: dict) -> dict:
    """The JSON-able description of one process (identity from identity.resolve)."""
    return {"jid": int(jid), "uid": identity.uid, "gid": identity.gid,
            "groups": list(identity.groups), "workdir": workdir or "/",
            "argv": list(argv), "env": dict(env)}


def steps(plan: dict) -> list:
    """What the child does, in order. Root creates a missing working
    directory before dropping privileges (Docker creates it owned by root);
    groups go before gid before uid (setuid last, or the others fail)."""
    workdir = plan["workdir"] or "/"
    out = [("jail_attach", plan["jid"]), ("chdir", "/")]
    if workdir != "/":
        out.append(("mkdir_p", workdir))
    out += [("setgroups", list(plan["groups"])), ("setgid", plan["gid"]),
            ("setuid", plan["uid"]), ("chdir", workdir),
            ("exec", list(plan["argv"]), dict(plan["env"]))]
    return out


class ExecFailed(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class Libc:
    """The real calls (FreeBSD). jail_attach(2) through ctypes."""

    def jail_attach(self, jid: int) -> None:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if not hasattr(libc, "jail_attach"):
            raise OSError(errno.ENOSYS, "jail_attach(2) exists only on FreeBSD")
        if libc.jail_attach(int(jid)) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))

    chdir = staticmethod(os.chdir)
    setgroups = staticmethod(os.setgroups)
    setgid = staticmethod(os.setgid)
    setuid = staticmethod(os.setuid)

    def mkdir_p(self, path: str) -> None:
        os.makedirs(path, 0o755, exist_ok=True)

    def is_file(self, path: str) -> bool:
        return os.path.isfile(path)

    def can_exec(self, path: str) -> bool:
        return os.access(path, os.X_OK)

    def execve(self, path: str, argv: list, env: dict) -> None:
        os.execve(path, argv, env)


def find_executable(name: str, path: str, layer) -> str:
    """execvp's search (a name with a slash is used as it is)."""
    if "/" in name:
        return name
    denied = False
    for d in path.split(":"):
        candidate = (d or ".").rstrip("/") + "/" + name
        if layer.is_file(candidate):
            if layer.can_exec(candidate):
                return candidate
            denied = True
    if denied:
        raise ExecFailed(126, f'exec: "{name}": permission denied')
    raise ExecFailed(127, f'exec: "{name}": executable file not found in $PATH')


def execute(plan_steps: list, layer) -> None:
    """Carry out steps(); raises ExecFailed(code, message) instead of returning."""
    for step in plan_steps:
        op, args = step[0], step[1:]
        try:
            if op == "exec":
                argv, env = args
                if not argv:
                    raise ExecFailed(125, "no command specified")
                path = find_executable(argv[0], env.get("PATH", DEFAULT_PATH), layer)
                layer.execve(path, argv, env)
                raise ExecFailed(127, f'exec: "{argv[0]}": returned')
            getattr(layer, op)(*args)
        except ExecFailed:
            raise
        except OSError as e:
            raise _failure(op, args, e) from None


def _failure(op: str, args: tuple, e: OSError) -> ExecFailed:
    if op == "exec":
        name = args[0][0]
        code = 127 if e.errno == errno.ENOENT else 126
        return ExecFailed(code, f'exec: "{name}": {e.strerror}')
    if op in ("chdir", "mkdir_p") and args[0] != "/":
        return ExecFailed(126, f"cannot change to working directory {args[0]}: {e.strerror}")
    return ExecFailed(125, f"{op}{tuple(args)!r}: {e.strerror}")


def run(plan: dict, layer=None) -> int:
    """In the child: never returns on success (exec); otherwise one line on
    stderr and the exit code."""
    try:
        execute(steps(plan), layer or Libc())
    except ExecFailed as e:
        os.write(2, f"jocker: {e}\n".encode())
        return e.code
    return 125


class InJail:
    """ProcessCommand.in_child: run(plan) in the supervisor's forked child."""

    __slots__ = ("plan",)

    def __init__(self, plan: dict):
        self.plan = plan

    def __call__(self) -> int:
        return run(self.plan)


def main() -> None:
    import json
    sys.stdout.flush()
    os._exit(run(json.loads(sys.argv[1])))


if __name__ == "__main__":
    main()
