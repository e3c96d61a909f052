"""Independent reference for Federated's Llama-family model: numpy only, written from the equations.

Reads an HF model directory (config.json + model.safetensors, parsed here byte by byte) and writes the
logits of one token sequence as little-endian float64 to OUT.
Usage: python3 llama_reference.py MODEL_DIR OUT TOKEN [TOKEN ...]
"""
import json
import struct
import sys

import numpy as np


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    base = 8 + length
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[base + begin:base + end]
        if info["dtype"] == "F32":
            values = np.frombuffer(raw, dtype="<f4")
        elif info["dtype"] == "F16":
            values = np.frombuffer(raw, dtype="<f2")
        elif info["dtype"] == "BF16":
            values = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"{name}: unsupported dtype {info['dtype']}")
        tensors[name] = values.reshape(info["shape"]).astype(np.float64)
    return tensors


def rms_norm(x, weight, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * weight


def rotate(x, theta):
    """Rotary embedding, pairs (i, i + d/2) of each head turned by position * theta^(-2i/d). x: [T, H, D]."""
    t, _, d = x.shape
    half = d // 2
    angles = np.arange(t)[:, None] * theta ** (-np.arange(half) * 2.0 / d)[None, :]
    cos, sin = np.cos(angles)[:, None, :], np.sin(angles)[:, None, :]
    first, second = x[..., :half], x[..., half:]
    return np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


def linear(w, name, x):
    y = x @ w[name + ".weight"].T
    return y + w[name + ".bias"] if name + ".bias" in w else y


def logits(model_dir, tokens):
    c = json.load(open(f"{model_dir}/config.json"))
    w = load_safetensors(f"{model_dir}/model.safetensors")
    heads = c["num_attention_heads"]
    kv_heads = c.get("num_key_value_heads") or heads
    head_dim = c.get("head_dim") or c["hidden_size"] // heads
    eps, theta = c["rms_norm_eps"], c.get("rope_theta", 10000.0)
    t = len(tokens)
    causal = np.triu(np.full((t, t), -np.inf), 1)

    h = w["model.embed_tokens.weight"][tokens]
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        x = rms_norm(h, w[p + "input_layernorm.weight"], eps)
        q = rotate(linear(w, p + "self_attn.q_proj", x).reshape(t, heads, head_dim), theta)
        k = rotate(linear(w, p + "self_attn.k_proj", x).reshape(t, kv_heads, head_dim), theta)
        v = linear(w, p + "self_attn.v_proj", x).reshape(t, kv_heads, head_dim)
        out = []
        for head in range(heads):
            g = head // (heads // kv_heads)
            scores = q[:, head] @ k[:, g].T / np.sqrt(head_dim) + causal
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            out.append((scores / scores.sum(-1, keepdims=True)) @ v[:, g])
        h = h + linear(w, p + "self_attn.o_proj", np.concatenate(out, axis=-1))
        y = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
        gate = linear(w, p + "mlp.gate_proj", y)
        h = h + linear(w, p + "mlp.down_proj", gate / (1 + np.exp(-gate)) * linear(w, p + "mlp.up_proj", y))
    h = rms_norm(h, w["model.norm.weight"], eps)
    head_weight = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return h @ head_weight.T


if __name__ == "__main__":
    result = logits(sys.argv[1], [int(token) for token in sys.argv[3:]])
    result.astype("<f8").tofile(sys.argv[2])
