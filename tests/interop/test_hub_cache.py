"""Interop with the npm package @huggingface/hub (pinned in tests/interop/hfhub/package.json):
the Hugging Face cache that `modl pull` writes must be read by its scanCacheDir, and a cache
written by its snapshotDownload must be recognised by `modl pull` (nothing downloaded again)
and pass `modl verify`.

Runs under tests/e2e/run.py (which puts tests/e2e on sys.path), e.g.
    MODL_BIN=build/asan/modl /usr/bin/python3 tests/e2e/run.py -k hub_cache
The npm packages are installed on first use (`npm ci`); a failed install is a test failure.
"""
import json
import os
import shutil
import subprocess

from modltest import ModlTestCase, ROOT, make_repo, git_blob_sha1, sha256

HFHUB = os.path.join(ROOT, "tests", "interop", "hfhub")
SCRIPT = os.path.join(HFHUB, "cache.mjs")
PEER_PKG = os.path.join(HFHUB, "node_modules", "@huggingface", "hub", "package.json")

REPO = "acme/interop"
FOLDER = "models--acme--interop"

# A small file at the top, one in a sub-folder (the scanner does not descend there), an LFS
# file of a few chunks (MODL_CHUNK_BYTES below) and a small LFS-tracked one.
FILES = {
    "config.json": b'{"model_type": "llama", "hidden_size": 64}\n',
    "README.md": b"# interop\n\nA repo for the @huggingface/hub interop test.\n",
    "original/params.json": b'{"dim": 64, "n_layers": 2}\n',
    "model.safetensors": bytes((i * 7919 + (i >> 9)) & 0xFF for i in range(3 * 1024 * 1024 + 12345)),
    "tokenizer.bin": b"\x00\x01tokenizer-bytes\xff" * 64,
}
LFS = {"model.safetensors", "tokenizer.bin"}  # *.safetensors and *.bin are LFS in make_repo
CHUNK = str(1024 * 1024)

_npm_state = {"done": False, "error": None}


def _peer_installed():
    try:
        with open(PEER_PKG) as f:
            have = json.load(f).get("version")
        with open(os.path.join(HFHUB, "package.json")) as f:
            want = json.load(f)["dependencies"]["@huggingface/hub"]
        return have == want
    except (OSError, ValueError, KeyError):
        return False


def ensure_npm():
    """Install tests/interop/hfhub/node_modules once; returns an error text or None."""
    if _npm_state["done"]:
        return _npm_state["error"]
    _npm_state["done"] = True
    err = None
    if shutil.which("node") is None or shutil.which("npm") is None:
        err = "node and npm are needed (Debian package nodejs)"
    elif not _peer_installed():
        lock = os.path.exists(os.path.join(HFHUB, "package-lock.json"))
        cmd = ["npm", "ci" if lock else "install", "--no-audit", "--no-fund"]
        try:
            p = subprocess.run(cmd, cwd=HFHUB, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=600)
            if p.returncode != 0:
                err = "%s failed (rc=%d):\n%s" % (" ".join(cmd), p.returncode,
                                                  p.stdout.decode("utf-8", "replace")[-3000:])
            elif not _peer_installed():
                err = "%s succeeded but %s is missing or not the pinned version" % (" ".join(cmd), PEER_PKG)
        except (OSError, subprocess.TimeoutExpired) as e:
            err = "%s: %s" % (" ".join(cmd), e)
    _npm_state["error"] = err
    return err


