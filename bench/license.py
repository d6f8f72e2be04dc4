#!/usr/bin/python3
"""bench/license: wall time of `modl license DIR` on a repository with five license files
(a Llama 3.1 LICENSE, its USE_POLICY.md, a NOTICE, original/LICENSE, and an Apache-2.0
LICENSE-CODE) and a model card, each file compared with the whole knowledge base. The
process is timed whole: start, the one-time index of the ~40 known texts, reading,
identifying, aligning, the report.

    /usr/bin/python3 bench/license.py        (or: make bench BENCH=license, bash bench/run license)

Environment:
    BENCH_LICENSE_RUNS   runs (default 30); the median and the best are reported
    MODL_BIN             the binary to time (default ./modl, the release build)
    BENCH_TMPDIR         where the temp dir goes (default: $TMPDIR or /tmp)

A benchmark reports, it does not judge the build: the exit status is 0 unless the benchmark
itself could not run.
"""
import os
import shutil
import statistics
import subprocess
import sys
import time

import benchlib
from benchlib import ROOT

PROG = "bench/license"
DATA = os.path.join(ROOT, "src", "license", "data")

GOAL_MS = 50.0  # the goal for one audit of a repo with five license files

_SCRUB = ("HF_", "HUGGING", "TRANSFORMERS_OFFLINE", "XDG_CACHE_HOME", "MODL_")


def text(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return f.read()


def main():
    modl = benchlib.modl_bin(PROG)
    runs = max(1, benchlib.env_int(PROG, "BENCH_LICENSE_RUNS", 30))
    tmp = benchlib.work_dir("license")
    try:
        repo = os.path.join(tmp, "repo")
        files = {
            "README.md": "---\nlicense: llama3.1\nbase_model: meta-llama/Llama-3.1-8B\n---\n# Model\n",
            "LICENSE": text("llama3.1.txt"),
            "USE_POLICY.md": text("llama3.1-aup.txt"),
            "NOTICE": "Llama 3.1 is licensed under the Llama 3.1 Community License, Copyright \u00a9 "
                      "Meta Platforms, Inc. All Rights Reserved.\n",
            "original/LICENSE": text("llama3.1.txt"),
            "LICENSE-CODE": text("apache-2.0.txt"),
        }
        for rel, data in files.items():
            p = os.path.join(repo, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w", encoding="utf-8") as f:
                f.write(data)
        env = benchlib.clean_env(_SCRUB, HF_HOME=os.path.join(tmp, "hf"))  # an empty cache: no base model card
        argv = [modl, "license", repo, "--json"]
        first = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if first.returncode != 0:
            sys.exit("bench/license: modl license failed (%d): %s" % (first.returncode,
                                                                     first.stderr.decode()))
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=True)
            times.append((time.perf_counter() - t0) * 1000)
        median, best = statistics.median(times), min(times)
        size = sum(len(d.encode()) for d in files.values())
        print("license: audit of a repo with 5 license files (%d kB) against the whole knowledge "
              "base, %d runs" % (size // 1000, runs))
        print("  median %.1f ms, best %.1f ms per audit (the whole process)" % (median, best))
        print("  goal: under %.0f ms: %s" % (GOAL_MS, "PASS" if median < GOAL_MS else "MISS"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
