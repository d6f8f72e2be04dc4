#!/usr/bin/python3
"""bench/quantize: wall time and peak RSS of `modl quantize` against llama.cpp's quantizer
(llama_model_quantize of the libllama node-llama-cpp ships, through
tests/interop/quantize_llama.c) on the same synthetic F16 model with Llama shapes, the
same thread count, in the same run; and modl's scaling from 1 thread to every core.

    /usr/bin/python3 bench/quantize.py      (or: make bench BENCH=quantize, bash bench/run quantize)

Environment:
    BENCH_QUANTIZE_LAYERS  blocks of the model (default 16: n_embd 2048, 32 heads, 8 KV
                           heads, ffn 5632, vocab 32000, untied: 1.7 GB of F16)
    BENCH_QUANTIZE_TYPES   comma-separated TYPEs (default Q8_0,Q4_0,Q4_K_M,Q6_K)
    BENCH_QUANTIZE_RUNS    rounds (each tool once per round and type, interleaved); the best
                           valid run counts, the peak RSS is the highest (default 2)
    BENCH_THREADS          threads for both tools (default: every online core)
    MODL_BIN               the binary to time (default ./modl, the release build)
    BENCH_TMPDIR           where the temp dir goes (default: $TMPDIR or /tmp)

A benchmark reports, it does not judge the build: the exit status is 0 unless the benchmark
itself could not run (the peer could not be built, the binary is missing, ...).
"""
import os
import shutil
import subprocess
import sys
import time

import benchlib
from benchlib import MiB, ROOT, tail

sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
from quantize_tools import (build_llama_quantizer, build_model_tool, install_llama,  # noqa: E402
                            llama_quantize_argv, make_model)

PROG = "bench/quantize"

# Goals (bench/README.md): modl's wall time as a fraction of llama.cpp's, same threads.
GOAL_RATIO = {"Q4_K_M": 0.3, "Q6_K": 0.3, "Q8_0": 0.5, "Q4_0": 0.5}
GOAL_RATIO_DEFAULT = 0.5


def env_int(name, default):
    return benchlib.env_int(PROG, name, default)


def timed(argv, work, log_path, timeout):
    """(rc, wall seconds, peak RSS in KiB, CPU seconds) of argv (benchlib.timed_rusage)."""
    env = benchlib.clean_env(benchlib.SCRUB_COMPUTE)
    return benchlib.timed_rusage(argv, env, work, log_path, timeout)[:4]


