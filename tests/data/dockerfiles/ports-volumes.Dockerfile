FROM ghcr.io/freebsd/freebsd-runtime:14.3
ARG EXTRA_PORTS="9100 9101/udp"
EXPOSE 80 443/tcp 53/udp
EXPOSE 8000-8003 7000-7001/udp
EXPOSE $EXTRA_PORTS
VOLUME ["/var/db/app", "/var/log/app"]
VOLUME /data /cache
VOLUME $HOME/vol
