#!/usr/bin/python3
"""bench/cache: two figures of `modl cache`, each against a named peer in the same run.

  verify  `modl cache verify` over a synthetic cache of large sha256-named blobs, against
          `openssl dgst -sha256` over the same blobs one after another (GB/s, ratio);
  ls      `modl cache ls` over a synthetic cache of 200 repos and 20,000 snapshot files,
          against scanCacheDir of the npm package @huggingface/hub in a node process
          (raw, and with node's start-up, `node -e 0`, taken off).

    /usr/bin/python3 bench/cache.py           (or: make bench BENCH=cache, bash bench/run cache)

Environment:
    BENCH_CACHE_BYTES   total size of the verify blobs (default 8 x 256 MiB = 2 GiB)
    BENCH_CACHE_BLOBS   how many blobs they are split into (default 8)
    BENCH_CACHE_REPOS   repos of the ls cache (default 200)
    BENCH_CACHE_FILES   snapshot files per repo of the ls cache, over all its revisions
                        (default 100)
    BENCH_CACHE_RUNS    timed runs of each tool, after one untimed warm-up run; the best
                        counts (default 3)
    MODL_BIN            the binary to time (default ./modl, the release build)
    BENCH_TMPDIR        where the temp dir goes (default: $TMPDIR or /tmp)

A benchmark reports, it does not judge the build: the exit status is 0 unless the benchmark
itself could not run (the binary is missing, a cache could not be written, ...).
"""
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

import benchlib
from benchlib import MiB, ROOT, human

PROG = "bench/cache"
HFHUB = os.path.join(ROOT, "tests", "interop", "hfhub")
SCAN_SCRIPT = os.path.join(HFHUB, "cache.mjs")

# Goals (bench/README.md)
GOAL_VERIFY_X = 1.6   # cache verify at least 1.6x the throughput of openssl dgst -sha256
GOAL_LS_X = 5.0       # cache ls at least 5x faster than scanCacheDir (node start-up taken off)


def env_int(name, default, minimum=1):
    return benchlib.env_int(PROG, name, default, minimum)


def clean_env(**extra):
    return benchlib.clean_env(benchlib.SCRUB_NET, **extra)


def timed(argv, env, cwd, capture=False):
    """Runs argv; returns (rc, wall seconds, CPU seconds user + system of that child, its
    stdout as bytes when capture, else None and stdout goes to /dev/null). The wall time is
    from just before the fork to wait4's return; a captured stdout goes to a temp file."""
    out_path = None
    stdout = subprocess.DEVNULL
    if capture:
        fd, out_path = tempfile.mkstemp(prefix="bench-out-")
        stdout = os.fdopen(fd, "w+b")
    err = tempfile.TemporaryFile()
    try:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=err, env=env, cwd=cwd)
        _, status, ru = os.wait4(p.pid, 0)
        secs = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        data = None
        if out_path:
            stdout.seek(0)
            data = stdout.read()
        if p.returncode != 0:
            err.seek(0)
            tail = err.read().decode("utf-8", "replace")[-600:]
            return "exit %s: %s" % (p.returncode, tail.replace("\n", " | ")), secs, 0.0, data
        return 0, secs, ru.ru_utime + ru.ru_stime, data
    finally:
        err.close()
        if out_path:
            stdout.close()
            os.unlink(out_path)


def load():
    """The 1-minute load average, for the report: others' work on a shared VM skews a run."""
    try:
        return "load average %.2f on %d CPUs" % (os.getloadavg()[0], os.cpu_count())
    except OSError:
        return "load average unknown"


def link(path, target):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(target, path)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def fake_commit(*parts):
    return hashlib.sha1(("bench/" + "/".join(map(str, parts))).encode()).hexdigest()


# ---- verify ---------------------------------------------------------------------------------

