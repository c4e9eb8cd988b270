"""Generate the protobuf and gRPC Python code beside the .proto files (the one way to do it).

    python scripts/generate_protos.py          # regenerate
    python scripts/generate_protos.py --check  # fail if the committed code has drifted

The .proto path equals the Python import path: protos/peaksql/v1/peaksql.proto -> peaksql.v1.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = ROOT / "protos"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def generate(out_dir: Path) -> list[Path]:
    """Run protoc over every .proto under protos/ into ``out_dir``; return the files made."""
    protos = sorted(PROTO_ROOT.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(p.relative_to(PROTO_ROOT)) for p in protos),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted(p for p in out_dir.rglob("*") if p.name.endswith(GENERATED_SUFFIXES))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail on drift, write nothing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        made = generate(Path(tmp))
        drifted = []
        for path in made:
            target = PROTO_ROOT / path.relative_to(tmp)
            if args.check:
                if not target.exists() or not filecmp.cmp(path, target, shallow=False):
                    drifted.append(str(target.relative_to(ROOT)))
            else:
                shutil.copyfile(path, target)
                print(f"wrote {target.relative_to(ROOT)}")
    if drifted:
        print("generated protobuf code is out of date: run python scripts/generate_protos.py")
        print("\n".join(f"  {p}" for p in drifted))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
