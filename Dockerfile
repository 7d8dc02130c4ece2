# One small image for every binary: the gateway (`portico`) and the shop
# services (`products`, `cart`, `checkout`, `search`), plus `shop-probe` for
# health checks. Pick the program with the container command.
#
# The crates the workspace depends on are built first, from the manifests
# alone (with stub sources for every target they declare, made by
# scripts/lib/stub-targets.sh), in a layer of their own: an edit to the sources
# (or to anything else in the tree) rebuilds only the workspace's crates.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY services/Cargo.toml services/
COPY tests/support/Cargo.toml tests/support/
COPY scripts/lib/stub-targets.sh /usr/local/bin/
RUN sh /usr/local/bin/stub-targets.sh \
 && cargo build --release --locked -p portico -p portico-shop --bins \
 && rm -rf src benches services/src tests/support/src
COPY . .
# The stubs' build is newer than the copied sources: make cargo see them as changed.
RUN touch src/lib.rs src/main.rs services/src/lib.rs services/src/bin/*.rs \
 && cargo build --release --locked -p portico -p portico-shop --bins \
 && mkdir /out \
 && cd target/release \
 && cp portico products cart checkout search shop-probe /out/

FROM debian:bookworm-slim
COPY --from=build /out/ /usr/local/bin/
USER 65534:65534
EXPOSE 8080 9090 8000
CMD ["portico"]
