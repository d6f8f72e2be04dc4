"""Interop of `modl cache ls|rm|prune|export|import` with the npm package @huggingface/hub
(pinned in tests/interop/hfhub/package.json) on caches that its snapshotDownload wrote:

- `modl cache ls --json` and its scanCacheDir agree on repos, revisions, refs, files and
  sizes (each counted the way that tool defines it, see Expect below);
- after `modl cache rm` and `modl cache prune`, the scanner still reads the cache without a
  warning and agrees with `modl cache ls --json` on what is left;
- `modl cache export` of such a repo, imported into a fresh cache, reads in the scanner and
  passes `modl verify` against the hub.

Runs under tests/e2e/run.py (which puts tests/e2e on sys.path), e.g.
    MODL_BIN=build/asan/modl /usr/bin/python3 tests/e2e/run.py -k cache_interop
The npm packages are installed on first use (`npm ci`); a failed install is a test failure.

What each tool counts (read from @huggingface/hub 2.17.5 dist/chunk-*.mjs, scanCacheDir, and
src/cache/cache_scan.c):

| figure | scanCacheDir | modl cache ls --json |
|---|---|---|
| files of a revision | top-level entries of snapshots/<commit>/ only (doc/peers.md) | every file, at any depth |
| revision size | sum of its files' blob sizes, a blob linked twice counted twice | its distinct blobs, each once |
| repo size / size_on_disk | distinct blobs (by realpath) linked from top-level files of any revision | distinct blobs linked from any file at any depth |
| repo filesCount / files | that number of distinct blobs | that number of distinct blobs |
| orphan blobs, *.incomplete | not counted | not counted (orphan_size apart) |

So on a cache without sub-folders and without two names for one blob in a revision the two
agree exactly; this test builds a cache with both and asserts the exact relation.
"""
import json
import os

from modltest import ModlTestCase, make_repo, git_blob_sha1, sha256

# Reuse the install and node driver of test_hub_cache (same package, same script).
from test_hub_cache import NodeDriver

LFS_SUFFIXES = (".safetensors", ".bin", ".gguf")  # make_repo's default LFS patterns

SHARED = bytes((i * 131 + (i >> 7)) & 0xFF for i in range(200_000))  # main and dev, LFS
DUP = b'{"pad_token": "<pad>", "eos_token": "</s>"}\n'              # two names, one blob

REPOS = {
    "acme/alpha": {
        "main": {
            "config.json": b'{"rev": "main", "hidden_size": 64}\n',
            "README.md": b"# alpha\n\nShared by main and dev.\n",
            "model.safetensors": SHARED,
            "special_tokens_map.json": DUP,
            "added_tokens.json": DUP,
            "original/params.json": b'{"dim": 64, "n_layers": 2}\n',  # the scanner skips it
        },
        "dev": {
            "config.json": b'{"rev": "dev", "hidden_size": 128}\n',
            "README.md": b"# alpha\n\nShared by main and dev.\n",
            "model.safetensors": SHARED,
            "extra.bin": b"\x01dev-only-weights\xfe" * 300,
        },
    },
    "acme/beta": {
        "main": {
            "config.json": b'{"model_type": "beta"}\n',
            "weights.safetensors": bytes((i * 7919) & 0xFF for i in range(70_001)),
            "tokenizer/vocab.txt": b"a\nb\nc\n",  # the scanner skips it
        },
    },
}


def folder(repo_id):
    return "models--" + repo_id.replace("/", "--")


def etag(path, data):
    return sha256(data) if path.endswith(LFS_SUFFIXES) else git_blob_sha1(data)


