FROM ghcr.io/freebsd/freebsd-runtime:14.3

ARG PG_MAJOR=16
ENV PG_MAJOR=${PG_MAJOR} \
    PGDATA=/var/db/postgres/data${PG_MAJOR}

RUN pkg install -y postgresql${PG_MAJOR}-server postgresql${PG_MAJOR}-contrib && \
    pkg clean -ay && \
    install -d -o postgres -g postgres -m 0700 "$PGDATA"

COPY --chmod=0755 docker-entrypoint.sh /usr/local/bin/
VOLUME $PGDATA
USER postgres
WORKDIR /var/db/postgres
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
