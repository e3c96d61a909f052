"""The same aggregations as `fed aggregate`, in numpy, written from the published formulas (the baseline of
`deploy/benchmark.sh aggregate-vs-numpy`). Reads K PEFT adapter directories, times the aggregation alone and writes the
result as one safetensors file. Prints the aggregation's seconds on stdout.

    python3 aggregate_numpy.py OP F OUT_FILE ADAPTER_DIR...

OP: fedit (FedAvg of A and B), flora (stacking), krum (Krum with f in dW space from the factors' Gram, then the
chosen update stacked: rank 16), median (lower median per coordinate of dW = s B A, module by module), trimmed-mean
(drop the f largest and smallest per coordinate of dW, average the rest). Equal weights (example counts 1).
"""
import json
import statistics
import struct
import sys
import time

import numpy as np

PREFIX = "base_model.model."


def read_adapter(directory):
    with open(f"{directory}/adapter_config.json") as f:
        config = json.load(f)
    if config.get("rank_pattern") or config.get("alpha_pattern") or config.get("use_rslora"):
        raise SystemExit(f"{directory}: only one rank and alpha, without rsLoRA, are supported here")
    scale = config["lora_alpha"] / config["r"]
    with open(f"{directory}/adapter_model.safetensors", "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    body = memoryview(data)[8 + length:]
    modules = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise SystemExit(f"{directory}: {key} is {info['dtype']}, expected F32")
        start, end = info["data_offsets"]
        tensor = np.frombuffer(body[start:end], dtype=np.float32).reshape(info["shape"])
        name, factor = key[len(PREFIX):].rsplit(".lora_", 1)
        modules.setdefault(name, {})[factor.split(".")[0]] = tensor
    return {name: (m["A"], m["B"], scale) for name, m in modules.items()}


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, array in tensors.items():
        array = np.ascontiguousarray(array, dtype=np.float32)
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
        blobs.append(array)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for array in blobs:
            f.write(array.tobytes())


def fedit(updates, weights, _f):
    """FedIT: A_g = sum_k p_k A_k, B_g = sum_k p_k (s_k / s_g) B_k, module by module."""
    out = {}
    for name in updates[0]:
        scale = updates[0][name][2]
        a = np.zeros_like(updates[0][name][0])
        b = np.zeros_like(updates[0][name][1])
        for p, update in zip(weights, updates):
            a_k, b_k, s_k = update[name]
            a += np.float32(p) * a_k
            b += np.float32(p * s_k / scale) * b_k
        out[name + ".lora_A"], out[name + ".lora_B"] = a, b
    return out


def flora(updates, coefficients, _f):
    """FLoRA: A = [c_1 s_1 A_1; ...; c_K s_K A_K], B = [B_1, ..., B_K] (scale 1), updates with c_k = 0 left out."""
    kept = [(c, u) for c, u in zip(coefficients, updates) if c != 0]
    out = {}
    for name in updates[0]:
        out[name + ".lora_A"] = np.concatenate([np.float32(c * u[name][2]) * u[name][0] for c, u in kept], axis=0)
        out[name + ".lora_B"] = np.concatenate([u[name][1] for _, u in kept], axis=1)
    return out


def gram(updates):
    """G_ij = sum over modules <dW_i, dW_j>_F from the factors: block sums of (B_st^T B_st) o (A_st A_st^T)."""
    n = len(updates)
    g = np.zeros((n, n))
    for name in updates[0]:
        r = updates[0][name][0].shape[0]
        a = np.concatenate([u[name][2] * u[name][0] for u in updates], axis=0)
        b = np.concatenate([u[name][1] for u in updates], axis=1)
        products = (b.T @ b) * (a @ a.T)
        g += products.reshape(n, r, n, r).sum(axis=(1, 3), dtype=np.float64)
    return g


def krum(updates, _weights, f):
    """Krum (Blanchard et al. 2017): the update with the least sum of squared distances to its n - f - 2 nearest."""
    g = gram(updates)
    diagonal = np.diag(g)
    distances = np.maximum(diagonal[:, None] + diagonal[None, :] - 2 * g, 0)
    n = len(updates)
    scores = [np.sort(np.delete(distances[i], i))[: n - f - 2].sum() for i in range(n)]
    chosen = int(np.argmin(scores))
    return flora(updates, [1.0 if k == chosen else 0.0 for k in range(n)], f)


ROWS = 64


def row_tiles(updates, name):
    """s_k B_k[rows] A_k for all k, K x rows x d_in, one batched matmul per tile of rows: the module's K deltas are never
    held whole (K x d_out x d_in float32 is 321 MB for q_proj at K = 100, and partitioning it along axis 0 copies it)."""
    a = np.stack([u[name][0] for u in updates])
    b = np.stack([u[name][1] for u in updates])
    scales = np.array([u[name][2] for u in updates], dtype=np.float32)[:, None, None]
    for first in range(0, b.shape[1], ROWS):
        yield first, np.matmul(b[:, first:first + ROWS], a) * scales


def median(updates, _weights, _f):
    """Lower median per coordinate of dW (torch.median's convention), module by module, in tiles of rows."""
    m = (len(updates) - 1) // 2
    out = {}
    for name in updates[0]:
        a, b = updates[0][name][0], updates[0][name][1]
        result = np.empty((b.shape[0], a.shape[1]), dtype=np.float32)
        for first, tile in row_tiles(updates, name):
            result[first:first + tile.shape[1]] = np.partition(tile, m, axis=0)[m]
        out[name + ".delta"] = result
    return out


def trimmed_mean(updates, _weights, f):
    """Per coordinate of dW: drop the f largest and f smallest, average the rest (Yin et al. 2018), module by module, in tiles of rows."""
    n = len(updates)
    out = {}
    for name in updates[0]:
        a, b = updates[0][name][0], updates[0][name][1]
        result = np.empty((b.shape[0], a.shape[1]), dtype=np.float32)
        for first, tile in row_tiles(updates, name):
            result[first:first + tile.shape[1]] = np.partition(tile, [f, n - f - 1], axis=0)[f:n - f].mean(axis=0)
        out[name + ".delta"] = result
    return out


OPERATIONS = {"fedit": fedit, "flora": flora, "krum": krum, "median": median, "trimmed-mean": trimmed_mean}


def main():
    op, f, out_file, directories = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    updates = [read_adapter(d) for d in directories]
    weights = [1.0 / len(updates)] * len(updates)
    # Timed as the C# side times its call (CallTiming.cs): repeated for at least 2 s and 2 calls, the median of all but the first.
    started, times = time.perf_counter(), []
    while len(times) < 2 or time.perf_counter() - started < 2.0:
        start = time.perf_counter()
        result = OPERATIONS[op](updates, weights, f)
        times.append(time.perf_counter() - start)
    write_safetensors(out_file, result)
    print(f"{statistics.median(times[1:]):.6f}")


if __name__ == "__main__":
    main()
