"""Interoperability: `modl quantize` against llama.cpp's own quantizer, whole files.

    MODL_BIN=build/asan/modl /usr/bin/python3 tests/e2e/run.py -k quantize_llama

The peer is llama_model_quantize from the libllama that node-llama-cpp ships prebuilt
(llama.cpp v0.5.0, pinned in llama/package.json), called by quantize_llama.c, which is
compiled here against the headers of the very tree the library was built from (the git
bundle in the npm package, cloned into a temporary directory and removed afterwards).

The inputs are generated here (quantize_model.c, random weights written with modl's
GGUF writer) with llama shapes that exercise the type rules:
  f16_odd   F16, untied, 4 layers, n_embd 288 (rows not divisible by 256: fallbacks),
            GQA 3, a 100-wide extra matrix (F16 fallback), keys of every value type and
            a stale general.quantization_version in the middle of the metadata;
  bf16_tied BF16, tied output (token_embd takes the output rule), 8 layers, GQA 4,
            ffn 1376 (ffn_down rows not divisible by 256), the Llama 2 vocabulary;
  f16_gqa4  F16, untied, 16 layers (use_more_bits pattern), GQA 4, the Llama 2
            vocabulary.
For every TYPE of doc/cli.md, both tools quantize each input and the files must be equal
byte for byte (metadata, order, types, tensor data, padding). On a difference the
message says where (quantize_tools.first_difference). The files modl wrote for the two
models with a vocabulary are then loaded into llama.cpp through node-llama-cpp
(quantize_generate.mjs), which evaluates a prompt and generates a few tokens.

A missing or failing npm install is a failure, not a skip."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from quantize_tools import (ROOT, TINY_VOCAB, build_llama_quantizer,  # noqa: E402
                            build_model_tool, first_difference, install_llama,
                            llama_quantize_argv, make_model, parse_gguf, TENSOR_TYPES)

MODL = os.path.abspath(os.path.join(ROOT, os.environ.get("MODL_BIN", "modl")))
TYPES = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L",
         "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "F16", "BF16", "F32"]
GENERATE_TYPES = ["Q8_0", "Q4_0", "Q5_1", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_S", "Q6_K", "F16",
                  "BF16"]


def env():
    e = {k: v for k, v in os.environ.items() if not k.startswith(("MODL_", "HF_"))}
    e["ASAN_OPTIONS"] = "detect_leaks=1"
    return e


class QuantizeLlama(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        install_llama()
        if not os.path.exists(TINY_VOCAB):
            raise AssertionError("test data missing: %s" % TINY_VOCAB)
        cls.tmp = tempfile.mkdtemp(prefix="modl-quantize-llama-")
        cls.llama = build_llama_quantizer(cls.tmp)
        shutil.rmtree(os.path.join(cls.tmp, "llama.cpp"))  # the headers were all it needed
        tool = build_model_tool(cls.tmp)
        p = lambda n: os.path.join(cls.tmp, n)  # noqa: E731
        cls.models = {
            "f16_odd": make_model(tool, p("f16_odd.gguf"), layers=4, embd=288, heads=6,
                                  kv_heads=2, ff=768, vocab=1000, odd_tensor=True,
                                  extra_kvs=True, seed=11),
            "bf16_tied": make_model(tool, p("bf16_tied.gguf"), layers=8, embd=512, heads=8,
                                    kv_heads=2, ff=1376, vocab=32000, dtype="BF16", tied=True,
                                    vocab_from=TINY_VOCAB, seed=12),
            "f16_gqa4": make_model(tool, p("f16_gqa4.gguf"), layers=16, embd=256, heads=4,
                                   kv_heads=1, ff=512, vocab=32000, vocab_from=TINY_VOCAB,
                                   seed=13),
        }
        cls.results = {}
        for model, path in cls.models.items():
            for t in TYPES:
                cls.results[model, t] = cls.quantize_both(path, model, t)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def run_llama(cls, src, dst, t, threads, allow_requantize=False):
        return subprocess.run(llama_quantize_argv(cls.llama, src, dst, t, threads, allow_requantize),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)

    @classmethod
    def run_modl(cls, *args):
        return subprocess.run([MODL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env(), timeout=600)

    @classmethod
    def quantize_both(cls, src, model, t, threads_llama=2, threads_modl=3):
        lout = os.path.join(cls.tmp, "%s-%s-llama.gguf" % (model, t))
        mout = os.path.join(cls.tmp, "%s-%s-modl.gguf" % (model, t))
        lp = cls.run_llama(src, lout, t, threads_llama)
        mp = cls.run_modl("quantize", src, mout, t, "--threads", str(threads_modl), "--json")
        return {"llama": lp, "modl": mp, "llama_out": lout, "modl_out": mout}

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def test_byte_identical_every_type(self):
        report = []
        for (model, t), r in sorted(self.results.items()):
            with self.subTest(model=model, type=t):
                self.assertEqual(r["llama"].returncode, 0, r["llama"].stderr[-2000:])
                self.assertEqual(r["modl"].returncode, 0, r["modl"].stderr[-2000:])
                diff = first_difference(self.read(r["llama_out"]), self.read(r["modl_out"]))
                report.append("%-9s %-6s %s" % (model, t, diff or "identical"))
                self.assertIsNone(diff, "%s %s: %s" % (model, t, diff))
        sys.stderr.write("\n" + "\n".join(report) + "\n")

    def test_the_cases_are_covered(self):
        """The inputs do reach the rules they are meant to: fallbacks to Q5_0/Q8_0/Q4_0/F16,
        tied token_embd at Q6_K, Q6_K attn_v on use_more_bits layers."""
        def types(model, t):
            data = self.read(self.results[model, t]["modl_out"])
            return {n: TENSOR_TYPES[x][0] for n, _, x, _ in parse_gguf(data)[1]}
        odd = types("f16_odd", "Q4_K_M")
        self.assertEqual(odd["blk.0.attn_q.weight"], "Q5_0")
        self.assertEqual(odd["blk.0.odd_proj.weight"], "F16")
        self.assertEqual(odd["output.weight"], "Q8_0")
        self.assertEqual(types("f16_odd", "Q2_K")["blk.0.attn_q.weight"], "Q4_0")
        self.assertEqual(types("f16_odd", "Q6_K")["blk.0.attn_q.weight"], "Q8_0")
        tied = types("bf16_tied", "Q4_K_M")
        self.assertNotIn("output.weight", tied)
        self.assertEqual(tied["token_embd.weight"], "Q6_K")
        self.assertEqual(tied["blk.0.ffn_down.weight"], "Q8_0")  # Q6_K, 1376 % 256 → Q8_0
        self.assertEqual(tied["blk.1.ffn_down.weight"], "Q5_0")  # Q4_K → Q5_0
        gqa4 = types("f16_gqa4", "Q4_K_M")
        self.assertEqual(gqa4["blk.4.attn_v.weight"], "Q6_K")   # (4 - 2) % 3 == 2
        self.assertEqual(gqa4["blk.3.attn_v.weight"], "Q4_K")
        self.assertEqual(types("f16_gqa4", "Q2_K")["blk.3.attn_v.weight"], "Q4_K")  # GQA 4
        self.assertEqual(json.loads(self.results["f16_odd", "Q4_K_M"]["modl"].stdout)["fallbacks"],
                         int(self.results["f16_odd", "Q4_K_M"]["llama"].stderr
                             .split("WARNING: ")[-1].split(" of ")[0]))

    def test_requantize(self):
        q8 = self.results["f16_gqa4", "Q8_0"]["llama_out"]
        lout, mout = os.path.join(self.tmp, "rq-llama.gguf"), os.path.join(self.tmp, "rq-modl.gguf")
        self.assertNotEqual(self.run_llama(q8, lout, "Q4_K_M", 2).returncode, 0)
        r = self.run_modl("quantize", q8, mout, "Q4_K_M")
        self.assertEqual(r.returncode, 8, r.stderr)
        self.assertFalse(os.path.exists(mout))
        lp = self.run_llama(q8, lout, "Q4_K_M", 2, allow_requantize=True)
        self.assertEqual(lp.returncode, 0, lp.stderr[-2000:])
        mp = self.run_modl("quantize", q8, mout, "Q4_K_M", "--allow-requantize")
        self.assertEqual(mp.returncode, 0, mp.stderr[-2000:])
        self.assertIsNone(first_difference(self.read(lout), self.read(mout)))

    def test_thread_counts(self):
        src = self.models["bf16_tied"]
        lout, mout = os.path.join(self.tmp, "th-llama.gguf"), os.path.join(self.tmp, "th-modl.gguf")
        self.assertEqual(self.run_llama(src, lout, "Q5_K_M", 1).returncode, 0)
        for threads in ("1", "7"):
            r = self.run_modl("quantize", src, mout, "Q5_K_M", "--threads", threads)
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            self.assertIsNone(first_difference(self.read(lout), self.read(mout)), threads)

    def test_quantized_files_load_and_generate(self):
        paths = [self.results[m, t]["modl_out"] for m in ("bf16_tied", "f16_gqa4")
                 for t in GENERATE_TYPES]
        paths.append(self.models["f16_gqa4"])
        p = subprocess.run(["node", os.path.join(HERE, "quantize_generate.mjs"), *paths],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=900)
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        lines = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
        self.assertEqual([d["path"] for d in lines], paths)
        for d in lines:
            with self.subTest(path=os.path.basename(d["path"])):
                self.assertTrue(d["ok"], d.get("error"))
                self.assertTrue(d["logits_finite"])
                self.assertEqual(d["logit_rows"], 1)
                self.assertGreater(d["logit_range"][1], d["logit_range"][0])
                self.assertGreater(len(d["prompt"]), 5)
                self.assertEqual(len(d["generated"]), 6)
                self.assertTrue(all(0 <= t < 32000 for t in d["generated"]))


if __name__ == "__main__":
    unittest.main()
