"""Interoperability: modl's quantization core against ggml's own reference quantizers.

The oracle is the libggml-base.so that the npm package node-llama-cpp (pinned in
llama/package.json) ships prebuilt: llama.cpp v0.5.0, whose ggml_quantize_chunk without an
importance matrix runs quantize_row_*_ref (doc/gguf.md §5.1). quant_oracle.c loads it with
dlopen, quantizes the same matrices with ggml and with modl's quant_rows on every
instruction set this CPU has (scalar, AVX2, AVX-512; NEON on arm64) at 1, 2 and 7
threads, the types with a weighted kernel (IQ4_NL, IQ4_XS) also with importance weights
(ggml's quant_weights against quant_rows_weighted), dequantizes ggml's bytes with both libraries, compares the F16/BF16 conversions
on every 16-bit pattern and a sweep of 32-bit ones, and prints one line per case.

A missing or failing npm install is a failure, not a skip: this test is the proof that
modl's bytes are llama.cpp's."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LLAMA = os.path.join(HERE, "llama")
TYPES = ["F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",
         "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"]
BLOCK32 = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "IQ4_NL"}
WEIGHTED = {"IQ4_NL", "IQ4_XS"}
CLASSES = ["zeros", "constant", "tiny", "subnormal", "outliers", "extreme", "alternating",
           "normal", "uniform", "ties", "blocks", "nonfinite"]


def install_llama():
    """node-llama-cpp with only the linux-x64 prebuilt libraries. `npm ci` refuses this
    lock file (some optional platform packages of 3.22.1 cannot be resolved from the
    registry, so the lock has no entry for them); `npm install` honours the lock as it
    is and leaves it unchanged."""
    if os.path.isdir(os.path.join(LLAMA, "node_modules", "node-llama-cpp")):
        return
    cmd = ["npm", "install", "--no-audit", "--no-fund", "--omit=optional"]
    for attempt in (1, 2):  # one retry for a registry hiccup; then it is a failure
        proc = subprocess.run(cmd, cwd=LLAMA, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        if proc.returncode == 0:
            return
    raise AssertionError("npm install of node-llama-cpp failed:\n" + proc.stderr[-3000:])


def ggml_base():
    arch = {"x86_64": "linux-x64", "aarch64": "linux-arm64"}.get(os.uname().machine)
    if arch is None:
        raise AssertionError("no prebuilt llama.cpp for %s" % os.uname().machine)
    path = os.path.join(LLAMA, "node_modules", "@node-llama-cpp", arch, "bins", arch,
                        "libggml-base.so")
    if not os.path.exists(path):
        raise AssertionError("npm install did not bring %s" % path)
    return path


class QuantOracle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        install_llama()
        cls.lib = ggml_base()
        cls.tmp = tempfile.mkdtemp(prefix="modl-quant-oracle-")
        cls.oracle = os.path.join(cls.tmp, "quant_oracle")
        sources = [os.path.join(HERE, "quant_oracle.c")]
        sources += sorted(os.path.join(ROOT, "src", "quant", f)
                          for f in os.listdir(os.path.join(ROOT, "src", "quant"))
                          if f.endswith(".c"))
        sources += [os.path.join(ROOT, "src", "util", f) for f in ("pool.c", "error.c", "strbuf.c")]
        sources += [
                    os.path.join(ROOT, "formats", "gguf_types.c")]
        subprocess.run([os.environ.get("CC", "cc"), "-std=c11", "-iquote", os.path.join(ROOT, "src"), "-iquote", ROOT, "-D_DEFAULT_SOURCE",
                        "-D_XOPEN_SOURCE=700", "-Wall", "-Wextra", "-Werror", "-O2", "-g",
                        "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                        "-pthread", "-o", cls.oracle] + sources + ["-ldl", "-lm"],
                       check=True)
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1")
        proc = subprocess.run([cls.oracle, cls.lib], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env, timeout=1200)
        cls.returncode, cls.out, cls.err = proc.returncode, proc.stdout, proc.stderr

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def lines(self, kind):
        pat = re.compile(r"^%s (.*)$" % kind)
        rows = []
        for line in self.out.splitlines():
            m = pat.match(line)
            if m:
                rows.append(dict(kv.split("=", 1) for kv in m.group(1).split()))
        return rows

    def test_ran_clean(self):
        self.assertEqual(self.err.strip(), "", self.err[-3000:])
        self.assertEqual(self.returncode, 0, self.out[-3000:])

    def test_zero_mismatches_every_type(self):
        summary = self.lines("summary")
        self.assertEqual(len(summary), 1, self.out[-2000:])
        self.assertEqual(summary[0]["mismatches"], "0")
        self.assertEqual(summary[0]["types"].split(","), TYPES)
        bad = [c for c in self.lines("case") + self.lines("dequant") if c["mismatches"] != "0"]
        self.assertEqual(bad, [])

    def test_coverage(self):
        cases = self.lines("case")
        isas = {c["isa"] for c in cases}
        self.assertIn("scalar", isas)
        if os.uname().machine == "x86_64":
            with open("/proc/cpuinfo") as f:
                flags = f.read()
            if " avx2 " in flags:
                self.assertIn("avx2", isas)
            if " avx512f " in flags:
                self.assertIn("avx512", isas)
        for t in TYPES:
            lengths = {"256", "512", "4096", "11008"}
            if t in BLOCK32 or t in ("F16", "BF16"):
                lengths |= {"96", "4128"}
            weights = ("none", "dense", "sparse") if t in WEIGHTED else ("none",)
            for isa in isas:
                seen = {(c["weights"], c["class"], c["n"], c["threads"]) for c in cases
                        if c["type"] == t and c["isa"] == isa}
                want = {(w, cl, n, th) for w in weights for cl in CLASSES for n in lengths
                        for th in ("1", "2", "7")}
                self.assertEqual(want - seen, set(), "%s on %s" % (t, isa))
            deq = {(c["weights"], c["class"], c["n"]) for c in self.lines("dequant") if c["type"] == t}
            self.assertEqual({(w, cl, n) for w in weights for cl in CLASSES for n in lengths} - deq,
                             set(), t)

    def test_conversions(self):
        conv = self.lines("conversions")
        self.assertEqual(len(conv), 1)
        self.assertEqual(conv[0]["mismatches"], "0")
        self.assertGreater(int(conv[0]["patterns"]), 1000000)


if __name__ == "__main__":
    unittest.main()
