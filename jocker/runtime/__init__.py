"""Runtime drivers: jails on FreeBSD, Linux namespaces on the workbench."""
