# The router image: `shipctl route` with nginx and HAProxy, for `shipctl route deploy`, which
# runs it as a Swarm service. Plain user (uid 10001); the proxy listens on 8080.
#
# With a registry:  docker build -f docker/router.Dockerfile -t shipctl-router .
# Offline:          docker/build-local.sh target/release/shipctl
ARG BASE=debian:bookworm-slim
ARG RUST_IMAGE=rust:1-bookworm

FROM ${BASE} AS runtime
# nginx-light and HAProxy from Debian; their state and the rendered config belong to the
# router's user, so neither needs root.
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      ca-certificates nginx-light haproxy \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
 && useradd --uid 10001 --user-group --create-home --home-dir /home/shipctl \
      --shell /usr/sbin/nologin shipctl \
 && mkdir -p /var/lib/shipctl-router /var/lib/nginx \
 && chown -R shipctl:shipctl /var/lib/shipctl-router /var/lib/nginx /var/log/nginx
ENV HOME=/home/shipctl
WORKDIR /var/lib/shipctl-router
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["shipctl"]
CMD ["route", "--help"]
LABEL org.opencontainers.image.title="shipctl-router" \
      org.opencontainers.image.description="shipctl route with nginx and HAProxy"

# Offline: the build context is a directory holding only the binary `shipctl`.
FROM runtime AS local
COPY shipctl /usr/local/bin/shipctl

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && install -m 0755 target/release/shipctl /shipctl

FROM runtime AS release
COPY --from=build /shipctl /usr/local/bin/shipctl
