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
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from jocker.build import heredoc as H
from jocker.build.substitute import (extract_flags, split_fields, split_key_values,
                                     split_words, substitute, substitute_words)
from jocker.errors import INVALID_DOCKERFILE, UsageError
from jocker.build.values import parse_duration, parse_port_spec  # noqa: F401 (part of this API)
from jocker.signals import is_signal

INSTRUCTIONS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
    "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
})
# What Docker substitutes at build time (FROM is done at parse time, with global ARGs).
EXPANDED = frozenset({"ADD", "ARG", "COPY", "ENV", "EXPOSE", "LABEL", "STOPSIGNAL",
                      "USER", "VOLUME", "WORKDIR"})

# Flags each instruction accepts; True marks a boolean flag (`--link`, `--link=false`).
_FLAGS: dict[str, dict[str, bool]] = {
    "FROM": {"platform": False},
    "COPY": {"from": False, "chown": False, "chmod": False, "link": True},
    "ADD": {"chown": False, "chmod": False, "link": True},
    "HEALTHCHECK": {name: False for name in
                    ("interval", "timeout", "start-period", "start-interval", "retries")},
}
_BUILDKIT_ONLY_RUN_FLAGS = ("mount", "network", "security", "device")

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=(.*)$")   # linear: no lazy group before \s*$
MAX_LINE = 65535        # Go's bufio.Scanner token limit, less the newline
_KNOWN_DIRECTIVES = ("escape", "syntax", "check")
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")
_BLANKS = re.compile(r"[\t\v\f\r ]+")
_CHMOD = re.compile(r"^[0-7]{1,4}$")
_HEALTH_DURATIONS = (("interval", "Interval"), ("timeout", "Timeout"),
                     ("start-period", "StartPeriod"), ("start-interval", "StartInterval"))


class DockerfileError(UsageError):
    """A Dockerfile that cannot be built as written."""

    kind = INVALID_DOCKERFILE

    def __init__(self, filename: str, lineno: int, message: str, instruction: str = ""):
        where = f"{filename}:{lineno}: " if lineno else f"{filename}: "
        super().__init__(where + (f"{instruction}: " if instruction else "") + message)
        self.filename = filename
        self.lineno = lineno
        self.instruction = instruction


@dataclass
class Instruction:
    """One instruction. `args` by kind (raw until `expand`):

    RUN/CMD/ENTRYPOINT/SHELL: the JSON array (`json_form`) or `[command line]`;
    ENV/LABEL: `[key1, value1, key2, value2...]`; ARG: words `NAME` / `NAME=default`;
    FROM: `[image]` or `[image, "AS", name]`; COPY/ADD: sources then destination;
    EXPOSE/VOLUME: one per port/path; WORKDIR/USER/STOPSIGNAL/MAINTAINER: `[text]`;
    HEALTHCHECK: `["NONE"]` or `["CMD", *command]`; ONBUILD: `[trigger text]`.
    """

    cmd: str
    args: list[str]
    flags: dict[str, str] = field(default_factory=dict)
    json_form: bool = False
    original: str = ""
    lineno: int = 0
    end_lineno: int = 0
    filename: str = "Dockerfile"
    escape: str = "\\"
    trigger: Instruction | None = None  # ONBUILD: the wrapped instruction
    heredocs: list[H.Heredoc] = field(default_factory=list)  # RUN/COPY/ADD <<EOF bodies

    def __str__(self) -> str:
        return self.original

    def error(self, message: str) -> DockerfileError:
        """An error naming this instruction's file and line (for the build engine too)."""
        return DockerfileError(self.filename, self.lineno, message, self.cmd)

    @property
    def pairs(self) -> list[tuple[str, str | None]]:
        """ENV/LABEL: (key, value) pairs; ARG: (name, default or None)."""
        if self.cmd == "ARG":
            return [(a.split("=", 1)[0], a.split("=", 1)[1] if "=" in a else None) for a in self.args]
        return list(zip(self.args[0::2], self.args[1::2]))

    @property
    def sources(self) -> list[str]:
        """COPY/ADD sources (everything but the last argument)."""
        return self.args[:-1]

    @property
    def dest(self) -> str:
        """COPY/ADD destination."""
        return self.args[-1]

    @property
    def remote_sources(self) -> list[str]:
        """ADD sources that are URLs, which Docker downloads instead of copying."""
        return [s for s in self.sources if is_url(s)] if self.cmd == "ADD" else []

    def command(self, shell: list[str] | tuple[str, ...] = ("/bin/sh", "-c")) -> list[str]:
        """RUN/CMD/ENTRYPOINT argv: exec form as is, shell form run through `shell`."""
        if self.json_form:
            return list(self.args)
        if self.heredocs:
            return H.run_argv(self.args[0], self.heredocs, list(shell))[0]
        return [*shell, self.args[0]] if self.args else []

    def script_files(self) -> dict[str, str]:
        """RUN <<EOF with a `#!` body: {path in the container: script} to provide."""
        return H.run_argv(self.args[0], self.heredocs, [])[1] if self.heredocs else {}

    def healthcheck(self) -> dict:
        """HEALTHCHECK as Docker's HealthConfig JSON (durations in ns, zeros omitted)."""
        if self.args == ["NONE"]:
            return {"Test": ["NONE"]}
        test = ["CMD", *self.args[1:]] if self.json_form else ["CMD-SHELL", self.args[1]]
        config: dict = {"Test": test}
        for flag, key in _HEALTH_DURATIONS:
            if self.flags.get(flag) and (nanos := self._duration(flag)):
                config[key] = nanos
        if self.flags.get("retries"):
            if not re.fullmatch(r"[+-]?[0-9]{1,19}", self.flags["retries"]):    # Go's int64
                raise self.error(f"--retries: invalid integer {self.flags['retries'][:40]!r}")
            retries = int(self.flags["retries"])
            if retries < 0:
                raise self.error(f"--retries cannot be negative ({retries})")
            if retries:
                config["Retries"] = retries
        return config

    def _duration(self, flag: str) -> int:
        try:
            nanos = parse_duration(self.flags[flag])
        except ValueError as exc:
            raise self.error(f"--{flag}: {exc}") from None
        if nanos and nanos < 10**6:  # Docker's minimum; 0 means "use the default"
            raise self.error(f"--{flag} cannot be less than 1ms")
        return nanos


