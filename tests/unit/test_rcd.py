"""The rc.d script (rc.d/jocker.in, installed by the port as
%%PREFIX%%/etc/rc.d/jocker), run off FreeBSD against a small stand-in for
/etc/rc.subr.

The stand-in implements what the script relies on, following rc.subr(8) and
libexec/rc/rc.subr: load_rc_config sources rc.conf; checkyesno accepts
YES/TRUE/ON/1 and NO/FALSE/OFF/0 in any case and warns otherwise;
run_rc_command strips the fast/force/one/quiet prefixes, refuses unknown
verbs with a usage message, sets rc_flags from ${name}_flags (or $flags),
refuses every verb except status (and stop of a running process) when
${rcvar} is not YES -- printing rc.subr's own "Cannot 'start' ..." line and
returning 0 -- runs <verb>_precmd/<verb>_cmd/<verb>_postcmd, and implements
the default restart (stop then start, each in a subshell). jocker itself and
daemon(8) are replaced by scripts that log their argv.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "rc.d" / "jocker.in"
PORT_COPY = REPO / "ports" / "sysutils" / "jocker" / "files" / "jocker.in"
SEP = "\x1f"

STUB_RC_SUBR = r'''
# Test stand-in for /etc/rc.subr: the subset jocker's script uses.
_stub_rc_conf="@RC_CONF@"

warn() { echo "$0: WARNING: $*" >&2; }
err() { _e=$1; shift; echo "$0: ERROR: $*" >&2; exit "$_e"; }
info() { echo "$0: INFO: $*"; }
debug() { :; }

checkyesno()
{
	eval _value=\$${1}
	case $_value in
	[Yy][Ee][Ss]|[Tt][Rr][Uu][Ee]|[Oo][Nn]|1)
		return 0 ;;
	[Nn][Oo]|[Ff][Aa][Ll][Ss][Ee]|[Oo][Ff][Ff]|0)
		return 1 ;;
	*)
		warn "\$${1} is not set properly - see rc.conf(5)."
		return 1 ;;
	esac
}

load_rc_config()
{
	if [ -z "${_rc_conf_loaded}" ] && [ -r "${_stub_rc_conf}" ]; then
		. "${_stub_rc_conf}"
		_rc_conf_loaded=true
	fi
}

# FreeBSD's init reaps orphans at once; this test host's pid 1 may not, so a
# zombie counts as gone.
_stub_alive()
{
	kill -0 "$1" 2>/dev/null || return 1
	case "$(ps -o stat= -p "$1" 2>/dev/null)" in
	Z*) return 1 ;;
	esac
	return 0
}

check_pidfile()
{
	[ -f "$1" ] || return 0
	read _pid _junk < "$1"
	if [ -n "${_pid}" ] && _stub_alive "${_pid}"; then
		echo "${_pid}"
	fi
}

wait_for_pids()
{
	for _p in "$@"; do
		_n=0
		while _stub_alive "${_p}" && [ ${_n} -lt 100 ]; do
			sleep 0.05
			_n=$((_n + 1))
		done
	done
}

rc_usage()
{
	echo -n 1>&2 "Usage: $0 [fast|force|one|quiet]("
	_pref=
	for _elem; do
		echo -n 1>&2 "$_pref$_elem"
		_pref="|"
	done
	echo 1>&2 ")"
	exit 1
}

run_rc_command()
{
	_return=0
	rc_arg=$1
	shift 1
	rc_extra_args="$*"
	_rc_prefix=
	case "$rc_arg" in
	fast*)
		rc_arg=${rc_arg#fast}; rc_fast=yes; rc_quiet=yes ;;
	force*)
		rc_force=yes; _rc_prefix=force; rc_arg=${rc_arg#force}
		[ -n "${rcvar}" ] && eval ${rcvar}=YES ;;
	one*)
		_rc_prefix=one; rc_arg=${rc_arg#one}
		[ -n "${rcvar}" ] && eval ${rcvar}=YES ;;
	quiet*)
		_rc_prefix=quiet; rc_arg=${rc_arg#quiet}; rc_quiet=yes ;;
	esac

	_keywords="start stop restart rcvar enabled $extra_commands"
	rc_pid=
	_procname=${procname:-${command}}
	if [ -n "${_procname}" ]; then
		if [ -n "${pidfile}" ]; then
			rc_pid=$(check_pidfile "${pidfile}" "${_procname}")
		fi
		_keywords="${_keywords} status poll"
	elif [ -n "${status_cmd}" ]; then
		_keywords="${_keywords} status"
	fi
	[ -n "$rc_arg" ] || rc_usage $_keywords
	if [ "$rc_arg" = "enabled" ]; then
		checkyesno ${rcvar}
		return $?
	fi
	if [ -n "$flags" ]; then
		rc_flags=$flags
	else
		eval rc_flags=\$${name}_flags
	fi

	for _elem in $_keywords; do
		[ "$_elem" = "$rc_arg" ] || continue
		_gated=
		if [ -n "${rcvar}" ]; then
			case "$rc_arg" in
			rcvar|status|describe|enable|delete) ;;
			stop) [ -n "${rc_pid}" ] || _gated=yes ;;
			*) _gated=yes ;;
			esac
		fi
		if [ -n "${_gated}" ] && ! checkyesno ${rcvar}; then
			if [ -z "${rc_quiet}" ]; then
				echo -n "Cannot '${rc_arg}' $name. Set ${rcvar} to "
				echo -n "YES in /etc/rc.conf or use 'one${rc_arg}' "
				echo "instead of '${rc_arg}'."
			fi
			return 0
		fi

		eval _cmd=\$${rc_arg}_cmd _precmd=\$${rc_arg}_precmd \
		    _postcmd=\$${rc_arg}_postcmd
		if [ -n "$_cmd" ]; then
			if [ -n "$_precmd" ]; then
				eval "$_precmd $rc_extra_args"
				_return=$?
				[ $_return -ne 0 ] && [ -z "$rc_force" ] && return 1
			fi
			eval "$_cmd $rc_extra_args"
			_return=$?
			[ $_return -ne 0 ] && [ -z "$rc_force" ] && return 1
			if [ -n "$_postcmd" ]; then
				eval "$_postcmd $rc_extra_args"
				_return=$?
			fi
			return $_return
		fi

		case "$rc_arg" in
		restart)
			( run_rc_command ${_rc_prefix}stop $rc_extra_args )
			( run_rc_command ${_rc_prefix}start $rc_extra_args )
			_return=$?
			[ $_return -ne 0 ] && [ -z "$rc_force" ] && return 1
			return $_return
			;;
		rcvar)
			echo "# $name"
			echo "${rcvar}=\"$(eval echo \$${rcvar})\""
			return 0
			;;
		*)
			echo 1>&2 "stub rc.subr: no default '$rc_arg' method"
			return 2
			;;
		esac
	done

	echo 1>&2 "$0: unknown directive '$rc_arg'."
	rc_usage $_keywords
}
'''

FAKE_JOCKER = r'''#!/bin/sh
printf '%s\037' jocker "$@" >> "@LOG@"
printf '\n' >> "@LOG@"
case " $* " in
*" ${FAKE_JOCKER_FAIL:-@@none@@} "*) echo "jocker: failing on purpose" >&2; exit 3 ;;
esac
case " $* " in
*" ps "*) echo "CONTAINER ID   IMAGE   COMMAND   CREATED   STATUS   PORTS   NAMES" ;;
esac
exit 0
'''

# Logs its argv, then plays daemon(8) -P: a background process whose pid
# goes into the supervisor pidfile.
FAKE_DAEMON = r'''#!/bin/sh
printf '%s\037' daemon "$@" >> "@LOG@"
printf '\n' >> "@LOG@"
sup=
while getopts cfrSt:P:p:o:T:u:R:l:s:m:H opt; do
	case $opt in
	P) sup=$OPTARG ;;
	esac
done
sleep 300 >/dev/null 2>&1 </dev/null &
[ -n "$sup" ] && echo $! > "$sup"
exit 0
'''


class RcEnv:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.prefix = tmp / "prefix"
        (self.prefix / "bin").mkdir(parents=True)
        (self.prefix / "etc").mkdir()
        self.log = tmp / "calls.log"
        self.rc_conf = tmp / "rc.conf"
        self.rc_conf.write_text("")
        self.pidfile = tmp / "jocker_api.pid"
        self.apilog = tmp / "jocker_api.log"
        (tmp / "rc.subr").write_text(STUB_RC_SUBR.replace("@RC_CONF@", str(self.rc_conf)))
        self.jocker = self.prefix / "bin" / "jocker"
        self._exe(self.jocker, FAKE_JOCKER)
        self.daemon = tmp / "daemon"
        self._exe(self.daemon, FAKE_DAEMON)
        text = SCRIPT.read_text()
        for old, new in ((". /etc/rc.subr", f". {tmp / 'rc.subr'}"),
                         ("/usr/sbin/daemon", str(self.daemon))):
            assert text.count(old) == 1, f"expected exactly one {old!r} in {SCRIPT}"
            text = text.replace(old, new)
        text = text.replace("%%PREFIX%%", str(self.prefix))
        assert "%%" not in text, "unsubstituted placeholder besides %%PREFIX%%"
        self.script = tmp / "jocker"
        self._exe(self.script, text)

    def _exe(self, path: Path, text: str) -> None:
        path.write_text(text.replace("@LOG@", str(self.log)))
        path.chmod(0o755)

    def conf(self, **knobs: str) -> None:
        base = {"jocker_api_pidfile": str(self.pidfile), "jocker_api_log": str(self.apilog)}
        base.update(knobs)
        self.rc_conf.write_text("".join(f'{k}="{v}"\n' for k, v in base.items()))

    def run(self, verb: str, **env: str) -> subprocess.CompletedProcess:
        if self.log.exists():
            self.log.unlink()
        full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
        return subprocess.run(["sh", str(self.script), verb], capture_output=True, text=True,
                              env=full, cwd=self.tmp, timeout=30)

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [line.rstrip(SEP).split(SEP) for line in self.log.read_text().splitlines()]

    def kill_api(self) -> None:
        if self.pidfile.exists():
            try:
                os.kill(int(self.pidfile.read_text().split()[0]), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass


@pytest.fixture
def rc(tmp_path):
    env = RcEnv(tmp_path)
    yield env
    env.kill_api()


def test_port_copy_is_identical():
    assert PORT_COPY.read_bytes() == SCRIPT.read_bytes(), (
        "ports/sysutils/jocker/files/jocker.in must equal rc.d/jocker.in: "
        "cp rc.d/jocker.in ports/sysutils/jocker/files/jocker.in")


def test_sh_syntax():
    proc = subprocess.run(["sh", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_rc_conventions():
    text = SCRIPT.read_text()
    lines = text.splitlines()
    assert lines[0] == "#!/bin/sh"
    assert "# PROVIDE: jocker" in lines
    require = next(line for line in lines if line.startswith("# REQUIRE:")).split()[2:]
    assert {"LOGIN", "zfs"} <= set(require)
    # base libexec/rc/rc.d/jail: KEYWORD nojail shutdown; ports sysutils/iocage/files/iocage.in: BEFORE securelevel
    assert "# KEYWORD: nojail shutdown" in lines
    assert "# BEFORE: securelevel" in lines
    assert "kernel modules, pf anchors" not in text, "system prepare loads no kernel modules"
    assert 'name="jocker"' in lines and 'rcvar="jocker_enable"' in lines
    assert "/usr/local" not in text, "use %%PREFIX%%, never a literal /usr/local"
    load = lines.index("load_rc_config $name")
    defaults = [i for i, line in enumerate(lines) if line.startswith(": ${jocker_")]
    assert defaults and min(defaults) > load, "defaults go after load_rc_config"
    assert ': ${jocker_enable:="NO"}' in lines and ': ${jocker_api_enable:="NO"}' in lines
    for knob in ("jocker_flags", "jocker_config", "jocker_api_socket", "jocker_api_flags",
                 "jocker_api_pidfile", "jocker_api_log"):
        assert any(line.startswith(f": ${{{knob}=") for line in lines), knob
        assert f"# {knob} (" in text, f"{knob} is not documented in the header"
    assert lines[-1] == 'run_rc_command "$1"'
    assert not any(line.startswith("command=") for line in lines), (
        "no `command`: rc.subr would look for a jocker process")


def test_start_runs_prepare_then_boot(rc):
    rc.conf(jocker_enable="YES")
    proc = rc.run("start")
    assert proc.returncode == 0, proc.stderr
    # the default config file does not exist: jocker runs on built-in defaults
    assert rc.calls() == [["jocker", "system", "prepare"], ["jocker", "system", "boot"]]
    assert "Starting jocker." in proc.stdout


def test_global_flags_and_config_go_before_the_subcommand(rc):
    conf = rc.prefix / "etc" / "jocker.conf"
    conf.write_text("")
    rc.conf(jocker_enable="YES", jocker_flags="--debug --dataset tank/jocker")
    assert rc.run("start").returncode == 0
    assert rc.calls() == [
        ["jocker", "--debug", "--dataset", "tank/jocker", "--config", str(conf), "system", "prepare"],
        ["jocker", "--debug", "--dataset", "tank/jocker", "--config", str(conf), "system", "boot"],
    ]


def test_flags_from_the_environment_override_jocker_flags(rc):
    rc.conf(jocker_enable="YES", jocker_flags="--debug")
    assert rc.run("stop", flags="-D").returncode == 0
    assert rc.calls() == [["jocker", "-D", "system", "shutdown"]]


def test_explicit_config_is_passed_even_when_missing(rc):
    rc.conf(jocker_enable="YES", jocker_config="/nonexistent/jocker.conf")
    rc.run("start")
    assert rc.calls()[0] == ["jocker", "--config", "/nonexistent/jocker.conf", "system", "prepare"]


def test_empty_config_knob_never_passes_config(rc):
    (rc.prefix / "etc" / "jocker.conf").write_text("")
    rc.conf(jocker_enable="YES", jocker_config="")
    rc.run("stop")
    assert rc.calls() == [["jocker", "system", "shutdown"]]


def test_stop_shuts_containers_down(rc):
    rc.conf(jocker_enable="YES")
    proc = rc.run("stop")
    assert proc.returncode == 0, proc.stderr
    assert rc.calls() == [["jocker", "system", "shutdown"]]


def test_status_lists_containers_even_when_disabled(rc):
    rc.conf(jocker_enable="NO")
    proc = rc.run("status")
    assert proc.returncode == 0, proc.stderr
    assert rc.calls() == [["jocker", "ps"]]
    assert "CONTAINER ID" in proc.stdout


@pytest.mark.parametrize("verb", ["start", "stop", "restart", "reload", "check"])
def test_disabled_service_does_nothing(rc, verb):
    rc.conf(jocker_enable="NO")
    proc = rc.run(verb)
    assert proc.returncode == 0
    assert rc.calls() == []
    assert (f"Cannot '{verb}' jocker. Set jocker_enable to YES in /etc/rc.conf "
            f"or use 'one{verb}' instead of '{verb}'.") in proc.stdout


def test_unset_enable_knob_defaults_to_no(rc):
    rc.conf()
    proc = rc.run("start")
    assert rc.calls() == [] and "Cannot 'start' jocker" in proc.stdout


def test_quietstart_says_nothing_and_onestart_runs_anyway(rc):
    rc.conf(jocker_enable="NO")
    proc = rc.run("quietstart")
    assert (proc.stdout, rc.calls()) == ("", [])
    proc = rc.run("onestart")
    assert proc.returncode == 0, proc.stderr
    assert rc.calls() == [["jocker", "system", "prepare"], ["jocker", "system", "boot"]]
    proc = rc.run("onestop")
    assert rc.calls() == [["jocker", "system", "shutdown"]]


def test_failed_prepare_starts_nothing(rc):
    rc.conf(jocker_enable="YES", jocker_api_enable="YES")
    proc = rc.run("start", FAKE_JOCKER_FAIL="prepare")
    assert proc.returncode != 0
    assert rc.calls() == [["jocker", "system", "prepare"]]
    assert "no containers started" in proc.stderr


def test_failed_boot_is_reported(rc):
    rc.conf(jocker_enable="YES")
    proc = rc.run("start", FAKE_JOCKER_FAIL="boot")
    assert proc.returncode != 0
    assert rc.calls() == [["jocker", "system", "prepare"], ["jocker", "system", "boot"]]


def test_restart_is_stop_then_start(rc):
    rc.conf(jocker_enable="YES")
    assert rc.run("restart").returncode == 0
    assert rc.calls() == [["jocker", "system", "shutdown"], ["jocker", "system", "prepare"],
                          ["jocker", "system", "boot"]]


def test_extra_commands(rc):
    rc.conf(jocker_enable="YES")
    assert rc.run("reload").returncode == 0
    assert rc.calls() == [["jocker", "system", "prepare"]]
    assert rc.run("check").returncode == 0
    assert rc.calls() == [["jocker", "system", "check"]]


def test_unknown_verb_prints_usage(rc):
    rc.conf(jocker_enable="YES")
    proc = rc.run("frobnicate")
    assert proc.returncode == 1
    assert "unknown directive 'frobnicate'" in proc.stderr
    assert "start|stop|restart" in proc.stderr and "reload|check" in proc.stderr
    assert rc.calls() == []


def test_api_server_under_daemon(rc):
    conf = rc.prefix / "etc" / "jocker.conf"
    conf.write_text("")
    rc.conf(jocker_enable="YES", jocker_api_enable="YES", jocker_flags="--debug",
            jocker_api_socket="/var/run/jk.sock", jocker_api_flags="--tls-off")
    proc = rc.run("start")
    assert proc.returncode == 0, proc.stderr
    calls = rc.calls()
    assert calls[:2] == [["jocker", "--debug", "--config", str(conf), "system", "prepare"],
                         ["jocker", "--debug", "--config", str(conf), "system", "boot"]]
    assert calls[2] == ["jocker", "serve", "--help"]      # is there an API server at all?
    assert calls[3] == ["daemon", "-f", "-r", "-H", "-t", "jocker-api", "-P", str(rc.pidfile),
                        "-o", str(rc.apilog), str(rc.jocker), "--debug", "--config", str(conf),
                        "serve", "--host", "unix:///var/run/jk.sock", "--tls-off"]
    assert len(calls) == 4
    pid = int(rc.pidfile.read_text())

    proc = rc.run("status")
    assert proc.returncode == 0
    assert f"jocker API server is running as pid {pid}." in proc.stdout

    proc = rc.run("start")                      # a second start does not start a second server
    assert "already running" in proc.stdout
    assert [c[0] for c in rc.calls()] == ["jocker", "jocker"]

    proc = rc.run("stop")
    assert proc.returncode == 0, proc.stderr
    assert "Stopping jocker API server." in proc.stdout
    assert rc.calls() == [["jocker", "--debug", "--config", str(conf), "system", "shutdown"]]
    ps = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
    assert ps.stdout.strip() in ("", "Z"), "the API server survived stop"

    proc = rc.run("status")
    assert proc.returncode != 0 and "jocker API server is not running." in proc.stdout


def test_api_enabled_without_a_server_warns_and_starts_no_daemon(rc):
    rc.conf(jocker_enable="YES", jocker_api_enable="YES")
    proc = rc.run("start", FAKE_JOCKER_FAIL="serve")
    assert proc.returncode == 0, proc.stderr
    assert "no API server" in proc.stderr
    assert not any(c[0] == "daemon" for c in rc.calls()) and not rc.pidfile.exists()


def test_api_disabled_starts_no_daemon(rc):
    rc.conf(jocker_enable="YES", jocker_api_enable="NO")
    rc.run("start")
    assert all(c[0] == "jocker" for c in rc.calls())
    assert not rc.pidfile.exists()


def test_shellcheck():
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck is not installed (apt-get install shellcheck / pkg install hs-ShellCheck)")
    # Excluded, each on purpose:
    #  SC1091  /etc/rc.subr is not there to follow off FreeBSD
    #  SC2034  name, desc, rcvar, *_cmd, extra_commands are read by rc.subr
    #  SC2154  rc_flags is set by run_rc_command
    #  SC2086  ${rc_flags} and ${jocker_api_flags} are split into words on purpose
    #  SC2223  `: ${knob:=default}` is the rc.d idiom (porters-handbook)
    proc = subprocess.run(["shellcheck", "-s", "sh", "-e", "SC1091,SC2034,SC2154,SC2086,SC2223",
                           str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
