"""Tests for the Dockerfile parser (jocker.builder.dockerfile) and word processing
(jocker.builder.substitute). Pure: no ZFS, no jail, no network."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jocker.builder.dockerfile import (INSTRUCTIONS, DockerfileError, Instruction, count_steps, expand,
                                     parse, parse_duration, parse_instruction,
                                     parse_port_spec)
from jocker.builder.substitute import (ShellWordError, extract_flags, split_key_values, split_words,
                                     substitute, substitute_words)
from jocker.errors import UsageError
from jocker.signals import is_signal

CORPUS = Path(__file__).resolve().parents[1] / "data" / "dockerfiles"
SECOND = 10**9


def load(name: str, **kwargs):
    path = CORPUS / name
    return parse(path.read_text(encoding="utf-8"), path.name, **kwargs)


def cmds(stage) -> list[str]:
    return [i.cmd for i in stage.instructions]


def build_env(stage, build_args=None, global_args=None) -> dict[str, str]:
    """What a build engine does: expand each ENV/ARG with the env so far and apply it."""
    build_args, global_args = build_args or {}, global_args or {}
    env: dict[str, str] = {}
    for instr in stage.instructions:
        if instr.cmd == "ENV":
            env.update(expand(instr, env).pairs)
        elif instr.cmd == "ARG":
            for name, default in expand(instr, env).pairs:
                value = build_args.get(name, default if default is not None else global_args.get(name))
                if value is not None:
                    env.setdefault(name, value)
    return env


# ----------------------------------------------------------------------------- corpus

def corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.Dockerfile"))


def test_corpus_is_big_enough():
    assert len(corpus_files()) >= 12


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_every_corpus_file_parses_and_expands(path):
    dockerfile = parse(path.read_text(encoding="utf-8"), path.name)
    assert dockerfile.stages
    for stage in dockerfile.stages:
        env = {"HOME": "/root"}
        for instr in stage.instructions:
            assert instr.lineno >= 1 and instr.original
            expanded = expand(instr, env)
            if expanded.cmd == "ENV":
                env.update(expanded.pairs)


def test_corpus_covers_every_instruction():
    seen: set[str] = set()
    for path in corpus_files():
        dockerfile = parse(path.read_text(encoding="utf-8"), path.name)
        for instr in dockerfile.steps():
            seen.add(instr.cmd)
            if instr.trigger:
                seen.add(instr.trigger.cmd)
    assert seen == INSTRUCTIONS


# ------------------------------------------------------------------- corpus, file by file

def test_nginx_freebsd():
    df = load("nginx-freebsd.Dockerfile")
    (stage,) = df.stages
    assert (stage.index, stage.name, stage.base, stage.platform, stage.lineno) == (
        0, None, "ghcr.io/freebsd/freebsd-runtime:14.3", None, 2)
    assert cmds(stage) == ["LABEL", "RUN", "COPY", "COPY", "EXPOSE", "STOPSIGNAL", "HEALTHCHECK", "CMD"]
    assert [i.lineno for i in stage.instructions] == [4, 7, 11, 12, 14, 15, 16, 19]
    label, run, copy1, copy2, expose, stop, health, cmd = stage.instructions
    assert expand(label, {}).pairs == [("org.opencontainers.image.title", "nginx"),
                                       ("org.opencontainers.image.description", "nginx web server on FreeBSD")]
    assert run.args == ["pkg install -y nginx &&     pkg clean -ay &&     rm -rf /var/cache/pkg/*"]
    assert (run.lineno, run.end_lineno, run.json_form) == (7, 9, False)
    assert run.command() == ["/bin/sh", "-c", run.args[0]]
    assert copy1.sources == ["nginx.conf"] and copy1.dest == "/usr/local/etc/nginx/nginx.conf"
    assert copy2.flags == {"chown": "www:www"}
    assert expand(expose, {}).args == ["80/tcp", "443/tcp"]
    assert stop.args == ["SIGQUIT"]
    assert health.healthcheck() == {"Test": ["CMD-SHELL", "fetch -qo /dev/null http://127.0.0.1/ || exit 1"],
                                    "Interval": 30 * SECOND, "Timeout": 3 * SECOND, "Retries": 3}
    assert cmd.json_form and cmd.args == ["nginx", "-g", "daemon off;"]
    assert cmd.command() == ["nginx", "-g", "daemon off;"]


def test_python_app_env_and_workdir_expansion():
    df = load("python-app.Dockerfile")
    stage = df.stages[0]
    env_legacy, env_pairs = stage.instructions[0], stage.instructions[1]
    assert env_legacy.args == ["PYTHONDONTWRITEBYTECODE", "1"]
    assert env_pairs.pairs == [("PYTHONUNBUFFERED", "1"), ("APP_HOME", "/usr/local/app")]
    env = build_env(stage)
    workdir = next(i for i in stage.instructions if i.cmd == "WORKDIR")
    assert workdir.args == ["$APP_HOME"]
    assert expand(workdir, env).args == ["/usr/local/app"]
    # RUN is left to the shell: the parser never touches `${APP_HOME}` there.
    run = [i for i in stage.instructions if i.cmd == "RUN"][-1]
    assert expand(run, env).args == ["pw useradd -n app -u 1001 -d ${APP_HOME} -s /usr/sbin/nologin"]
    user = next(i for i in stage.instructions if i.cmd == "USER")
    assert user.args == ["app"]


def test_go_multistage_stages_and_copy_from():
    df = load("go-multistage.Dockerfile")
    assert df.directives == {"syntax": "docker/dockerfile:1"}
    assert df.global_args == {"GO_VERSION": "1.22"}
    assert [(s.index, s.name, s.base) for s in df.stages] == [
        (0, "builder", "ghcr.io/freebsd/freebsd-toolchain:14.3"),
        (1, "test", "builder"),
        (2, None, "ghcr.io/freebsd/freebsd-static:14.3"),
    ]
    final = df.stages[2]
    copy_named, copy_index = final.instructions[0], final.instructions[1]
    assert copy_named.flags == {"from": "builder"}
    assert df.stage_by_name_or_index(copy_named.flags["from"]) is df.stages[0]
    assert df.stage_by_name_or_index("BUILDER") is df.stages[0]
    assert df.stage_by_name_or_index(copy_index.flags["from"]) is df.stages[0]
    assert df.stage_by_name_or_index("2") is df.stages[2]
    assert df.stage_by_name_or_index("7") is None
    assert df.stage_by_name_or_index("alpine:3.20") is None
    # Stage ARG redeclared without a value picks up the global one.
    assert build_env(df.stages[0], global_args=df.global_args)["GO_VERSION"] == "1.22"


def test_go_multistage_step_numbering_and_target():
    df = load("go-multistage.Dockerfile")
    steps = df.steps()
    assert len(steps) == count_steps(df.stages, df.meta_args) == 1 + 8 + 2 + 5
    assert [f"Step {n}/{len(steps)} : {s}" for n, s in enumerate(steps, 1)][:3] == [
        "Step 1/16 : ARG GO_VERSION=1.22",
        "Step 2/16 : FROM ghcr.io/freebsd/freebsd-toolchain:14.3 AS builder",
        "Step 3/16 : ARG GO_VERSION",
    ]
    assert [s.name for s in df.target_stages("Test")] == ["builder", "test"]
    assert len(df.steps(target="builder")) == 1 + 8
    with pytest.raises(DockerfileError, match=r"^go-multistage.Dockerfile: failed to reach build target nope"):
        df.target_stages("nope")


def test_backtick_escape_directive():
    df = load("backtick-escape.Dockerfile")
    assert df.escape == "`" and df.directives == {"escape": "`"}
    env_, run, copy, cmd = df.stages[0].instructions
    assert env_.lineno == 5 and run.lineno == 7 and copy.lineno == 9 and cmd.lineno == 10
    assert env_.args == ["WINPATH", "C:\\Tools\\bin", "GREETING", '"say `"hi`""']
    assert expand(env_, {}).pairs == [("WINPATH", "C:\\Tools\\bin"), ("GREETING", 'say "hi"')]
    assert run.args == ['printf "%s\\n" one two     three > /tmp/lines']
    assert expand(copy, {}).args == ["conf\\app.conf", "/usr/local/etc/app.conf"]
    assert cmd.args == ["echo \\done"]


def test_continuations_with_comments_and_blank_lines():
    df = load("continuations.Dockerfile")
    run1, run2, label, cmd = df.stages[0].instructions
    assert (run1.lineno, run1.end_lineno) == (5, 15)
    assert run1.args == ["set -eux;     pkg install -y         ca_root_nss         curl"
                         "         git-lite     ;     pkg clean -ay;     rm -rf /var/cache/pkg/*"]
    assert "#" not in run1.original
    assert run2.args == ["echo helloworld"]  # Docker joins continuation lines with nothing
    assert (label.lineno, label.pairs) == (20, [("a", "1"), ("b", "2"), ("c", "3")])
    assert cmd.lineno == 25
    assert len(df.warnings) == 2 and df.warnings[0].startswith("[WARNING]: Empty continuation line found in:")


def test_global_args_in_from():
    df = load("global-args.Dockerfile")
    assert [i.original for i in df.meta_args] == [
        "ARG VERSION", "ARG REGISTRY=ghcr.io/freebsd", "ARG FLAVOR=runtime",
        "ARG BASE=${REGISTRY}/freebsd-${FLAVOR}"]
    assert df.global_args == {"VERSION": None, "REGISTRY": "ghcr.io/freebsd", "FLAVOR": "runtime",
                              "BASE": "ghcr.io/freebsd/freebsd-runtime"}
    base, final = df.stages
    assert (base.name, base.base, base.platform) == ("base", "ghcr.io/freebsd/freebsd-runtime:14.3", None)
    assert (final.base, final.platform) == ("ghcr.io/freebsd/freebsd-static:14.3", "freebsd/amd64")
    assert base.from_instruction.original == "FROM ${BASE}:${VERSION:-14.3} AS base"
    assert build_env(base, global_args=df.global_args)["RELEASE"] == "14.3"


def test_global_args_build_arg_overrides():
    df = load("global-args.Dockerfile", build_args={"VERSION": "15.0", "FLAVOR": "static", "UNDECLARED": "x"})
    assert df.global_args["BASE"] == "ghcr.io/freebsd/freebsd-static"
    assert [s.base for s in df.stages] == ["ghcr.io/freebsd/freebsd-static:15.0"] * 2
    assert "UNDECLARED" not in df.global_args
    env = build_env(df.stages[0], build_args={"VERSION": "15.0"}, global_args=df.global_args)
    assert env["RELEASE"] == "15.0"


def test_healthcheck_forms():
    df = load("healthcheck.Dockerfile")
    app, quiet, shell = df.stages
    health = app.instructions[1]
    assert health.json_form and health.args == ["CMD", "curl", "-fsS", "http://localhost:8080/health"]
    assert health.healthcheck() == {
        "Test": ["CMD", "curl", "-fsS", "http://localhost:8080/health"],
        "Interval": 90 * SECOND, "Timeout": 10 * SECOND, "StartPeriod": 5 * SECOND,
        "StartInterval": 2 * SECOND, "Retries": 5}
    assert quiet.base == "app" and quiet.instructions[0].healthcheck() == {"Test": ["NONE"]}
    assert shell.instructions[0].healthcheck() == {"Test": ["CMD-SHELL", "curl -f http://localhost:8080/ || exit 1"]}


def test_onbuild_triggers():
    df = load("onbuild.Dockerfile")
    stage = df.stages[0]
    assert cmds(stage) == ["MAINTAINER", "RUN", "WORKDIR", "ONBUILD", "ONBUILD", "ONBUILD", "CMD"]
    assert stage.instructions[0].args == ["Jane Doe <jane@example.org>"]
    triggers = [i for i in stage.instructions if i.cmd == "ONBUILD"]
    assert [t.args[0] for t in triggers] == ["COPY package.json package-lock.json ./",
                                             "RUN npm ci --omit=dev", "copy . ."]
    first = triggers[0].trigger
    assert (first.cmd, first.sources, first.dest, first.lineno) == (
        "COPY", ["package.json", "package-lock.json"], "./", 5)
    assert triggers[2].trigger.cmd == "COPY"
    # ONBUILD is never substituted; an image's stored trigger re-parses on its own.
    assert expand(triggers[1], {"X": "y"}).args == ["RUN npm ci --omit=dev"]
    again = parse_instruction(triggers[1].args[0], "onbuild", 1)
    assert (again.cmd, again.args) == ("RUN", ["npm ci --omit=dev"])


def test_exec_and_shell_forms():
    df = load("exec-shell-forms.Dockerfile")
    shell, run_exec, run_shell, run_quotes, cmd, entry = df.stages[0].instructions
    assert (shell.json_form, shell.args) == (True, ["/bin/sh", "-ec"])
    assert (run_exec.json_form, run_exec.args) == (True, ["/bin/echo", "exec form"])
    assert (run_shell.json_form, run_shell.args) == (False, ["echo shell form"])
    assert run_shell.command(shell.args) == ["/bin/sh", "-ec", "echo shell form"]
    assert (run_quotes.json_form, run_quotes.args) == (False, ["['echo', 'not json']"])
    assert (cmd.json_form, cmd.args) == (False, ['["sleep", "infinity"] trailing'])
    assert (entry.json_form, entry.args) == (False, ['/usr/local/bin/entry.sh --flag "$HOME"'])
    assert expand(entry, {"HOME": "/x"}).args == entry.args


def test_labels_quotes_and_expansion():
    df = load("labels.Dockerfile")
    labels = [expand(i, {"BUILD_ID": "42"}).pairs for i in df.stages[0].instructions]
    assert labels == [
        [("maintainer", "ops@example.org")],
        [("com.example.vendor", "ACME Incorporated")],
        [("com.example.label-with-value", "foo"), ("version", "1.0"),
         ("description", "This text illustrates that label-values can span multiple lines.")],
        [("multi.label1", "value1"), ("multi.label2", "single $quoted"), ("other", "42")],
        [("legacy", "form with spaces")],
    ]


def test_env_legacy_and_pairs():
    df = load("env-legacy.Dockerfile")
    env = build_env(df.stages[0])
    assert env == {
        "PATH": "/usr/local/app/bin:",
        "MY_NAME": "John Doe", "MY_DOG": "Rex The Dog", "MY_CAT": "fluffy",
        "GREETING": "Hello World", "EMPTY": "",
        "COPY_OF_NAME": "John Doe", "WITH_DEFAULT": "fallback", "ALT": "has-dog",
    }
    first = df.stages[0].instructions[0]
    assert expand(first, {"PATH": "/bin:/usr/bin"}).pairs == [("PATH", "/usr/local/app/bin:/bin:/usr/bin")]


def test_ports_and_volumes():
    df = load("ports-volumes.Dockerfile")
    stage = df.stages[0]
    env = build_env(stage)
    assert env == {"EXTRA_PORTS": "9100 9101/udp"}
    exposes = [expand(i, env).args for i in stage.instructions if i.cmd == "EXPOSE"]
    assert exposes == [["80/tcp", "443/tcp", "53/udp"],
                       ["8000/tcp", "8001/tcp", "8002/tcp", "8003/tcp", "7000/udp", "7001/udp"],
                       ["9100/tcp", "9101/udp"]]
    volumes = [i for i in stage.instructions if i.cmd == "VOLUME"]
    assert [(v.json_form, v.args) for v in volumes] == [
        (True, ["/var/db/app", "/var/log/app"]), (False, ["/data", "/cache"]), (False, ["$HOME/vol"])]
    assert expand(volumes[2], {"HOME": "/home/u"}).args == ["/home/u/vol"]
    assert expand(volumes[2], {}).args == ["/vol"]


def test_postgres_env_chain():
    df = load("postgres-freebsd.Dockerfile", build_args={"PG_MAJOR": "17"})
    stage = df.stages[0]
    assert df.global_args == {}  # PG_MAJOR is a stage ARG, not a global one
    env = build_env(stage, build_args={"PG_MAJOR": "17"})
    assert env["PGDATA"] == "/var/db/postgres/data17"
    assert build_env(stage)["PGDATA"] == "/var/db/postgres/data16"
    volume = next(i for i in stage.instructions if i.cmd == "VOLUME")
    assert expand(volume, env).args == ["/var/db/postgres/data17"]
    copy = next(i for i in stage.instructions if i.cmd == "COPY")
    assert copy.flags == {"chmod": "0755"}
    stop = next(i for i in stage.instructions if i.cmd == "STOPSIGNAL")
    assert expand(stop, env).args == ["SIGINT"]


def test_add_remote_sources_and_flags():
    df = load("add-remote.Dockerfile")
    arg, add_url, add_tar, add_json, copy = df.stages[0].instructions
    env = build_env(df.stages[0])
    url = expand(add_url, env)
    assert url.args == ["https://example.org/releases/app-2.4.1.tar.gz", "/tmp/"]
    assert url.remote_sources == ["https://example.org/releases/app-2.4.1.tar.gz"]
    assert add_tar.flags == {"chown": "1000:1000", "chmod": "0644"} and add_tar.remote_sources == []
    assert (add_json.json_form, add_json.sources, add_json.dest) == (
        True, ["files with spaces/a.txt", "local.txt"], "/srv/")
    assert copy.flags == {"link": "true", "chown": "www:www"}
    assert copy.remote_sources == []


def test_lowercase_keywords_and_crlf():
    df = load("lowercase-crlf.Dockerfile")
    (stage,) = df.stages
    assert (stage.name, stage.base) == ("build", "ghcr.io/freebsd/freebsd-runtime:14.3")
    assert cmds(stage) == ["RUN", "WORKDIR", "CMD"]
    assert stage.instructions[0].args == ["echo crlf line endings"]
    assert stage.instructions[0].original == "run echo crlf line endings"
    assert stage.instructions[2].args == ["/bin/sh"]


# ------------------------------------------------------------------- parsing details

def test_directives_rules():
    df = parse("# Escape=`\n# syntax = docker/dockerfile:1.7\nFROM scratch\nRUN a `\n b\n")
    assert df.directives == {"escape": "`", "syntax": "docker/dockerfile:1.7"}
    assert df.stages[0].instructions[0].args == ["a  b"]
    # After a comment, a blank line or an unknown directive, `# escape=` is a comment.
    for text in ("# hello\n# escape=`\nFROM scratch\n", "\n# escape=`\nFROM scratch\n",
                 "# foo=bar\n# escape=`\nFROM scratch\n", "FROM scratch\n# escape=`\n"):
        assert parse(text).escape == "\\"
    assert parse("\ufeff# escape=`\nFROM scratch").escape == "`"


def test_from_scratch_platform_and_stage_names():
    df = parse("FROM --platform=freebsd/arm64 scratch AS Final-Stage.1\nCOPY a /a\n")
    stage = df.stages[0]
    assert (stage.base, stage.platform, stage.name) == ("scratch", "freebsd/arm64", "final-stage.1")
    assert stage.from_instruction.flags == {"platform": "freebsd/arm64"}


def test_copy_flags_quotes_and_double_dash():
    instr = parse_instruction('COPY --chown="www data" --link=false -- --weird-name /dst')
    assert instr.flags == {"chown": "www data", "link": "false"}
    assert instr.args == ["--weird-name", "/dst"]
    assert extract_flags("--a=1  --b='x y' rest of --line") == ("rest of --line", ["--a=1", "--b=x y"])
    assert extract_flags("  plain") == ("plain", [])
    assert parse_instruction("COPY --from= a b").flags == {"from": ""}


def test_json_edge_cases():
    assert parse_instruction("CMD []").args == [] and parse_instruction("CMD []").json_form
    assert parse_instruction("CMD").args == []
    assert parse_instruction('RUN ["a" "b"]').json_form is False  # malformed -> shell form
    assert parse_instruction('ENTRYPOINT ["a\\tb", "\\u00e9"]').args == ["a\tb", "é"]
    assert parse_instruction('COPY ["a", "b"]').json_form
    assert parse_instruction("VOLUME [/data]").args == ["[/data]"]


def test_instruction_original_and_str():
    instr = parse_instruction("  RUN   echo  hi  ", "Dockerfile", 3)
    assert (instr.original, str(instr), instr.args, instr.lineno) == ("RUN   echo  hi", "RUN   echo  hi", ["echo  hi"], 3)


def test_arg_pairs_and_expand():
    instr = parse_instruction('ARG A B=2 C="x y" D=$B')
    assert instr.pairs == [("A", None), ("B", "2"), ("C", '"x y"'), ("D", "$B")]
    assert expand(instr, {"B": "9"}).pairs == [("A", None), ("B", "2"), ("C", "x y"), ("D", "9")]


def test_expand_returns_a_copy():
    instr = parse_instruction("COPY --chown=$U:$U $SRC /dst")
    out = expand(instr, {"U": "www", "SRC": "app"})
    assert (out.args, out.flags) == (["app", "/dst"], {"chown": "www:www"})
    assert (instr.args, instr.flags) == (["$SRC", "/dst"], {"chown": "$U:$U"})


# --------------------------------------------------------------------------- substitution

@pytest.mark.parametrize("text, expected", [
    ("$A", "a"), ("${A}", "a"), ("x${A}y", "xay"), ("$A$B", "ab"), ("$A_x", ""),
    ("${UNSET}", ""), ("$UNSET-x", "-x"), ("$", "$"), ("a$", "a$"), ("$/x", "$/x"), ("$$", ""),
    ("${UNSET:-def}", "def"), ("${EMPTY:-def}", "def"), ("${EMPTY-def}", ""), ("${UNSET-def}", "def"),
    ("${A:-def}", "a"), ("${A:+alt}", "alt"), ("${EMPTY:+alt}", ""), ("${EMPTY+alt}", "alt"),
    ("${UNSET:+alt}", ""), ("${UNSET:-$A$B}", "ab"), ("${UNSET:-\"x y\"}", "x y"),
    ("${UNSET:-${B:-z}}", "b"),
    ("\\$A", "$A"), ("\\${A}", "${A}"), ("'$A'", "$A"), ('"$A"', "a"), ('"\\$A"', "$A"),
    ('"a\\b"', "a\\b"), ('"q\\"q"', 'q"q'), ("a\\ b", "a b"), ("a\\", "a"),
    ("'it''s'", "its"), ('"it\'s"', "it's"), ("  spaced  out ", "  spaced  out "),
    ("$1", ""), ("${A:?}", "a"),
])
def test_substitute(text, expected):
    env = {"A": "a", "B": "b", "EMPTY": ""}
    assert substitute(text, env) == expected


def test_substitute_backtick_escape():
    assert substitute("C:\\dir\\`$A", {"A": "x"}, escape="`") == "C:\\dir\\$A"
    assert substitute('"`"`$A"', {"A": "x"}, escape="`") == '"$A'


@pytest.mark.parametrize("text, message", [
    ("${A", "syntax error: missing '}'"), ("${", "syntax error: missing '}'"),
    ("${A:-x", "syntax error: missing '}'"), ("${}", "bad substitution"), ("${:x}", "bad substitution"),
    ("${A:%x}", "unsupported modifier (%)"), ("'abc", "matching single-quote"),
    ('"abc', "matching double-quote"), ("${UNSET:?need it}", "UNSET: need it"),
    ("${EMPTY:?}", "EMPTY: is not allowed to be empty"), ("${UNSET?}", "UNSET: is not allowed to be unset"),
])
def test_substitute_errors(text, message):
    with pytest.raises(ShellWordError, match=re.escape(message)):
        substitute(text, {"EMPTY": ""})


def test_substitute_words_splits_only_variable_text():
    env = {"P": "80  443/udp", "E": ""}
    assert substitute_words("$P", env) == ["80", "443/udp"]
    assert substitute_words('"$P"', env) == ["80  443/udp"]
    assert substitute_words("a\\ b c", env) == ["a b", "c"]
    assert substitute_words("$E", env) == []


def test_split_words_keeps_quotes():
    assert split_words('A="x y" B=\'z w\'  C=d\\ e ""') == ['A="x y"', "B='z w'", "C=d\\ e", '""']
    assert split_words("a`\n b", escape="`") == ["a`\n", "b"]
    assert split_words("x\\") == ["x"]


def test_split_key_values_forms():
    assert split_key_values("K v1 v2  v3") == [("K", "v1 v2  v3")]
    assert split_key_values('K="v 1" L=') == [("K", '"v 1"'), ("L", "")]
    with pytest.raises(ShellWordError, match="must have two arguments"):
        split_key_values("K")
    with pytest.raises(ShellWordError, match="can't find = in 'L'"):
        split_key_values("K=1 L")


# ----------------------------------------------------------------------- value helpers

def test_parse_duration():
    assert parse_duration("1m30s") == 90 * SECOND
    assert parse_duration("1.5h") == 5400 * SECOND
    assert parse_duration("300ms") == 300_000_000
    assert parse_duration(".5s") == SECOND // 2
    assert parse_duration("0") == 0
    assert parse_duration("-2s") == -2 * SECOND
    for bad in ("", "10", "s", "1x", "1h-2m", ".s"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_parse_port_spec():
    assert parse_port_spec("80") == ["80/tcp"]
    assert parse_port_spec("53/UDP") == ["53/udp"]
    assert parse_port_spec("9000-9002/sctp") == ["9000/sctp", "9001/sctp", "9002/sctp"]
    for bad in ("0", "70000", "80/icmp", "90-80", "http", "8080:80"):
        with pytest.raises(ValueError):
            parse_port_spec(bad)


def test_is_signal():
    assert all(map(is_signal, ["SIGTERM", "term", "9", "SIGINFO", "SIGRTMIN+3"]))
    assert not any(map(is_signal, ["0", "SIGFOO", "", "-1"]))


# ---------------------------------------------------------------------------- errors

def test_error_class():
    assert issubclass(DockerfileError, UsageError)
    from jocker.cli.exitcodes import exit_code
    assert exit_code(DockerfileError.kind, "build") == 1
    err = DockerfileError("Dockerfile", 7, "requires at least two arguments", "COPY")
    assert (str(err), err.lineno, err.instruction) == (
        "Dockerfile:7: COPY: requires at least two arguments", 7, "COPY")


@pytest.mark.parametrize("text, message", [
    ("", "Dockerfile:1: the Dockerfile (Dockerfile) cannot be empty"),
    ("# only a comment\n\n", "Dockerfile:1: the Dockerfile (Dockerfile) cannot be empty"),
    ("\\\n", "Dockerfile:1: the Dockerfile (Dockerfile) cannot be empty"),
    ("RUN echo\nFROM scratch", "Dockerfile:1: RUN: no build stage in current context"),
    ("ARG A=1\n", "Dockerfile:1: no FROM instruction"),
    ("FROM scratch\n\nFROBNICATE x", "Dockerfile:3: unknown instruction: FROBNICATE"),
    ("FROM scratch\nRUN a \\\n  b\nCOPY onlyone", "Dockerfile:4: COPY: requires at least two arguments"),
    ("FROM scratch\nADD x", "Dockerfile:2: ADD: requires at least two arguments"),
    ("FROM scratch\nENV", "Dockerfile:2: ENV: requires at least one argument"),
    ("FROM scratch\nENV FOO", "Dockerfile:2: ENV: must have two arguments"),
    ("FROM scratch\nENV A=1 B", "Dockerfile:2: ENV: syntax error - can't find = in 'B'"),
    ("FROM scratch\nENV =x", "Dockerfile:2: ENV: names can not be blank"),
    ("FROM scratch\nLABEL", "Dockerfile:2: LABEL: requires at least one argument"),
    ("FROM scratch\nARG", "Dockerfile:2: ARG: requires at least one argument"),
    ("FROM scratch\nARG =1", "Dockerfile:2: ARG: names can not be blank"),
    ("FROM", "Dockerfile:1: FROM: requires either one or three arguments"),
    ("FROM a b", "Dockerfile:1: FROM: requires either one or three arguments"),
    ("FROM a AS 1st", "Dockerfile:1: FROM: invalid name for build stage: '1st'"),
    ("FROM a AS x\nFROM b AS X", "Dockerfile:2: FROM: duplicate stage name 'x'"),
    ("ARG IMG\nFROM ${IMG}", "Dockerfile:2: FROM: base name (${IMG}) should not be blank"),
    ("FROM ${IMG", "Dockerfile:1: FROM: syntax error: missing '}'"),
    ("ARG A=${B\nFROM x", "Dockerfile:1: ARG: syntax error: missing '}'"),
    ("FROM --platfrom=x scratch", "Dockerfile:1: FROM: unknown flag: --platfrom"),
    ("FROM scratch\nRUN --mount=type=cache,target=/x make", "Dockerfile:2: RUN: unknown flag: --mount"),
    ("FROM scratch\nCOPY --from a b", "Dockerfile:2: COPY: missing a value on flag: --from"),
    ("FROM scratch\nCOPY --link= a b", "Dockerfile:2: COPY: missing a value on flag: --link"),
    ("FROM scratch\nCOPY --link=maybe a b", "Dockerfile:2: COPY: expecting boolean value for flag --link"),
    ("FROM scratch\nCOPY --chown=a --chown=b a b", "Dockerfile:2: COPY: duplicate flag specified: --chown"),
    ("FROM scratch\nADD --from=x a b", "Dockerfile:2: ADD: unknown flag: --from"),
    ("FROM scratch\nENV --x=1 A=b", "Dockerfile:2: ENV: unknown flag: --x"),
    ("FROM scratch\nSHELL /bin/sh -c", "Dockerfile:2: SHELL: requires the arguments to be in JSON form"),
    ("FROM scratch\nSHELL []", "Dockerfile:2: SHELL: requires at least one argument"),
    ("FROM scratch\nSHELL", "Dockerfile:2: SHELL: requires at least one argument"),
    ("FROM scratch\nRUN", "Dockerfile:2: RUN: requires at least one argument"),
    ('FROM scratch\nCMD ["a", 1]', "Dockerfile:2: CMD: when using JSON array syntax, arrays must be"),
    ("FROM scratch\nWORKDIR", "Dockerfile:2: WORKDIR: requires exactly one argument"),
    ("FROM scratch\nUSER", "Dockerfile:2: USER: requires exactly one argument"),
    ("FROM scratch\nSTOPSIGNAL", "Dockerfile:2: STOPSIGNAL: requires exactly one argument"),
    ("FROM scratch\nMAINTAINER", "Dockerfile:2: MAINTAINER: requires exactly one argument"),
    ("FROM scratch\nEXPOSE", "Dockerfile:2: EXPOSE: requires at least one argument"),
    ("FROM scratch\nVOLUME", "Dockerfile:2: VOLUME: requires at least one argument"),
    ('FROM scratch\nVOLUME ["/a", " "]', "Dockerfile:2: VOLUME: VOLUME specified can not be an empty string"),
    ("FROM scratch\nHEALTHCHECK", "Dockerfile:2: HEALTHCHECK: requires at least one argument"),
    ("FROM scratch\nHEALTHCHECK NONE x", "Dockerfile:2: HEALTHCHECK: HEALTHCHECK NONE takes no arguments"),
    ("FROM scratch\nHEALTHCHECK NONE x", "Dockerfile:2: HEALTHCHECK: HEALTHCHECK NONE takes no"),
    ("FROM scratch\nHEALTHCHECK RUN x", 'Dockerfile:2: HEALTHCHECK: unknown type "RUN" in HEALTHCHECK'),
    ("FROM scratch\nHEALTHCHECK CMD", "Dockerfile:2: HEALTHCHECK: missing command after HEALTHCHECK CMD"),
    ("FROM scratch\nHEALTHCHECK --interval=5 CMD x", "Dockerfile:2: HEALTHCHECK: --interval: invalid duration"),
    ("FROM scratch\nHEALTHCHECK --timeout=10us CMD x", "Dockerfile:2: HEALTHCHECK: --timeout cannot be less than 1ms"),
    ("FROM scratch\nHEALTHCHECK --retries=-1 CMD x", "Dockerfile:2: HEALTHCHECK: --retries cannot be negative (-1)"),
    ("FROM scratch\nHEALTHCHECK --retries=x CMD x", "Dockerfile:2: HEALTHCHECK: --retries: invalid integer"),
    ("FROM scratch\nHEALTHCHECK --verbose CMD x", "Dockerfile:2: HEALTHCHECK: unknown flag: --verbose"),
    ("FROM scratch\nONBUILD", "Dockerfile:2: ONBUILD: requires at least one argument"),
    ("FROM scratch\nONBUILD ONBUILD RUN x", "Dockerfile:2: ONBUILD: chaining ONBUILD via `ONBUILD ONBUILD`"),
    ("FROM scratch\nONBUILD FROM x", "Dockerfile:2: ONBUILD: FROM isn't allowed as an ONBUILD trigger"),
    ("FROM scratch\nonbuild maintainer x", "Dockerfile:2: ONBUILD: MAINTAINER isn't allowed"),
    ("FROM scratch\nONBUILD COPY x", "Dockerfile:2: COPY: requires at least two arguments"),
    ("FROM scratch\nONBUILD BOGUS x", "Dockerfile:2: unknown instruction: BOGUS"),
    ("# escape=x\nFROM scratch", "Dockerfile:1: invalid escape token 'x' does not match ` or \\"),
    ("# escape=`\n# escape=\\\nFROM scratch", "Dockerfile:2: only one escape parser directive can be used"),
])
def test_parse_errors(text, message):
    with pytest.raises(DockerfileError) as info:
        parse(text)
    assert str(info.value).startswith(message)
    assert info.value.kind == "invalid_dockerfile"


def test_error_names_the_file():
    with pytest.raises(DockerfileError, match=r"^app/Dockerfile.dev:2: COPY: "):
        parse("FROM scratch\nCOPY x", filename="app/Dockerfile.dev")


@pytest.mark.parametrize("line, env, message", [
    ("ENV A=${B", {}, "Dockerfile:5: ENV: syntax error: missing '}'"),
    ("COPY ${SRC:?required} /x", {}, "Dockerfile:5: COPY: SRC: required"),
    ("COPY ${SRC:?is required} /x", {}, "Dockerfile:5: COPY: syntax error: missing '}'"),
    ("EXPOSE $P", {"P": "80/icmp"}, "Dockerfile:5: EXPOSE: invalid proto 'icmp'"),
    ("EXPOSE 90-80", {}, "Dockerfile:5: EXPOSE: invalid range"),
    ("VOLUME $NOTHING", {}, "Dockerfile:5: VOLUME: VOLUME specified can not be an empty string"),
    ("STOPSIGNAL $SIG", {"SIG": "SIGNOPE"}, "Dockerfile:5: STOPSIGNAL: invalid signal: SIGNOPE"),
    ("COPY --chmod=$M a b", {"M": "rwx"}, "Dockerfile:5: COPY: invalid chmod parameter: rwx"),
    ("WORKDIR '/x", {}, "Dockerfile:5: WORKDIR: unexpected end of statement while looking for matching single-quote"),
])
def test_expand_errors(line, env, message):
    instr = parse_instruction(line, "Dockerfile", 5)
    with pytest.raises(DockerfileError) as info:
        expand(instr, env)
    assert str(info.value).startswith(message)


def test_run_cmd_entrypoint_never_substituted():
    for line in ("RUN echo $A ${B:-x}", "CMD echo $A", 'ENTRYPOINT ["echo", "$A"]', "HEALTHCHECK CMD echo $A",
                 'SHELL ["/bin/$SH"]', "MAINTAINER $A", "ONBUILD RUN $A"):
        instr = parse_instruction(line)
        assert expand(instr, {"A": "1", "B": "2", "SH": "sh"}).args == instr.args


def test_instruction_error_helper_for_build_engine():
    instr = parse_instruction("COPY missing.txt /x", "Dockerfile", 12)
    assert isinstance(instr, Instruction)
    assert str(instr.error("file not found in build context: missing.txt")) == (
        "Dockerfile:12: COPY: file not found in build context: missing.txt")
