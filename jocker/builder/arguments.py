"""How each instruction reads its arguments: flags, exec form (JSON
arrays as Docker's decoder takes them) or shell form, and the checks Docker
makes at parse time. `parse_instruction` is the entry point (ONBUILD
triggers come back through it)."""

from __future__ import annotations

import json
import re

from .instruction import INSTRUCTIONS, DockerfileError, Instruction, call_at
from .substitute import extract_flags, split_fields, split_key_values, split_words

# Flags each instruction accepts; True marks a boolean flag (`--link`, `--link=false`).
_FLAGS: dict[str, dict[str, bool]] = {
    "FROM": {"platform": False},
    "COPY": {"from": False, "chown": False, "chmod": False, "link": True},
    "ADD": {"chown": False, "chmod": False, "link": True},
    "HEALTHCHECK": {name: False for name in
                    ("interval", "timeout", "start-period", "start-interval", "retries")},
}
_BUILDKIT_ONLY_RUN_FLAGS = ("mount", "network", "security", "device")
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")
BLANKS = re.compile(r"[\t\v\f\r ]+")


def parse_instruction(line: str, filename: str = "Dockerfile", lineno: int = 1,
                      end_lineno: int | None = None, escape: str = "\\") -> Instruction:
    """Parse one (already joined) instruction line; also used for ONBUILD triggers."""
    original = line.strip()
    keyword, _, rest = BLANKS.sub(" ", original, count=1).partition(" ")
    cmd = keyword.upper()
    if cmd not in INSTRUCTIONS:
        raise DockerfileError(filename, lineno, f"unknown instruction: {keyword}")
    rest, flag_words = extract_flags(rest, escape)
    instr = Instruction(cmd, [], original=original, lineno=lineno, end_lineno=end_lineno or lineno,
                        filename=filename, escape=escape)
    instr.flags = _parse_flags(instr, flag_words)
    _PARSERS[cmd](instr, rest.strip())
    return instr


def _parse_flags(instr: Instruction, words: list[str]) -> dict[str, str]:
    allowed = _FLAGS.get(instr.cmd, {})
    flags: dict[str, str] = {}
    for word in words:
        name, has_value, value = word[2:].partition("=")
        if name not in allowed:
            hint = " (RUN flags need BuildKit, which jocker does not provide)" \
                if instr.cmd == "RUN" and name in _BUILDKIT_ONLY_RUN_FLAGS else ""
            raise instr.error(f"unknown flag: --{name}{hint}")
        if name in flags:
            raise instr.error(f"duplicate flag specified: --{name}")
        # Booleans may omit the value (`--link`); strings need one, even empty (`--from=`).
        if (has_value and not value) if allowed[name] else not has_value:
            raise instr.error(f"missing a value on flag: --{name}")
        if allowed[name]:
            value = value.lower() or "true"
            if value not in ("true", "false"):
                raise instr.error(f"expecting boolean value for flag --{name}, not: {value}")
        flags[name] = value
    return flags


# ------------------------------------------------------------- per-instruction parsers

def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")     # Go's decoder knows no NaN/Infinity


_JSON = json.JSONDecoder(parse_constant=_no_constant, parse_int=lambda s: 0, parse_float=lambda s: 0)


