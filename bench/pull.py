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
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from hubfixture import Hub, make_repo  # noqa: E402

REPO = "bench/pull"
FILE = "model.safetensors"
MiB = 1 << 20
JOBS = CONNECTIONS = 8

# Goals (bench/README.md)
GOAL_CURL_SPEEDUP = 6.0     # throttled: modl at least 6x faster than one curl connection
GOAL_ARIA2_SLACK = 1.10     # modl within 10% of aria2c -x8 -s8
GOAL_RSS_MIB = 64           # peak RSS of modl pull

# Variables that would make the run depend on the user's setup (as tests/e2e/modltest.py).
_SCRUB = ("HF_", "HUGGING", "TRANSFORMERS_OFFLINE", "XDG_CACHE_HOME", "MODL_",
          "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy",
          "NO_PROXY", "no_proxy", "CURL_HOME")


def env_int(name, default):
    v = os.environ.get(name, "")
    try:
        return int(v) if v else default
    except ValueError:
        sys.exit("bench/pull: %s=%r is not an integer" % (name, v))


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
    env.update(extra)
    return env


def make_big_file(path, size):
    """size random bytes at path; returns their sha256. Synced so that no dirty page of it
    is written back while a tool is being timed."""
    h = hashlib.sha256()
    block = 16 * MiB
    with open(path, "wb") as f:
        left = size
        while left:
            b = os.urandom(min(block, left))
            h.update(b)
            f.write(b)
            left -= len(b)
        f.flush()
        os.fsync(f.fileno())
    return h.hexdigest()


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MiB)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


# Runs one command and reports its wall time and wait4's ru_maxrss. It runs in a fresh, small
# interpreter: Linux carries the high-water RSS of the process that forks into the child's
# ru_maxrss (vfork/exec keeps the parent's mark), so measuring from this bigger process would
# report its size, not the tool's. What is left is this helper's own size (a floor below
# which no figure can read), printed with the report.
_HELPER = r"""
import os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
secs = time.monotonic() - t0
with open(out, "w") as f:
    f.write("%d %.6f %d %.6f\n" % (status, secs, ru.ru_maxrss, ru.ru_utime + ru.ru_stime))
"""


def timed(argv, env, cwd, log_path, timeout):
    """Runs argv; returns (rc, wall seconds, peak RSS in KiB, CPU seconds user + system), the
    last two of that one child from wait4. stdout and stderr go to log_path."""
    os.sync()  # earlier runs' dirty pages are not this run's cost
    res_path = log_path + ".rusage"
    with open(log_path, "wb") as log:
        p = subprocess.Popen([sys.executable, "-I", "-S", "-c", _HELPER, res_path, *argv],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             env=env, cwd=cwd, start_new_session=True)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            p.wait()
            return "timeout after %d s" % timeout, float(timeout), 0, 0.0
    try:
        with open(res_path) as f:
            status, secs, rss, cpu = f.read().split()
        os.unlink(res_path)
    except (OSError, ValueError):
        return "helper exit %s" % p.returncode, 0.0, 0, 0.0
    status = int(status)
    if os.WIFSIGNALED(status):
        rc = "signal %d" % os.WTERMSIG(status)
    else:
        rc = os.WEXITSTATUS(status)
        if rc == 127:
            rc = "127 (cannot run %s)" % argv[0]
    return rc, float(secs), int(rss), float(cpu)


def rss_floor(work):
    """ru_maxrss the helper reports for `true`: no figure can read below it."""
    rc, _, rss, _ = timed(["true"], clean_env(), work, os.path.join(work, "floor.log"), 60)
    return rss if rc == 0 else 0


def tail(path, n=15):
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
    except OSError:
        return ""


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
        res["note"] = "exit %s: %s" % (rc, tail(log).replace("\n", " | ")[-300:])
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
    modl_bin = os.path.abspath(os.path.join(ROOT, os.environ.get("MODL_BIN", "modl")))
    if not os.access(modl_bin, os.X_OK):
        sys.exit("bench/pull: %s is not built (make modl)" % modl_bin)
    tools = [Tool("modl"),
             Tool("curl", shutil.which("curl") is not None, "curl not installed"),
             Tool("aria2c", shutil.which("aria2c") is not None,
                  "aria2c not installed (Debian package aria2)")]
    # A generous limit: curl alone on the throttled hub needs size/throttle seconds.
    timeout = 120 + 4 * size / max(1, min(throttle, 50 * MiB))

    base = os.environ.get("BENCH_TMPDIR") or None
    work = tempfile.mkdtemp(prefix="modl-bench-pull-", dir=base)
    hubs = [("throttled", throttle), ("unthrottled", 0)]
    results = {}  # (hub, tool) -> [result of each run]
    floor = 0
    try:
        print("bench/pull: %s of random bytes (one LFS file), %d run(s) per tool, temp dir %s"
              % (human(size), runs, work), flush=True)
        floor = rss_floor(work)
        hub_root = os.path.join(work, "hub")
        repo_dir = make_repo(hub_root, "models", REPO, {"config.json": b'{"model_type": "bench"}\n'})
        t0 = time.monotonic()
        sha = make_big_file(os.path.join(repo_dir, FILE), size)
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
    best = {}
    for key, rs in results.items():
        valid = [r for r in rs if r["valid"]]
        b = dict(min(valid, key=lambda r: r["seconds"]) if valid else rs[-1])
        b["rss_kib"] = max(r["rss_kib"] for r in rs)
        best[key] = b
    report(best, tools, hubs, size, throttle, floor)
    return 0


def cdn_url(hub):
    """The CDN URL of the file: the Location of the resolve answer (not followed). The
    first request also makes the hub hash the file, outside any timing."""
    st, headers, body = hub.request("HEAD", "/%s/resolve/main/%s" % (REPO, FILE), timeout=600)
    if st not in (301, 302, 303, 307, 308) or "location" not in headers:
        raise RuntimeError("HEAD resolve: HTTP %d, no redirect to the CDN (%r)" % (st, headers))
    return headers["location"]


def human(n, digits=1):
    for unit, div in (("GiB", 1 << 30), ("MiB", MiB), ("KiB", 1024)):
        if n >= div:
            return "%.*f %s" % (digits, n / div, unit) if n % div else "%d %s" % (n // div, unit)
    return "%d B" % n


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
    print("goals:")
    for text, verdict, detail in goals:
        print("  %-4s %s (%s)" % (verdict, text, detail))
    misses = sum(1 for g in goals if g[1] != "PASS")
    print("bench/pull: %d of %d goals met" % (len(goals) - misses, len(goals)))


if __name__ == "__main__":
    sys.exit(main())
