# Pygmy's one image: `pygmy` and the service binaries (catalog-svc, order-svc, frontend-svc).
# Standard multi-stage build; on a machine without a registry, `docker/local-base-images.sh`
# makes the two base images named here from Debian's packages (README "Containers").
# No configuration and no token is baked in: mount them (docker-compose.yml does).

# --- builder: dependencies first (a layer rebuilt only when a manifest or Cargo.lock changes) ---
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# Build settings: jemalloc's, compiled in (runtime::heap).
COPY .cargo .cargo
# openraft and sled, patched (vendor/*/PATCHED.md), named by [patch.crates-io].
COPY vendor vendor
COPY crates/api/Cargo.toml crates/api/
COPY crates/runtime/Cargo.toml crates/runtime/
COPY crates/storage/Cargo.toml crates/storage/
COPY crates/catalog-svc/Cargo.toml crates/catalog-svc/
COPY crates/order-svc/Cargo.toml crates/order-svc/
COPY crates/frontend-svc/Cargo.toml crates/frontend-svc/
COPY crates/check/Cargo.toml crates/check/
COPY crates/client/Cargo.toml crates/client/
COPY crates/test-support/Cargo.toml crates/test-support/
# Stub targets, so that cargo can read the workspace and build every dependency of the binaries.
# A new crate, or a new [[bin]], [[test]] or [[bench]] target, needs its manifest and stub here.
RUN set -eu; \
    for c in crates/*; do mkdir -p "$c/src"; : > "$c/src/lib.rs"; done; \
    mkdir -p crates/client/src/bin/pygmy crates/client/tests/cluster \
        crates/catalog-svc/tests/group crates/frontend-svc/benches; \
    for f in crates/catalog-svc/src/main.rs crates/order-svc/src/main.rs \
        crates/frontend-svc/src/main.rs crates/client/src/bin/pygmy/main.rs \
        crates/client/tests/cluster/main.rs crates/catalog-svc/tests/group/main.rs \
        crates/frontend-svc/benches/cache_hit.rs; do echo 'fn main() {}' > "$f"; done; \
    cargo build --release --locked --bins; \
    rm -rf crates

# --- builder: the workspace itself ---
COPY cluster.toml ./
COPY crates crates
# The sources may be older than the stub build's outputs: make cargo see them as changed.
RUN find crates cluster.toml -type f -exec touch {} + \
    && cargo build --release --locked --bins \
    && mkdir -p /out \
    && cp target/release/pygmy target/release/catalog-svc target/release/order-svc \
        target/release/frontend-svc /out/
# Marks this stage's image, which a build leaves behind untagged, so that whoever built it can
# remove it (`docker image prune --filter label=pygmy.build=ID`); last, to keep the cache above.
ARG PYGMY_BUILD=
LABEL pygmy.build=$PYGMY_BUILD

# --- runtime ---
FROM debian:bookworm-slim
RUN groupadd --gid 10001 pygmy \
    && useradd --uid 10001 --gid pygmy --home-dir /data --no-create-home pygmy \
    && mkdir -p /data && chown pygmy:pygmy /data && chmod 0700 /data
COPY --from=builder /out/ /usr/local/bin/
USER pygmy
WORKDIR /data
ENV PYGMY_DATA_DIR=/data
VOLUME ["/data"]
# The image does not know which service a container runs: PYGMY_PROBE_URL says what to probe
# (docker-compose.yml probes each process's /ready instead).
ENV PYGMY_PROBE_URL=http://127.0.0.1:8080/health
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 CMD ["pygmy", "probe"]
ENTRYPOINT ["pygmy"]
CMD ["--help"]
