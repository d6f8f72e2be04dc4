#!/usr/bin/python3
"""bench/convert: `modl convert --type Q4_K_M` in one pass against the two-step path
(`modl convert --type BF16`, then llama.cpp's llama_model_quantize to Q4_K_M through
tests/interop/quantize_llama.c), on the same synthetic BF16 checkpoint with Llama shapes,
in the same run: wall time, peak RSS and bytes written to disk; and a check that both
paths write the same file.

    /usr/bin/python3 bench/convert.py      (or: make bench BENCH=convert, bash bench/run convert)

Environment:
    BENCH_CONVERT_LAYERS  blocks of the model (default 12: n_embd 2048, 32 heads, 8 KV heads,
                          ffn 5632, vocab 32000, untied: 672M parameters, 1.34 GB of BF16
                          in two shards)
    BENCH_CONVERT_TYPE    the quantized type (default Q4_K_M)
    BENCH_CONVERT_RUNS    rounds (one-pass and two-step once each per round, interleaved); the
                          best valid run counts, the peak RSS is the highest (default 2)
    BENCH_THREADS         threads for every tool (default: every online core)
    MODL_BIN              the binary to time (default ./modl, the release build)
    BENCH_TMPDIR          where the temp dir goes (default: $TMPDIR or /tmp; needs about
                          2.5 x the checkpoint)

A benchmark reports, it does not judge the build: the exit status is 0 unless the benchmark
itself could not run (the peer could not be built, the binary is missing, ...).
"""
import json
import os
import shutil
import struct
import sys
import time

import numpy as np

import benchlib
from benchlib import MiB, ROOT, tail

sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
from quantize_tools import (FTYPES, build_llama_quantizer, install_llama,  # noqa: E402
                            llama_quantize_argv, tensor_bytes)
import convert_checkpoints as ck  # noqa: E402

PROG = "bench/convert"

# Goals (bench/README.md)
GOAL_TIME_RATIO = 0.6   # one pass at most 0.6 x the two-step wall time
GOAL_DISK_RATIO = 0.5   # and at most half the bytes written
GOAL_RSS_FACTOR = 2.0   # peak RSS under 2 x the largest tensor in F32 (+ the pool's buffers)


def env_int(name, default):
    return benchlib.env_int(PROG, name, default)


def timed(argv, work, log_path, timeout=3600):
    """One command's wall time, CPU time, peak RSS and bytes the file systems wrote for it
    (benchlib.timed_rusage), as a dict."""
    rc, secs, rss, cpu, written = benchlib.timed_rusage(argv, benchlib.clean_env(benchlib.SCRUB_COMPUTE),
                                                        work, log_path, timeout)
    return {"rc": rc, "secs": secs, "rss": rss * 1024, "cpu": cpu, "written": written}


# ---- the checkpoint ------------------------------------------------------------------------

def shapes(layers, hidden=2048, heads=32, kv=8, ff=5632, vocab=32000):
    hd = hidden // heads
    t = {"model.embed_tokens.weight": (vocab, hidden), "model.norm.weight": (hidden,),
         "lm_head.weight": (vocab, hidden)}
    for i in range(layers):
        p = "model.layers.%d." % i
        t.update({p + "input_layernorm.weight": (hidden,), p + "post_attention_layernorm.weight": (hidden,),
                  p + "self_attn.q_proj.weight": (heads * hd, hidden), p + "self_attn.k_proj.weight": (kv * hd, hidden),
                  p + "self_attn.v_proj.weight": (kv * hd, hidden), p + "self_attn.o_proj.weight": (hidden, heads * hd),
                  p + "mlp.gate_proj.weight": (ff, hidden), p + "mlp.up_proj.weight": (ff, hidden),
                  p + "mlp.down_proj.weight": (hidden, ff)})
    cfg = ck.config(vocab=vocab, hidden=hidden, ff=ff, layers=layers, heads=heads, kv_heads=kv, tied=False,
                    ctx=4096, dtype="BF16")
    return t, cfg


def write_shard(path, names, t, rng):
    """One safetensors file of BF16 random normal values, written tensor by tensor (the
    whole model never sits in memory)."""
    header, offset = {}, 0
    for n in names:
        size = 2 * int(np.prod(t[n]))
        header[n] = {"dtype": "BF16", "shape": list(t[n]), "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((-len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for n in names:
            count = int(np.prod(t[n]))
            std = 1.0 if len(t[n]) == 1 else 0.02
            mean = 1.0 if len(t[n]) == 1 else 0.0
            for start in range(0, count, 1 << 24):
                x = rng.standard_normal(min(1 << 24, count - start), dtype=np.float32) * std + mean
                f.write(ck.bf16_bits(x).astype("<u2").tobytes())
    return offset


def make_checkpoint(d, layers):
    os.makedirs(d)
    t, cfg = shapes(layers)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    ck.copy_tokenizer(d)
    names = sorted(t)
    half = len(names) // 2
    parts = [names[:half], names[half:]]
    rng = np.random.default_rng(7)
    weight_map, total = {}, 0
    for i, part in enumerate(parts):
        fname = "model-%05d-of-%05d.safetensors" % (i + 1, len(parts))
        total += write_shard(os.path.join(d, fname), part, t, rng)
        weight_map.update({n: fname for n in part})
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f)
    largest = max(int(np.prod(s)) for s in t.values()) * 4
    params = sum(int(np.prod(s)) for s in t.values())
    return total, largest, params


def warm(d):
    """Reads the checkpoint once so that every run starts from the page cache."""
    for f in os.listdir(d):
        benchlib.read_through(os.path.join(d, f))


# ---- the runs --------------------------------------------------------------------------------