def make_verify_cache(cache, total, count):
    """One repo, `count` random blobs of total/count bytes (the last one takes the rest), each
    named by its sha256 and linked from snapshots/<commit>/ with refs/main. Returns the blob
    paths and the total size. Synced, so that no writeback runs while a tool is timed."""
    repo = os.path.join(cache, "models--bench--verify")
    commit = fake_commit("verify")
    each = total // count
    paths = []
    for i in range(count):
        size = each if i < count - 1 else total - each * (count - 1)
        tmp = os.path.join(repo, "blobs", "tmp.%d" % i)
        os.makedirs(os.path.dirname(tmp), exist_ok=True)
        sha = benchlib.write_random(tmp, size)
        blob = os.path.join(repo, "blobs", sha)
        os.rename(tmp, blob)
        paths.append(blob)
        name = "model-%05d-of-%05d.safetensors" % (i + 1, count)
        link(os.path.join(repo, "snapshots", commit, name), "../../blobs/" + sha)
    write(os.path.join(repo, "refs", "main"), commit.encode())
    os.sync()
    return paths


def run_verify(work, modl_bin, runs):
    total = env_int("BENCH_CACHE_BYTES", 8 * 256 * MiB)
    count = env_int("BENCH_CACHE_BLOBS", 8)
    if total < count:
        sys.exit("bench/cache: BENCH_CACHE_BYTES is smaller than BENCH_CACHE_BLOBS")
    cache = os.path.join(work, "verify-cache")
    print("verify: %d blobs, %s in all (%s each), random bytes named by their sha256"
          % (count, human(total), human(total // count)), flush=True)
    t0 = time.monotonic()
    blobs = make_verify_cache(cache, total, count)
    print("  wrote the cache in %.1f s: %s" % (time.monotonic() - t0, cache), flush=True)
    names = sorted(os.path.basename(p) for p in blobs)

    have_openssl = shutil.which("openssl") is not None
    env = clean_env(HF_HUB_CACHE=cache, HF_HUB_OFFLINE="1")

    def run_modl():
        rc, secs, cpu, out = timed([modl_bin, "cache", "verify", "--json"], env, work, capture=True)
        if rc == 0:
            try:
                doc = json.loads(out)
            except ValueError as e:
                return {"valid": False, "seconds": secs, "cpu": cpu, "note": "no JSON (%s)" % e}
            if doc.get("verified") != count or doc.get("bytes") != total or doc.get("bad") or doc.get("missing"):
                return {"valid": False, "seconds": secs, "cpu": cpu,
                        "note": "verified %s blobs, %s bytes (want %d, %d)" % (doc.get("verified"), doc.get("bytes"),
                                                                            count, total)}
            return {"valid": True, "seconds": secs, "cpu": cpu, "note": ""}
        return {"valid": False, "seconds": secs, "cpu": cpu, "note": str(rc)}

    def run_openssl():
        rc, secs, cpu, out = timed(["openssl", "dgst", "-sha256", *blobs], clean_env(), work, capture=True)
        if rc != 0:
            return {"valid": False, "seconds": secs, "cpu": cpu, "note": str(rc)}
        # "SHA2-256(<path>)= <hex>" (OpenSSL 3), "SHA256(<path>)= <hex>" (1.1)
        got = {}
        for line in out.decode("utf-8", "replace").splitlines():
            m = re.match(r"^SHA2?-?256\((.*)\)= ([0-9a-f]{64})$", line)
            if m:
                got[os.path.basename(m.group(1))] = m.group(2)
        if sorted(got) != names or any(k != v for k, v in got.items()):
            return {"valid": False, "seconds": secs, "cpu": cpu, "note": "digests do not match the blob names"}
        return {"valid": True, "seconds": secs, "cpu": cpu, "note": ""}

    tools = [("modl", run_modl, True, ""),
             ("openssl", run_openssl, have_openssl, "openssl not installed")]
    results = {}
    for name, fn, ok, _ in tools:  # warm-up: the page cache holds the blobs for both alike
        if ok:
            r = fn()
            print("  warm-up %-7s %6.2f s  %s%s" % (name, r["seconds"], "" if r["valid"] else "INVALID ", r["note"]),
                  flush=True)
    for i in range(runs):
        for name, fn, ok, _ in tools:
            if not ok:
                continue
            r = fn()
            results.setdefault(name, []).append(r)
            print("  run %d %-7s %6.2f s  cpu %5.2f s  %s%s" % (i + 1, name, r["seconds"], r["cpu"],
                                                           "" if r["valid"] else "INVALID ", r["note"]), flush=True)
    best = {n: min((r for r in rs if r["valid"]), key=lambda r: r["seconds"], default=None)
            for n, rs in results.items()}

    print("  (%s after the runs)" % load())
    print()
    print("| verify: %d blobs, %s | wall s | GB/s | CPU s | GB/s per CPU s | openssl/modl wall |"
          % (count, human(total)))
    print("|---|---:|---:|---:|---:|---:|")
    for name, _, ok, why in tools:
        b = best.get(name)
        if not ok:
            print("| %s | n/a | | | | %s |" % (name, why))
        elif b is None:
            print("| %s | INVALID | | | | |" % name)
        else:
            ratio = ""
            if name == "modl" and best.get("openssl"):
                ratio = "%.2f" % (best["openssl"]["seconds"] / b["seconds"])
            print("| %s | %.3f | %.2f | %.2f | %.2f | %s |" % (
                name, b["seconds"], total / b["seconds"] / 1e9, b["cpu"],
                total / b["cpu"] / 1e9 if b["cpu"] > 0 else 0, ratio))
    print("(modl cache verify: one hashing thread per online CPU, %d; openssl dgst: one process, the blobs"
          " one after another; CPU s: user + system of the process)" % os.cpu_count())
    print()
    m, o = best.get("modl"), best.get("openssl")
    text = "verify: modl cache verify >= %gx the throughput of openssl dgst -sha256" % GOAL_VERIFY_X
    if not m or not o:
        return [(text, "MISS", "no valid %s run" % ("modl" if not m else "openssl"))]
    x = o["seconds"] / m["seconds"]
    return [(text, "PASS" if x >= GOAL_VERIFY_X else "MISS",
             "%.2fx: %.2f vs %.2f GB/s" % (x, total / m["seconds"] / 1e9, total / o["seconds"] / 1e9))]


# ---- ls -------------------------------------------------------------------------------------

def make_ls_cache(cache, repos, files_per_repo):
    """A cache like one a user collects: `repos` repos (every 10th a dataset), each with
    `files_per_repo` snapshot files over 2 or 3 revisions (main; dev; every 3rd repo also an
    older detached one; every 5th has a tag v1.0 on main too), a quarter of each revision's
    files in sub-folders (original/, onnx/), later revisions sharing most blobs with main,
    small git-sha1 blobs and a few sha256 (LFS) ones.

    Returns what each tool must report: {"repos", "revisions", "files" (every snapshot
    file), "top_files" (those at the top of a snapshot, what scanCacheDir sees)}."""
    rng = random.Random(20240601)
    want = {"repos": 0, "revisions": 0, "files": 0, "top_files": 0}
    for r in range(repos):
        kind = "datasets" if r % 10 == 9 else "models"
        repo = os.path.join(cache, "%s--org%02d--repo-%04d" % (kind, r % 37, r))
        nrevs = 3 if r % 3 == 0 else 2
        # split files_per_repo over the revisions, main the largest
        counts = [files_per_repo // nrevs] * nrevs
        counts[0] += files_per_repo - sum(counts)
        main_blobs = {}
        for v in range(nrevs):
            commit = fake_commit(r, v)
            n = counts[v]
            nested = n // 4
            names = []
            for k in range(n - nested):
                names.append("model-%05d.safetensors" % k if k < 2 else "file-%03d.json" % k)
            for k in range(nested):
                names.append("%s/part-%03d.json" % ("original" if k % 2 else "onnx", k))
            snap = os.path.join(repo, "snapshots", commit)
            for k, name in enumerate(names):
                # later revisions reuse main's blob for 3 of 4 of the names main also has
                if v > 0 and name in main_blobs and k % 4 != 3:
                    blob = main_blobs[name]
                else:
                    data = ("repo %d rev %d %s\n" % (r, v, name)).encode() + rng.randbytes(rng.randrange(64, 2048))
                    if name.endswith(".safetensors"):
                        blob = hashlib.sha256(data).hexdigest()
                    else:
                        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
                    path = os.path.join(repo, "blobs", blob)
                    if not os.path.exists(path):
                        write(path, data)
                    if v == 0:
                        main_blobs[name] = blob
                depth = name.count("/")
                link(os.path.join(snap, *name.split("/")), "../" * (2 + depth) + "blobs/" + blob)
            want["revisions"] += 1
            want["files"] += len(names)
            want["top_files"] += sum(1 for x in names if "/" not in x)
            if v == 0:
                write(os.path.join(repo, "refs", "main"), commit.encode())
                if r % 5 == 0:
                    write(os.path.join(repo, "refs", "v1.0"), commit.encode())
            elif v == 1:
                write(os.path.join(repo, "refs", "dev"), commit.encode())
        want["repos"] += 1
    os.sync()
    return want


def npm_ready():
    """Installs tests/interop/hfhub/node_modules (as the interop tests do) when missing.
    Returns an error text or None."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are needed (Debian package nodejs)"
    sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
    sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
    try:
        from test_hub_cache import ensure_npm
    except ImportError as e:
        return "cannot load tests/interop/test_hub_cache.py: %s" % e
    return ensure_npm()


def run_ls(work, modl_bin, runs):
    repos = env_int("BENCH_CACHE_REPOS", 200)
    per_repo = env_int("BENCH_CACHE_FILES", 100, minimum=4)
    cache = os.path.join(work, "ls-cache")
    print("ls: %d repos, %d snapshot files each" % (repos, per_repo), flush=True)
    t0 = time.monotonic()
    want = make_ls_cache(cache, repos, per_repo)
    nblobs = sum(len(os.listdir(os.path.join(cache, d, "blobs"))) for d in os.listdir(cache))
    print("  wrote the cache in %.1f s: %d repos, %d revisions, %d snapshot files (%d at the top of a"
          " snapshot, %d in sub-folders), %d blobs: %s"
          % (time.monotonic() - t0, want["repos"], want["revisions"], want["files"], want["top_files"],
             want["files"] - want["top_files"], nblobs, cache), flush=True)
    goal_text = "ls: modl cache ls >= %gx faster than scanCacheDir (node start-up taken off)" % GOAL_LS_X

    err = npm_ready()
    if err:
        print("  @huggingface/hub: n/a (%s)" % err)
        return [(goal_text, "MISS", "no scanCacheDir: " + err.splitlines()[0])]

    env = clean_env(HF_HUB_CACHE=cache)
    node_env = clean_env(HOME=work)

    # What each reads, before any timing: the repo count and the files it is defined to see
    # (scanCacheDir does not enter snapshot sub-folders: doc/peers.md).
    rc, _, _, out = timed([modl_bin, "cache", "ls", "--json"], env, work, capture=True)
    if rc != 0:
        raise RuntimeError("modl cache ls --json: %s" % rc)
    doc = json.loads(out)
    mfiles = sum(v["files"] for r in doc["repos"] for v in r["revisions"])
    mrevs = sum(len(r["revisions"]) for r in doc["repos"])
    rc, _, _, out = timed(["node", SCAN_SCRIPT, "scan-count", cache], node_env, HFHUB, capture=True)
    if rc != 0:
        raise RuntimeError("node cache.mjs scan-count: %s" % rc)
    js = json.loads(out)
    print("  modl cache ls --json: %d repos, %d revisions, %d files, %d warnings"
          % (len(doc["repos"]), mrevs, mfiles, len(doc["warnings"])))
    print("  scanCacheDir:         %d repos, %d revisions, %d files, %d warnings (sub-folders not entered)"
          % (js["repos"], js["revisions"], js["files"], js["warnings"]))
    problems = []
    if (len(doc["repos"]), mrevs, mfiles, len(doc["warnings"])) != (want["repos"], want["revisions"], want["files"], 0):
        problems.append("modl does not see the cache as written")
    if (js["repos"], js["revisions"], js["files"], js["warnings"]) != (want["repos"], want["revisions"],
                                                                         want["top_files"], 0):
        problems.append("scanCacheDir does not see the cache as written")
    if problems:
        print("  INVALID: " + "; ".join(problems))
        return [(goal_text, "MISS", "; ".join(problems))]
    print("  both see the %d repos and %d revisions; modl counts all %d files, scanCacheDir the %d it"
          " enters" % (want["repos"], want["revisions"], want["files"], want["top_files"]), flush=True)

    tools = [
        ("modl cache ls", [modl_bin, "cache", "ls"], env, work),
        ("node scanCacheDir", ["node", SCAN_SCRIPT, "scan-count", cache], node_env, HFHUB),
        ("node -e 0", ["node", "-e", "0"], node_env, HFHUB),
    ]
    results = {}
    scan_ms = []
    for rnd in range(runs + 1):  # round 0 warms the dentry/page caches and node's for all alike
        for name, argv, e, cwd in tools:
            rc, secs, cpu, out = timed(argv, e, cwd, capture=name == "node scanCacheDir")
            if rc != 0:
                raise RuntimeError("%s: %s" % (name, rc))
            if name == "node scanCacheDir":
                scan_ms.append(json.loads(out)["scan_ms"] / 1000.0)
            if rnd == 0:
                print("  warm-up %-18s %7.3f s" % (name, secs), flush=True)
                continue
            results.setdefault(name, []).append((secs, cpu))
            print("  run %d %-18s %7.3f s  cpu %6.3f s%s" % (
                rnd, name, secs, cpu, "  (scanCacheDir call %.3f s)" % scan_ms[-1] if scan_ms and
                name == "node scanCacheDir" else ""), flush=True)
    best = {n: min(rs) for n, rs in results.items()}
    m = best["modl cache ls"][0]
    raw = best["node scanCacheDir"][0]
    start = best["node -e 0"][0]
    in_proc = min(scan_ms[1:])
    print("  (%s after the runs)" % load())
    print()
    print("| ls: %d repos, %d files | wall s | CPU s | node/modl |" % (want["repos"], want["files"]))
    print("|---|---:|---:|---:|")
    print("| modl cache ls | %.3f | %.3f | |" % (m, best["modl cache ls"][1]))
    print("| node cache.mjs scan-count (whole process) | %.3f | %.3f | %.1f (raw) |"
          % (raw, best["node scanCacheDir"][1], raw / m))
    print("| node -e 0 (start-up) | %.3f | %.3f | |" % (start, best["node -e 0"][1]))
    print("| scanCacheDir, process minus start-up | %.3f | | %.1f (corrected) |" % (raw - start, (raw - start) / m))
    print("| scanCacheDir call alone (in-process clock) | %.3f | | %.1f |" % (in_proc, in_proc / m))
    print("(best of %d; modl's own start-up is not taken off; the corrected figure still includes loading"
          " @huggingface/hub)" % runs)
    print()
    x = (raw - start) / m
    return [(goal_text, "PASS" if x >= GOAL_LS_X else "MISS",
             "%.1fx corrected, %.1fx raw: %.3f s vs %.3f s - %.3f s" % (x, raw / m, m, raw, start))]


def main():
    runs = env_int("BENCH_CACHE_RUNS", 3)
    modl_bin = benchlib.modl_bin(PROG)
    work = benchlib.work_dir("cache")
    goals = []
    try:
        print("bench/cache: temp dir %s, best of %d runs after one warm-up run each, %s"
              % (work, runs, load()), flush=True)
        goals += run_verify(work, modl_bin, runs)
        shutil.rmtree(os.path.join(work, "verify-cache"), ignore_errors=True)
        goals += run_ls(work, modl_bin, runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    benchlib.print_goals(PROG, goals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
