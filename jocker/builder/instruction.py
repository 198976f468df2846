"""The parsed form of a Dockerfile: instructions, stages, the whole file,
and the error that names a file and line. Pure data with the small
accessors the builder reads (pairs, sources, command, healthcheck)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import heredoc as H
from ..errors import INVALID_DOCKERFILE, UsageError
from .values import parse_duration

INSTRUCTIONS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
    "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
})
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


def call_at(instr: Instruction, func, *args):
    """Call `func`, turning its ValueError (ShellWordError...) into an error naming the line."""
    try:
        return func(*args)
    except ValueError as exc:
        raise instr.error(str(exc)) from None
