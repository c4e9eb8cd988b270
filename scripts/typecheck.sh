#!/usr/bin/env bash
# mypy over the package as it installs (client/ and server/ are peaksql and peaksql.server
# only through pyproject's package-dir, which mypy cannot follow in the source tree).
set -euo pipefail
cd "$(dirname "$0")/.."
site="$(mktemp -d)"
trap 'rm -rf "$site" build' EXIT
python -m pip install -q --no-deps --no-build-isolation --target "$site" .
MYPYPATH="$site" python -m mypy --config-file pyproject.toml -p peaksql
