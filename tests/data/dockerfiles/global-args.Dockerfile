ARG VERSION
ARG REGISTRY=ghcr.io/freebsd
ARG FLAVOR=runtime
ARG BASE=${REGISTRY}/freebsd-${FLAVOR}

FROM ${BASE}:${VERSION:-14.3} AS base
ARG VERSION
ENV RELEASE=${VERSION:-14.3}
RUN echo "building on $RELEASE"

FROM --platform=freebsd/amd64 $REGISTRY/freebsd-static:${VERSION:-14.3}
COPY --from=base /etc/os-release /etc/os-release
