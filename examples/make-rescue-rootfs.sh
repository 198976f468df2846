#!/bin/sh
# FreeBSD: a tiny rootfs from /rescue, whose tools are one statically linked
# binary (no libraries needed). The FreeBSD test tier's base image; for real
# work import base.txz instead. Usage: make-rescue-rootfs.sh DEST_DIR
set -eu
dest=${1:?usage: make-rescue-rootfs.sh DEST_DIR}
[ -x /rescue/sh ] || { echo "make-rescue-rootfs: /rescue/sh not found (FreeBSD only)" >&2; exit 1; }
mkdir -p "$dest/bin" "$dest/sbin" "$dest/usr/bin" "$dest/etc" "$dest/dev" "$dest/tmp" "$dest/root" "$dest/var/tmp"
chmod 1777 "$dest/tmp" "$dest/var/tmp"
cp /rescue/sh "$dest/bin/sh"
for tool in /rescue/*; do
	name=${tool##*/}
	[ "$name" = sh ] || ln "$dest/bin/sh" "$dest/bin/$name" 2>/dev/null || true
done
ln -s ../bin/env "$dest/usr/bin/env" 2>/dev/null || true
# jexec -U looks users up in the jail's pwd.db: build it from master.passwd.
printf 'root:*:0:0::0:0:Charlie &:/root:/bin/sh\nnobody:*:65534:65534::0:0:Unprivileged user:/nonexistent:/usr/sbin/nologin\n' > "$dest/etc/master.passwd"
chmod 600 "$dest/etc/master.passwd"
pwd_mkdb -p -d "$dest/etc" "$dest/etc/master.passwd"
printf 'wheel:*:0:root\nnobody:*:65534:\nnogroup:*:65533:\n' > "$dest/etc/group"
