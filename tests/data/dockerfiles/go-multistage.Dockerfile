# syntax=docker/dockerfile:1
ARG GO_VERSION=1.22

FROM ghcr.io/freebsd/freebsd-toolchain:14.3 AS builder
ARG GO_VERSION
RUN pkg install -y go git-lite && go version
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/server ./cmd/server

FROM builder AS test
RUN go test ./...

FROM ghcr.io/freebsd/freebsd-static:14.3
COPY --from=builder /out/server /usr/local/bin/server
COPY --from=0 /etc/ssl/cert.pem /etc/ssl/cert.pem
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/server"]