def main():
    layers = env_int("BENCH_CONVERT_LAYERS", 12)
    runs = max(1, env_int("BENCH_CONVERT_RUNS", 2))
    threads = env_int("BENCH_THREADS", os.cpu_count() or 1)
    type_name = os.environ.get("BENCH_CONVERT_TYPE", "Q4_K_M").upper()
    if type_name not in FTYPES:
        sys.exit("bench/convert: unknown BENCH_CONVERT_TYPE %s" % type_name)
    modl = benchlib.modl_bin(PROG)
    work = benchlib.work_dir("convert")
    try:
        install_llama()
        quantizer = build_llama_quantizer(work)
        src = os.path.join(work, "checkpoint")
        t0 = time.monotonic()
        size, largest, params = make_checkpoint(src, layers)
        print("checkpoint: %d layers, %d parameters, %.2f GB of BF16 in 2 shards (written in %.0f s); "
              "largest tensor %.0f MiB in F32" % (layers, params, size / 1e9, time.monotonic() - t0, largest / MiB))
        results = {"one-pass": [], "two-step": []}
        for r in range(runs):
            one = os.path.join(work, "one.gguf")
            bf16 = os.path.join(work, "bf16.gguf")
            two = os.path.join(work, "two.gguf")
            warm(src)
            a = timed([modl, "-q", "convert", src, "--type", type_name, "--threads", str(threads), "-o", one],
                      work, os.path.join(work, "one.log"))
            a["files"] = os.path.getsize(one) if os.path.exists(one) else 0
            warm(src)
            b1 = timed([modl, "-q", "convert", src, "--type", "BF16", "--threads", str(threads), "-o", bf16],
                       work, os.path.join(work, "bf16.log"))
            b2 = timed(llama_quantize_argv(quantizer, bf16, two, type_name, threads), work,
                       os.path.join(work, "two.log"))
            b = {"rc": b1["rc"] or b2["rc"], "secs": b1["secs"] + b2["secs"], "rss": max(b1["rss"], b2["rss"]),
                 "cpu": b1["cpu"] + b2["cpu"], "written": b1["written"] + b2["written"],
                 "files": sum(os.path.getsize(p) for p in (bf16, two) if os.path.exists(p)),
                 "steps": (b1["secs"], b2["secs"]), "rss_steps": (b1["rss"], b2["rss"])}
            same = None
            if a["rc"] == 0 and b["rc"] == 0:
                with open(one, "rb") as f1, open(two, "rb") as f2:
                    x, y = f1.read(), f2.read()
                same = x == y
                if not same:
                    tx, ty = tensor_bytes(x), tensor_bytes(y)
                    same = "tensors %s" % ("identical" if tx == ty else "DIFFER")
            a["same"] = b["same"] = same
            for name, res, log in (("one-pass", a, "one.log"), ("two-step", b, "two.log")):
                ok = res["rc"] == 0 and same is not None
                print("run %d %-8s %s %7.2f s  cpu %7.2f s  peak RSS %6.1f MiB  written %7.1f MB (files %7.1f MB)%s" % (
                    r + 1, name, "ok     " if ok else "INVALID", res["secs"], res["cpu"], res["rss"] / MiB,
                    res["written"] / 1e6, res["files"] / 1e6,
                    "  [convert %.2f s + quantize %.2f s]" % res["steps"] if name == "two-step" else ""))
                if not ok:
                    print("   rc %s: %s" % (res["rc"], tail(os.path.join(work, log))))
                else:
                    results[name].append(res)
            for p in (one, bf16, two):
                if os.path.exists(p):
                    os.unlink(p)
        report(results, largest, threads, type_name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(results, largest, threads, type_name):
    if not results["one-pass"] or not results["two-step"]:
        print("bench/convert: no valid run of both paths; goals MISS")
        return
    a = min(results["one-pass"], key=lambda r: r["secs"])
    b = min(results["two-step"], key=lambda r: r["secs"])
    rss = max(r["rss"] for r in results["one-pass"])
    disk_a = max(a["written"], a["files"])
    disk_b = max(b["written"], b["files"])
    print()
    print("| %s, %d threads | wall s | CPU s | peak RSS MiB | disk written MB |" % (type_name, threads))
    print("|---|---|---|---|---|")
    print("| modl convert (one pass) | %.2f | %.2f | %.1f | %.0f |" % (a["secs"], a["cpu"], rss / MiB, disk_a / 1e6))
    print("| modl convert BF16 + llama_model_quantize | %.2f (%.2f + %.2f) | %.2f | %.1f / %.1f | %.0f |" % (
        b["secs"], b["steps"][0], b["steps"][1], b["cpu"], b["rss_steps"][0] / MiB, b["rss_steps"][1] / MiB,
        disk_b / 1e6))
    print("| ratio one-pass / two-step | %.2f | %.2f | | %.2f |" % (a["secs"] / b["secs"], a["cpu"] / b["cpu"],
                                                             disk_a / disk_b))
    print("same output file: %s" % a["same"])
    goals = [
        ("one pass <= %.1f x the two-step wall time" % GOAL_TIME_RATIO, a["secs"] <= GOAL_TIME_RATIO * b["secs"]),
        ("one pass writes <= %.1f x the two-step bytes" % GOAL_DISK_RATIO, disk_a <= GOAL_DISK_RATIO * disk_b),
        ("one-pass peak RSS < %.0f x the largest tensor in F32 (%.0f MiB)" % (GOAL_RSS_FACTOR, GOAL_RSS_FACTOR * largest / MiB),
         rss < GOAL_RSS_FACTOR * largest),
        ("the same file either way", a["same"] is True),
    ]
    for text, ok in goals:
        print("%s  %s" % ("PASS" if ok else "MISS", text))


if __name__ == "__main__":
    sys.exit(main())
