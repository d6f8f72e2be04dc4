"""Interoperability: `modl inspect --json --tensors` must agree with the npm package
@huggingface/gguf (pinned in package.json) on every key, type, value and tensor of real
llama.cpp-written files, and of files modl's own GGUF writer produced.

The files modl writes come from gguf_write_sample.c, built here from formats/ alone:
`sample` writes every value type, every array element type, awkward strings, alignment
64 and tensors of several types streamed in 5-byte chunks; `copy` reads a real file and
writes it again through the writer, which must give the same bytes.

Expected values come from the peer; type names and tensor sizes from the tables of
doc/gguf.md §2. Known quirk of the peer: a string starting with U+FEFF comes back without
it (its TextDecoder strips a BOM), so such strings are compared without it."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODL = os.path.abspath(os.path.join(ROOT, os.environ.get("MODL_BIN", "modl")))
SHARED = os.path.join(ROOT, "..", "shared", "data")
REAL_FILES = [
    "llamacpp-vocab/ggml-vocab-gpt-2.gguf",
    "llamacpp-vocab/ggml-vocab-llama-spm.gguf",
    "llamacpp-vocab/ggml-vocab-phi-3.gguf",
    "llama-2-tiny-random-gguf/llama-2-tiny-random.gguf",
]

# doc/gguf.md §2: metadata value types by id, and tensor types: id -> (name, block, bytes).
VALUE_TYPES = ["UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL",
               "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"]
TENSOR_TYPES = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18), 42: ("Q2_0", 64, 18),
}
INTEGER_TYPES = {"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "UINT64", "INT64"}
NON_FINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}

_tmp = None
_sample_writer = None


def setUpModule():
    global _tmp, _sample_writer
    if not os.path.isdir(os.path.join(HERE, "node_modules", "@huggingface", "gguf")):
        cmd = ["npm", "ci", "--no-audit", "--no-fund"]
        if not os.path.exists(os.path.join(HERE, "package-lock.json")):
            cmd[1] = "install"
        subprocess.run(cmd, cwd=HERE, check=True, stdout=subprocess.DEVNULL)
    _tmp = tempfile.mkdtemp(prefix="modl-interop-")
    _sample_writer = os.path.join(_tmp, "gguf_write_sample")
    formats = os.path.join(ROOT, "formats")
    sources = [os.path.join(HERE, "gguf_write_sample.c")] + [
        os.path.join(formats, f) for f in
        ("gguf.c", "gguf_writer.c", "gguf_types.c", "fmt.c", "fmt_map.c", "fmt_names.c")]
    subprocess.run([os.environ.get("CC", "cc"), "-std=c11", "-iquote", os.path.join(ROOT, "src"), "-iquote", ROOT, "-D_DEFAULT_SOURCE",
                    "-D_XOPEN_SOURCE=700", "-Wall", "-Wextra", "-Werror", "-O1", "-o",
                    _sample_writer] + sources, check=True)


def tearDownModule():
    if _tmp:
        shutil.rmtree(_tmp, ignore_errors=True)


def shared(name):
    path = os.path.join(SHARED, name)
    if not os.path.exists(path):
        raise AssertionError("test data missing: %s (the shared data directory must be present)"
                             % path)
    return path


def modl_inspect(path):
    proc = subprocess.run([MODL, "--json", "inspect", "--tensors", path],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    if proc.returncode != 0:
        raise AssertionError("modl inspect %s: exit %d: %s" % (path, proc.returncode,
                                                               proc.stderr.decode()))
    return json.loads(proc.stdout)


def peer_inspect(path):
    proc = subprocess.run(["node", os.path.join(HERE, "gguf_dump.mjs"), path], cwd=HERE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    if proc.returncode != 0:
        raise AssertionError("@huggingface/gguf on %s: %s" % (path, proc.stderr.decode()))
    return json.loads(proc.stdout)


class GgufInterop(unittest.TestCase):
    def same_scalar(self, type_name, mine, theirs, where):
        if type_name in INTEGER_TYPES:
            # The peer gives 64-bit values as decimal strings (BigInt).
            self.assertIsInstance(mine, int, where)
            self.assertEqual(mine, int(theirs), where)
        elif type_name in ("FLOAT32", "FLOAT64"):
            a = NON_FINITE.get(mine, mine) if isinstance(mine, str) else mine
            b = NON_FINITE.get(theirs, theirs) if isinstance(theirs, str) else theirs
            self.assertIsInstance(a, (int, float), where)
            if a != a:
                self.assertNotEqual(b, b, where)
            else:
                self.assertEqual(float(a), float(b), where)
        elif type_name == "STRING":
            if mine.startswith("\ufeff"):
                mine = mine[1:]  # the peer's documented quirk
            self.assertEqual(mine, theirs, where)
        else:
            self.assertIs(mine, theirs, where)

    def compare(self, path):
        mine = modl_inspect(path)
        theirs = peer_inspect(path)
        self.assertEqual(mine["format"], "gguf")
        self.assertTrue(theirs["little_endian"])
        self.assertEqual(mine["version"], theirs["version"])
        self.assertEqual(mine["tensor_count"], int(theirs["tensor_count"]))
        self.assertEqual(mine["metadata_count"], int(theirs["kv_count"]))
        self.assertEqual(mine["data_offset"], int(theirs["data_offset"]))
        self.assertEqual(list(mine["metadata"]), list(theirs["metadata"]), "keys and their order")
        for key, peer in theirs["metadata"].items():
            entry = mine["metadata"][key]
            type_name = VALUE_TYPES[peer["type"]]
            self.assertEqual(entry["type"], type_name, key)
            if type_name == "ARRAY":
                element = VALUE_TYPES[peer["subType"]]
                self.assertEqual(entry["element_type"], element, key)
                self.assertEqual(entry["count"], len(peer["value"]), key)
                self.assertEqual(len(entry["value"]), len(peer["value"]), key)
                for i, (a, b) in enumerate(zip(entry["value"], peer["value"])):
                    self.same_scalar(element, a, b, "%s[%d]" % (key, i))
            else:
                self.same_scalar(type_name, entry["value"], peer["value"], key)
        self.assertEqual(len(mine["tensors"]), len(theirs["tensors"]))
        total = 0
        for t, p in zip(mine["tensors"], theirs["tensors"]):
            name, block, size = TENSOR_TYPES[p["dtype"]]
            self.assertEqual(t["name"], p["name"])
            self.assertEqual(t["type"], name, p["name"])
            self.assertEqual(t["type_id"], p["dtype"], p["name"])
            self.assertEqual(t["shape"], [int(x) for x in p["shape"]], p["name"])
            self.assertEqual(t["offset"], int(p["offset"]), p["name"])
            ne = [int(x) for x in p["shape"]]
            nbytes = ne[0] // block * size if ne else size
            for d in ne[1:]:
                nbytes *= d
            self.assertEqual(t["size"], nbytes, p["name"])
            total += nbytes
        self.assertEqual(mine["tensor_bytes"], total)
        return mine

    def test_real_files(self):
        for name in REAL_FILES:
            with self.subTest(file=name):
                self.compare(shared(name))

    def test_bom_quirk_is_exercised(self):
        # The Llama 2 vocabulary has a token that is U+FEFF alone: modl keeps it.
        doc = modl_inspect(shared("llamacpp-vocab/ggml-vocab-llama-spm.gguf"))
        tokens = doc["metadata"]["tokenizer.ggml.tokens"]["value"]
        self.assertIn("\ufeff", tokens)

    def test_file_written_by_modl(self):
        out = os.path.join(_tmp, "sample.gguf")
        subprocess.run([_sample_writer, "sample", out], check=True)
        doc = self.compare(out)
        self.assertEqual(doc["alignment"], 64)
        self.assertEqual(doc["data_offset"] % 64, 0)
        types = {e["type"] for e in doc["metadata"].values()}
        elements = {e["element_type"] for e in doc["metadata"].values() if e["type"] == "ARRAY"}
        self.assertEqual(types, set(VALUE_TYPES), "every value type written")
        self.assertEqual(elements, set(VALUE_TYPES) - {"ARRAY"}, "every element type written")
        # The file ends with the last tensor's padding.
        self.assertEqual(os.path.getsize(out) % 64, 0)

    def test_real_files_copied_by_modl(self):
        for name in REAL_FILES:
            with self.subTest(file=name):
                src = shared(name)
                out = os.path.join(_tmp, "copy-" + os.path.basename(name))
                subprocess.run([_sample_writer, "copy", src, out], check=True)
                with open(src, "rb") as a, open(out, "rb") as b:
                    self.assertTrue(a.read() == b.read(), "copy differs from " + name)
                self.compare(out)


if __name__ == "__main__":
    unittest.main()