class Expect:
    """The view each tool must have of a cache holding `revs`:
    {repo_id: {commit: ([refs], {path: bytes})}}."""

    def __init__(self, revs):
        self.revs = revs

    def modl(self):
        out = {}
        for repo_id, revs in self.revs.items():
            blobs, refs, rv = {}, [], {}
            for commit, (rrefs, files) in revs.items():
                own = {etag(p, d): len(d) for p, d in files.items()}
                blobs.update(own)
                refs += rrefs
                rv[commit] = {"refs": sorted(rrefs), "files": len(files), "size": sum(own.values())}
            out[repo_id] = {"size_on_disk": sum(blobs.values()), "files": len(blobs),
                            "refs": sorted(refs), "revisions": rv}
        return out

    def scanner(self):
        out = {}
        for repo_id, revs in self.revs.items():
            blobs, rv = {}, {}
            for commit, (rrefs, files) in revs.items():
                top = {p: d for p, d in files.items() if "/" not in p}
                blobs.update({etag(p, d): len(d) for p, d in top.items()})
                rv[commit] = {"refs": sorted(rrefs), "size": sum(len(d) for d in top.values()),
                              "files": {p: len(d) for p, d in top.items()},
                              "blobs": {p: etag(p, d) for p, d in top.items()}}
            out[repo_id] = {"size": sum(blobs.values()), "filesCount": len(blobs), "revisions": rv}
        return out


