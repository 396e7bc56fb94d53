# Floodgate container image.
#
#   docker build -t floodgate:local .
#
# Needs BuildKit (the default builder since Docker 23) for the cache mounts below: they keep the
# cargo registry and the target directory between builds, so a source change recompiles only the
# workspace crates instead of every dependency. The final binary is copied out of the cached
# target directory, because cache mounts are not part of the image.

############################
# Build stage
############################
FROM rust:1-bookworm AS builder

WORKDIR /src

# The whole workspace (Cargo.toml, Cargo.lock, src/, migrations/, templates/, static/, loadtest/,
# ...) minus what .dockerignore leaves out. Every workspace member's manifest must be present for
# cargo to load the workspace, and migrations/ and templates/ are embedded at compile time.
COPY . .

RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p floodgate --bin floodgate \
 && install -D -m 0755 target/release/floodgate /out/floodgate

############################
# Runtime stage
############################
FROM debian:bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# Unprivileged user; fixed ids so volume ownership is predictable.
RUN groupadd --system --gid 10001 floodgate \
 && useradd --system --uid 10001 --gid floodgate --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin floodgate

COPY --from=builder /out/floodgate /usr/local/bin/floodgate

WORKDIR /app
COPY static/ /app/static/
# DATA_DIR is only written in embedded (SQLite) mode or when SECRET_KEY / ORGANIZER_TOKEN are
# unset; it must still be writable by the service user.
RUN mkdir -p /app/data && chown floodgate:floodgate /app/data

ENV BIND_ADDR=0.0.0.0:8080 \
    STATIC_DIR=/app/static \
    DATA_DIR=/app/data \
    RUST_LOG=info

USER floodgate:floodgate
EXPOSE 8080

# No curl in the slim image: bash's /dev/tcp speaks just enough HTTP/1.0 to check the status
# line of /healthz. The port follows BIND_ADDR (default 8080).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "port=${BIND_ADDR##*:}; exec 3<>/dev/tcp/127.0.0.1/${port:-8080} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

CMD ["floodgate"]
