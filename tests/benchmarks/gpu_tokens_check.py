"""GPU check of token encodings: ``unpack_on_device`` on CUDA equals the host decoder.

    python tests/benchmarks/gpu_tokens_check.py

For ``tokens`` and ``iupac_tokens``, several dtypes and even and odd lengths, the tokens
decoded on the GPU (16-entry table gather) equal ``peaksql.core.encodings.decode_tokens``
on the host; then the throughput of both, in windows/s of 1 kbp, batch 128 (the same run,
so the ratio holds on a loaded machine), and one-hot decode as the baseline.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from peaksql.core.encodings import decode_tokens
from peaksql.core.wire import unpack_sequences
from peaksql.torch import unpack_on_device

DTYPES = {torch.int64: np.int64, torch.int32: np.int32, torch.uint8: np.uint8}


def check(device: torch.device) -> None:
    rng = np.random.default_rng(0)
    for length in (1000, 999, 1):
        rows = rng.integers(0, 256, size=(64, (length + 1) // 2), dtype=np.uint8)
        on_device = torch.from_numpy(rows).to(device)
        for name in ("tokens", "iupac_tokens"):
            for torch_dtype, numpy_dtype in DTYPES.items():
                got = unpack_on_device(on_device, length, dtype=torch_dtype, encoding=name)
                assert got.dtype == torch_dtype and got.device.type == device.type
                want = decode_tokens(rows, length, name, numpy_dtype)
                assert np.array_equal(got.cpu().numpy(), want), (name, length, torch_dtype)
    print(f"tokens on {device}: equal to the host decoder (2 encodings x 3 dtypes x 3 lengths)")


def rate(function, batches: int = 200) -> float:  # type: ignore[no-untyped-def]
    function()
    torch.cuda.synchronize()
    began = time.perf_counter()
    for _ in range(batches):
        function()
    torch.cuda.synchronize()
    return batches * 128 / (time.perf_counter() - began)


def main() -> None:
    device = torch.device("cuda")
    print(torch.cuda.get_device_name(device))
    check(device)
    rows = np.random.default_rng(1).integers(0, 256, size=(128, 500), dtype=np.uint8)
    packed = torch.from_numpy(rows).to(device)
    figures = {
        "tokens int64, GPU": rate(
            lambda: unpack_on_device(packed, 1000, dtype=torch.int64, encoding="tokens")
        ),
        "one-hot float32, GPU": rate(lambda: unpack_on_device(packed, 1000)),
        "tokens int64, host": rate(lambda: decode_tokens(rows, 1000, "tokens", np.int64), 50),
        "one-hot float32, host": rate(lambda: unpack_sequences(rows, 128, 1000), 50),
    }
    for name, value in figures.items():
        print(f"{name:24s} {value:14,.0f} windows/s (1 kbp, batch 128)")


if __name__ == "__main__":
    main()
