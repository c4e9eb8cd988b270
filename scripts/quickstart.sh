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
python - <<'PY'
import time, grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
stub = health_pb2_grpc.HealthStub(grpc.insecure_channel("127.0.0.1:50051"))
for _ in range(300):
    try:
        if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
            break
    except grpc.RpcError:
        time.sleep(0.1)
else:
    raise SystemExit("server did not start: see peaksql-data/server.log")
PY
python -m peaksql.demo --address 127.0.0.1:50051 --epochs 3