def same_files(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(16 * MiB), fb.read(16 * MiB)
            if x != y:
                return False
            if not x:
                return True


def main():
    layers = env_int("BENCH_QUANTIZE_LAYERS", 16)
    runs = max(1, env_int("BENCH_QUANTIZE_RUNS", 2))
    threads = env_int("BENCH_THREADS", os.cpu_count() or 1)
    types = [t.strip() for t in os.environ.get("BENCH_QUANTIZE_TYPES",
                                                "Q8_0,Q4_0,Q4_K_M,Q6_K").split(",") if t.strip()]
    modl_bin = benchlib.modl_bin(PROG)
    work = benchlib.work_dir("quantize")
    results = {}  # (tool, type, threads) -> [run]
    try:
        llama = None
        why = ""
        try:
            install_llama()
            llama = build_llama_quantizer(work)
            shutil.rmtree(os.path.join(work, "llama.cpp"), ignore_errors=True)
        except (subprocess.CalledProcessError, OSError, AssertionError) as e:
            why = "llama.cpp quantizer unavailable: %s" % e
            print("bench/quantize: " + why, flush=True)
        tool = build_model_tool(work)
        model = os.path.join(work, "model-f16.gguf")
        t0 = time.monotonic()
        make_model(tool, model, layers=layers, embd=2048, heads=32, kv_heads=8, ff=5632,
                   vocab=32000, dtype="F16", seed=7)
        size = os.path.getsize(model)
        print("bench/quantize: F16 llama-shaped model, %d layers, n_embd 2048, GQA 32/8, ffn 5632,"
              " vocab 32000: %.2f GB (written in %.1f s); %d thread(s), %d run(s), temp dir %s"
              % (layers, size / 1e9, time.monotonic() - t0, threads, runs, work), flush=True)
        floor = timed(["true"], work, os.path.join(work, "floor.log"), 60)[2]
        benchlib.read_through(model)  # both tools start from the page cache
        plan = []
        for r in range(runs):
            for t in types:
                if llama:
                    plan.append(("llama.cpp", t, threads))
                plan.append(("modl", t, threads))
                if threads > 1:
                    plan.append(("modl", t, 1))
        for tool_name, t, th in plan:
            out = os.path.join(work, "%s-%s-%d.gguf" % (tool_name, t, th))
            log = out + ".log"
            if tool_name == "modl":
                argv = [modl_bin, "-q", "quantize", model, out, t, "--threads", str(th)]
            else:
                argv = llama_quantize_argv(llama, model, out, t, th)
            rc, secs, rss, cpu = timed(argv, work, log, 3600)
            res = {"seconds": secs, "rss_kib": rss, "cpu": cpu, "valid": rc == 0,
                   "note": "" if rc == 0 else "exit %s: %s" % (rc, tail(log)), "out": out}
            # modl's file must be llama.cpp's, byte for byte
            peer = os.path.join(work, "llama.cpp-%s-%d.gguf" % (t, threads))
            if res["valid"] and tool_name == "modl" and llama and os.path.exists(peer):
                if not same_files(out, peer):
                    res["valid"], res["note"] = False, "INVALID: differs from llama.cpp's file"
                else:
                    res["note"] = "same bytes as llama.cpp"
            print("  %-9s %-6s %d thr  %7.2f s  cpu %6.2f s  rss %7.1f MiB  %s"
                  % (tool_name, t, th, secs, cpu, rss / 1024.0, res["note"]), flush=True)
            results.setdefault((tool_name, t, th), []).append(res)
            if tool_name == "modl":
                os.unlink(out)
        report(results, types, threads, llama is not None, why, floor)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(results, types, threads, have_llama, why, floor):
    print()
    print("load average: %.2f %.2f %.2f (2-core VM shared with other work: compare ratios)"
          % os.getloadavg())
    print()
    print("| type | llama.cpp s | modl s | modl/llama | llama RSS MiB | modl RSS MiB | modl 1 thr s | scaling 1→%d |"
          % threads)
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    goals = []
    for t in types:
        l = benchlib.best_run(results.get(("llama.cpp", t, threads)))
        m = benchlib.best_run(results.get(("modl", t, threads)))
        m1 = benchlib.best_run(results.get(("modl", t, 1))) if threads > 1 else m
        ratio = m["seconds"] / l["seconds"] if l and m and l["valid"] and m["valid"] else None
        scaling = m1["seconds"] / m["seconds"] if m1 and m and m["valid"] and m1["valid"] else None
        print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            t,
            ("%.2f" % l["seconds"] + ("" if l["valid"] else " INVALID")) if l else "n/a",
            ("%.2f" % m["seconds"] + ("" if m["valid"] else " INVALID")) if m else "n/a",
            "%.3f" % ratio if ratio is not None else "",
            "%.1f" % (l["rss_kib"] / 1024.0) if l else "",
            "%.1f" % (m["rss_kib"] / 1024.0) if m else "",
            "%.2f" % m1["seconds"] if m1 else "",
            "%.2fx" % scaling if scaling is not None else ""))
        limit = GOAL_RATIO.get(t, GOAL_RATIO_DEFAULT)
        text = "%s: modl ≤ %.1f × llama.cpp's wall time (%d threads)" % (t, limit, threads)
        if ratio is None:
            goals.append((text, "MISS", why or "no valid run of both"))
        else:
            goals.append((text, "PASS" if ratio <= limit else "MISS", "%.3f" % ratio))
        if l and m and l["valid"] and m["valid"]:
            goals.append(("%s: modl peak RSS ≤ llama.cpp's" % t,
                          "PASS" if m["rss_kib"] <= l["rss_kib"] else "MISS",
                          "%.1f vs %.1f MiB" % (m["rss_kib"] / 1024.0, l["rss_kib"] / 1024.0)))
        elif not have_llama:
            goals.append(("%s: modl peak RSS ≤ llama.cpp's" % t, "MISS", why))
    print("(peak RSS: wait4's ru_maxrss of the tool's process; it cannot read below %.1f MiB."
          " modl's time includes its fsync of the output; llama.cpp does not sync)" % (floor / 1024.0))
    print()
    for text, verdict, detail in goals:
        print("%s  %s  (%s)" % (verdict, text, detail))


if __name__ == "__main__":
    sys.exit(main())
