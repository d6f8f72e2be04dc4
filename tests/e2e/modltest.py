"""Shared helpers for the end-to-end tests: run the modl binary in a clean environment
against the local test hub."""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from hubfixture import Hub, make_repo, write_users, write_redirects, git_blob_sha1, sha256  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODL = os.path.abspath(os.path.join(ROOT, os.environ.get("MODL_BIN", "modl")))
DATA = os.path.join(ROOT, "tests", "data")

# Variables that would make a test depend on the machine it runs on.
_SCRUB = ("HF_", "HUGGING", "TRANSFORMERS_OFFLINE", "XDG_CACHE_HOME", "NO_COLOR", "MODL_",
          "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


def tiny_model_files():
    """The bundled stories260K repo as {path: bytes}."""
    d = os.path.join(DATA, "stories260K")
    files = {}
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            files[name] = f.read()
    return files


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout.decode("utf-8", "replace")
        self.err = proc.stderr.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return "rc=%d\nstdout:\n%s\nstderr:\n%s" % (self.rc, self.out[-3000:], self.err[-3000:])


class ModlTestCase(unittest.TestCase):
    """A temp directory with a hub root and an HF_HOME, and a run() for the binary."""

    page_size = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="modl-e2e-")
        self.hub_root = os.path.join(self.tmp, "hub")
        self.hf_home = os.path.join(self.tmp, "hf")
        os.makedirs(self.hub_root)
        self.hub = None

    def tearDown(self):
        if self.hub:
            self.hub.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start_hub(self, **kw):
        if self.page_size is not None:
            kw.setdefault("page_size", self.page_size)
        self.hub = Hub(self.hub_root, **kw).start()
        return self.hub

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
        env["HF_HOME"] = self.hf_home
        env["MODL_RETRY_BASE_MS"] = "20"
        env["ASAN_OPTIONS"] = "detect_leaks=1"
        if self.hub:
            env["HF_ENDPOINT"] = self.hub.endpoint
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def run_modl(self, *args, stdin=None, timeout=120, **env):
        proc = subprocess.run([MODL, *args], input=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=self.env(**env), timeout=timeout,
                              cwd=self.tmp)
        r = Result(proc)
        # Sanitizer reports are failures whatever the exit code.
        self.assertNotIn("ERROR: AddressSanitizer", r.err, r)
        self.assertNotIn("runtime error:", r.err, r)
        self.assertNotIn("ERROR: LeakSanitizer", r.err, r)
        self.assertNotIn("WARNING: ThreadSanitizer", r.err, r)
        return r

    def assertExit(self, result, code):
        self.assertEqual(result.rc, code, result)

    def assertOneLineError(self, result, *fragments):
        """doc/cli.md: errors go to stderr as one line `modl: <what>: <why>`."""
        lines = [l for l in result.err.splitlines() if l.startswith("modl: ")]
        self.assertTrue(lines, result)
        for frag in fragments:
            self.assertIn(frag, lines[-1], result)
