#!/usr/bin/python3
"""bench/pull: wall time of `modl pull` of one large LFS file against curl and aria2c, all on
the same CDN URL of the local test hub, once with the hub throttled to 100 MB/s per
connection (as CDNs do) and once unthrottled; and modl's peak RSS.

    /usr/bin/python3 bench/pull.py            (or: make bench BENCH=pull, bash bench/run pull)

Environment:
    BENCH_PULL_BYTES     size of the file (default 2 GiB)
    BENCH_PULL_RUNS      rounds (each tool once per round, interleaved); the best run of each
                         tool counts, the peak RSS is the highest of all (default 3)
    BENCH_PULL_THROTTLE  bytes/s per connection of the throttled hub (default 100000000)
    MODL_BIN             the binary to time (default ./modl, the release build)
    BENCH_TMPDIR         where the temp dir goes (default: $TMPDIR or /tmp)

A benchmark reports, it does not judge the build: the exit status is 0 unless the benchmark
itself could not run (the hub did not start, the binary is missing, ...).
"""
import hashlib
import json
import os
import shutil
import sys
import time

import benchlib
from benchlib import MiB, ROOT, human, tail

sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from hubfixture import Hub, make_repo  # noqa: E402

PROG = "bench/pull"
REPO = "bench/pull"
FILE = "model.safetensors"
JOBS = CONNECTIONS = 8

# Goals (bench/README.md)
GOAL_CURL_SPEEDUP = 6.0     # throttled: modl at least 6x faster than one curl connection
GOAL_ARIA2_SLACK = 1.10     # modl within 10% of aria2c -x8 -s8
GOAL_RSS_MIB = 64           # peak RSS of modl pull


def env_int(name, default):
    return benchlib.env_int(PROG, name, default)


def clean_env(**extra):
    return benchlib.clean_env(benchlib.SCRUB_NET, **extra)


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MiB)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def timed(argv, env, cwd, log_path, timeout):
    """Runs argv (benchlib.timed_rusage); returns (rc, wall seconds, peak RSS in KiB, CPU
    seconds user + system), the last two of that one child from wait4. stdout and stderr go
    to log_path."""
    rc, secs, rss, cpu, _ = benchlib.timed_rusage(argv, env, cwd, log_path, timeout)
    if rc == 127:
        rc = "127 (cannot run %s)" % argv[0]
    return rc, secs, rss, cpu


class Tool:
    def __init__(self, name, available=True, why=""):
        self.name = name
        self.available = available
        self.why = why


def run_tool(tool, hub, url, work, size, sha, modl_bin, timeout):
    """One run of one tool; returns a dict with seconds, cpu, rss_kib, valid, note. A run is
    valid when the tool exited 0 and the file it wrote has the right size and sha256."""
    out_dir = os.path.join(work, tool.name)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    log = os.path.join(work, tool.name + ".log")
    env = clean_env()
    if tool.name == "modl":
        hf_home = os.path.join(out_dir, "hf")
        env.update(HF_HOME=hf_home, HF_ENDPOINT=hub.endpoint)
        argv = [modl_bin, "pull", REPO, "--jobs", str(JOBS), "--connections", str(CONNECTIONS), "--json"]
        written = os.path.join(hf_home, "hub", "models--" + REPO.replace("/", "--"), "blobs", sha)
    elif tool.name == "curl":
        written = os.path.join(out_dir, FILE)
        argv = ["curl", "-s", "-o", written, url]
    else:
        written = os.path.join(out_dir, FILE)
        argv = ["aria2c", "-x8", "-s8", "-k1M", "-q", "--allow-overwrite=true",
                "--auto-file-renaming=false", "-d", out_dir, "-o", FILE, url]
    rc, secs, rss, cpu = timed(argv, env, out_dir, log, timeout)
    res = {"seconds": secs, "rss_kib": rss, "cpu": cpu, "valid": False, "note": ""}
    if rc != 0:
        res["note"] = "exit %s: %s" % (rc, tail(log, 15)[-300:])
    elif not os.path.isfile(written):
        res["note"] = "wrote no %s" % written
    elif os.path.getsize(written) != size:
        res["note"] = "wrote %d bytes, not %d" % (os.path.getsize(written), size)
    elif file_sha256(written) != sha:
        res["note"] = "sha256 of the file differs"
    else:
        res["valid"] = True
        if tool.name == "modl":
            res["note"] = modl_note(log, sha)
            if res["note"].startswith("INVALID"):
                res["valid"] = False
    shutil.rmtree(out_dir, ignore_errors=True)
    return res


