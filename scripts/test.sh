#!/usr/bin/env bash
# Install PeakSQL with every extra into .venv and run the whole test suite:
# lint, format check, protobuf drift check, mypy, then pytest (SQLite + PostgreSQL + gRPC).
# PostgreSQL: PEAKSQL_TEST_POSTGRES_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/test
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# torch 2.13.0 CPU is what the suite is tested with; any torch>=2.2 works.
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[server,torch,test]"
# CPU-only JAX and Keras 3 for peaksql.jax / peaksql.keras (Keras runs on its torch backend).
python -m pip install -q "jax[cpu]>=0.10.2" "keras>=3.15.1"
export KERAS_BACKEND=torch
ruff check .
ruff format --check .
python scripts/generate_protos.py --check
bash scripts/typecheck.sh
python -m pytest "$@"
