"""Configuration: defaults < /usr/local/etc/jocker.conf < JOCKER_* environment
< command-line flags. Each value remembers where it came from, so `jocker info`
and `jocker system check` can say why a setting is what it is.

The file uses rc.conf-like lines, `key = value` or `key="value"`, with `#`
comments. Unknown keys are an error naming the file and line.
"""

from __future__ import annotations

import os

from .errors import UsageError

DEFAULT_CONFIG_FILE = "/usr/local/etc/jocker.conf"


# Plain classes, no dataclasses or pathlib: the warm CLI's client reads its
# two settings through this module (quick_values) before anything else is
# imported, so importing it must cost well under a millisecond.
class Option:
    __slots__ = ("key", "default", "help")

    def __init__(self, key: str, default: str, help: str):
        self.key, self.default, self.help = key, default, help

    def __repr__(self) -> str:
        return f"Option({self.key!r}, {self.default!r})"


OPTIONS: tuple[Option, ...] = (
    Option("dataset", "", "root dataset (e.g. zroot/jocker); empty: the embedded file-backed pool"),
    Option("mountpoint", "/var/db/jocker", "where the root dataset is mounted"),
    Option("rundir", "/var/run/jocker", "volatile state: PIDs, lock, generated jail.conf"),
    Option("pool_file", "/var/db/jocker-pool/jocker.img", "backing file of the embedded pool"),
    Option("pool_name", "jockerpool", "name of the embedded pool"),
    Option("pool_size", "4G", "size of the embedded pool's backing file (created sparse)"),
    Option("zfs_driver", "cli", "cli (zfs(8), default) or libzfs (py-libzfs)"),
    Option("runtime", "auto", "auto, jail (FreeBSD) or linux (namespaces, for development)"),
    Option("devfs_ruleset", "100", "number of jocker's own devfs ruleset (FreeBSD)"),
    Option("stop_timeout", "10", "default seconds between the stop signal and SIGKILL"),
    Option("forkserver_idle", "300", "seconds a fork-server of supervisors waits for the next start "
           "before it exits; 0: exec a new supervisor for every start"),
    Option("warm_cli_idle", "300", "seconds the warm CLI (a fork-server of pre-imported `jocker run` "
           "processes) waits for the next command before it exits; 0: every command starts its own "
           "interpreter"),
    Option("log_level", "warning", "debug, info, warning or error"),
    Option("api_group", "jocker", "group owning the API socket of `jocker serve` (mode 0660)"),
    Option("api_host", "unix:///var/run/jocker.sock", "where `jocker serve` listens by default and "
           "`jocker compose` points DOCKER_HOST"),
    Option("registries_search", "docker.io", "registries tried in order for short image names "
           "(space-separated)"),
    Option("insecure_registries", "", "registries reached over plain HTTP (space-separated "
           "host[:port]; localhost and 127.0.0.0/8 always are)"),
    Option("registry_timeout", "60", "seconds before a registry that does not answer is given up"),
    Option("registry_chunk_size", "32M", "pushes send blobs larger than this in chunks of this size"),
    Option("push_compression", "gzip", "compression of the layer blobs push makes: gzip (layers pulled "
           "or loaded keep theirs) or zstd (every layer zstd; `push --compression-format` overrides)"),
    Option("network_prefix", "jk", "first letters of every bridge, epair/veth, netns and nft table jocker creates"),
    Option("network_pool", "10.88.0.0/13", "address pool networks get their subnets from (10.88.0.0/16 first)"),
    Option("network_size", "16", "prefix length of a subnet taken from network_pool"),
)
_BY_KEY = {o.key: o for o in OPTIONS}
_ENV_PREFIX = "JOCKER_"


class Config:
    def __init__(self, values: dict[str, str] | None = None, sources: dict[str, str] | None = None,
                 file: str | None = None):
        self.values = {} if values is None else values
        self.sources = {} if sources is None else sources
        self.file = file

    def __getattr__(self, key: str) -> str:
        try:
            return self.__dict__["values"][key]
        except KeyError:
            raise AttributeError(key) from None

    def int(self, key: str) -> int:
        try:
            return int(self.values[key])
        except ValueError:
            raise UsageError(f"configuration {key}={self.values[key]!r} ({self.sources[key]}): "
                             "expected a whole number") from None

    @property
    def root(self) -> str:
        """The root dataset jocker owns."""
        return root_dataset(self.values)

    @property
    def embedded(self) -> bool:
        return not self.values["dataset"]

    def runtime_name(self) -> str:
        value = self.values["runtime"]
        if value == "auto":
            return "jail" if os.uname().sysname == "FreeBSD" else "linux"
        return value


