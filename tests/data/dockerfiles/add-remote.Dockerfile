FROM ghcr.io/freebsd/freebsd-runtime:14.3
ARG APP_VERSION=2.4.1
ADD https://example.org/releases/app-${APP_VERSION}.tar.gz /tmp/
ADD --chown=1000:1000 --chmod=0644 vendor.tar.xz /opt/vendor/
ADD ["files with spaces/a.txt", "local.txt", "/srv/"]
COPY --link --chown=www:www static/ /usr/local/www/static/
