#!/usr/bin/env bash
# Build the taxi_pipeline image without a Docker engine and prove it works:
#   1. hadolint the Dockerfile;
#   2. make a Debian bookworm + python3 base with debootstrap (no registry is reachable here)
#      and import it into buildah's store as localhost/taxi-base:bookworm (once; cached);
#   3. `buildah bud --isolation chroot` the Dockerfile with that base as PYTHON_IMAGE;
#   4. inside the image: `dagster definitions validate` of both code locations, then the image's
#      own CMD (the pipeline's gRPC server) and the models' server answering the HEALTHCHECK
#      (`dagster api grpc-health-check`);
#   5. dagster-webserver (project venv) loading deploy/workspace.yaml, which points at both.
# Needs root and Debian's buildah and debootstrap (installed here if missing).
# With a Docker engine and a registry: `docker build -t taxi_pipeline .` is all it takes.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${TAXI_IMAGE:-localhost/taxi_pipeline:latest}
BASE=localhost/taxi-base:bookworm
WORK=.image-build
PORT=${TAXI_IMAGE_TEST_PORT:-4011}
export BUILDAH_ISOLATION=chroot STORAGE_DRIVER=vfs

if ! command -v buildah > /dev/null || ! command -v debootstrap > /dev/null; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q buildah debootstrap > /dev/null
fi

echo "== hadolint"
if [ -x .venv/bin/hadolint ]; then .venv/bin/hadolint Dockerfile; else hadolint Dockerfile; fi

mkdir -p "$WORK"
if ! buildah inspect --type image "$BASE" > /dev/null 2>&1; then
    echo "== base image $BASE (debootstrap bookworm + python3)"
    rm -rf "$WORK/rootfs"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$WORK/rootfs" http://deb.debian.org/debian > "$WORK/debootstrap.log"
    rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/lib/apt/lists/*
    tar --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
        -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .
    ctr=$(buildah from scratch)
    buildah add "$ctr" "$WORK/rootfs.tar" / > /dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --cmd python3 "$ctr"
    buildah commit --rm "$ctr" "$BASE" > /dev/null
    rm -rf "$WORK/rootfs" "$WORK/rootfs.tar"
fi

echo "== build $IMAGE"
start=$(date +%s)
# This machine reaches PyPI through a TLS-intercepting proxy: hand pip its CA as a secret.
secret=()
ca=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
[ -s "$ca" ] && secret=(--secret "id=ca_bundle,src=$ca")
buildah bud --isolation chroot --layers --format docker "${secret[@]}" --build-arg "PYTHON_IMAGE=$BASE" \
    -t "$IMAGE" . \
    > "$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; exit 1; }
echo "built in $(( $(date +%s) - start )) s; $(buildah images --format '{{.Size}}' "$IMAGE")"

ctr=$(buildah from "$IMAGE")
cleanup() {
    [ -n "${grpc_pid:-}" ] && kill "$grpc_pid" 2> /dev/null || true
    [ -n "${models_pid:-}" ] && kill "$models_pid" 2> /dev/null || true
    buildah rm "$ctr" > /dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== dagster definitions validate (inside the image)"
buildah run --isolation chroot "$ctr" -- dagster definitions validate -m taxi_pipeline.definitions \
    -m taxi_pipeline.models.definitions

echo "== the models' dbt (TAXI_DBT_EXECUTABLE) has the BigQuery and DuckDB adapters"
plugins=$(buildah run --isolation chroot "$ctr" -- sh -c '"$TAXI_DBT_EXECUTABLE" --version')
for adapter in bigquery duckdb; do
    grep -q -- "- $adapter:" <<< "$plugins" || { echo "$plugins"; echo "no dbt-$adapter in the image" >&2; exit 1; }
done

echo "== the image's CMD serves gRPC; health check from inside the image"
# The image's CMD and HEALTHCHECK (docker format keeps it), the port moved so it cannot
# collide with a server on the host.
config=$(buildah inspect --type image "$IMAGE")
cmd=$(python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["Docker"]["config"]["Cmd"]))' <<< "$config")
health=$(python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["Docker"]["config"]["Healthcheck"]["Test"][1:]))' <<< "$config")
echo "HEALTHCHECK: $health"
echo "CMD: $cmd"
buildah run --isolation chroot "$ctr" -- ${cmd/-p 4000/-p $PORT} > "$WORK/grpc.log" 2>&1 &
grpc_pid=$!
# The models' server: the same command with its module (deploy/docker-compose.yaml).
models_port=$((PORT + 2))
models_cmd=${cmd/-p 4000/-p $models_port}
buildah run --isolation chroot "$ctr" -- ${models_cmd/taxi_pipeline.definitions/taxi_pipeline.models.definitions} \
    > "$WORK/models_grpc.log" 2>&1 &
models_pid=$!
for server in "$PORT grpc" "$models_port models_grpc"; do
    read -r port name <<< "$server"
    healthy=
    for _ in $(seq 1 60); do
        if buildah run --isolation chroot "$ctr" -- ${health/-p 4000/-p $port} > /dev/null 2>&1; then
            healthy=1
            break
        fi
        sleep 2
    done
    if [ -z "$healthy" ]; then
        cat "$WORK/$name.log"
        echo "gRPC server on port $port did not become healthy" >&2
        exit 1
    fi
    echo "gRPC server in the image on port $port ($name): SERVING"
done

echo "== dagster-webserver (project venv) loads deploy/workspace.yaml pointing at it"
web_port=$((PORT + 1))
TAXI_CODE_SERVER_HOST=127.0.0.1 TAXI_CODE_SERVER_PORT=$PORT DAGSTER_HOME=$(mktemp -d) \
    TAXI_MODELS_SERVER_HOST=127.0.0.1 TAXI_MODELS_SERVER_PORT=$models_port \
    .venv/bin/dagster-webserver -h 127.0.0.1 -p "$web_port" -w deploy/workspace.yaml \
    > "$WORK/webserver.log" 2>&1 &
web_pid=$!
trap 'kill $web_pid 2> /dev/null || true; cleanup' EXIT
query='{"query": "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus locationOrLoadError { __typename ... on RepositoryLocation { repositories { jobs { name } } } } } } } }"}'
for _ in $(seq 1 60); do
    answer=$(curl -sf -H 'Content-Type: application/json' -d "$query" \
        "http://127.0.0.1:$web_port/graphql" || true)
    if [ -n "$answer" ]; then break; fi
    sleep 2
done
python3 - "$answer" <<'PY'
import json, sys
entries = json.loads(sys.argv[1])["data"]["workspaceOrError"]["locationEntries"]
assert sorted(e["name"] for e in entries) == ["taxi_models", "taxi_pipeline"], entries
for entry in entries:
    location = entry["locationOrLoadError"]
    assert entry["loadStatus"] == "LOADED" and location["__typename"] == "RepositoryLocation", entry
    jobs = sorted(j["name"] for r in location["repositories"] for j in r["jobs"])
    print(f"location {entry['name']}: LOADED from the image's server, jobs: {', '.join(jobs)}")
PY
