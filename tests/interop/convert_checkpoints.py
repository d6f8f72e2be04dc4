"""Synthetic Hugging Face checkpoints and an independent reference forward pass, for the
modl convert tests (tests/interop/test_convert_*.py, tests/e2e/test_convert.py) and
bench/convert.py. Not a test module (no test_ prefix).

- write_safetensors(): the safetensors format written byte by byte (doc/gguf.md §1), so that
  nothing of modl or of the Hugging Face libraries is involved.
- make_llama(): a LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM directory
  with random weights in the HF layout (q/k rows in rotate_half order), any of BF16,
  F16 and F32, sharded or not, tied or not, with head_dim and rope_scaling as asked.
- forward(): the model as transformers computes it, in float64 with numpy: RMSNorm,
  rotate_half RoPE with rope_theta and linear or llama3 scaling, grouped-query
  attention, SwiGLU, Qwen2's biases.

Runs under /usr/bin/python3 with Debian's python3-numpy."""
import json
import math
import os
import shutil
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
STORIES = os.path.join(ROOT, "tests", "data", "stories260K")


# ---- number formats ---------------------------------------------------------------------

def bf16_bits(x):
    """float -> bfloat16 bits, round to nearest even (ggml_compute_fp32_to_bf16)."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_value(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def rounded(x, dtype):
    """The values a checkpoint of this dtype holds for x."""
    if dtype == "BF16":
        return bf16_value(bf16_bits(x))
    if dtype == "F16":
        return np.asarray(x, dtype=np.float16).astype(np.float64)
    return np.asarray(x, dtype=np.float32).astype(np.float64)


def encode(x, dtype):
    if dtype == "BF16":
        return bf16_bits(x).astype("<u2").tobytes()
    if dtype == "F16":
        return np.asarray(x, dtype="<f2").tobytes()
    return np.asarray(x, dtype="<f4").tobytes()


# ---- safetensors ------------------------------------------------------------------------

def write_safetensors(path, tensors, metadata=None, order=None):
    """tensors: {name: (dtype, float64 array)}; written in `order` (default: by name)."""
    names = order or sorted(tensors)
    header, blobs, offset = {}, [], 0
    for name in names:
        dtype, arr = tensors[name]
        blob = encode(arr, dtype)
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((-len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def write_sharded(directory, tensors, shards):
    """model-0000i-of-0000n.safetensors + model.safetensors.index.json."""
    names = sorted(tensors)
    per = -(-len(names) // shards)
    weight_map, total = {}, 0
    for i in range(shards):
        part = names[i * per:(i + 1) * per]
        fname = "model-%05d-of-%05d.safetensors" % (i + 1, shards)
        write_safetensors(os.path.join(directory, fname), {n: tensors[n] for n in part}, {"format": "pt"})
        for n in part:
            weight_map[n] = fname
            total += tensors[n][1].size * {"BF16": 2, "F16": 2, "F32": 4}[tensors[n][0]]
    with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


# ---- models -----------------------------------------------------------------------------

def config(arch="LlamaForCausalLM", vocab=512, hidden=64, ff=96, layers=2, heads=4, kv_heads=2,
           head_dim=None, tied=False, rope_theta=10000.0, rope_scaling=None, ctx=256, dtype="F32",
           eps=1e-5, attention_bias=False, mlp_bias=False):
    c = {
        "architectures": [arch],
        "model_type": {"LlamaForCausalLM": "llama", "MistralForCausalLM": "mistral",
                       "Qwen2ForCausalLM": "qwen2"}.get(arch, "llama"),
        "vocab_size": vocab, "hidden_size": hidden, "intermediate_size": ff,
        "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
        "max_position_embeddings": ctx, "rms_norm_eps": eps, "rope_theta": rope_theta,
        "rope_scaling": rope_scaling, "hidden_act": "silu", "tie_word_embeddings": tied,
        "bos_token_id": 1, "eos_token_id": 2,
        "torch_dtype": {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}[dtype],
    }
    if head_dim is not None:
        c["head_dim"] = head_dim
    if arch == "Qwen2ForCausalLM":
        c["attention_bias"] = True
    elif attention_bias or mlp_bias:
        c["attention_bias"], c["mlp_bias"] = attention_bias, mlp_bias
    return c


def random_weights(cfg, seed, dtype, norms_f32=False, scale=1.0):
    """{hf name: (dtype, values as stored)}: values already rounded to dtype."""
    rng = np.random.default_rng(seed)
    hidden, ff, vocab = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or hidden // heads
    qwen = cfg["architectures"][0] == "Qwen2ForCausalLM"
    attention_bias = qwen or cfg.get("attention_bias", False)
    mlp_bias = cfg.get("mlp_bias", False)
    t = {}

    def put(name, shape, std, mean=0.0, norm=False):
        x = rng.normal(mean, std, size=shape)
        dt = "F32" if norm and norms_f32 else dtype
        t[name] = (dt, rounded(x, dt))

    put("model.embed_tokens.weight", (vocab, hidden), 1.0 * scale)
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        put(p + "input_layernorm.weight", (hidden,), 0.1, 1.0, norm=True)
        put(p + "post_attention_layernorm.weight", (hidden,), 0.1, 1.0, norm=True)
        put(p + "self_attn.q_proj.weight", (heads * hd, hidden), 1.5 / math.sqrt(hidden))
        put(p + "self_attn.k_proj.weight", (kv * hd, hidden), 1.5 / math.sqrt(hidden))
        put(p + "self_attn.v_proj.weight", (kv * hd, hidden), 1.0 / math.sqrt(hidden))
        put(p + "self_attn.o_proj.weight", (hidden, heads * hd), 0.5 / math.sqrt(heads * hd))
        put(p + "mlp.gate_proj.weight", (ff, hidden), 1.0 / math.sqrt(hidden))
        put(p + "mlp.up_proj.weight", (ff, hidden), 1.0 / math.sqrt(hidden))
        put(p + "mlp.down_proj.weight", (hidden, ff), 0.5 / math.sqrt(ff))
        if attention_bias:
            put(p + "self_attn.q_proj.bias", (heads * hd,), 0.2)
            put(p + "self_attn.k_proj.bias", (kv * hd,), 0.2)
            put(p + "self_attn.v_proj.bias", (kv * hd,), 0.2)
            if not qwen:  # Llama's attention_bias covers o_proj too
                put(p + "self_attn.o_proj.bias", (hidden,), 0.1)
        if mlp_bias:
            put(p + "mlp.gate_proj.bias", (ff,), 0.2)
            put(p + "mlp.up_proj.bias", (ff,), 0.2)
            put(p + "mlp.down_proj.bias", (hidden,), 0.1)
    put("model.norm.weight", (hidden,), 0.1, 1.0, norm=True)
    if not cfg["tie_word_embeddings"]:
        put("lm_head.weight", (vocab, hidden), 3.0 / math.sqrt(hidden))
    return t


def copy_tokenizer(directory, vocab=None):
    """The stand-in stories260K tokenizer (512 pieces); the model's vocab_size may be
    larger (the converter pads)."""
    for name in ("tokenizer.model", "tokenizer_config.json"):
        shutil.copy(os.path.join(STORIES, name), os.path.join(directory, name))


def make_llama(directory, cfg, dtype="F32", seed=1, shards=1, norms_f32=False, tokenizer=True,
               readme=None, scale=1.0):
    """Writes a checkpoint; returns the weights as stored (float64) for forward()."""
    os.makedirs(directory, exist_ok=True)
    cfg = dict(cfg)
    cfg["torch_dtype"] = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}[dtype]
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    t = random_weights(cfg, seed, dtype, norms_f32, scale)
    if shards > 1:
        write_sharded(directory, t, shards)
    else:
        write_safetensors(os.path.join(directory, "model.safetensors"), t, {"format": "pt"})
    if tokenizer:
        copy_tokenizer(directory)
    if readme is not None:
        with open(os.path.join(directory, "README.md"), "w") as f:
            f.write(readme)
    return {k: v[1] for k, v in t.items()}


def load_stories():
    """The real stories260K checkpoint (F32) as {name: float64 array}, read with numpy."""
    with open(os.path.join(STORIES, "model.safetensors"), "rb") as f:
        b = f.read()
    (n,) = struct.unpack_from("<Q", b, 0)
    header = json.loads(b[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        arr = np.frombuffer(b[8 + n + start:8 + n + end], dtype="<f4").reshape(info["shape"])
        out[name] = arr.astype(np.float64)
    with open(os.path.join(STORIES, "config.json")) as f:
        return out, json.load(f)


# ---- the reference forward pass ---------------------------------------------------------

def inv_freq(cfg):
    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    hd = cfg.get("head_dim") or hidden // heads
    base = cfg.get("rope_theta") or 10000.0
    # transformers computes these in float32
    inv = 1.0 / (np.float32(base) ** (np.arange(0, hd, 2, dtype=np.int64).astype(np.float32) / np.float32(hd)))
    inv = inv.astype(np.float64)
    rs = cfg.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type"))
    if kind == "linear":
        inv = inv / rs["factor"]
    elif kind == "llama3":
        factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wl, high_wl = old / low, old / high
        wavelen = 2 * math.pi / inv
        scaled = np.where(wavelen > low_wl, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wl) & ~(wavelen > low_wl)
        inv = np.where(medium, smoothed, scaled)
    elif kind not in (None, "default"):
        raise ValueError("reference: rope_scaling %s not modelled" % kind)
    return inv


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def forward(w, cfg, ids, act=None):
    """Logits [len(ids), vocab] of the HF model, float64. act="F16" rounds the input of
    every weight matrix product to fp16, as ggml does for F16 weights (its vec_dot_type),
    to model what an F16 GGUF computes."""
    r = (lambda a: rounded(a, act)) if act else (lambda a: a)
    hidden, heads, kv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or hidden // heads
    eps = cfg["rms_norm_eps"]
    T = len(ids)
    x = w["model.embed_tokens.weight"][ids]
    pos = np.arange(T, dtype=np.float64)[:, None]
    freqs = pos * inv_freq(cfg)[None, :]
    emb = np.concatenate([freqs, freqs], axis=-1)
    cos, sin = np.cos(emb)[:, None, :], np.sin(emb)[:, None, :]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        h = r(rms_norm(x, w[p + "input_layernorm.weight"], eps))

        def proj(name, bias):
            y = h @ w[p + name].T
            return y + w[p + bias] if p + bias in w else y
        q = proj("self_attn.q_proj.weight", "self_attn.q_proj.bias").reshape(T, heads, hd)
        k = proj("self_attn.k_proj.weight", "self_attn.k_proj.bias").reshape(T, kv, hd)
        v = proj("self_attn.v_proj.weight", "self_attn.v_proj.bias").reshape(T, kv, hd)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = heads // kv
        k = np.repeat(k, rep, axis=1)
        v = np.repeat(v, rep, axis=1)
        att = np.einsum("qhd,khd->hqk", q, k) / math.sqrt(hd) + mask
        att = np.exp(att - att.max(axis=-1, keepdims=True))
        att /= att.sum(axis=-1, keepdims=True)
        o = np.einsum("hqk,khd->qhd", att, v).reshape(T, heads * hd)
        x = x + r(o) @ w[p + "self_attn.o_proj.weight"].T + w.get(p + "self_attn.o_proj.bias", 0)
        h = r(rms_norm(x, w[p + "post_attention_layernorm.weight"], eps))
        g = h @ w[p + "mlp.gate_proj.weight"].T + w.get(p + "mlp.gate_proj.bias", 0)
        u = h @ w[p + "mlp.up_proj.weight"].T + w.get(p + "mlp.up_proj.bias", 0)
        x = x + r(g / (1 + np.exp(-g)) * u) @ w[p + "mlp.down_proj.weight"].T + w.get(p + "mlp.down_proj.bias", 0)
    x = r(rms_norm(x, w["model.norm.weight"], eps))
    out = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return x @ out.T


def confident_sequences(w, cfg, count=2, length=10, margin=0.15, seed=0, tries=500):
    """Token sequences on which the reference is sure of its next token everywhere (its
    top two logits at least `margin` apart at every position), so that an argmax
    comparison tests the conversion and not a coin toss: short random prefixes
    continued greedily by the reference, kept when confident. Deterministic."""
    rng = np.random.default_rng(seed)
    vocab = cfg["vocab_size"]
    found = []
    for _ in range(tries):
        s = [int(t) for t in rng.integers(3, min(vocab, 512), size=2)]
        while len(s) < length:
            s.append(int(forward(w, cfg, s)[-1].argmax()))
        logits = np.sort(forward(w, cfg, s), axis=-1)
        if (logits[:, -1] - logits[:, -2]).min() >= margin:
            found.append(s)
            if len(found) == count:
                return found
    raise AssertionError("no confident sequence found (margin %g)" % margin)