class NodeDriver:
    """node(*args): runs tests/interop/hfhub/cache.mjs with args in HFHUB, without HF_* and
    HUGGING* and with HOME the test's temp dir; asserts it exits 0 and returns its JSON
    output. Its setUp installs the npm packages first (ensure_npm); a failed install fails
    the test. A mixin for ModlTestCase classes (needs self.tmp), listed before ModlTestCase:
    here and in test_cache_interop.py."""

    def setUp(self):
        super().setUp()
        err = ensure_npm()
        if err:
            self.fail("installing @huggingface/hub: " + err)

    def node(self, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
        env["HOME"] = self.tmp  # nothing of the user's ~/.cache/huggingface
        p = subprocess.run(["node", SCRIPT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, cwd=HFHUB, timeout=120)
        out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, "node cache.mjs %s\nstdout:\n%s\nstderr:\n%s"
                         % (" ".join(args), out[-3000:], err[-3000:]))
        return json.loads(out)


def etag(path, data):
    return sha256(data) if path in LFS else git_blob_sha1(data)


class HubCacheInterop(NodeDriver, ModlTestCase):

    def setUp(self):
        super().setUp()  # NodeDriver: @huggingface/hub is installed
        make_repo(self.hub_root, "models", REPO, FILES)
        self.start_hub()
        self.all_files = dict(FILES)
        with open(os.path.join(self.hub_root, "models", "acme", "interop", ".gitattributes"), "rb") as f:
            self.all_files[".gitattributes"] = f.read()

    # ---- helpers ----
    def scan(self, cache):
        res = self.node("scan", cache)
        self.assertEqual(res["warnings"], [], res)
        return res

    def pull(self, *args, **env):
        r = self.run_modl("pull", REPO, "--json", *args, MODL_CHUNK_BYTES=CHUNK, **env)
        self.assertExit(r, 0)
        return r.json()

    def commit(self):
        st, _, body = self.hub.request("GET", "/api/models/" + REPO)
        self.assertEqual(st, 200, body)
        return json.loads(body)["sha"]

    def layout(self, cache):
        """{relative path: symlink target or "file"} for snapshots/, refs/ contents, blob names."""
        repo = os.path.join(cache, FOLDER)
        snap, refs = {}, {}
        for d, _, files in os.walk(os.path.join(repo, "snapshots")):
            for n in files:
                p = os.path.join(d, n)
                rel = os.path.relpath(p, repo)
                snap[rel] = os.readlink(p) if os.path.islink(p) else "regular file"
        for d, _, files in os.walk(os.path.join(repo, "refs")):
            for n in files:
                with open(os.path.join(d, n), "rb") as f:
                    refs[os.path.relpath(os.path.join(d, n), repo)] = f.read()
        blobs = sorted(n for n in os.listdir(os.path.join(repo, "blobs")))
        return {"snapshots": snap, "refs": refs, "blobs": blobs}

    def check_scan(self, res, cache, commit):
        """The scanner's view of a cache holding exactly this repo at this commit."""
        self.assertEqual(len(res["repos"]), 1, res)
        repo = res["repos"][0]
        self.assertEqual(repo["id"], REPO)
        self.assertEqual(repo["type"], "model")
        self.assertEqual(os.path.realpath(repo["path"]), os.path.realpath(os.path.join(cache, FOLDER)))
        self.assertEqual(len(repo["revisions"]), 1, repo)
        rev = repo["revisions"][0]
        self.assertEqual(rev["commit"], commit)
        self.assertEqual(rev["refs"], ["main"])
        # Known quirk of @huggingface/hub (tests/interop peers, doc/peers.md): scanCacheDir does
        # not descend into sub-directories of a snapshot, so it sees only the top-level files.
        top = {p: d for p, d in self.all_files.items() if "/" not in p}
        nested = sorted(p for p in self.all_files if "/" in p)
        self.assertTrue(nested)
        got = {f["name"]: f["size"] for f in rev["files"]}
        self.assertEqual(got, {p: len(d) for p, d in top.items()})
        for p in nested:
            self.assertNotIn(os.path.basename(p), got, "the scanner now descends into sub-folders")
            self.assertNotIn(p, got)
        blobs_dir = os.path.realpath(os.path.join(cache, FOLDER, "blobs"))
        for f in rev["files"]:
            self.assertEqual(os.path.realpath(f["blob"]),
                             os.path.join(blobs_dir, etag(f["name"], top[f["name"]])), f)
        self.assertEqual(rev["size"], sum(len(d) for d in top.values()))
        self.assertEqual(repo["filesCount"], len(top))
        self.assertEqual(repo["size"], sum(len(d) for d in top.values()))
        # What the scanner skips is still there, as a relative link to the right blob.
        snap = os.path.join(cache, FOLDER, "snapshots", commit)
        for p in nested:
            link = os.path.join(snap, *p.split("/"))
            self.assertTrue(os.path.islink(link), link)
            self.assertFalse(os.path.isabs(os.readlink(link)), link)
            self.assertEqual(os.path.realpath(link), os.path.join(blobs_dir, etag(p, FILES[p])))
            self.assertEqual(os.path.getsize(link), len(FILES[p]))

    # ---- (a) modl writes, @huggingface/hub reads ----
    def test_js_scanner_reads_modl_cache(self):
        commit = self.commit()
        summary = self.pull()
        self.assertEqual(summary["commit"], commit)
        self.assertEqual(summary["downloaded"], len(self.all_files), summary)
        cache = os.path.join(self.hf_home, "hub")
        self.check_scan(self.scan(cache), cache, commit)

    # ---- (b) @huggingface/hub writes, modl reads ----
    def test_modl_reuses_js_snapshot(self):
        commit = self.commit()
        cache = os.path.join(self.tmp, "js-cache")
        out = self.node("download", self.hub.endpoint, REPO, cache)
        snap = os.path.join(cache, FOLDER, "snapshots", commit)
        self.assertEqual(os.path.realpath(out["snapshot"]), os.path.realpath(snap))
        js_layout = self.layout(cache)
        self.check_scan(self.scan(cache), cache, commit)

        self.hub.reset()
        summary = self.pull(HF_HUB_CACHE=cache)
        log = self.hub.log()
        fetched = [e for e in log if e["server"] == "cdn" or "/resolve" in e["path"]]
        self.assertEqual(fetched, [], "modl fetched files the JS snapshot already holds")
        self.assertEqual(summary["downloaded"], 0, summary)
        self.assertEqual(summary["cached"], len(self.all_files), summary)
        self.assertEqual(summary["bytes_downloaded"], 0, summary)
        self.assertEqual(os.path.realpath(summary["path"]), os.path.realpath(snap))
        # modl may add its own files (trees/, .locks/, CACHEDIR.TAG) but changes nothing the
        # JS tool wrote.
        self.assertEqual(self.layout(cache), js_layout)

        r = self.run_modl("verify", REPO, HF_HUB_CACHE=cache)
        self.assertExit(r, 0)
        r = self.run_modl("verify", REPO, "--json", HF_HUB_CACHE=cache)
        self.assertExit(r, 0)
        # The scanner still reads the cache after modl touched it.
        self.check_scan(self.scan(cache), cache, commit)

    # ---- both write the same layout ----
    def test_same_layout_as_js(self):
        js_cache = os.path.join(self.tmp, "js-cache")
        self.node("download", self.hub.endpoint, REPO, js_cache)
        self.pull()
        modl_layout = self.layout(os.path.join(self.hf_home, "hub"))
        js_layout = self.layout(js_cache)
        for key in ("refs", "blobs", "snapshots"):
            self.assertEqual(modl_layout[key], js_layout[key], "%s differ: modl vs @huggingface/hub" % key)
