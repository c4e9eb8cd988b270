"""Train a small CNN in pure JAX (jax.grad, hand-written SGD) on data from a PeakSQL server.

    python examples/train_jax.py                          # serves the bundled example itself
    python examples/train_jax.py --address 127.0.0.1:50051

``JaxDataset`` yields ``jax.Array`` batches already on the device and shards each epoch by
``jax.process_index()``/``jax.process_count()``, so the same script runs on every host of a
multi-host job (pass ``sharding=`` to assemble global arrays). The example has a single
chromosome, so the validation set is random windows (seed 1), which overlap the training
windows: a demonstration of the API, not of evaluation.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import jax
import jax.numpy as jnp
from example_server import example_server

from peaksql.jax import JaxDataset

CONDITIONS = ["ctcf_peaks", "cpg_islands", "genes"]
SEQ_LENGTH = 500
Params = dict[str, jax.Array]


def init(key: jax.Array, num_labels: int, filters: int = 32, width: int = 19) -> Params:
    k1, k2 = jax.random.split(key)
    return {
        "conv": jax.random.normal(k1, (width, 4, filters)) * (2 / (4 * width)) ** 0.5,
        "conv_bias": jnp.zeros(filters),
        "dense": jax.random.normal(k2, (filters, num_labels)) * (1 / filters) ** 0.5,
        "dense_bias": jnp.zeros(num_labels),
    }


def logits(params: Params, x: jax.Array) -> jax.Array:
    """x (B, L, 4) one-hot -> (B, C): conv, ReLU, max over positions, dense."""
    h = jax.lax.conv_general_dilated(
        x,
        params["conv"],
        window_strides=(1,),
        padding="SAME",
        dimension_numbers=("NWC", "WIO", "NWC"),
    )
    h = jax.nn.relu(h + params["conv_bias"]).max(axis=1)
    return h @ params["dense"] + params["dense_bias"]


def loss(params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
    z = logits(params, x)  # binary cross-entropy with logits, stable form
    return jnp.mean(jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))))


@jax.jit
def train_step(
    params: Params, velocity: Params, x: jax.Array, y: jax.Array, lr: float = 0.05
) -> tuple[Params, Params, jax.Array]:
    """One SGD step with momentum 0.9."""
    value, grads = jax.value_and_grad(loss)(params, x, y)
    velocity = jax.tree.map(lambda v, g: 0.9 * v + g, velocity, grads)
    params = jax.tree.map(lambda p, v: p - lr * v, params, velocity)
    return params, velocity, value


evaluate = jax.jit(loss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", help="a PeakSQL server (default: serve the example)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-steps", type=int, help="batches per epoch (default: all)")
    args = parser.parse_args()

    began = time.perf_counter()
    common: dict[str, Any] = dict(
        seq_length=SEQ_LENGTH, conditions=CONDITIONS, label="any", batch_size=128
    )
    with example_server(args.address) as address:
        train = JaxDataset(address, stride=250, shuffle=True, seed=0, **common)
        valid = JaxDataset(address, random=1_000, seed=1, **common)
        print(f"rank {train.rank} of {train.world_size}: {len(train)} batches an epoch")
        params = init(jax.random.key(0), len(CONDITIONS))
        velocity = jax.tree.map(jnp.zeros_like, params)
        for epoch in range(args.epochs):
            train.set_epoch(epoch)
            for step, (x, y) in enumerate(train):
                if step == args.max_steps:
                    break
                params, velocity, value = train_step(params, velocity, x, y)
                if step % 20 == 0:
                    print(f"epoch {epoch} step {step}: loss {float(value):.4f}")
            losses = [evaluate(params, x, y) for x, y in valid]
            print(f"epoch {epoch}: validation loss {float(jnp.mean(jnp.stack(losses))):.4f}")
        train.close()
        valid.close()
    print(f"done in {time.perf_counter() - began:.1f} s on {jax.devices()[0].platform}")


if __name__ == "__main__":
    main()
