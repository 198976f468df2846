FROM ghcr.io/freebsd/freebsd-runtime:14.3 AS app
RUN pkg install -y curl
HEALTHCHECK --interval=1m30s --timeout=10s --start-period=5s --start-interval=2s --retries=5 \
    CMD ["curl", "-fsS", "http://localhost:8080/health"]

FROM app AS quiet
HEALTHCHECK NONE

FROM app AS shell
HEALTHCHECK CMD curl -f http://localhost:8080/ || exit 1
