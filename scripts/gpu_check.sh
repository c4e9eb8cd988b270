#!/usr/bin/env bash
# On a GPU machine with torch, numba and numpy but no package index: install PeakSQL from
# wheels carried in .whl/, build the bundled example, serve it and run the GPU check
# (tests/benchmarks/gpu_check.py). Output goes to stdout and, if set, $OUT/gpu_check.log.
set -euo pipefail
cd "$(dirname "$0")/.."
site=/tmp/peaksql-site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$site" .whl/*.whl
python3 -m pip install -q --no-index --no-deps --no-build-isolation --upgrade --target "$site" .
export PYTHONPATH="$site" PEAKSQL_DATA_DIR=/tmp/peaksql-data PYTHONUNBUFFERED=1
"$site/bin/peaksql" example --quiet
"$site/bin/peaksql" serve --port 50051 --workers 16 > /tmp/peaksql-server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; tail -5 /tmp/peaksql-server.log' EXIT
for _ in $(seq 150); do  # until the health service says SERVING (30 s at most)
    "$site/bin/peaksql" healthcheck --address 127.0.0.1:50051 --timeout 1 >/dev/null 2>&1 && break
    sleep 0.2
done
"$site/bin/peaksql" healthcheck --address 127.0.0.1:50051 || { echo "server did not start: see /tmp/peaksql-server.log"; exit 1; }
python3 tests/benchmarks/gpu_check.py --address 127.0.0.1:50051 "$@" 2>&1 | tee "${OUT:-/tmp}/gpu_check.log"
( time python3 examples/train_pytorch.py --address 127.0.0.1:50051 --epochs 1 --workers 4 ) 2>&1 | tail -8 | tee -a "${OUT:-/tmp}/gpu_check.log"