class CacheInterop(NodeDriver, ModlTestCase):

    def setUp(self):
        super().setUp()  # NodeDriver: @huggingface/hub is installed
        for repo_id, branches in REPOS.items():
            for branch, files in branches.items():
                make_repo(self.hub_root, "models", repo_id, files, branch=branch)
        self.start_hub()
        # What the hub serves, with the .gitattributes make_repo adds, by commit.
        self.state = {}
        for repo_id, branches in REPOS.items():
            for branch, files in branches.items():
                st, _, body = self.hub.request("GET", "/api/models/%s/revision/%s" % (repo_id, branch))
                self.assertEqual(st, 200, body)
                commit = json.loads(body)["sha"]
                d = os.path.join(self.hub_root, "models", *repo_id.split("/"))
                if branch != "main":
                    d += "@" + branch
                with open(os.path.join(d, ".gitattributes"), "rb") as f:
                    files = dict(files, **{".gitattributes": f.read()})
                self.state.setdefault(repo_id, {})[commit] = ([branch], files)
        self.assertNotEqual(*self.state["acme/alpha"].keys())

    # ---- drivers ----
    def js_download(self, cache):
        """snapshotDownload of every repo and branch into cache."""
        for repo_id, branches in REPOS.items():
            for branch in branches:
                args = [self.hub.endpoint, repo_id, cache] + ([] if branch == "main" else [branch])
                self.node("download", *args)

    def ls(self, cache, **env):
        r = self.run_modl("cache", "ls", "--json", HF_HUB_CACHE=cache, **env)
        self.assertExit(r, 0)
        return r.json()

    def commit_of(self, repo_id, ref):
        return next(c for c, (refs, _) in self.state[repo_id].items() if ref in refs)

    # ---- the comparison ----
    def assertAgree(self, cache, state=None, orphans=None):
        """Both tools read cache without a warning; each reports exactly what Expect says for
        state (default self.state), and the two agree with each other in the way that must
        hold given the scanner's two differences (sub-folders, duplicate links). orphans:
        {repo_id: bytes of blobs no snapshot links} (default none)."""
        state = self.state if state is None else state
        want = Expect(state)
        js = self.node("scan", cache)
        self.assertEqual(js["warnings"], [], "scanCacheDir warns after modl touched the cache: %r" % js)
        doc = self.ls(cache)
        self.assertEqual(doc["warnings"], [], doc)

        # modl, against what is in the cache
        got = {}
        for r in doc["repos"]:
            self.assertEqual(r["type"], "model", r)
            self.assertEqual(os.path.realpath(r["path"]), os.path.realpath(os.path.join(cache, folder(r["id"]))))
            got[r["id"]] = {"size_on_disk": r["size_on_disk"], "files": r["files"], "refs": sorted(r["refs"]),
                            "revisions": {v["commit"]: {"refs": sorted(v["refs"]), "files": v["files"],
                                                        "size": v["size"]} for v in r["revisions"]}}
            self.assertEqual(r["orphan_size"], (orphans or {}).get(r["id"], 0), r)
        self.assertEqual(got, want.modl())
        self.assertEqual(doc["total_size"], sum(r["size_on_disk"] for r in doc["repos"]))

        # the scanner, against what is in the cache
        jgot = {}
        for r in js["repos"]:
            self.assertEqual(r["type"], "model", r)
            self.assertEqual(os.path.realpath(r["path"]), os.path.realpath(os.path.join(cache, folder(r["id"]))))
            blobs_dir = os.path.realpath(os.path.join(cache, folder(r["id"]), "blobs"))
            revs = {}
            for v in r["revisions"]:
                for f in v["files"]:
                    self.assertEqual(os.path.dirname(os.path.realpath(f["blob"])), blobs_dir, f)
                revs[v["commit"]] = {"refs": v["refs"], "size": v["size"],
                                     "files": {f["name"]: f["size"] for f in v["files"]},
                                     "blobs": {f["name"]: os.path.basename(f["blob"]) for f in v["files"]}}
            jgot[r["id"]] = {"size": r["size"], "filesCount": r["filesCount"], "revisions": revs}
        self.assertEqual(jgot, want.scanner())
        self.assertEqual(js["size"], sum(r["size"] for r in js["repos"]))

        # the two, side by side
        self.assertEqual(sorted(got), sorted(jgot), "repos differ")
        nested_only = 0
        for repo_id, m in got.items():
            j = jgot[repo_id]
            self.assertEqual(sorted(m["revisions"]), sorted(j["revisions"]), "%s: revisions differ" % repo_id)
            for commit, mv in m["revisions"].items():
                jv = j["revisions"][commit]
                self.assertEqual(mv["refs"], jv["refs"], "%s@%s: refs differ" % (repo_id, commit))
                files = state[repo_id][commit][1]
                nested = [p for p in files if "/" in p]
                # files: modl counts the sub-folders the scanner does not enter
                self.assertEqual(mv["files"], len(jv["files"]) + len(nested), (repo_id, commit))
                # size: the scanner counts each name, modl each distinct blob
                per_name = sum(len(d) for d in files.values())
                distinct = {etag(p, d): len(d) for p, d in files.items()}
                self.assertEqual(jv["size"] + sum(len(files[p]) for p in nested), per_name)
                self.assertEqual(mv["size"], sum(distinct.values()))
            # repo: both count distinct blobs; modl's extra ones are linked only from sub-folders
            revs = state[repo_id]
            top = {etag(p, d): len(d) for _, fs in revs.values() for p, d in fs.items() if "/" not in p}
            deep = {etag(p, d): len(d) for _, fs in revs.values() for p, d in fs.items() if "/" in p}
            extra = {k: v for k, v in deep.items() if k not in top}
            nested_only += len(extra)
            self.assertEqual(m["files"], j["filesCount"] + len(extra), repo_id)
            self.assertEqual(m["size_on_disk"], j["size"] + sum(extra.values()), repo_id)
        return doc, js, nested_only

    # ---- tests ----
    def test_ls_agrees_with_scanner(self):
        cache = os.path.join(self.tmp, "js-cache")
        self.js_download(cache)
        _, js, nested_only = self.assertAgree(cache)
        # The cache really has what makes the two differ, so the relation above is exercised.
        self.assertGreater(nested_only, 0)
        main = self.commit_of("acme/alpha", "main")
        rev = next(v for r in js["repos"] if r["id"] == "acme/alpha" for v in r["revisions"] if v["commit"] == main)
        blobs = {f["name"]: os.path.basename(f["blob"]) for f in rev["files"]}
        self.assertEqual(blobs["special_tokens_map.json"], blobs["added_tokens.json"])
        # dev and main share blobs on disk
        dev = self.commit_of("acme/alpha", "dev")
        snap = os.path.join(cache, folder("acme/alpha"), "snapshots")
        self.assertEqual(os.path.realpath(os.path.join(snap, main, "model.safetensors")),
                         os.path.realpath(os.path.join(snap, dev, "model.safetensors")))

    def test_scanner_reads_cache_after_rm(self):
        cache = os.path.join(self.tmp, "js-cache")
        self.js_download(cache)
        self.assertAgree(cache)
        dev = self.commit_of("acme/alpha", "dev")
        r = self.run_modl("cache", "rm", "acme/alpha@dev", "-y", HF_HUB_CACHE=cache)
        self.assertExit(r, 0)
        del self.state["acme/alpha"][dev]
        self.assertFalse(os.path.exists(os.path.join(cache, folder("acme/alpha"), "snapshots", dev)))
        self.assertAgree(cache)
        # the blobs only dev used are gone, the shared one is kept
        blobs = set(os.listdir(os.path.join(cache, folder("acme/alpha"), "blobs")))
        self.assertIn(sha256(SHARED), blobs)
        self.assertNotIn(etag("extra.bin", REPOS["acme/alpha"]["dev"]["extra.bin"]), blobs)
        # a whole repo
        r = self.run_modl("cache", "rm", "acme/beta", "-y", HF_HUB_CACHE=cache)
        self.assertExit(r, 0)
        del self.state["acme/beta"]
        self.assertFalse(os.path.exists(os.path.join(cache, folder("acme/beta"))))
        self.assertAgree(cache)

    def test_scanner_reads_cache_after_prune(self):
        cache = os.path.join(self.tmp, "js-cache")
        self.js_download(cache)
        alpha = os.path.join(cache, folder("acme/alpha"))
        beta = os.path.join(cache, folder("acme/beta"))
        dev = self.commit_of("acme/alpha", "dev")
        os.remove(os.path.join(alpha, "refs", "dev"))  # dev becomes detached
        orphan = b"no snapshot links me\n"
        with open(os.path.join(alpha, "blobs", git_blob_sha1(orphan)), "wb") as f:
            f.write(orphan)
        stale = os.path.join(beta, "blobs", "e" * 64 + ".incomplete")
        with open(stale, "wb") as f:
            f.write(b"half a download")
        # Before the prune: the scanner lists the detached revision (no refs) and ignores
        # the orphan and the partial; modl lists them apart.
        self.state["acme/alpha"][dev] = ([], self.state["acme/alpha"][dev][1])
        self.assertAgree(cache, orphans={"acme/alpha": len(orphan)})
        r = self.run_modl("cache", "prune", "-y", HF_HUB_CACHE=cache)
        self.assertExit(r, 0)
        del self.state["acme/alpha"][dev]
        self.assertFalse(os.path.exists(os.path.join(alpha, "snapshots", dev)))
        self.assertFalse(os.path.exists(stale))
        self.assertNotIn(git_blob_sha1(orphan), os.listdir(os.path.join(alpha, "blobs")))
        self.assertAgree(cache)
        r = self.run_modl("cache", "prune", "-y", HF_HUB_CACHE=cache)
        self.assertExit(r, 0)
        self.assertIn("nothing to remove", r.out)
        self.assertAgree(cache)

    def test_export_import_of_js_cache(self):
        cache = os.path.join(self.tmp, "js-cache")
        self.js_download(cache)
        bundle = os.path.join(self.tmp, "alpha.tar.gz")
        r = self.run_modl("cache", "export", "acme/alpha", "-o", bundle, HF_HUB_CACHE=cache)
        self.assertExit(r, 0)
        self.assertIn("2 revisions", r.out)
        fresh = os.path.join(self.tmp, "fresh")
        r = self.run_modl("cache", "import", bundle, HF_HOME=fresh)
        self.assertExit(r, 0)
        fresh_cache = os.path.join(fresh, "hub")
        only_alpha = {"acme/alpha": self.state["acme/alpha"]}
        self.assertAgree(fresh_cache, only_alpha)
        # the snapshot links are the same as snapshotDownload wrote them
        for commit in only_alpha["acme/alpha"]:
            src = os.path.join(cache, folder("acme/alpha"), "snapshots", commit)
            dst = os.path.join(fresh_cache, folder("acme/alpha"), "snapshots", commit)
            for d, _, names in os.walk(src):
                for n in names:
                    p = os.path.join(d, n)
                    q = os.path.join(dst, os.path.relpath(p, src))
                    self.assertEqual(os.readlink(q), os.readlink(p), q)
        # online, against the hub: every file of each revision, from the imported cache
        self.hub.reset()
        for rev in ("", "@main", "@dev"):
            r = self.run_modl("verify", "acme/alpha" + rev, HF_HOME=fresh)
            self.assertExit(r, 0)
        self.assertTrue(any("/api/models/acme/alpha" in e["path"] for e in self.hub.log()),
                        "verify did not ask the hub")
        r = self.run_modl("cache", "verify", "acme/alpha", HF_HOME=fresh)
        self.assertExit(r, 0)
        # the scanner still reads it after verify
        self.assertAgree(fresh_cache, only_alpha)
