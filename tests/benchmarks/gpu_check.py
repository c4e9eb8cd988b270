"""GPU check of the torch adapter: on-device decode and windows/s into a real training step.

    python tests/benchmarks/gpu_check.py --address 127.0.0.1:50051   # a served example catalog

Prints, each as a figure and a ratio against a baseline measured in the same run:

1. decode: ``unpack_on_device`` on CUDA equals the host decoder (every policy but
   ``random``), and its throughput in GB/s of float32 one-hot written, against numpy on the
   host;
2. loader: windows/s that ``TorchDataset(device="cuda")`` (in process) and
   ``DeviceLoader`` (1, 2, 4 worker processes) deliver decoded on the GPU;
3. training: windows/s of the Basset-style step of ``examples/train_pytorch.py`` fed by
   each loader, against the same step on a batch already resident on the GPU (the
   ceiling): a ratio near 1 means the training loop does not wait for data.

Needs torch with CUDA; ``scripts/gpu_check.sh`` sets up a device machine and runs it.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import torch

from peaksql.core.wire import unpack_sequences
from peaksql.torch import DeviceLoader, TorchDataset, unpack_on_device

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train_pytorch.py"
SPEC = dict(
    seq_length=1000,
    stride=50,
    conditions=["ctcf_peaks", "cpg_islands", "genes"],
    label="any",
    shuffle=True,
    seed=0,
)


def _timed(fn, seconds: float) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """Calls ``fn`` until ``seconds`` pass; (calls, elapsed), CUDA synchronised."""
    fn()
    torch.cuda.synchronize()
    calls, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        fn()
        calls += 1
    torch.cuda.synchronize()
    return calls, time.perf_counter() - began


def check_decode(seconds: float) -> None:
    rng = np.random.default_rng(0)
    batch, seq_length = 1024, 1000
    packed = rng.integers(0, 256, size=(batch, seq_length // 2), dtype=np.uint8)
    on_device = torch.from_numpy(packed).cuda()
    for policy in ("zeros", "uniform", "mask"):
        host = unpack_sequences(packed, batch, seq_length, policy=policy, dtype=np.float32)
        gpu = unpack_on_device(on_device, seq_length, policy=policy).cpu().numpy()
        assert np.array_equal(host, gpu), f"policy {policy}: CUDA decode differs from host"
    out_bytes = batch * seq_length * 4 * 4
    calls, elapsed = _timed(lambda: unpack_on_device(on_device, seq_length), seconds)
    gpu_rate = calls * out_bytes / elapsed / 1e9
    began, host_calls = time.perf_counter(), 0
    while time.perf_counter() - began < seconds:
        unpack_sequences(packed, batch, seq_length, policy="zeros", dtype=np.float32)
        host_calls += 1
    host_rate = host_calls * out_bytes / (time.perf_counter() - began) / 1e9
    print(f"decode equal to host for zeros, uniform, mask ({batch} x {seq_length} bp)")
    print(
        f"decode: CUDA {gpu_rate:.1f} GB/s of float32 one-hot, host numpy {host_rate:.2f} GB/s "
        f"({gpu_rate / host_rate:.0f}x); {gpu_rate * 1e9 / (seq_length * 16):,.0f} windows/s"
    )


def _model(num_labels: int) -> torch.nn.Module:
    sys.path.insert(0, str(EXAMPLE.parent))  # the example imports its sibling example_server
    spec = importlib.util.spec_from_file_location("train_pytorch", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.model(num_labels)


def _loader(address: str, batch_size: int, workers: int | None):  # type: ignore[no-untyped-def]
    """``workers`` None: the TorchDataset itself in this process; else a DeviceLoader."""
    data = TorchDataset(address, device="cuda", batch_size=batch_size, **SPEC)
    return data if workers is None else DeviceLoader(data, num_workers=workers)


def _stream(address: str, batch_size: int, workers: int | None, seconds: float, step=None) -> float:  # type: ignore[no-untyped-def]
    """Windows/s through the loader (and ``step`` on each batch) for about ``seconds``."""
    windows, began, epoch = 0, time.perf_counter(), 0
    loader = _loader(address, batch_size, workers)
    while time.perf_counter() - began < seconds:
        loader.set_epoch(epoch)
        for x, y in loader:
            if step is not None:
                step(x, y)
            windows += x.shape[0]
            if time.perf_counter() - began >= seconds:
                break
        epoch += 1
    torch.cuda.synchronize()
    return windows / (time.perf_counter() - began)


LOADERS: dict[str, int | None] = {
    "TorchDataset in process": None,
    "DeviceLoader, 1 worker": 1,
    "DeviceLoader, 2 workers": 2,
    "DeviceLoader, 4 workers": 4,
}


def check_training(address: str, batch_size: int, seconds: float) -> None:
    net = _model(len(SPEC["conditions"])).cuda()
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        loss = loss_fn(net(x.transpose(1, 2)), y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    x, y = next(iter(_loader(address, batch_size, None)))
    calls, elapsed = _timed(lambda: step(x, y), seconds)
    ceiling = calls * batch_size / elapsed
    print(f"training step alone (resident batch of {batch_size}): {ceiling:,.0f} windows/s")
    for name, workers in LOADERS.items():
        try:
            alone = _stream(address, batch_size, workers, seconds)
            fed = _stream(address, batch_size, workers, seconds, step)
        except Exception as error:  # report and go on: each configuration is one finding
            print(f"{name}: FAILED {type(error).__name__}: {error}")
            continue
        print(
            f"{name}: loader alone {alone:,.0f} windows/s; loader + step {fed:,.0f} windows/s "
            f"({fed / ceiling:.2f} of the resident-batch ceiling)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1:50051")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this check runs on a GPU machine")
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    check_decode(args.seconds / 2)
    check_training(args.address, args.batch_size, args.seconds)


if __name__ == "__main__":
    main()
