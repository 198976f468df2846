#!/bin/sh
# Build a tiny rootfs from a static busybox: the Linux workbench's stand-in
# for FreeBSD's base.txz. Usage: make-busybox-rootfs.sh DEST_DIR
set -eu
dest=${1:?usage: make-busybox-rootfs.sh DEST_DIR}
bb=${BUSYBOX:-/bin/busybox}
if ! "$bb" --list >/dev/null 2>&1; then
	echo "make-busybox-rootfs: $bb is not a busybox binary (apt-get install busybox-static)" >&2
	exit 1
fi
mkdir -p "$dest/bin" "$dest/sbin" "$dest/usr/bin" "$dest/usr/sbin" "$dest/etc" \
	"$dest/dev" "$dest/proc" "$dest/tmp" "$dest/root" "$dest/var/tmp"
chmod 1777 "$dest/tmp" "$dest/var/tmp"
cp "$bb" "$dest/bin/busybox"
for applet in $("$bb" --list); do
	[ "$applet" = busybox ] || ln -sf busybox "$dest/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dest/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$dest/etc/group"
