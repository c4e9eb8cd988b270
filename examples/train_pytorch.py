"""Train a small Basset-style CNN on data streamed from a PeakSQL server.

    peaksql example && peaksql serve &          # the bundled 2 Mb of human chr20
    python examples/train_pytorch.py --address 127.0.0.1:50051

With a whole genome, hold out chromosomes with one constraint each:
train where="chromosome NOT IN ('chr8', 'chr9')", validate where="chromosome = 'chr8'".
The example has a single chromosome, so its validation set is random windows (seed 1),
which overlap the training windows: a demonstration of the API, not of evaluation.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn
from torch.utils.data import DataLoader

from peaksql.torch import TorchDataset

CONDITIONS = ["ctcf_peaks", "cpg_islands", "genes"]


def model(num_labels: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv1d(4, 64, kernel_size=19, padding=9),
        nn.ReLU(),
        nn.MaxPool1d(4),
        nn.Conv1d(64, 64, kernel_size=11, padding=5),
        nn.ReLU(),
        nn.AdaptiveMaxPool1d(1),
        nn.Flatten(),
        nn.Linear(64, num_labels),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1:50051")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"

    common = dict(seq_length=500, conditions=CONDITIONS, label="any", batch_size=128)
    train = TorchDataset(args.address, stride=100, shuffle=True, seed=0, device=device, **common)
    valid = TorchDataset(args.address, random=2_000, seed=1, device=device, **common)
    net = model(len(CONDITIONS)).to(device)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()

    for epoch in range(args.epochs):
        train.set_epoch(epoch)
        net.train()
        for step, (x, y) in enumerate(DataLoader(train, batch_size=None, num_workers=2)):
            x, y = x.to(device).transpose(1, 2), y.to(device)  # (B, 4, L) for Conv1d
            loss = loss_fn(net(x), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            if step % 50 == 0:
                print(f"epoch {epoch} step {step}: loss {loss.item():.4f}")
        net.eval()
        with torch.no_grad():
            losses = [
                loss_fn(net(x.to(device).transpose(1, 2)), y.to(device)).item()
                for x, y in DataLoader(valid, batch_size=None)
            ]
        print(f"epoch {epoch}: validation loss {sum(losses) / len(losses):.4f}")


if __name__ == "__main__":
    main()