def parse_file(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise UsageError(f"configuration file {path}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise UsageError(f"configuration file {path} is not UTF-8 text (byte {e.start})") from None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise UsageError(f"{path}:{lineno}: expected `key = value`, got {raw.strip()!r}")
        key, value = (s.strip() for s in line.split("=", 1))
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if key not in _BY_KEY:
            raise UsageError(f"{path}:{lineno}: unknown setting {key!r}",
                             hint="known: " + ", ".join(sorted(_BY_KEY)))
        out[key] = value
    return out


def root_dataset(values) -> str:
    """The root dataset named by the `dataset` and `pool_name` settings
    (a Config's, or quick_values' of those two keys)."""
    return values["dataset"] or f"{values['pool_name']}/jocker"


def quick_values(keys: tuple[str, ...], environ: dict[str, str] | None = None) -> dict[str, str]:
    """Some settings as load() would give them (defaults < file < JOCKER_*),
    without validation and without command-line overrides: the warm CLI's
    client calls this before it has parsed any flag. Raises UsageError (or
    OSError) where load() would fail; the caller then goes the full way."""
    env = os.environ if environ is None else environ
    out = {k: _BY_KEY[k].default for k in keys}
    path = env.get("JOCKER_CONFIG") or DEFAULT_CONFIG_FILE
    if os.path.exists(path):
        out.update({k: v for k, v in parse_file(path).items() if k in out})
    elif env.get("JOCKER_CONFIG"):
        raise UsageError(f"configuration file {path} does not exist")
    for k in keys:
        out[k] = env.get(_ENV_PREFIX + k.upper(), out[k])
    return out


def load(config_file: str | None = None, overrides: dict[str, str | None] | None = None,
         environ: dict[str, str] | None = None) -> Config:
    """Merge defaults, the config file, JOCKER_* variables and flag overrides."""
    env = os.environ if environ is None else environ
    cfg = Config()
    for opt in OPTIONS:
        cfg.values[opt.key] = opt.default
        cfg.sources[opt.key] = "default"
    path = config_file or env.get("JOCKER_CONFIG") or DEFAULT_CONFIG_FILE
    explicit = bool(config_file or env.get("JOCKER_CONFIG"))
    if os.path.exists(path):
        for key, value in parse_file(path).items():
            cfg.values[key] = value
            cfg.sources[key] = path
        cfg.file = path
    elif explicit:
        raise UsageError(f"configuration file {path} does not exist",
                         hint="create it from jocker.conf.sample or drop --config/JOCKER_CONFIG")
    for opt in OPTIONS:
        name = _ENV_PREFIX + opt.key.upper()
        if name in env:
            cfg.values[opt.key] = env[name]
            cfg.sources[opt.key] = f"environment {name}"
    for key, value in (overrides or {}).items():
        if value is not None:
            cfg.values[key] = value
            cfg.sources[key] = "command line"
    _validate(cfg)
    return cfg


def _validate(cfg: Config) -> None:
    from .names import check_printable

    for key, value in cfg.values.items():
        check_printable(value, f"setting {key}")
    ds = cfg.values["dataset"]
    if ds and (ds.startswith("/") or ds.endswith("/") or "@" in ds or ".." in ds or " " in ds):
        raise UsageError(f"invalid dataset {ds!r} ({cfg.sources['dataset']}): expected pool/path, "
                         "e.g. zroot/jocker")
    for key in ("mountpoint", "rundir", "pool_file"):
        if not cfg.values[key].startswith("/"):
            raise UsageError(f"{key} must be an absolute path, got {cfg.values[key]!r} ({cfg.sources[key]})")
        if os.path.normpath(cfg.values[key]) == "/" or ".." in cfg.values[key].split("/"):
            raise UsageError(f"{key} cannot be / or contain '..', got {cfg.values[key]!r} "
                             f"({cfg.sources[key]}): jocker makes it private (0700) and owns what is in it")
    if cfg.values["log_level"].lower() not in ("debug", "info", "warning", "error"):
        raise UsageError(f"log_level must be debug, info, warning or error, got "
                         f"{cfg.values['log_level']!r} ({cfg.sources['log_level']})")
    if cfg.values["zfs_driver"] not in ("cli", "libzfs"):
        raise UsageError(f"zfs_driver must be cli or libzfs, got {cfg.values['zfs_driver']!r}")
    if cfg.values["runtime"] not in ("auto", "jail", "linux"):
        raise UsageError(f"runtime must be auto, jail or linux, got {cfg.values['runtime']!r}")
    cfg.int("devfs_ruleset")
    cfg.int("stop_timeout")
    cfg.int("warm_cli_idle")
    cfg.int("registry_timeout")
    from .net.ipam import parse_subnet
    from .net.naming import check_prefix
    check_prefix(cfg.values["network_prefix"])
    parse_subnet(cfg.values["network_pool"])
    cfg.int("network_size")
