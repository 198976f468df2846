"""What each instruction does to the image config (pure; no I/O).

A build step becomes a `Plan`: its canonical text and inputs for the cache
key, Docker's `created_by` history text, an `apply` that edits the new
image's config, and for steps that write files an `action` run on a mounted
writable clone (see builder.py). This module covers the metadata
instructions; RUN/COPY/ADD/WORKDIR get their actions in actions.py.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from typing import Callable

from ..images.imageconfig import DEFAULT_PATH
from ..images.state import Image
from .dockerfile import Instruction

NOP = "/bin/sh -c #(nop) "
DEFAULT_SHELL = ["/bin/sh", "-c"]
# Docker passes these to RUN without an ARG, and keeps them out of the cache key and history.
PROXY_ARGS = frozenset(p for name in ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")
                       for p in (name, name.lower()))


@dataclass
class StageState:
    """Where a stage is: its current image, config and filesystem layer."""

    index: int
    image: Image | None          # None: FROM scratch, nothing built yet
    config: dict                 # the current image's config (never mutated in place)
    layer: str                   # layer holding the current files; "" = empty filesystem
    args: dict[str, str | None] = field(default_factory=dict)   # ARGs declared in this stage
    cmd_set: bool = False        # a CMD in this stage (ENTRYPOINT then keeps it)

    @property
    def image_id(self) -> str:
        return self.image.id if self.image else ""

    @property
    def container(self) -> dict:
        return self.config.get("config") or {}

    def shell(self) -> list[str]:
        return list(self.container.get("Shell") or DEFAULT_SHELL)

    def arg_values(self) -> dict[str, str]:
        return {k: v for k, v in self.args.items() if v is not None}

    def config_env(self) -> dict[str, str]:
        return dict(e.split("=", 1) for e in self.container.get("Env") or [] if "=" in e)

    def expansion_env(self) -> dict[str, str]:
        """What `${X}` sees: ARG values, overridden by ENV (Docker's order)."""
        return {**self.arg_values(), **self.config_env()}

    def adopt(self, img: Image) -> None:
        """Continue from img (a cache hit, a new step image or a FROM base)."""
        self.image = img
        self.config = img.config
        self.layer = content_layer(img)


def content_layer(img: Image) -> str:
    """The layer with img's files; "" when it has none (scratch images sit on an
    empty placeholder layer so that they can be snapshots too)."""
    return img.layer if (img.config.get("rootfs") or {}).get("diff_ids") else ""


@dataclass
class Plan:
    text: str                    # canonical step, after substitution (cache key)
    created_by: str              # history entry, as Docker writes it
    content: str = ""            # content hash of COPY/ADD sources
    args: list[str] = field(default_factory=list)     # "K=V" build args the step uses
    apply: Callable[[dict], None] | None = None       # edits the new image config
    action: Callable[[str, str], None] | None = None  # (rootfs, container id): writes files
    skip_if: Callable[[str], bool] | None = None      # (parent rootfs): nothing to write


def canonical(instr: Instruction) -> str:
    """An expanded instruction as stable text (flags sorted, exec/shell form kept)."""
    key = [instr.cmd, instr.args, sorted(instr.flags.items()), instr.json_form]
    if instr.heredocs:
        key.append([[d.word, d.text] for d in instr.heredocs])
    return json.dumps(key, separators=(",", ":"))


def go_list(items: list[str]) -> str:
    """Go's %q of a []string, as Docker's history shows CMD: ["sh" "-c" "x"]."""
    return "[" + " ".join(json.dumps(i) for i in items) + "]"


def _set(key: str, value) -> Callable[[dict], None]:
    def apply(cfg: dict) -> None:
        cfg.setdefault("config", {})[key] = value
    return apply


def _merge(key: str, items: dict) -> Callable[[dict], None]:
    def apply(cfg: dict) -> None:
        c = cfg.setdefault("config", {})
        c[key] = {**(c.get(key) or {}), **items}
    return apply


def _env(pairs: list[tuple[str, str]]) -> Callable[[dict], None]:
    def apply(cfg: dict) -> None:
        c = cfg.setdefault("config", {})
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in c.get("Env") or [])
        env.update(pairs)
        c["Env"] = [f"{k}={v}" for k, v in env.items()]
    return apply


def _author(name: str) -> Callable[[dict], None]:
    def apply(cfg: dict) -> None:
        cfg["author"] = name
    return apply


def _onbuild(trigger: str) -> Callable[[dict], None]:
    def apply(cfg: dict) -> None:
        c = cfg.setdefault("config", {})
        c["OnBuild"] = [*(c.get("OnBuild") or []), trigger]
    return apply


