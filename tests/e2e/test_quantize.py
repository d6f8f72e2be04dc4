"""End-to-end tests of `modl quantize IN.gguf OUT.gguf TYPE`: exit codes (2 usage, 4 missing
input, 8 malformed input / NaN / already quantized, 1 write error), no partial output left
behind (nor an existing OUT touched) on failure, metadata kept in llama.cpp's order with
general.file_type and general.quantization_version written, tensors in (block, name)
order with the types of doc/gguf.md §5.6, output bytes independent of the thread count, and
the summary (text and --json).

The models come from tests/interop/quantize_model.c (modl's GGUF writer, random weights);
the expected values are computed here from doc/gguf.md, and the files are read back with the
small parser of tests/interop/quantize_tools.py. Byte identity with llama.cpp is
tests/interop/test_quantize_llama.py's job."""
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile

from modltest import ModlTestCase, MODL, ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
from quantize_tools import (build_model_tool, make_model, parse_gguf, tensor_bytes,  # noqa: E402
                            TYPE_IDS, FTYPES, TENSOR_TYPES)


def use_more_bits(i, n):
    """doc/gguf.md §5.6, C integer arithmetic (i - n/8 is never negative where it matters:
    i < n/8 returns first)."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def llama_order(names):
    def key(name):
        layer = int(name.split(".")[1]) if name.startswith("blk.") else -1
        return (layer, name.encode())
    return sorted(names, key=key)


def f16_to_float(h):
    return struct.unpack("<e", struct.pack("<H", h))[0]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class QuantizeCase(ModlTestCase):
    @classmethod
    def setUpClass(cls):
        cls.shared = tempfile.mkdtemp(prefix="modl-e2e-quantize-")
        cls.tool = build_model_tool(cls.shared)
        s = lambda name: os.path.join(cls.shared, name)  # noqa: E731
        # 3 layers, GQA 2, untied, with keys of every type and a stale quantization_version
        cls.f16 = make_model(cls.tool, s("f16.gguf"), layers=3, extra_kvs=True)
        cls.bf16_tied = make_model(cls.tool, s("bf16.gguf"), layers=2, dtype="BF16", tied=True,
                                   seed=2)
        cls.nan = make_model(cls.tool, s("nan.gguf"), bad="blk.1.ffn_up.weight=nan", seed=3)
        cls.inf = make_model(cls.tool, s("inf.gguf"), dtype="BF16",
                             bad="blk.0.attn_q.weight=inf", seed=4)
        cls.nan_norm = make_model(cls.tool, s("nan_norm.gguf"), bad="blk.0.attn_norm.weight=nan",
                                  seed=5)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.shared, ignore_errors=True)

    def quantize(self, *args, **env):
        return self.run_modl("quantize", *args, **env)

    def out(self, name="out.gguf"):
        return os.path.join(self.tmp, name)

    def leftovers(self):
        """Files in the test directory other than the hub and HF_HOME folders."""
        return sorted(f for f in os.listdir(self.tmp) if f not in ("hub", "hf"))

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()


class QuantizeUsage(QuantizeCase):
    def test_usage_errors_exit_2(self):
        for args in ([], [self.f16], [self.f16, self.out()], [self.f16, self.out(), "Q4_K_M", "x"],
                     [self.f16, self.out(), "Q4_K"], [self.f16, self.out(), "IQ4_XS"],
                     [self.f16, self.out(), "Q4_K_M", "--threads", "0"],
                     [self.f16, self.out(), "Q4_K_M", "--threads", "two"],
                     [self.f16, self.out(), "Q4_K_M", "--pure"]):
            r = self.quantize(*args)
            self.assertExit(r, 2)
            self.assertOneLineError(r)
            self.assertEqual(self.leftovers(), [], args)
        r = self.quantize(self.f16, self.out(), "Q4_K")
        self.assertOneLineError(r, "Q4_K", "Q4_K_M")

    def test_help(self):
        r = self.run_modl("help", "quantize")
        self.assertExit(r, 0)
        self.assertIn("usage: modl quantize IN.gguf OUT.gguf TYPE", r.out)
        for name in FTYPES:
            self.assertIn(name, r.out)
        r = self.run_modl("--help")
        self.assertIn("quantize", r.out)

    def test_type_names_any_case(self):
        r = self.quantize(self.f16, self.out(), "q4_k_m", "--json")
        self.assertExit(r, 0)
        self.assertEqual(r.json()["type"], "Q4_K_M")
        self.assertEqual(r.json()["file_type"], 15)


class QuantizeFailures(QuantizeCase):
    def test_missing_input_exit_4(self):
        r = self.quantize(os.path.join(self.tmp, "nope.gguf"), self.out(), "Q8_0")
        self.assertExit(r, 4)
        self.assertOneLineError(r, "nope.gguf")
        self.assertEqual(self.leftovers(), [])

    def test_malformed_input_exit_8(self):
        data = self.read(self.f16)
        bad = os.path.join(self.tmp, "bad.gguf")
        for content, why in ((b"not a gguf file at all", "magic"),
                             (data[:len(data) // 2], "truncated"),
                             (data[:4] + struct.pack("<I", 4) + data[8:], "version")):
            with open(bad, "wb") as f:
                f.write(content)
            r = self.quantize(bad, self.out(), "Q4_K_M")
            self.assertExit(r, 8)
            self.assertOneLineError(r, "bad.gguf")
            self.assertEqual(self.leftovers(), ["bad.gguf"], why)

    def test_nan_or_inf_exit_8_naming_the_tensor(self):
        for path, tensor, kind, type_name in (
                (self.nan, "blk.1.ffn_up.weight", "NaN", "Q4_K_M"),
                (self.nan, "blk.1.ffn_up.weight", "NaN", "Q8_0"),
                (self.inf, "blk.0.attn_q.weight", "infinite", "Q6_K"),
                (self.inf, "blk.0.attn_q.weight", "infinite", "F16"),
                # a tensor that is copied, not converted (an F32 norm) is checked too
                (self.nan_norm, "blk.0.attn_norm.weight", "NaN", "Q4_0")):
            r = self.quantize(path, self.out(), type_name)
            self.assertExit(r, 8)
            self.assertOneLineError(r, tensor, kind)
            self.assertEqual(self.leftovers(), [], (tensor, type_name))

    def test_f32_too_large_for_f16_exit_8(self):
        f32 = make_model(self.tool, os.path.join(self.tmp, "f32.gguf"), dtype="F32")
        data = bytearray(self.read(f32))
        _, tensors, start = parse_gguf(bytes(data))
        name, ne, t, off = next(x for x in tensors if x[0] == "blk.0.ffn_gate.weight")
        struct.pack_into("<f", data, start + off + 4 * 7, 1e6)  # beyond F16's 65504
        with open(f32, "wb") as f:
            f.write(data)
        r = self.quantize(f32, self.out(), "F16")
        self.assertExit(r, 8)
        self.assertOneLineError(r, "blk.0.ffn_gate.weight")
        self.assertEqual(self.leftovers(), ["f32.gguf"])
        self.assertExit(self.quantize(f32, self.out(), "Q8_0"), 0)  # 1e6/127 fits a scale

    def test_already_quantized_needs_allow_requantize(self):
        q8 = self.out("q8.gguf")
        self.assertExit(self.quantize(self.f16, q8, "Q8_0"), 0)
        r = self.quantize(q8, self.out(), "Q4_K_M")
        self.assertExit(r, 8)
        self.assertOneLineError(r, "already quantized", "--allow-requantize")
        self.assertEqual(self.leftovers(), ["q8.gguf"])
        r = self.quantize(q8, self.out(), "Q4_K_M", "--allow-requantize", "--json")
        self.assertExit(r, 0)
        types = {n: TENSOR_TYPES[t][0] for n, _, t, _ in parse_gguf(self.read(self.out()))[1]}
        self.assertEqual(types["blk.0.ffn_gate.weight"], "Q4_K")
        self.assertEqual(types["output.weight"], "Q6_K")
        # nothing to convert (Q8_0 again): every tensor is copied, no flag needed, and
        # the file comes out as it went in
        q8b = self.out("q8b.gguf")
        self.assertExit(self.quantize(q8, q8b, "Q8_0"), 0)
        self.assertEqual(self.read(q8), self.read(q8b))

    def write_limited(self, *args, limit_kib=64):
        """modl under `ulimit -f`: write() fails with EFBIG once the file reaches the limit
        (SIGXFSZ is ignored by modl so that it can report and clean up)."""
        proc = subprocess.run(["bash", "-c", 'ulimit -f %d; exec "$@"' % limit_kib, "bash",
                               MODL, "quantize", *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=self.env(), cwd=self.tmp, timeout=120)
        return proc.returncode, proc.stderr.decode("utf-8", "replace")

    def test_write_error_exit_1_and_nothing_left(self):
        rc, err = self.write_limited(self.f16, self.out(), "Q8_0")
        self.assertEqual(rc, 1, err)
        self.assertIn("modl: cannot write", err)
        self.assertIn("File too large", err)
        self.assertNotIn("AddressSanitizer", err)
        self.assertEqual(self.leftovers(), [])
        # an existing OUT stays as it was
        with open(self.out(), "wb") as f:
            f.write(b"the old file")
        rc, err = self.write_limited(self.f16, self.out(), "Q4_K_M")
        self.assertEqual(rc, 1, err)
        self.assertEqual(self.read(self.out()), b"the old file")
        self.assertEqual(self.leftovers(), ["out.gguf"])

    def test_output_directory_missing_exit_1(self):
        r = self.quantize(self.f16, os.path.join(self.tmp, "no", "such", "dir", "o.gguf"), "Q8_0")
        self.assertExit(r, 1)
        self.assertOneLineError(r, "o.gguf")
        self.assertEqual(self.leftovers(), [])

    def test_output_is_a_directory_exit_1(self):
        os.mkdir(self.out("dir.gguf"))
        r = self.quantize(self.f16, self.out("dir.gguf"), "Q8_0")
        self.assertExit(r, 1)
        self.assertEqual(self.leftovers(), ["dir.gguf"])
        self.assertEqual(os.listdir(self.out("dir.gguf")), [])


class QuantizeOutput(QuantizeCase):
    def test_metadata_kept_in_llama_order(self):
        r = self.quantize(self.f16, self.out(), "Q4_K_M")
        self.assertExit(r, 0)
        kin, tin, _ = parse_gguf(self.read(self.f16))
        kout, tout, _ = parse_gguf(self.read(self.out()))
        moved = ("general.file_type", "general.quantization_version")
        self.assertIn("general.quantization_version", list(kin)[:4])  # the stale one
        want = [k for k in kin if k not in moved] + ["general.quantization_version",
                                                     "general.file_type"]
        self.assertEqual(list(kout), want)
        for k in want[:-2]:
            self.assertEqual(kout[k], kin[k], k)
        self.assertEqual(kout["general.quantization_version"], (4, None, 2))
        self.assertEqual(kout["general.file_type"], (4, None, 15))
        # tensors: (block number, name), non-block ones first; shapes unchanged
        self.assertEqual([t[0] for t in tout], llama_order([t[0] for t in tin]))
        self.assertEqual({t[0]: t[1] for t in tout}, {t[0]: t[1] for t in tin})

    def test_layout_is_contiguous_and_aligned(self):
        self.assertExit(self.quantize(self.bf16_tied, self.out(), "Q5_K_M"), 0)
        data = self.read(self.out())
        _, tensors, start = parse_gguf(data)
        self.assertEqual(start % 32, 0)
        offset = 0
        for name, ne, t, off in tensors:
            self.assertEqual(off, offset, name)
            n = ne[0] // TENSOR_TYPES[t][1] * TENSOR_TYPES[t][2]
            for d in ne[1:]:
                n *= d
            offset += n + (-n) % 32
        self.assertEqual(len(data), start + offset)

    def expected_types(self, path, type_name):
        """doc/gguf.md §5.6 for the dense llama models these tests use (no fallback: every
        row is a multiple of 256)."""
        kvs, tensors, _ = parse_gguf(self.read(path))
        n_layer = kvs["llama.block_count"][2]
        gqa = kvs["llama.attention.head_count"][2] // kvs["llama.attention.head_count_kv"][2]
        tied = "output.weight" not in [t[0] for t in tensors]
        default = {"Q8_0": "Q8_0", "Q4_0": "Q4_0", "Q4_1": "Q4_1", "Q5_0": "Q5_0",
                   "Q5_1": "Q5_1", "Q2_K": "Q2_K", "Q3_K_S": "Q3_K", "Q3_K_M": "Q3_K",
                   "Q3_K_L": "Q3_K", "Q4_K_S": "Q4_K", "Q4_K_M": "Q4_K", "Q5_K_S": "Q5_K",
                   "Q5_K_M": "Q5_K", "Q6_K": "Q6_K", "F16": "F16", "BF16": "BF16",
                   "F32": "F32"}[type_name]
        want = {}
        for name, ne, t, _ in tensors:
            if len([d for d in ne if d > 1]) < 2 or "_norm" in name:
                want[name] = TENSOR_TYPES[t][0]
                continue
            layer = int(name.split(".")[1]) if name.startswith("blk.") else -1
            w = default
            if type_name in ("F16", "BF16", "F32"):
                pass
            elif name == "output.weight" or (tied and name == "token_embd.weight"):
                w = "Q8_0" if default == "Q8_0" else "Q6_K"
            elif "attn_v" in name:
                if type_name == "Q2_K":
                    w = "Q4_K" if gqa >= 4 else "Q3_K"
                elif type_name == "Q3_K_M":
                    w = "Q5_K" if layer < 2 else "Q4_K"
                elif type_name == "Q3_K_L":
                    w = "Q5_K"
                elif type_name in ("Q4_K_M", "Q5_K_M") and use_more_bits(layer, n_layer):
                    w = "Q6_K"
                elif type_name == "Q4_K_S" and layer < 4:
                    w = "Q5_K"
            elif "ffn_down" in name:
                if type_name == "Q2_K":
                    w = "Q3_K"
                elif type_name == "Q3_K_M":
                    w = "Q5_K" if layer < n_layer // 16 else "Q4_K"
                elif type_name == "Q3_K_L":
                    w = "Q5_K"
                elif type_name in ("Q4_K_M", "Q5_K_M") and use_more_bits(layer, n_layer):
                    w = "Q6_K"
                elif type_name == "Q4_K_S" and layer < n_layer // 8:
                    w = "Q5_K"
            elif "attn_output" in name:
                w = {"Q2_K": "Q3_K", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K"}.get(type_name, w)
            want[name] = w
        return want

    def test_tensor_types_follow_the_mixture(self):
        for path in (self.f16, self.bf16_tied):
            for type_name in FTYPES:
                r = self.quantize(path, self.out(), type_name, "--threads", "2")
                self.assertExit(r, 0)
                got = {n: TENSOR_TYPES[t][0] for n, _, t, _ in parse_gguf(self.read(self.out()))[1]}
                self.assertEqual(got, self.expected_types(path, type_name),
                                 (os.path.basename(path), type_name))

    def test_thread_count_does_not_change_the_bytes(self):
        for type_name in ("Q4_K_M", "Q8_0", "Q3_K_S", "BF16"):
            digests = set()
            for threads in ("1", "2", "7"):
                out = self.out("t%s.gguf" % threads)
                self.assertExit(self.quantize(self.f16, out, type_name, "--threads", threads), 0)
                digests.add(sha256(out))
            out = self.out("env.gguf")
            self.assertExit(self.quantize(self.f16, out, type_name, MODL_THREADS="3"), 0)
            digests.add(sha256(out))
            self.assertEqual(len(digests), 1, type_name)

    def test_q8_0_values_match_the_input(self):
        """Decoded Q8_0 (d * q) is within half a step of the F16 input (plus the rounding
        of d to F16: 127 q-steps of 2^-11 d), row by row: rows land where they belong
        whatever the chunking."""
        self.assertExit(self.quantize(self.f16, self.out(), "Q8_0", "--threads", "7"), 0)
        src, dst = tensor_bytes(self.read(self.f16)), tensor_bytes(self.read(self.out()))
        for name in ("blk.2.ffn_down.weight", "token_embd.weight"):
            t, ne, raw = src[name]
            self.assertEqual(TENSOR_TYPES[t][0], "F16")
            values = struct.unpack("<%de" % (len(raw) // 2), raw)
            qt, qne, q = dst[name]
            self.assertEqual((TENSOR_TYPES[qt][0], qne), ("Q8_0", ne))
            for b in range(0, len(values) // 32, 7):
                d = f16_to_float(struct.unpack_from("<H", q, 34 * b)[0])
                qs = struct.unpack_from("<32b", q, 34 * b + 2)
                for j in range(32):
                    self.assertLessEqual(abs(d * qs[j] - values[32 * b + j]), d * (0.5 + 127 / 1024),
                                         (name, b, j))

    def test_float_targets(self):
        self.assertExit(self.quantize(self.f16, self.out(), "F32"), 0)
        src, dst = tensor_bytes(self.read(self.f16)), tensor_bytes(self.read(self.out()))
        t, ne, raw = src["blk.0.attn_q.weight"]
        ft, _, f32 = dst["blk.0.attn_q.weight"]
        self.assertEqual(TENSOR_TYPES[ft][0], "F32")
        self.assertEqual(struct.unpack("<%de" % (len(raw) // 2), raw),
                         struct.unpack("<%df" % (len(f32) // 4), f32))  # exact
        kvs = parse_gguf(self.read(self.out()))[0]
        self.assertEqual(kvs["general.file_type"][2], 0)

    def test_replaces_existing_output_and_same_path(self):
        with open(self.out(), "wb") as f:
            f.write(b"old")
        old_umask = os.umask(0o022)
        try:
            self.assertExit(self.quantize(self.f16, self.out(), "Q4_0"), 0)
        finally:
            os.umask(old_umask)
        self.assertEqual(os.stat(self.out()).st_mode & 0o777, 0o644)
        self.assertEqual(self.leftovers(), ["out.gguf"])
        # IN and OUT the same file: the input stays mapped until the new file is renamed
        inplace = self.out("inplace.gguf")
        shutil.copy(self.f16, inplace)
        self.assertExit(self.quantize(inplace, inplace, "Q8_0"), 0)
        self.assertExit(self.quantize(self.f16, self.out("ref.gguf"), "Q8_0"), 0)
        self.assertEqual(self.read(inplace), self.read(self.out("ref.gguf")))


class QuantizeReport(QuantizeCase):
    def test_json_summary(self):
        r = self.quantize(self.f16, self.out(), "Q4_K_M", "--json", "--threads", "2")
        self.assertExit(r, 0)
        self.assertEqual(r.err, "")  # no progress with --json
        doc = r.json()
        kout, tout, _ = parse_gguf(self.read(self.out()))
        kin, tin, _ = parse_gguf(self.read(self.f16))
        counts = {}
        for _, _, t, _ in tout:
            counts[TENSOR_TYPES[t][0]] = counts.get(TENSOR_TYPES[t][0], 0) + 1
        self.assertEqual(doc["tensor_types"], counts)
        self.assertEqual(doc["tensors"], len(tout))
        self.assertEqual(doc["threads"], 2)
        self.assertEqual(doc["input"], self.f16)
        self.assertEqual(doc["output"], self.out())
        sizes = tensor_bytes(self.read(self.out()))
        after = sum(len(v[2]) for v in sizes.values())
        before = sum(len(v[2]) for v in tensor_bytes(self.read(self.f16)).values())
        elements = 0
        for _, ne, _, _ in tin:
            n = 1
            for d in ne:
                n *= d
            elements += n
        self.assertEqual(doc["size_after"], after)
        self.assertEqual(doc["size_before"], before)
        self.assertEqual(doc["elements"], elements)
        self.assertAlmostEqual(doc["bpw_after"], after * 8 / elements, places=6)
        self.assertEqual(doc["file_size_after"], os.path.getsize(self.out()))
        self.assertEqual(doc["fallbacks"], 0)
        self.assertEqual(doc["converted"] + doc["copied"], len(tout))

    def test_text_summary_and_progress_lines(self):
        r = self.quantize(self.f16, self.out(), "Q6_K")
        self.assertExit(r, 0)
        self.assertIn("bits per weight", r.out)
        self.assertIn("(Q6_K)", r.out)
        self.assertRegex(r.out, r"\d+ tensors: \d+ F32, \d+ Q6_K")
        # not a terminal: one plain line per tensor on stderr
        names = [t[0] for t in parse_gguf(self.read(self.out()))[1]]
        for name in names:
            self.assertIn("wrote %s (" % name, r.err)
        r = self.quantize(self.f16, self.out(), "Q6_K", "-q")
        self.assertExit(r, 0)
        self.assertEqual((r.out, r.err), ("", ""))
        r = self.quantize(self.f16, self.out(), "Q6_K", HF_HUB_DISABLE_PROGRESS_BARS="1")
        self.assertExit(r, 0)