def modl_note(log, sha):
    """Checks modl's summary and snapshot beyond the blob itself."""
    try:
        with open(log, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        summary = json.loads(text[text.index("{"):text.rindex("}") + 1])
    except (OSError, ValueError) as e:
        return "INVALID: no JSON summary (%s)" % e
    link = os.path.join(summary.get("path", ""), FILE)
    if not os.path.isfile(link) or os.path.basename(os.path.realpath(link)) != sha:
        return "INVALID: %s does not lead to the blob" % link
    if summary.get("failed"):
        return "INVALID: summary says failed=%s" % summary.get("failed")
    return "modl says %.2f s" % summary["seconds"] if "seconds" in summary else ""


def main():
    size = env_int("BENCH_PULL_BYTES", 2 << 30)
    runs = max(1, env_int("BENCH_PULL_RUNS", 3))
    throttle = env_int("BENCH_PULL_THROTTLE", 100_000_000)
    modl_bin = benchlib.modl_bin(PROG)
    tools = [Tool("modl"),
             Tool("curl", shutil.which("curl") is not None, "curl not installed"),
             Tool("aria2c", shutil.which("aria2c") is not None,
                  "aria2c not installed (Debian package aria2)")]
    # A generous limit: curl alone on the throttled hub needs size/throttle seconds.
    timeout = 120 + 4 * size / max(1, min(throttle, 50 * MiB))

    work = benchlib.work_dir("pull")
    hubs = [("throttled", throttle), ("unthrottled", 0)]
    results = {}  # (hub, tool) -> [result of each run]
    floor = 0
    try:
        print("bench/pull: %s of random bytes (one LFS file), %d run(s) per tool, temp dir %s"
              % (human(size), runs, work), flush=True)
        floor = benchlib.rss_floor(clean_env(), work)
        hub_root = os.path.join(work, "hub")
        repo_dir = make_repo(hub_root, "models", REPO, {"config.json": b'{"model_type": "bench"}\n'})
        t0 = time.monotonic()
        sha = benchlib.write_random(os.path.join(repo_dir, FILE), size, fsync=True)
        print("  wrote %s in %.1f s, sha256 %s" % (FILE, time.monotonic() - t0, sha), flush=True)
        for hub_name, bps in hubs:
            with Hub(hub_root, throttle=bps) as hub:
                url = cdn_url(hub)
                rate = " (%g MB/s per connection)" % (bps / 1e6) if bps else ""
                print("  %s hub%s: %s" % (hub_name, rate, url.split("?")[0]), flush=True)
                for r in range(runs):
                    for tool in tools:
                        if not tool.available:
                            continue
                        res = run_tool(tool, hub, url, work, size, sha, modl_bin, timeout)
                        print("    run %d %-7s %7.2f s  cpu %5.2f s  %s%s"
                              % (r + 1, tool.name, res["seconds"], res["cpu"],
                                 "" if res["valid"] else "INVALID ", res["note"]), flush=True)
                        results.setdefault((hub_name, tool.name), []).append(res)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    best = {key: benchlib.best_run(rs) for key, rs in results.items()}
    report(best, tools, hubs, size, throttle, floor)
    return 0


def cdn_url(hub):
    """The CDN URL of the file: the Location of the resolve answer (not followed). The
    first request also makes the hub hash the file, outside any timing."""
    st, headers, body = hub.request("HEAD", "/%s/resolve/main/%s" % (REPO, FILE), timeout=600)
    if st not in (301, 302, 303, 307, 308) or "location" not in headers:
        raise RuntimeError("HEAD resolve: HTTP %d, no redirect to the CDN (%r)" % (st, headers))
    return headers["location"]


def report(results, tools, hubs, size, throttle, floor):
    def get(hub, tool):
        r = results.get((hub, tool))
        return r if r and r["valid"] else None

    print()
    print("| hub | tool | wall s | MB/s | CPU s | peak RSS MiB | modl/tool |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for hub_name, _ in hubs:
        m = get(hub_name, "modl")
        for tool in tools:
            r = results.get((hub_name, tool.name))
            if not tool.available:
                print("| %s | %s | n/a | | | | %s |" % (hub_name, tool.name, tool.why))
                continue
            if r is None:
                continue
            ratio = ""
            if tool.name != "modl" and m and r["valid"] and r["seconds"] > 0:
                ratio = "%.3f" % (m["seconds"] / r["seconds"])
            print("| %s | %s | %s | %s | %.2f | %.1f | %s |" % (
                hub_name, tool.name,
                "%.2f" % r["seconds"] + ("" if r["valid"] else " INVALID"),
                "%.0f" % (size / r["seconds"] / 1e6) if r["seconds"] > 0 else "", r["cpu"],
                r["rss_kib"] / 1024.0, ratio))
    print("(peak RSS: wait4's ru_maxrss of the tool's process; it cannot read below %.1f MiB, the size"
          " of the small process that starts the tool)" % (floor / 1024.0))
    print()

    goals = []

    def ratio_goal(text, hub_name, peer, limit, speedup):
        m, p = get(hub_name, "modl"), get(hub_name, peer)
        if not m or not p:
            goals.append((text, "MISS", "no valid %s run" % ("modl" if not m else peer)))
            return
        if speedup:
            x = p["seconds"] / m["seconds"]
            goals.append((text, "PASS" if x >= limit else "MISS", "modl is %.2fx faster" % x))
        else:
            x = m["seconds"] / p["seconds"]
            goals.append((text, "PASS" if x <= limit else "MISS", "modl/aria2c = %.3f" % x))

    ratio_goal("throttled (%g MB/s per connection): modl >= %gx faster than curl"
               % (throttle / 1e6, GOAL_CURL_SPEEDUP), "throttled", "curl", GOAL_CURL_SPEEDUP, True)
    ratio_goal("throttled: modl within 10% of aria2c -x8 -s8", "throttled", "aria2c", GOAL_ARIA2_SLACK, False)
    ratio_goal("unthrottled: modl within 10% of aria2c -x8 -s8", "unthrottled", "aria2c",
               GOAL_ARIA2_SLACK, False)
    rss = [r["rss_kib"] for (h, t), r in results.items() if t == "modl"]
    if rss:
        peak = max(rss) / 1024.0
        goals.append(("modl peak RSS < %d MiB" % GOAL_RSS_MIB, "PASS" if peak < GOAL_RSS_MIB else "MISS",
                      "%.1f MiB" % peak))
    else:
        goals.append(("modl peak RSS < %d MiB" % GOAL_RSS_MIB, "MISS", "no modl run"))
    benchlib.print_goals(PROG, goals)


if __name__ == "__main__":
    sys.exit(main())
