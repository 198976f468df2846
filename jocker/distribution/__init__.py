"""Shipping images: the OCI distribution client (pull, push, login), image
archives (save, load) and the ZFS host-to-host path."""