def _entrypoint(value: list[str], keep_cmd: bool) -> Callable[[dict], None]:
    def apply(cfg: dict) -> None:
        c = cfg.setdefault("config", {})
        c["Entrypoint"] = value
        if not keep_cmd:       # Docker: a new ENTRYPOINT drops an inherited CMD
            c["Cmd"] = None
    return apply


def workdir_path(st: StageState, value: str) -> str:
    """WORKDIR relative to the current one, normalised as Docker does."""
    base = st.container.get("WorkingDir") or "/"
    return posixpath.normpath(posixpath.join("/", base, value))


def meta_plan(st: StageState, instr: Instruction) -> Plan:
    """The plan of a metadata-only instruction (already expanded)."""
    cmd, args, text = instr.cmd, instr.args, canonical(instr)
    nop = NOP + " "   # Docker's two spaces: "#(nop)  ENV A=b"
    if cmd == "ENV":
        pairs = instr.pairs
        return Plan(text, nop + "ENV " + " ".join(f"{k}={v}" for k, v in pairs), apply=_env(pairs))
    if cmd == "LABEL":
        pairs = instr.pairs
        return Plan(text, nop + "LABEL " + " ".join(f"{k}={v}" for k, v in pairs),
                    apply=_merge("Labels", dict(pairs)))
    if cmd == "MAINTAINER":
        return Plan(text, nop + "MAINTAINER " + args[0], apply=_author(args[0]))
    if cmd == "EXPOSE":
        return Plan(text, nop + "EXPOSE " + " ".join(args), apply=_merge("ExposedPorts", {p: {} for p in args}))
    if cmd == "VOLUME":
        return Plan(text, nop + "VOLUME [" + " ".join(args) + "]", apply=_merge("Volumes", {v: {} for v in args}))
    if cmd == "USER":
        return Plan(text, nop + "USER " + args[0], apply=_set("User", args[0]))
    if cmd == "STOPSIGNAL":
        return Plan(text, nop + "STOPSIGNAL " + args[0], apply=_set("StopSignal", args[0]))
    if cmd == "SHELL":
        return Plan(text, nop + "SHELL " + go_list(args), apply=_set("Shell", list(args)))
    if cmd == "CMD":
        value = instr.command(st.shell())
        return Plan(text, nop + "CMD " + go_list(value), apply=_set("Cmd", value))
    if cmd == "ENTRYPOINT":
        value = instr.command(st.shell())
        return Plan(text, nop + "ENTRYPOINT " + go_list(value), apply=_entrypoint(value, st.cmd_set))
    if cmd == "HEALTHCHECK":
        health = instr.healthcheck()
        return Plan(text, nop + "HEALTHCHECK " + json.dumps(health, sort_keys=True),
                    apply=_set("Healthcheck", health))
    if cmd == "ONBUILD":
        return Plan(text, nop + "ONBUILD " + args[0], apply=_onbuild(args[0]))
    if cmd == "ARG":
        return Plan(text, nop + "ARG " + " ".join(args))
    raise instr.error("internal error: not a metadata instruction")


def declare_args(st: StageState, instr: Instruction, build_args: dict[str, str],
                 global_args: dict[str, str | None]) -> list[str]:
    """Record a stage ARG: --build-arg wins, then its default, then a global ARG
    of the same name. Returns the names declared."""
    names = []
    for name, default in instr.pairs:
        if name in build_args:
            st.args[name] = build_args[name]
        elif default is not None:
            st.args[name] = default
        else:
            st.args[name] = global_args.get(name)
        names.append(name)
    return names


def run_args(st: StageState, build_args: dict[str, str]) -> tuple[list[str], list[str]]:
    """(args for the cache key and history, env additions for RUN): every ARG in
    scope, plus proxy build args, which Docker passes without an ARG."""
    declared = [f"{k}={v}" for k, v in sorted(st.arg_values().items())]
    proxies = [f"{k}={v}" for k, v in sorted(build_args.items())
               if k in PROXY_ARGS and k not in st.args]
    return declared, declared + proxies


def run_env(st: StageState, extra: list[str]) -> list[str]:
    """RUN's environment: build args, overridden by the image's ENV; a default
    PATH when the image sets none (as Docker's daemon does for any container)."""
    env = dict(e.split("=", 1) for e in extra)
    env.update(st.config_env())
    env.setdefault("PATH", DEFAULT_PATH.split("=", 1)[1])
    return [f"{k}={v}" for k, v in env.items()]


def run_created_by(argv: list[str], args: list[str]) -> str:
    """Docker's history text for RUN: `|2 A=1 B=2 /bin/sh -c make` when ARGs are set."""
    prefix = f"|{len(args)} {' '.join(args)} " if args else ""
    return prefix + " ".join(argv)
