"""Bad inputs (issue 9, items 12-13): each is refused before anything is
made, with one `Error:` line, no traceback, exit status 125. The README's
figure counts this table."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.reliability

RUN = ["run", "--rm"]
BAD_RUN_FLAGS = [
    ["--hostname", "h" * 65], ["--hostname", "bad host"], ["-u", "99999999999"], ["-u", "0:99999999999"],
    ["--memory", "inf"], ["--memory", "1e400"], ["--memory", " "], ["--memory", "99999999999999999999g"],
    ["--memory", "-5m"], ["--memory", "lots"], ["--cpus", "nan"], ["--cpus", "inf"], ["--cpus", "1e400"],
    ["--cpus", "0"], ["--cpus", "-1"], ["-v", "/tmp:/proc"], ["-v", "/tmp:/proc/sys"], ["-v", "/tmp:/"],
    ["-v", "/tmp:relative"], ["-v", "/tmp:/x:rx"], ["--stop-signal", "0"], ["--stop-signal", "999"],
    ["--stop-signal", ""], ["--stop-signal", "SIGFOO"], ["--cap-add", "NOPE"], ["--cap-drop", "CAP_"],
    ["--security-opt", "bogus"], ["--security-opt", "seccomp=/x.json"],
    ["--security-opt", "no-new-privileges=maybe"], ["--restart", "sometimes"], ["--name", "bad name"],
    ["-w", "relative/dir"], ["--securelevel", "7"], ["--restart", "always", "--rm"],
]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "latin1.env").write_bytes(b"A=caf\xe9\n")
    (d / "nul.env").write_bytes(b"A=b\0c\n")
    (d / "latin1.conf").write_bytes(b"log_level = caf\xe9\n")
    return d


def _one_line_error(p) -> bool:
    err = p.stderr if isinstance(p.stderr, str) else p.stderr.decode(errors="replace")
    return "Traceback" not in err and sum(1 for l in err.splitlines() if l.startswith("Error")) == 1


@pytest.mark.parametrize("flags", BAD_RUN_FLAGS, ids=lambda f: " ".join(f)[:40])
def test_bad_run_flags(jocker, busybox_image, flags):
    p = jocker(*RUN, *flags, busybox_image, "true", check=False)
    assert p.returncode == 125 and _one_line_error(p), p.stderr
    assert jocker("ps", "-aq").stdout == ""          # nothing was made


@pytest.mark.parametrize("case", ["latin1.env", "nul.env", "dir-env", "latin1.conf", "dir-conf",
                                  "rundir", "log_level", "import-change"])
def test_bad_files_and_settings(jocker, busybox_image, busybox_rootfs, bad_files, case):
    if case in ("latin1.env", "nul.env", "dir-env"):
        path = bad_files if case == "dir-env" else bad_files / case
        p = jocker(*RUN, "--env-file", path, busybox_image, "true", check=False)
    elif case in ("latin1.conf", "dir-conf"):
        path = bad_files if case == "dir-conf" else bad_files / case
        p = jocker("--config", path, "ps", check=False)
    elif case == "rundir":
        p = jocker("ps", env={"JOCKER_RUNDIR": "/"}, check=False)
    elif case == "log_level":
        p = jocker("ps", env={"JOCKER_LOG_LEVEL": "nonsense"}, check=False)
    else:
        p = jocker("import", "-c", "BOGUS", busybox_rootfs, "bogus:1", check=False)
    assert p.returncode == 125 and _one_line_error(p), p.stderr
