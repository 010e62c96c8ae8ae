# shipctl as an image: the binary on Debian slim, run as a plain user (uid 10001) in /work.
#
# With a registry (BuildKit builds only the stages the target needs):
#   docker build -f docker/shipctl.Dockerfile -t shipctl .
# Offline, from a binary built here (`cargo build --release`) and a local Debian base:
#   docker/build-local.sh target/release/shipctl          (see that script)
#
# Run it against a manager's socket, with the socket's group (or against DOCKER_HOST):
#   docker run --rm -v /var/run/docker.sock:/var/run/docker.sock \
#     --group-add "$(stat -c %g /var/run/docker.sock)" -v "$PWD:/work" shipctl deploy --version 1.4.2
ARG BASE=debian:bookworm-slim
ARG RUST_IMAGE=rust:1-bookworm

FROM ${BASE} AS runtime
# CA certificates: shipctl verifies TLS to registries, Consul, etcd and remote engines.
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
 && useradd --uid 10001 --user-group --create-home --home-dir /home/shipctl \
      --shell /usr/sbin/nologin shipctl \
 && mkdir /work && chown shipctl:shipctl /work
ENV HOME=/home/shipctl
WORKDIR /work
USER 10001:10001
ENTRYPOINT ["shipctl"]
CMD ["--help"]
LABEL org.opencontainers.image.title="shipctl" \
      org.opencontainers.image.description="Zero-downtime blue-green, canary and rolling deploys on Docker Swarm"

# Offline: the build context is a directory holding only the binary `shipctl`.
FROM runtime AS local
COPY shipctl /usr/local/bin/shipctl

# With a registry: built from the sources (the build context is the repository).
FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && install -m 0755 target/release/shipctl /shipctl

FROM runtime AS release
COPY --from=build /shipctl /usr/local/bin/shipctl
