"""Shared by the quantize tests and benchmark (tests/e2e/test_quantize.py,
tests/interop/test_quantize_llama.py, bench/quantize.py): building the model generator
(quantize_model.c) and llama.cpp's quantizer as a command (quantize_llama.c), the
node-llama-cpp install they come from, and (from tests/e2e/gguf_py.py) a small GGUF parser
independent of modl.

Not a test module (no test_ prefix): importing it runs nothing."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if os.path.join(ROOT, "tests", "e2e") not in sys.path:  # the benchmarks import this module too
    sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from gguf_py import parse_gguf  # noqa: E402,F401  (re-exported: quantize_tools.parse_gguf)
LLAMA = os.path.join(HERE, "llama")
TINY_VOCAB = os.path.join(ROOT, "..", "shared", "data", "llama-2-tiny-random-gguf",
                          "llama-2-tiny-random.gguf")

# doc/cli.md's TYPE names and their llama_ftype (doc/gguf.md §5.5)
FTYPES = {"F32": 0, "F16": 1, "BF16": 32, "Q8_0": 7, "Q4_0": 2, "Q4_1": 3, "Q5_0": 8,
          "Q5_1": 9, "Q2_K": 10, "Q3_K_S": 11, "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14,
          "Q4_K_M": 15, "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18}

# ggml type id -> (name, block, bytes per block) (doc/gguf.md §2)
TENSOR_TYPES = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
                6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34),
                10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
                13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 30: ("BF16", 1, 2)}
TYPE_IDS = {v[0]: k for k, v in TENSOR_TYPES.items()}

GGUF_FILES = ["fmt.c", "fmt_map.c", "fmt_names.c", "gguf.c", "gguf_types.c", "gguf_writer.c"]


def cc():
    return os.environ.get("CC", "cc")


def build_model_tool(tmp):
    """quantize_model, built from formats/ alone (the writer and reader of GGUF)."""
    out = os.path.join(tmp, "quantize_model")
    srcs = [os.path.join(HERE, "quantize_model.c")]
    srcs += [os.path.join(ROOT, "formats", f) for f in GGUF_FILES]
    subprocess.run([cc(), "-std=c11", "-iquote", os.path.join(ROOT, "src"), "-iquote", ROOT, "-D_DEFAULT_SOURCE", "-D_XOPEN_SOURCE=700", "-Wall",
                    "-Wextra", "-Werror", "-O2", "-o", out] + srcs + ["-lm"], check=True)
    return out


def make_model(tool, path, layers=2, embd=256, heads=4, kv_heads=2, ff=512, vocab=1000,
               dtype="F16", tied=False, seed=1, vocab_from=None, odd_tensor=False,
               bad=None, extra_kvs=False):
    argv = [tool, path, "--layers", str(layers), "--embd", str(embd), "--heads", str(heads),
            "--kv-heads", str(kv_heads), "--ff", str(ff), "--vocab", str(vocab), "--type", dtype,
            "--seed", str(seed)]
    if tied:
        argv.append("--tied")
    if vocab_from:
        argv += ["--vocab-from", vocab_from]
    if odd_tensor:
        argv.append("--odd-tensor")
    if bad:
        argv += ["--bad", bad]
    if extra_kvs:
        argv.append("--extra-kvs")
    subprocess.run(argv, check=True)
    return path


# ---- llama.cpp (node-llama-cpp) --------------------------------------------------------

def install_llama():
    """node-llama-cpp with the linux-x64 prebuilt libraries, as test_quant_oracle.py does:
    `npm install --omit=optional` (npm ci refuses this lock file: some optional platform
    packages of 3.22.1 cannot be resolved, so the lock has no entry for them)."""
    if os.path.isdir(os.path.join(LLAMA, "node_modules", "node-llama-cpp")):
        return
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--omit=optional"],
                   cwd=LLAMA, check=True, stdout=subprocess.DEVNULL)


def bins_dir():
    arch = {"x86_64": "linux-x64", "aarch64": "linux-arm64"}.get(os.uname().machine)
    if arch is None:
        raise AssertionError("no prebuilt llama.cpp for %s" % os.uname().machine)
    d = os.path.join(LLAMA, "node_modules", "@node-llama-cpp", arch, "bins", arch)
    if not os.path.isdir(d):
        raise AssertionError("npm install did not bring %s" % d)
    return d


def llama_source(tmp):
    """The llama.cpp tree node-llama-cpp was built from (its git bundle), cloned into tmp
    for the headers; nothing of it is kept."""
    bundle = os.path.join(LLAMA, "node_modules", "node-llama-cpp", "llama", "gitRelease.bundle")
    if not os.path.exists(bundle):
        raise AssertionError("npm install did not bring %s" % bundle)
    src = os.path.join(tmp, "llama.cpp")
    if not os.path.isdir(src):
        subprocess.run(["git", "clone", "-q", bundle, src], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return src


def build_llama_quantizer(tmp):
    """quantize_llama: llama_model_quantize as a command (see quantize_llama.c)."""
    src = llama_source(tmp)
    bins = bins_dir()
    libs = [os.path.join(bins, f) for f in sorted(os.listdir(bins))
            if f.startswith(("libllama.", "libggml.", "libggml-base.")) and ".so" in f
            and not f.startswith("libllama-common")]
    out = os.path.join(tmp, "quantize_llama")
    subprocess.run([cc(), "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2",
                    "-I", os.path.join(src, "include"), "-I", os.path.join(src, "ggml", "include"),
                    "-o", out, os.path.join(HERE, "quantize_llama.c")] + libs +
                   ["-Wl,-rpath," + bins], check=True)
    return out


def llama_quantize_argv(tool, src, dst, type_name, threads, allow_requantize=False):
    argv = [tool, bins_dir(), src, dst, str(FTYPES[type_name]), str(threads)]
    if allow_requantize:
        argv.append("--allow-requantize")
    return argv


# ---- the GGUF parser independent of modl: tests/e2e/gguf_py.py ---------------------------

def tensor_nbytes(ne, t):
    _, block, size = TENSOR_TYPES[t]
    n = ne[0] // block * size
    for d in ne[1:]:
        n *= d
    return n


def tensor_bytes(b):
    """{name: (type, ne, bytes)} of a GGUF file's tensors."""
    _, tensors, data = parse_gguf(b)
    return {name: (t, ne, b[data + off:data + off + tensor_nbytes(ne, t)])
            for name, ne, t, off in tensors}


