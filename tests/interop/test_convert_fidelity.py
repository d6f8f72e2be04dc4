"""Interoperability: what modl convert writes computes what the Hugging Face model computes.

For the real stories260K checkpoint (F32, GQA 8/4, head_dim 8, tied, intermediate 172) and
synthetic checkpoints with Llama shapes (GQA, tied and untied embeddings, head_dim unlike
hidden/heads, llama3 and linear rope scaling, several layers, BF16/F16/F32 sources,
sharded files, F32 norms in a BF16 checkpoint, attention and MLP biases, Mistral and
Qwen2 architectures), the
GGUF written by `modl convert --type F32` and `--type F16` is evaluated by llama.cpp
(node-llama-cpp; flash attention off, F32 K/V cache) on token ids, and its logits are
compared with a reference forward pass computed here from the original HF weights with
numpy in float64 (convert_checkpoints.forward: RMSNorm, rotate_half RoPE with rope_theta
and the scaling, grouped-query attention, SwiGLU):

- F32: max |logit error| below 1e-3 (float32 arithmetic);
- F16: max |logit error| within the effect of fp16 rounding (twice the difference between
  the exact reference and one with fp16 weights and fp16 matrix-product inputs, as ggml
  computes with F16 weights, plus 1e-3);
- the argmax identical at every position, for both, on sequences where the reference's
  top two logits are at least 0.15 apart (chosen by the reference, deterministically);
- stories260K's logits also match reference_logits.json (computed independently when the
  fixture was made).

Q8_0 and Q4_K_M outputs must load and generate. The figures are printed at the end."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import convert_checkpoints as ck  # noqa: E402
import quantize_tools as qt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
MODL = os.path.abspath(os.path.join(ROOT, os.environ.get("MODL_BIN", "modl")))

LLAMA3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 64}

# name: (config, source dtype, shards, norms in F32)
SYNTHETIC = {
    "gqa-untied-bf16-sharded": (ck.config(vocab=600, hidden=64, ff=96, layers=3, heads=8, kv_heads=2,
                                          tied=False), "BF16", 3, False),
    "mistral-tied-headdim-f16": (ck.config(arch="MistralForCausalLM", vocab=512, hidden=64, ff=128, layers=2,
                                           heads=4, kv_heads=2, head_dim=32, tied=True, rope_theta=1e6),
                                 "F16", 1, False),
    "llama3-rope-bf16-f32norms": (ck.config(vocab=512, hidden=128, ff=160, layers=2, heads=4, kv_heads=1,
                                            tied=True, rope_theta=500000.0, rope_scaling=LLAMA3), "BF16", 2, True),
    "linear-rope-f32": (ck.config(vocab=512, hidden=64, ff=96, layers=2, heads=4, kv_heads=4,
                                  rope_scaling={"type": "linear", "factor": 4.0}), "F32", 1, False),
    "llama-biases-gqa-f32": (ck.config(vocab=512, hidden=64, ff=96, layers=2, heads=8, kv_heads=2,
                                       attention_bias=True, mlp_bias=True), "F32", 1, False),
    "qwen2-biases-f32": (ck.config(arch="Qwen2ForCausalLM", vocab=520, hidden=64, ff=96, layers=2, heads=4,
                                   kv_heads=2, tied=True, rope_theta=1e6), "F32", 1, False),
}

# Arbitrary sequences (the first is reference_logits.json's), for the logit error; the
# argmax is compared on sequences the reference is confident about (check()).
SEQUENCES = [[1, 400, 72, 300, 35, 250, 500, 7, 99, 12],
             [1, 5, 300, 42, 17, 99, 256, 7, 3, 511, 2, 64, 64, 64, 9, 100, 200, 300]]


def f16_weights(w):
    """The weights an F16 GGUF holds: 2-D ones rounded to fp16, 1-D ones kept (F32)."""
    return {k: (ck.rounded(v, "F16") if v.ndim == 2 else v) for k, v in w.items()}


class ConvertFidelity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        qt.install_llama()
        cls.tmp = tempfile.mkdtemp(prefix="modl-convert-fidelity-")
        cls.figures = []

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        for row in cls.figures:
            print("fidelity %-28s %-6s max|err| %.3g (fp16 rounding bound %s) argmax %d/%d" % row)

    def convert(self, src, type_name, name):
        out = os.path.join(self.tmp, "%s-%s.gguf" % (name, type_name))
        r = subprocess.run([MODL, "-q", "convert", src, "--type", type_name, "-o", out],
                           capture_output=True, text=True, env=dict(os.environ, ASAN_OPTIONS="detect_leaks=1"))
        self.assertEqual(r.returncode, 0, r.stderr)
        return out

    def llama_logits(self, gguf, sequences):
        ids, out = os.path.join(self.tmp, "ids.json"), os.path.join(self.tmp, "logits.json")
        with open(ids, "w") as f:
            json.dump(sequences, f)
        r = subprocess.run(["node", os.path.join(HERE, "convert_llama.mjs"), "logits", gguf, ids, out],
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        with open(out) as f:
            return [np.array(l, dtype=np.float64) for l in json.load(f)["logits"]]

    def check(self, name, src, weights, cfg):
        """Logit error on every sequence; argmax on the sequences where the reference is
        confident (top two logits 0.15 apart everywhere: a tie is no test)."""
        confident = ck.confident_sequences(weights, cfg)
        sequences = confident + SEQUENCES
        ref = [ck.forward(weights, cfg, s) for s in sequences]
        sim16 = [ck.forward(f16_weights(weights), cfg, s, act="F16") for s in sequences]
        for type_name in ("F32", "F16"):
            got = self.llama_logits(self.convert(src, type_name, name), sequences)
            err = max(float(np.abs(g - r).max()) for g, r in zip(got, ref))
            if type_name == "F32":
                bound, label = 1e-3, "-"
            else:
                rounding = max(float(np.abs(a - b).max()) for a, b in zip(sim16, ref))
                bound = 2 * rounding + 1e-3
                label = "%.3g" % bound
            agree = sum(int((g.argmax(-1) == r.argmax(-1)).sum()) for g, r in zip(got[:len(confident)], ref))
            total = sum(len(s) for s in confident)
            type(self).figures.append((name, type_name, err, label, agree, total))
            self.assertLessEqual(err, bound, "%s %s" % (name, type_name))
            self.assertEqual(agree, total, "%s %s: argmax differs" % (name, type_name))

    def test_stories260K(self):
        weights, cfg = ck.load_stories()
        self.check("stories260K (real, F32)", ck.STORIES, weights, cfg)
        # the fixture's own reference, computed when it was made
        with open(os.path.join(ck.STORIES, "reference_logits.json")) as f:
            fixture = json.load(f)
        got = self.llama_logits(os.path.join(self.tmp, "stories260K (real, F32)-F32.gguf"), SEQUENCES[:1])[0]
        self.assertEqual(fixture["input_ids"], SEQUENCES[0])
        self.assertEqual(got.argmax(-1).tolist(), fixture["argmax"])
        np.testing.assert_allclose(got[-1][:8], fixture["logits_last_first8"], atol=1e-4)

    def synthetic(self, name, seed):
        cfg, dtype, shards, norms_f32 = SYNTHETIC[name]
        d = os.path.join(self.tmp, name)
        weights = ck.make_llama(d, cfg, dtype=dtype, seed=seed, shards=shards, norms_f32=norms_f32)
        return d, weights, cfg

    def test_gqa_untied_bf16_sharded(self):
        d, w, cfg = self.synthetic("gqa-untied-bf16-sharded", 11)
        self.check("gqa-untied-bf16-sharded", d, w, cfg)

    def test_mistral_tied_head_dim_f16(self):
        d, w, cfg = self.synthetic("mistral-tied-headdim-f16", 12)
        self.check("mistral-tied-headdim-f16", d, w, cfg)

    def test_llama3_rope_scaling(self):
        d, w, cfg = self.synthetic("llama3-rope-bf16-f32norms", 13)
        self.check("llama3-rope-bf16-f32norms", d, w, cfg)
        kvs, tensors, _ = qt.parse_gguf(open(os.path.join(self.tmp, "llama3-rope-bf16-f32norms-F32.gguf"), "rb").read())
        names = [t[0] for t in tensors]
        self.assertIn("rope_freqs.weight", names)
        self.assertNotIn("output.weight", names)  # tied
        self.assertNotIn("llama.rope.scaling.type", kvs)

    def test_linear_rope_scaling(self):
        d, w, cfg = self.synthetic("linear-rope-f32", 14)
        self.check("linear-rope-f32", d, w, cfg)
        kvs, _, _ = qt.parse_gguf(open(os.path.join(self.tmp, "linear-rope-f32-F32.gguf"), "rb").read())
        self.assertEqual(kvs["llama.rope.scaling.type"][2], "linear")
        self.assertEqual(kvs["llama.rope.scaling.factor"][:2], (6, None))

    def test_llama_with_biases(self):
        """attention_bias and mlp_bias: the Q and K biases are un-permuted like their rows."""
        d, w, cfg = self.synthetic("llama-biases-gqa-f32", 16)
        self.check("llama-biases-gqa-f32", d, w, cfg)

    def test_qwen2(self):
        d, w, cfg = self.synthetic("qwen2-biases-f32", 15)
        self.check("qwen2-biases-f32", d, w, cfg)

    def test_quantized_load_and_generate(self):
        cfg, dtype, shards, norms = SYNTHETIC["gqa-untied-bf16-sharded"]
        d = os.path.join(self.tmp, "gen")
        ck.make_llama(d, ck.config(vocab=512, hidden=256, ff=512, layers=2, heads=4, kv_heads=2), dtype="BF16",
                      seed=21)
        for src, name in ((ck.STORIES, "stories"), (d, "synthetic-256")):
            for type_name in ("Q8_0", "Q4_K_M"):
                gguf = self.convert(src, type_name, name)
                out = os.path.join(self.tmp, "gen.json")
                r = subprocess.run(["node", os.path.join(HERE, "convert_llama.mjs"), "generate", gguf, "24", out],
                                   capture_output=True, text=True, timeout=600)
                self.assertEqual(r.returncode, 0, r.stderr[-3000:])
                with open(out) as f:
                    ids = json.load(f)["ids"]
                self.assertEqual(len(ids), 24, "%s %s" % (name, type_name))
                self.assertTrue(all(0 <= i < 512 for i in ids))
        # Q8_0 of the real model still predicts what the float model predicts, mostly
        # How far quantization moves the real model (reported, not a conversion property:
        # Q8_0 of its 64-wide weights alone moves its logits by about 2).
        weights, scfg = ck.load_stories()
        seqs = ck.confident_sequences(weights, scfg)
        ref = [ck.forward(weights, scfg, s) for s in seqs]
        for type_name in ("Q8_0", "Q4_K_M"):
            got = self.llama_logits(os.path.join(self.tmp, "stories-%s.gguf" % type_name), seqs)
            agree = sum(int((g.argmax(-1) == r.argmax(-1)).sum()) for g, r in zip(got, ref))
            err = max(float(np.abs(g - r).max()) for g, r in zip(got, ref))
            type(self).figures.append(("stories260K (real, F32)", type_name, err, "-", agree,
                                       sum(len(s) for s in seqs)))


if __name__ == "__main__":
    unittest.main()
