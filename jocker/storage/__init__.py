"""Storage: the ZFS driver interface, its implementations and property encoding."""
