"""Dockerfile parser with Docker's classic-builder semantics (pure, no I/O).

`parse(text)` turns a Dockerfile into stages of `Instruction`s, keeping each
instruction's first line number and its text as written (for `Step N/M : ...`).
Arguments stay raw: Docker substitutes variables while building, with the env
that ENV/ARG have accumulated so far, so the build engine calls
`expand(instruction, env)` just before executing each step. Only FROM lines
are substituted here, with the global ARGs (those before the first FROM).

Every error is a `DockerfileError` whose message starts with `file:line:`.
"""

from __future__ import annotations

import dataclasses
import re

from . import heredoc as H
from ..signals import is_signal
from .arguments import BLANKS, exec_form, parse_instruction  # noqa: F401 (part of this API)
from .instruction import (INSTRUCTIONS, Dockerfile, DockerfileError, Instruction,  # noqa: F401
                          Stage, call_at, count_steps, is_url)
from .substitute import substitute, substitute_words
from .values import parse_duration, parse_port_spec  # noqa: F401 (part of this API)

# What Docker substitutes at build time (FROM is done at parse time, with global ARGs).
EXPANDED = frozenset({"ADD", "ARG", "COPY", "ENV", "EXPOSE", "LABEL", "STOPSIGNAL",
                      "USER", "VOLUME", "WORKDIR"})


_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=(.*)$")   # linear: no lazy group before \s*$
MAX_LINE = 65535        # Go's bufio.Scanner token limit, less the newline
_KNOWN_DIRECTIVES = ("escape", "syntax", "check")
_CHMOD = re.compile(r"^[0-7]{1,4}$")


# --------------------------------------------------------------------------- parse

def parse(text: str, filename: str = "Dockerfile", build_args: dict[str, str] | None = None) -> Dockerfile:
    """Parse a Dockerfile; `build_args` (`--build-arg`) override global ARG defaults."""
    lines = _physical_lines(text, filename)
    directives = _read_directives(lines, filename)
    escape = directives.get("escape", "\\")
    warnings: list[str] = []
    instructions = []
    for start, end, line, had_blank, docs in _logical_lines(lines, escape, filename):
        if had_blank:
            warnings.append(f"[WARNING]: Empty continuation line found in:\n    {line}")
        instructions.append(parse_instruction(line, filename, start, end, escape))
        instructions[-1].heredocs = docs
    if not instructions:
        raise DockerfileError(filename, 1, f"the Dockerfile ({filename}) cannot be empty")
    if warnings:
        warnings.append("[WARNING]: Empty continuation lines will become errors in a future release.")
    return _assemble(instructions, filename, directives, escape, build_args or {}, warnings)


def _physical_lines(text: str, filename: str = "Dockerfile") -> list[str]:
    """Only "\n" separates lines (like Go's scanner: no splitting on \f or \v);
    trailing carriage returns go (buildkit trims every "\r" before the "\n").
    A line of 64 KiB or more is refused as Docker's scanner refuses it."""
    lines = text.removeprefix("\ufeff").split("\n")
    for lineno, line in enumerate(lines, 1):
        if len(line) > MAX_LINE // 4 and len(line.encode("utf-8", "surrogatepass")) > MAX_LINE:
            raise DockerfileError(filename, lineno, f"dockerfile line greater than max allowed size of {MAX_LINE}")
    return [line.rstrip("\r") for line in lines]


def _read_directives(lines: list[str], filename: str) -> dict[str, str]:
    """`# key=value` lines at the very top; the first other line ends them."""
    found: dict[str, str] = {}
    for lineno, line in enumerate(lines, 1):
        match = _DIRECTIVE.match(line.lstrip())
        key = match.group(1).lower() if match else ""
        if key not in _KNOWN_DIRECTIVES:  # an unknown directive is just a comment
            break
        if key in found:
            raise DockerfileError(filename, lineno, f"only one {key} parser directive can be used")
        value = match.group(2).strip()
        if not value:       # `# escape=` names nothing: a comment, which ends the directives
            break
        if key == "escape" and value not in ("\\", "`"):
            raise DockerfileError(filename, lineno, f"invalid escape token '{value}' does not match ` or \\")
        found[key] = value
    return found


def _logical_lines(lines: list[str], escape: str, filename: str = "Dockerfile"):
    """Yield (first line, last line, joined text, had blank lines, heredocs)
    per instruction; heredoc bodies follow their instruction's line.

    Like Docker: a trailing escape (plus blanks) continues the line unless
    the character before it is the escape too (buildkit's rule: `\\\\` at the
    end is an escaped escape, and so is `\\\\\\`), the pieces are joined with
    nothing in between (their own indentation stays), and comment or blank
    lines inside a continuation are skipped.
    """
    i = 0
    while i < len(lines):
        start, text = i + 1, lines[i].lstrip()
        i += 1
        if text.startswith("#"):
            continue
        line, more = _continuation(text, escape)
        if not more and not line:
            continue
        had_blank = False
        while more and i < len(lines):
            piece = lines[i]
            i += 1
            if piece.lstrip().startswith("#"):
                continue
            if not piece.strip():
                had_blank = True
                continue
            piece, more = _continuation(piece, escape)
            line += piece
        if not line.strip():  # a lone escape at the end of the file is no instruction
            continue
        keyword, _, rest = BLANKS.sub(" ", line.strip(), count=1).partition(" ")
        docs = H.markers(keyword, rest, escape)
        if docs:
            i = H.read_bodies(lines, i, docs)
            if i is None:
                raise DockerfileError(filename, start, f"heredoc {docs[-1].name} has no terminating "
                                      f"line: end it with a line holding just {docs[-1].name}")
        yield start, i, line, had_blank, docs


