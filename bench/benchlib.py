#!/usr/bin/python3
"""Shared by the benchmarks bench/<name>.py (imported as `benchlib`; bench/run starts each
script as bench/<name>.py, so bench/ is on sys.path): the environment knobs, the scrubbed
environment a tool runs in, the binary under test, the temp dir, timing one child with its
wait4 rusage (wall, CPU, peak RSS, blocks written), random files, the best of runs, and the
goals' summary.

Not a benchmark: run as a script it does nothing (bench/run lists every bench/*.py)."""
import hashlib
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MiB = 1 << 20

# Variables that would make a run depend on the user's setup (as tests/e2e/modltest.py).
SCRUB_NET = ("HF_", "HUGGING", "TRANSFORMERS_OFFLINE", "XDG_CACHE_HOME", "MODL_",
             "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy",
             "NO_PROXY", "no_proxy", "CURL_HOME")
# ... and for the compute benchmarks, what steers the thread pools of modl and ggml.
SCRUB_COMPUTE = ("HF_", "HUGGING", "MODL_", "OMP_", "GGML_", "LLAMA_")


def env_int(prog, name, default, minimum=None):
    """The integer in environment variable name (default when unset or empty); exits with
    a message naming prog when it is not an integer or is below minimum."""
    v = os.environ.get(name, "")
    try:
        n = int(v) if v else default
    except ValueError:
        sys.exit("%s: %s=%r is not an integer" % (prog, name, v))
    if minimum is not None and n < minimum:
        sys.exit("%s: %s must be at least %d" % (prog, name, minimum))
    return n


def clean_env(scrub, **extra):
    """os.environ without the variables whose names start with one of scrub, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(scrub)}
    env.update(extra)
    return env


def modl_bin(prog):
    """The absolute path of $MODL_BIN (default ./modl, relative to the work tree); exits
    when it is not an executable."""
    path = os.path.abspath(os.path.join(ROOT, os.environ.get("MODL_BIN", "modl")))
    if not os.access(path, os.X_OK):
        sys.exit("%s: %s is not built (make modl)" % (prog, path))
    return path


def work_dir(name):
    """A fresh temp dir modl-bench-<name>-* under $BENCH_TMPDIR ($TMPDIR or /tmp)."""
    return tempfile.mkdtemp(prefix="modl-bench-%s-" % name, dir=os.environ.get("BENCH_TMPDIR") or None)


def human(n, digits=1):
    for unit, div in (("GiB", 1 << 30), ("MiB", MiB), ("KiB", 1024)):
        if n >= div:
            return "%.*f %s" % (digits, n / div, unit) if n % div else "%d %s" % (n // div, unit)
    return "%d B" % n


def tail(path, n=5):
    """The last n lines of a log, joined with " | "."""
    try:
        with open(path, "rb") as f:
            return " | ".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
    except OSError:
        return ""


def write_random(path, size, fsync=False):
    """size random bytes at path; returns their sha256. fsync: synced before it returns, so
    that no dirty page of it is written back while a tool is being timed."""
    h = hashlib.sha256()
    block = 16 * MiB
    with open(path, "wb") as f:
        left = size
        while left:
            b = os.urandom(min(block, left))
            h.update(b)
            f.write(b)
            left -= len(b)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    return h.hexdigest()


def read_through(path):
    """Reads a file once (warms the page cache)."""
    with open(path, "rb") as f:
        while f.read(64 * MiB):
            pass


# Runs one command and reports its wall time, CPU time and wait4's ru_maxrss and ru_oublock.
# It runs in a fresh, small interpreter: Linux carries the high-water RSS of the process that
# forks into the child's ru_maxrss (vfork/exec keeps the parent's mark), so measuring from a
# bigger benchmark process would report its size, not the tool's. What is left is this
# helper's own size (a floor below which no figure can read: rss_floor).
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
    f.write("%d %.6f %d %.6f %d\n" % (status, secs, ru.ru_maxrss, ru.ru_utime + ru.ru_stime, ru.ru_oublock))
"""


def timed_rusage(argv, env, cwd, log_path, timeout):
    """Runs argv after os.sync() (earlier runs' dirty pages are not this run's cost), stdout
    and stderr to log_path; returns (rc, wall seconds, peak RSS in KiB, CPU seconds user +
    system, bytes the file systems wrote for it), the last three of that one child from
    wait4. rc is the exit status, or a text: "signal N", "timeout after N s", "helper exit N"."""
    os.sync()
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
            return "timeout after %d s" % timeout, float(timeout), 0, 0.0, 0
    try:
        with open(res_path) as f:
            status, secs, rss, cpu, blocks = f.read().split()
        os.unlink(res_path)
    except (OSError, ValueError):
        return "helper exit %s" % p.returncode, 0.0, 0, 0.0, 0
    status = int(status)
    rc = ("signal %d" % os.WTERMSIG(status)) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    return rc, float(secs), int(rss), float(cpu), int(blocks) * 512


def rss_floor(env, cwd):
    """ru_maxrss (KiB) timed_rusage reports for `true`: no figure can read below it."""
    rc, _, rss, _, _ = timed_rusage(["true"], env, cwd, os.path.join(cwd, "floor.log"), 60)
    return rss if rc == 0 else 0


def best_run(runs):
    """Of a list of run dicts ("valid", "seconds", "rss_kib"): a copy of the fastest valid
    run (or of the last one when none is valid) with the highest rss_kib of them all."""
    if not runs:
        return None
    valid = [r for r in runs if r["valid"]]
    b = dict(min(valid, key=lambda r: r["seconds"]) if valid else runs[-1])
    b["rss_kib"] = max(r["rss_kib"] for r in runs)
    return b


def print_goals(prog, goals):
    """goals: [(text, "PASS" or "MISS", detail)], then how many were met."""
    print("goals:")
    for text, verdict, detail in goals:
        print("  %-4s %s (%s)" % (verdict, text, detail))
    misses = sum(1 for g in goals if g[1] != "PASS")
    print("%s: %d of %d goals met" % (prog, len(goals) - misses, len(goals)))


if __name__ == "__main__":
    sys.exit(0)
