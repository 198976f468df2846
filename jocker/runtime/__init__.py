"""Runtime drivers: jails on FreeBSD, Linux namespaces on the workbench."""


def select_driver(engine):
    """The driver named by the `runtime` setting (auto: by host system)."""
    name = engine.config.runtime_name()
    if name == "jail":
        from .freebsd_jail import JailDriver
        from .jail_plan import JailConfig
        n = engine.config.int("devfs_ruleset")
        return JailDriver(engine.runner, JailConfig(n, state_dir=engine.layout.rundir))
    from .linux_ns import LinuxNamespaceDriver
    return LinuxNamespaceDriver(engine.runner, store_dirs=engine.layout.clone_mount_dirs())
