"""`commit -c` / `import -c`: Dockerfile instructions applied to an image's
container config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR,
STOPSIGNAL), parsed with the Dockerfile parser."""

from __future__ import annotations

import copy

from ..errors import JockerError, UsageError

ALLOWED = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "USER", "VOLUME", "WORKDIR", "STOPSIGNAL")


def parse_changes(lines: list[str], base: dict | None = None) -> dict:
    """The container config after applying each line to base (not modified)."""
    from ..builder.dockerfile import expand, parse_instruction
    cfg = copy.deepcopy(base or {})
    for i, line in enumerate(lines, 1):
        try:
            instr = parse_instruction(line, "--change", i)
        except JockerError as e:        # a bad flag value: 125, not a build's 1
            raise UsageError(str(e)) from None
        if instr.cmd not in ALLOWED:
            raise UsageError(f"--change: {instr.cmd} is not allowed; use one of {', '.join(ALLOWED)}")
        env = dict(e.split("=", 1) for e in cfg.get("Env") or [] if "=" in e)
        instr = expand(instr, env)
        if instr.cmd in ("CMD", "ENTRYPOINT"):
            cfg["Cmd" if instr.cmd == "CMD" else "Entrypoint"] = instr.command()
        elif instr.cmd == "ENV":
            for k, v in instr.pairs:
                env[k] = v or ""
            cfg["Env"] = [f"{k}={v}" for k, v in env.items()]
        elif instr.cmd == "LABEL":
            cfg.setdefault("Labels", {}).update({k: v or "" for k, v in instr.pairs})
        elif instr.cmd == "EXPOSE":
            cfg.setdefault("ExposedPorts", {}).update({p: {} for p in instr.args})
        elif instr.cmd == "VOLUME":
            cfg.setdefault("Volumes", {}).update({v: {} for v in instr.args})
        elif instr.cmd == "USER":
            cfg["User"] = instr.args[0]
        elif instr.cmd == "WORKDIR":
            cfg["WorkingDir"] = instr.args[0]
        elif instr.cmd == "STOPSIGNAL":
            cfg["StopSignal"] = instr.args[0]
    return cfg
