"""Storage: the ZFS driver interface, its implementations and property encoding."""


def make_driver(name: str, runner=None):
    """The ZFS driver named by the `zfs_driver` setting."""
    if name == "libzfs":
        from .zfs_libzfs import ZfsLibzfs
        return ZfsLibzfs()
    from .zfs_cli import ZfsCli
    return ZfsCli(runner)