def exec_form(rest: str) -> list[str] | None:
    """The exec-form array, or None when `rest` is not a JSON array (shell form).

    As Docker: only a whole-line JSON array counts (text after the `]`
    makes it shell form); an array holding anything but strings is an error
    (ValueError) rather than shell form; NaN/Infinity are not JSON.
    """
    if not rest.startswith("["):
        return None
    try:
        value, end = _JSON.raw_decode(rest)
    except (ValueError, RecursionError):
        # RecursionError: nesting deeper than Python's stack (Go's limit is
        # 10000). Such input is shell form here, an error in Docker when
        # every bracket is closed.
        return None
    if rest[end:].strip():
        return None
    if not all(isinstance(item, str) for item in value):
        raise ValueError("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _json_array(instr: Instruction, rest: str) -> list[str] | None:
    return call_at(instr, exec_form, rest)


def _exec_or_shell(instr: Instruction, rest: str, split: bool = False) -> None:
    """JSON array (exec form), else the text as one shell command (or blank-split words)."""
    array = _json_array(instr, rest)
    instr.json_form = array is not None
    if array is None:
        array = split_fields(rest) if split else [rest] if rest else []
    instr.args = array


def _p_run(instr: Instruction, rest: str) -> None:
    _exec_or_shell(instr, rest)
    if not instr.args:  # Docker would run `/bin/sh -c` with nothing; refuse early
        raise instr.error("requires at least one argument")


def _p_shell(instr: Instruction, rest: str) -> None:
    _exec_or_shell(instr, rest)
    if not instr.args:
        raise instr.error("requires at least one argument")
    if not instr.json_form:
        raise instr.error('requires the arguments to be in JSON form, e.g. SHELL ["/bin/sh", "-c"]')


def _p_from(instr: Instruction, rest: str) -> None:
    instr.args = split_fields(rest)
    if len(instr.args) == 3 and instr.args[1].lower() == "as":
        if not _STAGE_NAME.match(instr.args[2].lower()):
            raise instr.error(f"invalid name for build stage: {instr.args[2]!r}, "
                              "name can't start with a number or contain symbols")
    elif len(instr.args) != 1:
        raise instr.error("requires either one or three arguments (FROM image [AS name])")


def _p_key_values(instr: Instruction, rest: str) -> None:
    pairs = call_at(instr, split_key_values, rest, instr.escape)
    instr.args = [part for pair in pairs for part in pair]


def _p_arg(instr: Instruction, rest: str) -> None:
    instr.args = split_words(rest, instr.escape)
    if not instr.args:
        raise instr.error("requires at least one argument")
    if any(word.startswith("=") for word in instr.args):
        raise instr.error("names can not be blank")


def _p_one(instr: Instruction, rest: str) -> None:
    if not rest:
        raise instr.error("requires exactly one argument")
    instr.args = [rest]


def _p_expose(instr: Instruction, rest: str) -> None:
    instr.args = split_fields(rest)
    if not instr.args:
        raise instr.error("requires at least one argument")


def _p_volume(instr: Instruction, rest: str) -> None:
    _exec_or_shell(instr, rest, split=True)
    if not instr.args:
        raise instr.error("requires at least one argument")
    instr.args = [arg.strip() for arg in instr.args]
    if not all(instr.args):
        raise instr.error("VOLUME specified can not be an empty string")


def _p_copy(instr: Instruction, rest: str) -> None:
    _exec_or_shell(instr, rest, split=True)
    if len(instr.args) < 2:
        raise instr.error("requires at least two arguments (sources and a destination)")


def _p_healthcheck(instr: Instruction, rest: str) -> None:
    if not rest:
        raise instr.error("requires at least one argument")
    kind, _, command = BLANKS.sub(" ", rest, count=1).partition(" ")
    kind = kind.upper()
    if kind == "NONE":
        if command:     # flags are accepted and ignored, as Docker does
            raise instr.error("HEALTHCHECK NONE takes no arguments")
        instr.args = ["NONE"]
        return
    if kind != "CMD":
        raise instr.error(f'unknown type "{kind}" in HEALTHCHECK (try CMD)')
    _exec_or_shell(instr, command.strip())
    if not instr.args:
        raise instr.error("missing command after HEALTHCHECK CMD")
    instr.args = ["CMD", *instr.args]
    instr.healthcheck()  # check durations and retries now, so the error names this line


def _p_onbuild(instr: Instruction, rest: str) -> None:
    if not rest:
        raise instr.error("requires at least one argument")
    inner = split_fields(rest)[0].upper()
    if inner == "ONBUILD":
        raise instr.error("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if inner in ("FROM", "MAINTAINER"):
        raise instr.error(f"{inner} isn't allowed as an ONBUILD trigger")
    instr.trigger = parse_instruction(rest, instr.filename, instr.lineno, instr.end_lineno, instr.escape)
    # What Docker stores in the image's OnBuild list: the line minus "ONBUILD".
    instr.args = [re.sub(r"(?i)^\s*ONBUILD\s*", "", instr.original)]


_PARSERS = {
    "RUN": _p_run, "CMD": _exec_or_shell, "ENTRYPOINT": _exec_or_shell, "SHELL": _p_shell,
    "FROM": _p_from, "ENV": _p_key_values, "LABEL": _p_key_values, "ARG": _p_arg,
    "MAINTAINER": _p_one, "WORKDIR": _p_one, "USER": _p_one, "STOPSIGNAL": _p_one,
    "EXPOSE": _p_expose, "VOLUME": _p_volume, "COPY": _p_copy, "ADD": _p_copy,
    "HEALTHCHECK": _p_healthcheck, "ONBUILD": _p_onbuild,
}
