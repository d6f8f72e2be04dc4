"""Interoperability: converting and quantizing in one pass gives what the two-step path
gives. `modl convert --type TYPE` must write the same tensor bytes (names, types, shapes,
data) as `modl convert --type BF16` followed by llama.cpp's own llama_model_quantize to
TYPE (quantize_llama.c, linked at test time with the prebuilt libllama of node-llama-cpp;
see quantize_tools.py), on BF16 checkpoints (for which the BF16 intermediate is lossless):

- a Llama-shaped model with rows that are multiples of 256 (no fallbacks), untied, GQA 4,
  for every quantized type of doc/cli.md and F16;
- a tied model whose feed-forward width (704) forces K-quant fallbacks, with llama3 rope
  scaling (rope_freqs.weight), sharded;
- the real stories260K weights rounded to BF16 (rows of 64 and 172: fallbacks down to F16).

The whole files are compared too (metadata in the same order, llama.cpp moving
general.file_type last): the test reports whether they are byte-identical. The bytes of
modl's output must not depend on the thread count."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import convert_checkpoints as ck  # noqa: E402
import quantize_tools as qt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
MODL = os.path.abspath(os.path.join(ROOT, os.environ.get("MODL_BIN", "modl")))

ALL_TYPES = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S",
             "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "F16"]
LLAMA3 = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 8192}


class ConvertEquivalence(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        qt.install_llama()
        cls.tmp = tempfile.mkdtemp(prefix="modl-convert-equiv-")
        cls.quantizer = qt.build_llama_quantizer(cls.tmp)
        cls.results = []

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        for name, type_name, tensors, files in cls.results:
            print("equivalence %-22s %-7s tensors %s, whole file %s" % (
                name, type_name, tensors, "identical" if files else "different"))

    def modl(self, *args, threads=2):
        r = subprocess.run([MODL, "-q", *args], capture_output=True, text=True,
                           env=dict(os.environ, ASAN_OPTIONS="detect_leaks=1", MODL_THREADS=str(threads)))
        self.assertEqual(r.returncode, 0, r.stderr)

    def compare(self, name, src, types):
        bf16 = os.path.join(self.tmp, name + "-BF16.gguf")
        self.modl("convert", src, "--type", "BF16", "-o", bf16)
        for type_name in types:
            one = os.path.join(self.tmp, "%s-one-%s.gguf" % (name, type_name))
            two = os.path.join(self.tmp, "%s-two-%s.gguf" % (name, type_name))
            self.modl("convert", src, "--type", type_name, "-o", one)
            r = subprocess.run(qt.llama_quantize_argv(self.quantizer, bf16, two, type_name, 2),
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr[-3000:])
            a, b = open(one, "rb").read(), open(two, "rb").read()
            ta, tb = qt.tensor_bytes(a), qt.tensor_bytes(b)
            _, infos_a, _ = qt.parse_gguf(a)
            _, infos_b, _ = qt.parse_gguf(b)
            self.assertEqual([i[0] for i in infos_a], [i[0] for i in infos_b], "%s %s: tensor order" % (name, type_name))
            for tensor in ta:
                self.assertEqual(ta[tensor][:2], tb[tensor][:2], "%s %s: %s type/shape" % (name, type_name, tensor))
                self.assertTrue(ta[tensor][2] == tb[tensor][2], "%s %s: %s bytes differ (%s)" % (
                    name, type_name, tensor, qt.first_difference(a, b)))
            type(self).results.append((name, type_name, "identical (%d)" % len(ta), a == b))

    def test_llama_shapes_every_type(self):
        d = os.path.join(self.tmp, "llama256")
        ck.make_llama(d, ck.config(vocab=1024, hidden=256, ff=768, layers=4, heads=8, kv_heads=2, tied=False),
                      dtype="BF16", seed=31)
        self.compare("llama256-untied", d, ALL_TYPES)

    def test_tied_fallbacks_llama3_sharded(self):
        d = os.path.join(self.tmp, "tied704")
        ck.make_llama(d, ck.config(vocab=512, hidden=256, ff=704, layers=3, heads=4, kv_heads=1, tied=True,
                                   rope_theta=500000.0, rope_scaling=LLAMA3), dtype="BF16", seed=32, shards=2)
        self.compare("tied704-llama3", d, ["Q4_K_M", "Q8_0", "Q3_K_M", "Q5_K_S", "Q2_K", "Q6_K"])

    def test_stories260K_bf16(self):
        d = os.path.join(self.tmp, "stories-bf16")
        os.makedirs(d)
        weights, cfg = ck.load_stories()
        ck.write_safetensors(os.path.join(d, "model.safetensors"), {k: ("BF16", v) for k, v in weights.items()})
        for f in ("config.json", "tokenizer.model", "tokenizer_config.json", "README.md"):
            shutil.copy(os.path.join(ck.STORIES, f), d)
        self.compare("stories260K-bf16", d, ["Q4_K_M", "Q8_0", "Q4_0", "Q2_K", "Q5_K_M"])

    def test_thread_count_does_not_change_bytes(self):
        d = os.path.join(self.tmp, "threads")
        ck.make_llama(d, ck.config(vocab=512, hidden=256, ff=512, layers=2, heads=4, kv_heads=2), dtype="BF16",
                      seed=33)
        digests = set()
        for threads in (1, 2, 5):
            out = os.path.join(self.tmp, "threads-%d.gguf" % threads)
            self.modl("convert", d, "--type", "Q4_K_M", "-o", out, threads=threads)
            digests.add(hashlib.sha256(open(out, "rb").read()).hexdigest())
        self.assertEqual(len(digests), 1)


if __name__ == "__main__":
    unittest.main()
