# contract-gate: the `contract-gate` binary in a slim Debian image.
#
#   docker build -t contract-gate .
#   docker run --rm contract-gate demo          # the embedded demo, no services needed
#   docker run --rm -v $PWD/deploy/gate.yaml:/etc/contract-gate/gate.yaml:ro ... contract-gate
#
# Build stage: rdkafka compiles librdkafka from source (cmake) with OpenSSL (libssl-dev: SSL,
# SCRAM, OAUTHBEARER; also Redis and HTTPS) and libcurl (OIDC token requests). A clean release build takes
# about 15 minutes on two cores.
FROM rust:1.95-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake libcurl4-openssl-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p gate \
    && strip target/release/contract-gate \
    && cp target/release/contract-gate /usr/local/bin/contract-gate

# Runtime stage: the binary links glibc, libgcc, zlib, OpenSSL 3 and libcurl; ca-certificates
# is the system trust store TLS connections use when no CA file is given. curl (a small binary
# over the libcurl already needed) is for container healthchecks on /ready.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl3 libcurl4 curl ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/contract-gate /usr/local/bin/contract-gate
RUN useradd --system --uid 10001 --no-create-home contract-gate \
    && mkdir -p /etc/contract-gate/contracts
USER 10001
# mimalloc returns free memory to the OS after 10 s instead of 1 s: with the default, pages
# librdkafka's threads free were handed back and faulted in again under steady load
# (BENCHMARKS.md, "Fourth pass"). Memory still goes back once the gate is idle.
ENV MIMALLOC_PURGE_DELAY=10000
# /health, /ready, /metrics, /v1/...
EXPOSE 8080
ENTRYPOINT ["contract-gate"]
CMD ["serve", "--config", "/etc/contract-gate/gate.yaml"]
