# One small image for every binary: the gateway (`portico`) and the shop
# services (`products`, `cart`, `checkout`, `search`), plus `shop-probe` for
# health checks. Pick the program with the container command.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p portico -p portico-shop --bins \
 && mkdir /out \
 && cd target/release \
 && cp portico products cart checkout search shop-probe /out/

FROM debian:bookworm-slim
COPY --from=build /out/ /usr/local/bin/
USER 65534:65534
EXPOSE 8080 9090 8000
CMD ["portico"]
