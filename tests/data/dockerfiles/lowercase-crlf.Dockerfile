from ghcr.io/freebsd/freebsd-runtime:14.3 as Build
run echo crlf line endings
workdir /root
cmd ["/bin/sh"]
