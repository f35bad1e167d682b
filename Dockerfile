# Multi-stage build: compile in the Rust image, run in a slim Debian image as
# an unprivileged user. Not built in CI (no Docker engine there).
FROM rust:1.95-bookworm AS build
# The WebAuthn crate (webauthn-rs) links OpenSSL: libssl-dev and pkg-config
# are in this image already.
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY crates ./crates
COPY migrations ./migrations
COPY data ./data
COPY templates ./templates
COPY assets ./assets
RUN cargo build --release --locked && strip target/release/portcullis

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/portcullis --create-home portcullis
COPY --from=build /src/target/release/portcullis /usr/local/bin/portcullis
USER portcullis
WORKDIR /var/lib/portcullis
ENV PORTCULLIS_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/portcullis"]
CMD ["serve"]
