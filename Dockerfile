# One container, one TCP port (HTTP, web client, signaling) and one UDP port (all media).
#
#   docker build -t sfu .
#   docker run -p 8080:8080 -p 7882:7882/udp -e SFU_PUBLIC_IP=203.0.113.7 sfu
#
# The build stage makes a static binary (no libc needed); the image holds only that binary, CA
# certificates (for Let's Encrypt with -domain) and an empty writable /data.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/sfu ./cmd/sfu
RUN mkdir -p /out/data/certs

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/sfu /sfu
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENV SFU_ACME_CACHE=/data/certs
EXPOSE 8080/tcp 7882/udp
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 CMD ["/sfu", "healthcheck"]
ENTRYPOINT ["/sfu"]
