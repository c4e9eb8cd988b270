"""Stream a few epochs from a PeakSQL server and print throughput: ``python -m peaksql.demo``.

The README's quick start runs it against the bundled example (2 Mb of human chr20).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import peaksql


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1:50051")
    parser.add_argument("--where", default="condition IN ('ctcf_peaks', 'tf_sites', 'genes')")
    parser.add_argument("--seq-length", type=int, default=1000)
    parser.add_argument("--stride", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    with peaksql.Client(args.address) as client:
        for assembly in client.assemblies():
            print(f"assembly {assembly.name}: {assembly.length:,} bp")
        train = client.dataset(
            where=args.where,
            seq_length=args.seq_length,
            stride=args.stride,
            label="any",
            batch_size=args.batch_size,
            shuffle=True,
            seed=0,
        )
        info = train.describe()
        print(f"{info.num_windows:,} windows of {args.seq_length} bp, {len(train)} batches/epoch")
        for name, count in zip(info.label_columns, info.num_positive, strict=True):
            print(f"  label {name}: {count:,} positive windows")
        for epoch in range(args.epochs):
            began = time.perf_counter()
            first = None
            num_windows = 0
            positives = None
            for x, y in train:
                if first is None:
                    first = time.perf_counter() - began
                num_windows += x.shape[0]
                positives = y.sum(axis=0) if positives is None else positives + y.sum(axis=0)
            elapsed = time.perf_counter() - began
            print(
                f"epoch {epoch}: {num_windows:,} windows in {elapsed:.2f} s = "
                f"{num_windows / elapsed:,.0f} windows/s (first batch after {first:.3f} s); "
                f"x {x.shape} {x.dtype}, y {y.shape}, positives {np.asarray(positives, int)}"
            )


if __name__ == "__main__":
    main()