def _continuation(line: str, escape: str) -> tuple[str, bool]:
    """(line without its continuation escape, whether it continues)."""
    body = line.rstrip(" \t")
    if not body.endswith(escape) or body.endswith(escape * 2):
        return line, False
    return body[:-1], True


# ----------------------------------------------------------------- stages and ARGs

def _assemble(instructions: list[Instruction], filename: str, directives: dict[str, str],
              escape: str, build_args: dict[str, str], warnings: list[str]) -> Dockerfile:
    result = Dockerfile([], {}, directives, escape, filename=filename, warnings=warnings)
    for instr in instructions:
        if instr.cmd == "FROM":
            result.stages.append(_new_stage(instr, result))
        elif result.stages:
            result.stages[-1].instructions.append(instr)
        elif instr.cmd == "ARG":
            result.meta_args.append(instr)
            _declare_global_args(instr, result.global_args, build_args)
        else:
            raise instr.error("no build stage in current context (a Dockerfile starts with FROM;"
                              " only ARG may come before it)")
    if not result.stages:
        raise DockerfileError(filename, instructions[-1].lineno, "no FROM instruction: nothing to build")
    return result


def _set_args(args: dict[str, str | None]) -> dict[str, str]:
    """Declared ARGs that have a value (a bare `ARG NAME` is not set)."""
    return {name: value for name, value in args.items() if value is not None}


def _declare_global_args(instr: Instruction, args: dict[str, str | None], build_args: dict[str, str]) -> None:
    """Record a global ARG: its default is expanded with earlier ones, --build-arg wins."""
    for name, default in instr.pairs:
        env = _set_args(args)
        name = _sub(instr, name, env)
        if default is not None:
            default = _sub(instr, default, env)
        args[name] = build_args.get(name, default)


def _new_stage(instr: Instruction, dockerfile: Dockerfile) -> Stage:
    env = _set_args(dockerfile.global_args)
    base = _sub(instr, instr.args[0], env)
    if not base:
        raise instr.error(f"base name ({instr.args[0]}) should not be blank")
    platform = _sub(instr, instr.flags["platform"], env) if "platform" in instr.flags else ""
    name = instr.args[2].lower() if len(instr.args) == 3 else None
    if name and any(stage.name == name for stage in dockerfile.stages):
        raise instr.error(f"duplicate stage name {name!r}")
    return Stage(len(dockerfile.stages), name, base, platform or None, [], instr.lineno, instr)


# -------------------------------------------------------------------------- expand

def expand(instr: Instruction, env: dict[str, str]) -> Instruction:
    """A copy of `instr` with variables substituted where Docker does it.

    `env` is what the build has accumulated (ENV values, then ARG values not
    shadowed by ENV). RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD and
    MAINTAINER come back unchanged; FROM was already expanded by `parse`.
    For EXPOSE the args become normalised ports (`"80/tcp"`), ranges unrolled.
    """
    new = dataclasses.replace(instr, args=list(instr.args), flags=dict(instr.flags))
    if instr.cmd not in EXPANDED:
        return new
    if instr.cmd == "EXPOSE":
        words = [w for arg in instr.args for w in call_at(instr, substitute_words, arg, env, instr.escape)]
        new.args = list(dict.fromkeys(p for word in words for p in call_at(instr, parse_port_spec, word)))
    elif instr.cmd == "ARG":
        new.args = [_sub(instr, name, env) + ("" if default is None else "=" + _sub(instr, default, env))
                    for name, default in instr.pairs]
    elif instr.heredocs:     # COPY/ADD <<EOF: the bodies are expanded, not the words
        words = {d.word for d in instr.heredocs}
        new.args = [arg if arg in words else _sub(instr, arg, env) for arg in instr.args]
        new.heredocs = call_at(instr, H.expanded, instr.heredocs, env)
    else:  # keys and values alike for ENV/LABEL
        new.args = [_sub(instr, arg, env) for arg in instr.args]
    for flag in ("chown", "chmod"):
        if flag in new.flags:
            new.flags[flag] = _sub(instr, new.flags[flag], env)
    _check_expanded(new)
    return new


def _sub(instr: Instruction, text: str, env: dict[str, str]) -> str:
    return call_at(instr, substitute, text, env, instr.escape)


def _check_expanded(instr: Instruction) -> None:
    """Checks Docker can only make once the values are known."""
    if instr.cmd == "VOLUME" and not all(arg.strip() for arg in instr.args):
        raise instr.error("VOLUME specified can not be an empty string")
    if instr.cmd == "STOPSIGNAL" and not is_signal(instr.args[0]):
        raise instr.error(f"invalid signal: {instr.args[0]}")
    if instr.flags.get("chmod") and not _CHMOD.match(instr.flags["chmod"]):
        raise instr.error(f"invalid chmod parameter: {instr.flags['chmod']} (use octal, e.g. 0755)")