def first_difference(a, b):
    """Where two GGUF files differ, in words: header, a tensor's type or its bytes."""
    if a == b:
        return None
    ka, ta, _ = parse_gguf(a)
    kb, tb, _ = parse_gguf(b)
    if list(ka.items()) != list(kb.items()):
        return "metadata differs"
    if [(n, e, t) for n, e, t, _ in ta] != [(n, e, t) for n, e, t, _ in tb]:
        for x, y in zip(ta, tb):
            if x[:3] != y[:3]:
                return "tensor info %s %s/%s vs %s %s/%s" % (
                    x[0], TENSOR_TYPES.get(x[2], (x[2],))[0], x[1],
                    y[0], TENSOR_TYPES.get(y[2], (y[2],))[0], y[1])
        return "tensor count %d vs %d" % (len(ta), len(tb))
    da, db = tensor_bytes(a), tensor_bytes(b)
    for name, ne, t, _ in ta:
        x, y = da[name][2], db[name][2]
        if x != y:
            at = next(i for i in range(len(x)) if x[i] != y[i])
            _, block, size = TENSOR_TYPES[t]
            row = tensor_nbytes([ne[0]], t)
            return "tensor %s (%s): first differing byte %d (row %d, block %d)" % (
                name, TENSOR_TYPES[t][0], at, at // row, (at % row) // size)
    return "padding or trailing bytes differ"

