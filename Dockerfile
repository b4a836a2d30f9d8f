# Kindred's binaries (validator, miner, devnet) on Debian bookworm with OpenBLAS, for CPU
# validators, miners and the demo. GPU validators: see Dockerfile.cuda. Not built here (no Docker
# engine on Kindred's build machines).
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libopenblas-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p kindred-validator -p kindred-miner -p kindred-devnet --bins

FROM debian:bookworm-slim
# curl is for the compose health checks.
RUN apt-get update && apt-get install -y --no-install-recommends libopenblas0 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/validator /src/target/release/miner /src/target/release/devnet /usr/local/bin/
ENV HOME=/data
WORKDIR /data
EXPOSE 8080 9944
CMD ["validator", "demo", "--api.addr", "0.0.0.0:8080"]
