#!/usr/bin/env bash
# Install PeakSQL, build the bundled example catalog (SQLite, no containers), start the
# server and stream a few epochs to a client, printing windows per second.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[server]"
export PEAKSQL_DATA_DIR="$PWD/peaksql-data"
peaksql example --quiet
peaksql serve --port 50051 > peaksql-data/server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 150); do  # until the health service says SERVING (30 s at most)
    peaksql healthcheck --address 127.0.0.1:50051 --timeout 1 >/dev/null 2>&1 && break
    sleep 0.2
done
peaksql healthcheck --address 127.0.0.1:50051 || { echo "server did not start: see peaksql-data/server.log"; exit 1; }
python -m peaksql.demo --address 127.0.0.1:50051 --epochs 3
