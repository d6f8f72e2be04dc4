"""End-to-end tests of `modl inspect`: GGUF and safetensors files built here byte by byte
(the expected values are what the test wrote, or what the file's bytes say, read by a
small independent parser, gguf_py.py), the real files of ../shared/data, every malformed-input
check (exit 8 with one line `modl: FILE: <what, where>`), and a time that does not
depend on the file's size."""
import json
import os
import struct
import time

from gguf_py import parse_gguf
from modltest import ModlTestCase, ROOT

SHARED = os.path.join(ROOT, "..", "shared", "data")
TINY_GGUF = os.path.join(SHARED, "llama-2-tiny-random-gguf", "llama-2-tiny-random.gguf")
STORIES = os.path.join(SHARED, "stories260K-hf", "model.safetensors")
LFS_POINTER = os.path.join(SHARED, "lfs-pointer-sample", "model.safetensors")

# doc/gguf.md §2
VALUE_TYPES = ["UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL",
               "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"]
SCALAR_FORMATS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q",
                  11: "q", 12: "d"}
TENSOR_TYPES = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 8: ("Q8_0", 32, 34),
                12: ("Q4_K", 256, 144), 30: ("BF16", 1, 2)}


def need(path):
    if not os.path.exists(path):
        raise AssertionError("test data missing: %s" % path)
    return path


# ---- a GGUF builder, independent of modl (the reader: gguf_py.py) -----------------------

def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gvalue(t, v):
    if t == 8:
        return gstr(v)
    if t == 9:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(gvalue(et, i) for i in items)
    return struct.pack("<" + SCALAR_FORMATS[t], v)


def gguf(kvs, tensors=(), version=3, alignment=32, data=None, magic=b"GGUF"):
    """kvs: [(key, type, value)]; tensors: [(name, ne, type)] with offsets computed."""
    out = magic + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += gstr(k) + struct.pack("<I", t) + gvalue(t, v)
    offset, sizes = 0, []
    for name, ne, t in tensors:
        _, block, size = TENSOR_TYPES[t]
        nbytes = ne[0] // block * size
        for d in ne[1:]:
            nbytes *= d
        out += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        out += struct.pack("<IQ", t, offset)
        sizes.append((offset, nbytes))
        offset += nbytes + (-nbytes) % alignment
    if tensors:
        out += b"\0" * ((-len(out)) % alignment)
        out += data if data is not None else bytes(i % 251 for i in range(offset))
    return out, sizes


def raw_tensor_info(name, ne, type_id):
    """A file with one tensor info written as given (any type id), no metadata."""
    out = b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + gstr(name) + struct.pack("<I", len(ne))
    out += b"".join(struct.pack("<Q", n) for n in ne) + struct.pack("<IQ", type_id, 0)
    return out + b"\0" * ((-len(out)) % 32) + bytes(256)


# ---- a safetensors builder -------------------------------------------------------------

def safetensors(header, data, pad=8):
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    h += b" " * ((-len(h)) % pad)
    return struct.pack("<Q", len(h)) + h + data


DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "U8": 1, "I64": 8, "F8_E4M3": 1}


