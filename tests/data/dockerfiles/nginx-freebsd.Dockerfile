# nginx on the official FreeBSD runtime image
FROM ghcr.io/freebsd/freebsd-runtime:14.3

LABEL org.opencontainers.image.title="nginx" \
      org.opencontainers.image.description="nginx web server on FreeBSD"

RUN pkg install -y nginx && \
    pkg clean -ay && \
    rm -rf /var/cache/pkg/*

COPY nginx.conf /usr/local/etc/nginx/nginx.conf
COPY --chown=www:www html/ /usr/local/www/nginx/

EXPOSE 80 443
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=30s --timeout=3s --retries=3 \
  CMD fetch -qo /dev/null http://127.0.0.1/ || exit 1

CMD ["nginx", "-g", "daemon off;"]
