"""The 2020 PeakSQL Keras demo, rewritten for the PeakSQL server and Keras 3.

    python examples/keras_2020.py                          # serves the bundled example itself
    python examples/keras_2020.py --address 127.0.0.1:50051

In 2020 the demo opened a local SQLite database (``peaksql.database.DataBase``), made a
dataset of 101 bp windows tiling the genome, labelled by overlap with the peaks of a BED
file, wrapped it in a Python generator of batches and trained a small convolutional net
with ``model.fit_generator(generator, steps_per_epoch=...)``. The same idea today: the
database sits behind a server, the dataset is one constraint, and ``KerasDataset`` is a
``PyDataset`` that ``model.fit`` takes directly (``fit_generator`` is gone from Keras 3).
CTCF peaks cover a few percent of the windows, so the positives get a class weight.
"""

from __future__ import annotations

import argparse
import time

import keras
from example_server import example_server

from peaksql.keras import KerasDataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", help="a PeakSQL server (default: serve the example)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-steps", type=int, help="batches per epoch (default: all)")
    args = parser.parse_args()

    began = time.perf_counter()
    with example_server(args.address) as address:
        # 2020: BedRegionDataSet(db_file, seq_length=101, stride=...) over every chromosome.
        dataset = KerasDataset(
            address,
            where="WHERE condition = 'ctcf_peaks'",  # the 2020 style, leading WHERE included
            seq_length=101,
            stride=101,
            label="any",
            batch_size=128,
            shuffle=True,
            seed=2020,
        )
        info = dataset.dataset.describe()
        positives, windows = info.num_positive[0], info.num_windows
        print(f"{windows:,} windows of 101 bp, {positives:,} overlap a CTCF peak")

        model = keras.Sequential(
            [
                keras.Input((101, 4)),  # one-hot DNA, as in 2020
                keras.layers.Conv1D(16, 15, activation="relu"),
                keras.layers.MaxPooling1D(4),
                keras.layers.Flatten(),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.Dense(1, activation="sigmoid"),
            ]
        )
        model.compile(
            optimizer="adam",
            loss="binary_crossentropy",
            metrics=["accuracy", keras.metrics.AUC(name="auc")],
        )
        # 2020: model.fit_generator(generator, steps_per_epoch=len(dataset) // batch_size)
        model.fit(
            dataset,
            epochs=args.epochs,
            steps_per_epoch=args.max_steps,
            class_weight={0: 1.0, 1: (windows - positives) / max(positives, 1)},
            shuffle=False,  # the server already shuffles each epoch by (seed, epoch)
            verbose=2,
        )
        dataset.close()
    print(f"done in {time.perf_counter() - began:.1f} s (backend {keras.backend.backend()})")


if __name__ == "__main__":
    main()