def st_layout(tensors):
    """[(name, dtype, shape)] -> header dict and data length, offsets in order."""
    header, offset = {}, 0
    for name, dtype, shape in tensors:
        n = DTYPE_BYTES[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    return header, offset


class InspectCase(ModlTestCase):
    def write(self, name, data):
        path = os.path.join(self.tmp, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def inspect_json(self, path, *extra):
        r = self.run_modl("inspect", path, "--json", *extra)
        self.assertExit(r, 0)
        return r.json()

    def assertBad(self, path, *fragments):
        r = self.run_modl("inspect", path)
        self.assertExit(r, 8)
        lines = [l for l in r.err.splitlines() if l]
        self.assertEqual(len(lines), 1, r)
        self.assertTrue(lines[0].startswith("modl: %s: " % path), r)
        for frag in fragments:
            self.assertIn(frag, lines[0], r)
        self.assertEqual(r.out, "", r)


class InspectGguf(InspectCase):
    KVS = [
        ("general.architecture", 8, "llama"),
        ("general.name", 8, "t\u00e9st \u2581 \"quoted\"\n"),
        ("llama.context_length", 4, 4096),
        ("llama.attention.layer_norm_rms_epsilon", 6, struct.unpack("<f", struct.pack("<f", 1e-5))[0]),
        ("test.u8", 0, 255), ("test.i8", 1, -128), ("test.u16", 2, 65535), ("test.i16", 3, -1),
        ("test.i32", 5, -2147483648), ("test.bool", 7, True),
        ("test.u64", 10, 2 ** 64 - 1), ("test.i64", 11, -2 ** 63), ("test.f64", 12, 0.1),
        ("tokenizer.ggml.tokens", 9, (8, ["tok%d" % i for i in range(100)])),
        ("tokenizer.ggml.scores", 9, (6, [-float(i) for i in range(100)])),
        ("tokenizer.ggml.token_type", 9, (5, [1] * 100)),
    ]
    TENSORS = [("token_embd.weight", [64, 3], 1), ("blk.0.attn_q.weight", [64, 2], 2),
               ("blk.0.attn_norm.weight", [64], 0), ("output.weight", [256, 1], 12)]

    def test_json_has_every_key_type_value_and_tensor(self):
        data, sizes = gguf(self.KVS, self.TENSORS)
        path = self.write("m.gguf", data)
        doc = self.inspect_json(path, "--tensors")
        self.assertEqual(doc["format"], "gguf")
        self.assertEqual(doc["version"], 3)
        self.assertEqual(doc["alignment"], 32)
        self.assertEqual(doc["file_size"], len(data))
        self.assertEqual(list(doc["metadata"]), [k for k, _, _ in self.KVS])
        for key, t, v in self.KVS:
            entry = doc["metadata"][key]
            self.assertEqual(entry["type"], VALUE_TYPES[t], key)
            if t == 9:
                self.assertEqual(entry["element_type"], VALUE_TYPES[v[0]], key)
                self.assertEqual(entry["count"], len(v[1]), key)
                self.assertEqual(entry["value"], v[1], key)  # complete in JSON
            else:
                self.assertEqual(entry["value"], v, key)
        self.assertEqual(doc["tensor_count"], 4)
        data_offset = len(data) - sum(sizes[-1]) - (-sizes[-1][1]) % 32
        self.assertEqual(doc["data_offset"], data_offset)
        for t, (name, ne, ty), (offset, nbytes) in zip(doc["tensors"], self.TENSORS, sizes):
            self.assertEqual(t["name"], name)
            self.assertEqual(t["type"], TENSOR_TYPES[ty][0])
            self.assertEqual(t["shape"], ne)
            self.assertEqual(t["offset"], offset)
            self.assertEqual(t["size"], nbytes)
        by_type = {}
        for (name, ne, ty), (_, nbytes) in zip(self.TENSORS, sizes):
            e = by_type.setdefault(TENSOR_TYPES[ty][0], {"tensors": 0, "bytes": 0, "parameters": 0})
            params = 1
            for d in ne:
                params *= d
            e["tensors"] += 1
            e["bytes"] += nbytes
            e["parameters"] += params
        self.assertEqual(doc["tensor_types"], by_type)
        self.assertEqual(doc["tensor_bytes"], sum(n for _, n in sizes))
        # doc/cli.md: --json lists every tensor even without --tensors; the global --json
        # before the command works the same.
        r = self.run_modl("--json", "inspect", path)
        self.assertExit(r, 0)
        self.assertEqual(r.json()["tensors"], doc["tensors"])
        self.assertEqual(r.json()["metadata"], doc["metadata"])

    def test_text_shortens_long_arrays(self):
        data, _ = gguf(self.KVS, self.TENSORS)
        path = self.write("m.gguf", data)
        r = self.run_modl("inspect", path, "--tensors")
        self.assertExit(r, 0)
        self.assertIn("GGUF v3", r.out)
        for key, t, _ in self.KVS:
            self.assertRegex(r.out, r"\n  %s +%s" % (key.replace(".", r"\."), VALUE_TYPES[t]))
        self.assertIn('"tok0", "tok1"', r.out)
        self.assertIn("92 more", r.out)
        self.assertNotIn("tok99", r.out)
        self.assertIn("18446744073709551615", r.out)
        self.assertRegex(r.out, r"blk\.0\.attn_q\.weight +Q4_0 +\[64, 2\]")
        self.assertNotIn("\n\"", r.out)  # the newline in general.name is escaped

    def test_real_file_matches_its_bytes(self):
        with open(need(TINY_GGUF), "rb") as f:
            raw = f.read()
        kvs, tensors, _ = parse_gguf(raw, errors="replace")
        doc = self.inspect_json(TINY_GGUF, "--tensors")
        self.assertEqual(list(doc["metadata"]), list(kvs))
        for key, (t, elem, value) in kvs.items():
            entry = doc["metadata"][key]
            self.assertEqual(entry["type"], VALUE_TYPES[t], key)
            if elem is not None:
                self.assertEqual(entry["element_type"], VALUE_TYPES[elem], key)
            self.assertEqual(entry["value"], value, key)
        self.assertEqual([(t["name"], t["shape"], t["type_id"], t["offset"]) for t in doc["tensors"]],
                         [(n, ne, ty, off) for n, ne, ty, off in tensors])

    def test_version_2_is_read(self):
        data, _ = gguf(self.KVS[:3], version=2)
        self.assertEqual(self.inspect_json(self.write("v2.gguf", data))["version"], 2)

    def test_alignment_key(self):
        kvs = [("general.alignment", 4, 64)] + self.KVS[:2]
        data, sizes = gguf(kvs, self.TENSORS, alignment=64)
        doc = self.inspect_json(self.write("a.gguf", data), "--tensors")
        self.assertEqual(doc["alignment"], 64)
        self.assertEqual(doc["data_offset"] % 64, 0)
        self.assertEqual([t["offset"] for t in doc["tensors"]], [o for o, _ in sizes])

    def test_malformed_files(self):
        good, sizes = gguf(self.KVS[:3], self.TENSORS[:2])
        cases = [
            ("magic", gguf(self.KVS[:3], magic=b"GGUX")[0], "magic"),
            ("version1", gguf(self.KVS[:3], version=1)[0], "v1 is no longer supported"),
            ("version9", gguf(self.KVS[:3], version=9)[0], "version 9"),
            ("big-endian", good[:4] + b"\0\0\0\x03" + good[8:], "big-endian"),
            ("truncated", good[:100], "truncated"),
            ("counts", good[:8] + struct.pack("<QQ", 1 << 50, 3) + good[24:], "tensor count"),
            ("dup-key", gguf(self.KVS[:3] + [self.KVS[2]])[0], "duplicate key 'llama.context_length'"),
            ("empty-key", gguf([("", 4, 1)])[0], "empty key"),
            ("value-type", good[:8] + struct.pack("<QQ", 0, 1) + gstr("k") + struct.pack("<II", 13, 0),
             "invalid value type 13"),
            ("nested", gguf([("k", 9, (9, []))])[0], "nested arrays"),
            ("long-name", gguf([], [("n" * 64, [32], 0)])[0], "limit 63"),
            ("dup-name", gguf([], [("w", [32], 0), ("w", [32], 0)])[0], "duplicate tensor name 'w'"),
            ("tensor-type", raw_tensor_info("w", [32], 4), "invalid tensor type 4"),
            ("block", raw_tensor_info("w", [48, 1], 8), "not a multiple of the Q8_0 block size 32"),
            ("dims", gguf([], [("w", [1, 1, 1, 1, 1], 0)])[0], "5 dimensions"),
            ("offset", good.replace(struct.pack("<IQ", 2, sizes[1][0]), struct.pack("<IQ", 2, sizes[1][0] + 32)),
             "expected %d" % sizes[1][0]),
            ("data", good[:-40], "goes past the end of the file"),
            ("alignment-type", gguf([("general.alignment", 5, 32)])[0], "must be UINT32"),
            ("alignment-value", gguf([("general.alignment", 4, 24)])[0], "not a power of two"),
            ("array-length", gguf([("k", 9, (4, [1, 2]))])[0].replace(struct.pack("<IQ", 4, 2), struct.pack("<IQ", 4, 1 << 29)),
             "needs at least"),
            ("string-length", gguf([("k", 8, "abc")])[0][:-3] + b"ab", "past the end of the file"),
        ]
        for name, data, fragment in cases:
            with self.subTest(case=name):
                self.assertBad(self.write(name + ".gguf", data), fragment)

    def test_every_truncation_is_a_clean_error(self):
        good, sizes = gguf(self.KVS[:4], self.TENSORS[:2])
        end = len(good) - (-sizes[-1][1]) % 32
        for n in list(range(0, 120, 7)) + [end - 1]:
            with self.subTest(length=n):
                r = self.run_modl("inspect", self.write("cut.gguf", good[:n]))
                self.assertExit(r, 8)
                self.assertOneLineError(r, "cut.gguf: ")


class InspectSafetensors(InspectCase):
    TENSORS = [("model.embed_tokens.weight", "BF16", [10, 4]), ("model.norm.weight", "F32", [4]),
               ("lm_head.weight", "F16", [10, 4]), ("scale", "F8_E4M3", [3, 1]), ("step", "I64", [])]

    def build(self, tensors=None, metadata=None, pad=8):
        header, size = st_layout(tensors or self.TENSORS)
        if metadata is not None:
            header = dict({"__metadata__": metadata}, **header)
        return safetensors(header, bytes(i % 256 for i in range(size)), pad), header

    def test_json(self):
        data, header = self.build(metadata={"format": "pt", "note": "\u00e9\n"})
        path = self.write("model.safetensors", data)
        doc = self.inspect_json(path, "--tensors")
        self.assertEqual(doc["format"], "safetensors")
        self.assertEqual(doc["metadata"], {"format": "pt", "note": "\u00e9\n"})
        self.assertEqual(doc["tensor_count"], len(self.TENSORS))
        header_len = struct.unpack("<Q", data[:8])[0]
        params = 0
        by_dtype = {}
        for t, (name, dtype, shape) in zip(doc["tensors"], self.TENSORS):
            n = 1
            for d in shape:
                n *= d
            begin, end = header[name]["data_offsets"]
            self.assertEqual((t["name"], t["dtype"], t["shape"]), (name, dtype, shape))
            self.assertEqual(t["data_offsets"], [begin, end])
            self.assertEqual(t["offset"], 8 + header_len + begin)
            self.assertEqual(t["size"], end - begin)
            self.assertEqual(t["parameters"], n)
            params += n
            e = by_dtype.setdefault(dtype, {"tensors": 0, "parameters": 0, "bytes": 0})
            e["tensors"] += 1
            e["parameters"] += n
            e["bytes"] += end - begin
        self.assertEqual(doc["parameter_count"], params)
        self.assertEqual(doc["dtypes"], by_dtype)
        self.assertEqual(doc["files"][0]["header_size"], header_len)

    def test_text(self):
        data, _ = self.build(metadata={"format": "pt"})
        path = self.write("model.safetensors", data)
        r = self.run_modl("inspect", path, "--tensors")
        self.assertExit(r, 0)
        self.assertIn('format="pt"', r.out)
        self.assertRegex(r.out, r"model\.embed_tokens\.weight +BF16 +\[10, 4\]")
        self.assertRegex(r.out, r"\n  F8_E4M3 +1 tensors +3 parameters")

    def test_real_checkpoint_matches_its_header(self):
        with open(need(STORIES), "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
        doc = self.inspect_json(STORIES, "--tensors")
        self.assertEqual(doc["metadata"], header.pop("__metadata__"))
        self.assertEqual(doc["tensor_count"], len(header))
        for t in doc["tensors"]:
            h = header[t["name"]]
            self.assertEqual((t["dtype"], t["shape"], t["data_offsets"]),
                             (h["dtype"], h["shape"], h["data_offsets"]))
        total = sum(h["data_offsets"][1] - h["data_offsets"][0] for h in header.values())
        self.assertEqual(doc["tensor_bytes"], total)
        # The directory opens the same checkpoint; --json lists every tensor without --tensors.
        bare = self.inspect_json(os.path.dirname(STORIES))
        self.assertEqual(bare["tensor_count"], len(header))
        self.assertEqual(sorted(t["name"] for t in bare["tensors"]), sorted(header))

    def test_sharded_checkpoint(self):
        d = os.path.join(self.tmp, "ckpt")
        a, _ = self.build(self.TENSORS[:2], {"format": "pt"})
        b, _ = self.build(self.TENSORS[2:], {"format": "pt"})
        self.write("ckpt/model-00001-of-00002.safetensors", a)
        self.write("ckpt/model-00002-of-00002.safetensors", b)
        weight_map = {n: "model-0000%d-of-00002.safetensors" % (1 if i < 2 else 2)
                      for i, (n, _, _) in enumerate(self.TENSORS)}
        index = self.write("ckpt/model.safetensors.index.json",
                           json.dumps({"metadata": {"total_size": 123}, "weight_map": weight_map}).encode())
        for target in (d, index):
            doc = self.inspect_json(target, "--tensors")
            self.assertEqual(doc["tensor_count"], len(self.TENSORS))
            self.assertEqual(len(doc["files"]), 2)
            self.assertEqual(doc["index_total_size"], 123)
            self.assertEqual(doc["metadata"], {"format": "pt"})
            self.assertEqual({t["name"]: os.path.basename(t["file"]) for t in doc["tensors"]}, weight_map)
        # A name of weight_map missing from its shard, and a tensor weight_map does not list.
        bad = dict(weight_map, extra="model-00001-of-00002.safetensors")
        self.write("ckpt/model.safetensors.index.json", json.dumps({"weight_map": bad}).encode())
        self.assertBad(d, "weight_map lists tensor 'extra'")
        bad = dict(weight_map)
        del bad["scale"]
        self.write("ckpt/model.safetensors.index.json", json.dumps({"weight_map": bad}).encode())
        self.assertBad(index, "tensor 'scale' in model-00002-of-00002.safetensors is not listed")

    def test_malformed_files(self):
        good, header = self.build()
        n = struct.unpack("<Q", good[:8])[0]
        def with_header(h, extra=b""):
            return safetensors(h, good[8 + n:] + extra)
        shifted = {k: dict(v, data_offsets=[v["data_offsets"][0] + 1, v["data_offsets"][1] + 1])
                   for k, v in header.items()}
        wrong_size = dict(header)
        wrong_size["model.norm.weight"] = dict(header["model.norm.weight"], shape=[5])
        cases = [
            ("small", b"\x02\0\0\0", "too small"),
            ("huge-header", struct.pack("<Q", 100000001) + b"{}", "over the limit of 100000000"),
            ("past-end", struct.pack("<Q", 1000) + b"{}", "past the end of the file"),
            ("utf8", with_header(b'{"\xff": 1}'), "not valid UTF-8"),
            ("not-object", with_header(b'[1]'), "start with '{'"),
            ("json", with_header(b'{"a": {"dtype": "F32",}}'), "invalid header JSON"),
            ("duplicate", with_header(json.dumps(header)[:-1].encode() + b', "step": '
                                      + json.dumps(header["step"]).encode() + b"}"),
             "duplicate key 'step'"),
            ("gap", with_header(shifted), "should begin at 0"),
            ("size", with_header(wrong_size), "shape [5] of F32 needs 20"),
            ("overflow", with_header({"a": {"dtype": "F32", "shape": [2 ** 40, 2 ** 40], "data_offsets": [0, 0]}}),
             "overflows"),
            ("uncovered", with_header(header, b"\0"), "cover the rest of the file"),
            ("dtype", with_header({"a": {"dtype": "Q4_K", "shape": [1], "data_offsets": [0, 1]}}), "unknown dtype"),
        ]
        for name, data, fragment in cases:
            with self.subTest(case=name):
                self.assertBad(self.write(name + ".safetensors", data), fragment)

    def test_lfs_pointer(self):
        self.assertBad(need(LFS_POINTER), "Git LFS pointer", "390660192 bytes")


class InspectCommand(InspectCase):
    def test_usage(self):
        self.assertExit(self.run_modl("inspect"), 2)
        self.assertExit(self.run_modl("inspect", "a", "b"), 2)
        self.assertExit(self.run_modl("inspect", "--nope", "a"), 2)
        r = self.run_modl("help", "inspect")
        self.assertExit(r, 0)
        self.assertTrue(r.out.startswith("usage: modl inspect FILE"))

    def test_missing_file(self):
        r = self.run_modl("inspect", os.path.join(self.tmp, "nope.gguf"))
        self.assertExit(r, 4)
        self.assertOneLineError(r, "nope.gguf")

    def test_time_does_not_depend_on_size(self):
        """Sparse 16 GiB files: reading their data would take seconds; the header is
        all inspect reads."""
        big = 16 << 30
        data, _ = gguf([("general.architecture", 8, "llama")],
                       [("w", [big // 2], 1)], data=b"")
        gpath = self.write("big.gguf", data)
        header = {"w": {"dtype": "BF16", "shape": [big // 2], "data_offsets": [0, big]}}
        spath = self.write("big.safetensors", safetensors(header, b""))
        for path, full in ((gpath, len(data) + big), (spath, os.path.getsize(spath) + big)):
            os.truncate(path, full)
            t0 = time.monotonic()
            doc = self.inspect_json(path, "--tensors")
            elapsed = time.monotonic() - t0
            self.assertEqual(doc["tensor_bytes"], big)
            self.assertLess(elapsed, 5.0, path)