@dataclass
class Stage:
    """A build stage: one FROM and the instructions up to the next FROM."""

    index: int
    name: str | None  # lower-cased `AS` name
    base: str  # image or earlier stage name, after global-ARG substitution
    platform: str | None
    instructions: list[Instruction]  # without the FROM
    lineno: int
    from_instruction: Instruction


@dataclass
class Dockerfile:
    """A parsed Dockerfile: its stages plus what was declared before the first FROM."""

    stages: list[Stage]
    global_args: dict[str, str | None]  # ARGs before the first FROM, build-args applied
    directives: dict[str, str]
    escape: str
    meta_args: list[Instruction] = field(default_factory=list)  # those ARG instructions
    filename: str = "Dockerfile"
    warnings: list[str] = field(default_factory=list)

    def stage_by_name_or_index(self, ref: str) -> Stage | None:
        """The stage `COPY --from=ref` means, or None (then ref is an image)."""
        for stage in self.stages:
            if stage.name == ref.lower():
                return stage
        if ref.isascii() and ref.isdecimal() and len(ref) < 10 and int(ref) < len(self.stages):
            return self.stages[int(ref)]
        return None

    def target_stages(self, target: str | None = None) -> list[Stage]:
        """The stages the classic builder runs for `--target`: all up to the target."""
        if not target:
            return list(self.stages)
        for stage in self.stages:
            if stage.name == target.lower():
                return self.stages[:stage.index + 1]
        raise DockerfileError(self.filename, 0, f"failed to reach build target {target} in Dockerfile")

    def steps(self, target: str | None = None) -> list[Instruction]:
        """Every instruction Docker prints as `Step N/M`, in order (global ARGs, FROMs...)."""
        return self.meta_args + [i for s in self.target_stages(target)
                                 for i in (s.from_instruction, *s.instructions)]


def count_steps(stages: list[Stage], meta_args: Sequence[Instruction] = ()) -> int:
    """Docker's M in `Step N/M`: the global ARGs, plus each stage's FROM and instructions."""
    return len(meta_args) + sum(1 + len(s.instructions) for s in stages)


def is_url(source: str) -> bool:
    """Docker's test for a remote ADD source."""
    return source.startswith(("http://", "https://"))


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
        keyword, _, rest = _BLANKS.sub(" ", line.strip(), count=1).partition(" ")
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


def parse_instruction(line: str, filename: str = "Dockerfile", lineno: int = 1,
                      end_lineno: int | None = None, escape: str = "\\") -> Instruction:
    """Parse one (already joined) instruction line; also used for ONBUILD triggers."""
    original = line.strip()
    keyword, _, rest = _BLANKS.sub(" ", original, count=1).partition(" ")
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
    return _at(instr, exec_form, rest)


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
    pairs = _at(instr, split_key_values, rest, instr.escape)
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
    kind, _, command = _BLANKS.sub(" ", rest, count=1).partition(" ")
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
        words = [w for arg in instr.args for w in _at(instr, substitute_words, arg, env, instr.escape)]
        new.args = list(dict.fromkeys(p for word in words for p in _at(instr, parse_port_spec, word)))
    elif instr.cmd == "ARG":
        new.args = [_sub(instr, name, env) + ("" if default is None else "=" + _sub(instr, default, env))
                    for name, default in instr.pairs]
    elif instr.heredocs:     # COPY/ADD <<EOF: the bodies are expanded, not the words
        words = {d.word for d in instr.heredocs}
        new.args = [arg if arg in words else _sub(instr, arg, env) for arg in instr.args]
        new.heredocs = _at(instr, H.expanded, instr.heredocs, env)
    else:  # keys and values alike for ENV/LABEL
        new.args = [_sub(instr, arg, env) for arg in instr.args]
    for flag in ("chown", "chmod"):
        if flag in new.flags:
            new.flags[flag] = _sub(instr, new.flags[flag], env)
    _check_expanded(new)
    return new


def _at(instr: Instruction, func, *args):
    """Call `func`, turning its ValueError (ShellWordError...) into an error naming the line."""
    try:
        return func(*args)
    except ValueError as exc:
        raise instr.error(str(exc)) from None


def _sub(instr: Instruction, text: str, env: dict[str, str]) -> str:
    return _at(instr, substitute, text, env, instr.escape)


def _check_expanded(instr: Instruction) -> None:
    """Checks Docker can only make once the values are known."""
    if instr.cmd == "VOLUME" and not all(arg.strip() for arg in instr.args):
        raise instr.error("VOLUME specified can not be an empty string")
    if instr.cmd == "STOPSIGNAL" and not is_signal(instr.args[0]):
        raise instr.error(f"invalid signal: {instr.args[0]}")
    if instr.flags.get("chmod") and not _CHMOD.match(instr.flags["chmod"]):
        raise instr.error(f"invalid chmod parameter: {instr.flags['chmod']} (use octal, e.g. 0755)")
