"""jocker: a Docker-style container engine for FreeBSD (jails, ZFS, pf)."""

__version__ = "0.1.0"
API_VERSION = "1.44"
