"""Train a small CNN with Keras 3 (any backend) on data streamed from a PeakSQL server.

    python examples/train_keras.py                          # serves the bundled example itself
    python examples/train_keras.py --address 127.0.0.1:50051  # or: peaksql example && peaksql serve

``KERAS_BACKEND`` picks the backend (torch, jax or tensorflow). The server shuffles the
windows of each epoch by (seed, epoch), so ``fit`` gets ``shuffle=False``: Keras would
only permute whole batches, unseeded. The example has a single chromosome, so the
validation set is random windows (seed 1), which overlap the training windows: a
demonstration of the API, not of evaluation.
"""

from __future__ import annotations

import argparse
import time

import keras
from example_server import example_server

from peaksql.keras import KerasDataset

CONDITIONS = ["ctcf_peaks", "cpg_islands", "genes"]
SEQ_LENGTH = 500


def model(num_labels: int) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((SEQ_LENGTH, 4)),
            keras.layers.Conv1D(32, 19, padding="same", activation="relu"),
            keras.layers.MaxPooling1D(4),
            keras.layers.Conv1D(32, 11, padding="same", activation="relu"),
            keras.layers.GlobalMaxPooling1D(),
            keras.layers.Dense(num_labels),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", help="a PeakSQL server (default: serve the example)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-steps", type=int, help="batches per epoch (default: all)")
    args = parser.parse_args()

    began = time.perf_counter()
    common = dict(seq_length=SEQ_LENGTH, conditions=CONDITIONS, label="any", batch_size=128)
    with example_server(args.address) as address:
        train = KerasDataset(address, stride=500, shuffle=True, seed=0, **common)
        valid = KerasDataset(address, random=1_000, seed=1, **common)
        print(f"{train.dataset.num_windows:,} training windows, {len(train)} batches an epoch")
        net = model(len(CONDITIONS))
        net.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss=keras.losses.BinaryCrossentropy(from_logits=True),
            metrics=[keras.metrics.AUC(multi_label=True, from_logits=True, name="auc")],
        )
        net.fit(
            train,
            validation_data=valid,
            epochs=args.epochs,
            steps_per_epoch=args.max_steps,
            validation_steps=args.max_steps,
            shuffle=False,
            verbose=2,
        )
        train.close()
        valid.close()
    print(f"done in {time.perf_counter() - began:.1f} s (backend {keras.backend.backend()})")


if __name__ == "__main__":
    main()
