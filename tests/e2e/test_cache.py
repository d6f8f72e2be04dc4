"""End-to-end tests of `modl cache ls|rm|prune|verify|export|import` on caches that
`modl pull` built from the local test hub, including hostile bundles."""
import fcntl
import hashlib
import io
import json
import os
import subprocess
import tarfile
import time

from modltest import MODL, ModlTestCase, make_repo, git_blob_sha1, sha256

SHARED = b"shared weights " * 5000        # the same blob in main and dev
MAIN_ONLY = b'{"rev": "main"}\n'
DEV_ONLY = b'{"rev": "dev"}\n'


def tree_state(root):
    """Every path under root with its type and content hash: 'the cache as it was'."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                state[rel] = "link:" + os.readlink(p)
            elif os.path.isdir(p):
                state[rel] = "dir"
            else:
                with open(p, "rb") as f:
                    state[rel] = "file:" + hashlib.sha256(f.read()).hexdigest()
    return state


class CacheCase(ModlTestCase):
    def setUp(self):
        super().setUp()
        make_repo(self.hub_root, "models", "acme/two", {"weights.bin": SHARED, "config.json": MAIN_ONLY})
        make_repo(self.hub_root, "models", "acme/two", {"weights.bin": SHARED, "config.json": DEV_ONLY}, branch="dev")
        make_repo(self.hub_root, "models", "acme/big", {"model.safetensors": os.urandom(300_000)})
        make_repo(self.hub_root, "datasets", "acme/data", {"train.csv": b"a,b\n1,2\n"})
        self.start_hub()
        for args in (["acme/two"], ["acme/two@dev"], ["acme/big"], ["acme/data", "--repo-type", "dataset"]):
            self.assertExit(self.run_modl("pull", *args, "-q"), 0)
        self.hub.reset()

    @property
    def cache(self):
        return os.path.join(self.hf_home, "hub")

    def folder(self, name="models--acme--two"):
        return os.path.join(self.cache, name)

    def commit(self, ref, folder="models--acme--two"):
        with open(os.path.join(self.folder(folder), "refs", ref)) as f:
            return f.read()

    def ls(self, *args):
        r = self.run_modl("cache", "ls", "--json", *args)
        self.assertExit(r, 0)
        return r.json()


class Ls(CacheCase):
    def test_blobs_counted_once(self):
        doc = self.ls()
        repos = {(r["type"], r["id"]): r for r in doc["repos"]}
        self.assertEqual(set(repos), {("model", "acme/two"), ("model", "acme/big"), ("dataset", "acme/data")})
        two = repos[("model", "acme/two")]
        gitattributes = os.path.getsize(os.path.join(self.hub_root, "models/acme/two/.gitattributes"))
        # weights.bin is shared by both revisions and counted once
        self.assertEqual(two["size_on_disk"], len(SHARED) + len(MAIN_ONLY) + len(DEV_ONLY) + gitattributes)
        self.assertEqual(two["files"], 4)
        self.assertEqual(sorted(two["refs"]), ["dev", "main"])
        self.assertEqual(len(two["revisions"]), 2)
        for rev in two["revisions"]:
            self.assertEqual(rev["files"], 3)
            own = MAIN_ONLY if rev["commit"] == self.commit("main") else DEV_ONLY
            self.assertEqual(rev["size"], len(SHARED) + len(own) + gitattributes)
            self.assertEqual(rev["refs"], ["main"] if rev["commit"] == self.commit("main") else ["dev"])
        self.assertEqual(doc["total_size"], sum(r["size_on_disk"] for r in doc["repos"]))
        self.assertEqual(doc["warnings"], [])
        self.assertRegex(two["last_accessed"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    def test_sort_and_text(self):
        ids = [r["id"] for r in self.ls("--sort", "size")["repos"]]
        self.assertEqual(ids, ["acme/big", "acme/two", "acme/data"])
        self.assertEqual([r["id"] for r in self.ls("--sort", "name")["repos"]], ["acme/big", "acme/data", "acme/two"])
        r = self.run_modl("cache", "ls", "--revisions")
        self.assertExit(r, 0)
        self.assertRegex(r.out, r"(?m)^acme/two\s+model\s+\S+ \S+\s+2\s+4\s+dev,main\s")
        self.assertIn("  @" + self.commit("dev"), r.out)
        self.assertIn("3 repos", r.out.splitlines()[-1])
        self.assertExit(self.run_modl("cache", "ls", "--sort", "color"), 2)

    def test_broken_entries_are_warnings(self):
        with open(os.path.join(self.folder(), "refs", "gone"), "w") as f:
            f.write("f" * 40)
        os.remove(os.path.join(self.folder(), "blobs", git_blob_sha1(MAIN_ONLY)))
        with open(os.path.join(self.cache, "stray.txt"), "w") as f:
            f.write("x")
        with open(os.path.join(self.folder(), "snapshots", "notes"), "w") as f:
            f.write("x")
        r = self.run_modl("cache", "ls")
        self.assertExit(r, 0)
        self.assertIn("points to a missing snapshot", r.err)
        self.assertIn("dangling link", r.err)
        self.assertIn("stray.txt: not a repository folder", r.err)
        self.assertIn("stray entry in snapshots/", r.err)
        self.assertEqual(len(self.ls()["warnings"]), 4)

    def test_empty_cache(self):
        r = self.run_modl("cache", "ls", "--json", HF_HOME=os.path.join(self.tmp, "nothing"))
        self.assertExit(r, 0)
        self.assertEqual(r.json()["repos"], [])


class Rm(CacheCase):
    def test_rm_revision_keeps_shared_blobs(self):
        dev = self.commit("dev")
        r = self.run_modl("cache", "rm", "acme/two@dev", "--dry-run")
        self.assertExit(r, 0)
        self.assertIn("would free %d B" % len(DEV_ONLY), r.out)
        self.assertTrue(os.path.isdir(os.path.join(self.folder(), "snapshots", dev)))
        r = self.run_modl("cache", "rm", "acme/two@dev", "-y")
        self.assertExit(r, 0)
        self.assertFalse(os.path.exists(os.path.join(self.folder(), "snapshots", dev)))
        self.assertFalse(os.path.exists(os.path.join(self.folder(), "refs", "dev")))
        blobs = set(os.listdir(os.path.join(self.folder(), "blobs")))
        self.assertIn(sha256(SHARED), blobs)
        self.assertIn(git_blob_sha1(MAIN_ONLY), blobs)
        self.assertNotIn(git_blob_sha1(DEV_ONLY), blobs)
        self.assertExit(self.run_modl("verify", "acme/two", HF_HUB_OFFLINE="1"), 0)
        # what pull recorded about the commit goes with it
        self.assertFalse(os.path.exists(os.path.join(self.folder(), "trees", dev + ".json")))
        self.assertTrue(os.path.exists(os.path.join(self.folder(), "trees", self.commit("main") + ".json")))

    def test_rm_repo_and_by_commit(self):
        r = self.run_modl("cache", "rm", "acme/big", "hf://datasets/acme/data", "-y", "--json")
        self.assertExit(r, 0)
        self.assertFalse(r.json()["dry_run"])
        self.assertFalse(os.path.exists(self.folder("models--acme--big")))
        self.assertFalse(os.path.exists(self.folder("datasets--acme--data")))
        self.assertFalse(os.path.exists(os.path.join(self.cache, ".locks", "models--acme--big")))
        r = self.run_modl("cache", "rm", "acme/two@" + self.commit("main"), "-y")
        self.assertExit(r, 0)
        self.assertEqual(os.listdir(os.path.join(self.folder(), "refs")), ["dev"])

    def test_rm_every_revision_in_one_command(self):
        r = self.run_modl("cache", "rm", "acme/two@" + self.commit("main"), "acme/two@dev", "-y")
        self.assertExit(r, 0)
        # no revision left: the repo folder goes whole, shared blobs included
        self.assertFalse(os.path.exists(self.folder()))
        self.assertEqual([x["id"] for x in self.ls()["repos"]], ["acme/big", "acme/data"])

    def test_rm_unknown(self):
        r = self.run_modl("cache", "rm", "acme/none", "-y")
        self.assertExit(r, 4)
        self.assertExit(self.run_modl("cache", "rm", "acme/two@nobranch", "-y"), 4)
        self.assertExit(self.run_modl("cache", "rm"), 2)

    def test_a_blob_held_by_a_running_pull_is_kept(self):
        lock = os.path.join(self.cache, ".locks", "models--acme--two", git_blob_sha1(DEV_ONLY) + ".lock")
        with open(lock, "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            r = self.run_modl("cache", "rm", "acme/two@dev", "-y")
            self.assertExit(r, 0)
            self.assertIn("skip:", r.out)
            self.assertTrue(os.path.exists(os.path.join(self.folder(), "blobs", git_blob_sha1(DEV_ONLY))))
            r = self.run_modl("cache", "rm", "acme/two", "-y")
            self.assertTrue(os.path.isdir(self.folder()))


class Prune(CacheCase):
    def test_prune(self):
        dev = self.commit("dev")
        os.remove(os.path.join(self.folder(), "refs", "dev"))  # dev becomes detached
        orphan = b"nobody links me"
        with open(os.path.join(self.folder(), "blobs", git_blob_sha1(orphan)), "wb") as f:
            f.write(orphan)
        stale = os.path.join(self.folder("models--acme--big"), "blobs", "a" * 64 + ".incomplete")
        with open(stale, "wb") as f:
            f.write(b"partial")
        staging = os.path.join(self.cache, ".modl-import-abc123")
        os.makedirs(os.path.join(staging, "models--x--y"))
        os.utime(staging, (time.time() - 7200, time.time() - 7200))
        fresh = os.path.join(self.cache, ".modl-import-live01")
        os.makedirs(fresh)
        live = os.open(fresh, os.O_RDONLY)  # a live import holds its staging's flock
        self.addCleanup(os.close, live)
        fcntl.flock(live, fcntl.LOCK_EX)
        held = os.path.join(self.folder("models--acme--big"), "blobs", "b" * 64 + ".incomplete")
        with open(held, "wb") as f:
            f.write(b"in flight")
        before = tree_state(self.cache)
        r = self.run_modl("cache", "prune", "--dry-run", "--json")
        self.assertExit(r, 0)
        self.assertEqual(r.json()["removed"], [])
        kinds = sorted(a["kind"] for a in r.json()["planned"])
        self.assertEqual(kinds, ["blob", "blob", "metadata", "metadata", "partial", "partial", "revision"])
        self.assertEqual(tree_state(self.cache), before)
        lock = os.path.join(self.cache, ".locks", "models--acme--big", "b" * 64 + ".lock")
        with open(lock, "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            r = self.run_modl("cache", "prune", "-y")
            self.assertExit(r, 0)
        self.assertFalse(os.path.exists(os.path.join(self.folder(), "snapshots", dev)))
        self.assertTrue(os.path.exists(os.path.join(self.folder(), "snapshots", self.commit("main"))))
        self.assertFalse(os.path.exists(stale))
        self.assertTrue(os.path.exists(held))
        self.assertFalse(os.path.exists(staging))
        self.assertTrue(os.path.exists(fresh))
        os.rmdir(fresh)
        blobs = set(os.listdir(os.path.join(self.folder(), "blobs")))
        self.assertNotIn(git_blob_sha1(orphan), blobs)
        self.assertNotIn(git_blob_sha1(DEV_ONLY), blobs)
        self.assertIn(sha256(SHARED), blobs)
        self.assertEqual(len(os.listdir(os.path.join(self.folder(), "snapshots"))), 1)
        self.assertFalse(os.path.exists(os.path.join(self.folder(), "trees", dev + ".json")))
        self.assertEqual(self.ls()["warnings"], [])
        # Once the pull is gone, its partial is stale too.
        r = self.run_modl("cache", "prune", "-y")
        self.assertIn("remove partial   acme/big partial bbbbbbbbbbbb (9 B)", r.out)
        self.assertFalse(os.path.exists(held))
        r = self.run_modl("cache", "prune", "-y")
        self.assertIn("nothing to remove", r.out)


class Verify(CacheCase):
    def test_flipped_byte(self):
        r = self.run_modl("cache", "verify")
        self.assertExit(r, 0)
        self.assertIn("8 blobs verified", r.out)
        blob = os.path.join(self.folder(), "blobs", sha256(SHARED))
        with open(blob, "r+b") as f:
            f.seek(100)
            f.write(b"X")
        r = self.run_modl("cache", "verify")
        self.assertExit(r, 6)
        self.assertIn("BAD acme/two blob " + sha256(SHARED), r.out)
        self.assertIn("%s/weights.bin" % self.commit("main")[:12], r.out)
        self.assertIn("%s/weights.bin" % self.commit("dev")[:12], r.out)
        self.assertOneLineError(r, "1 of 8 blobs")
        doc = self.run_modl("cache", "verify", "acme/two", "--json").json()
        self.assertEqual(len(doc["bad"]), 1)
        self.assertEqual(len(doc["bad"][0]["used_by"]), 2)
        with open(blob, "rb") as f:
            self.assertEqual(doc["bad"][0]["actual"], hashlib.sha256(f.read()).hexdigest())
        self.assertExit(self.run_modl("cache", "verify", "acme/big"), 0)
        self.assertExit(self.run_modl("cache", "verify", "acme/nothing"), 4)

    def test_one_revision_and_missing_blobs(self):
        os.remove(os.path.join(self.folder(), "blobs", git_blob_sha1(DEV_ONLY)))
        r = self.run_modl("cache", "verify", "acme/two@main", "--json")
        self.assertExit(r, 0)
        self.assertEqual(r.json()["verified"], 3)
        r = self.run_modl("cache", "verify", "acme/two@dev")
        self.assertExit(r, 6)
        self.assertIn("MISSING acme/two %s/config.json" % self.commit("dev")[:12], r.out)
        self.assertOneLineError(r, "missing blob")
        self.assertExit(self.run_modl("cache", "verify", "acme/two@nope"), 4)


class ExportImport(CacheCase):
    def roundtrip(self, name):
        bundle = os.path.join(self.tmp, name)
        r = self.run_modl("cache", "export", "acme/two", "-o", bundle)
        self.assertExit(r, 0)
        self.assertIn("2 revisions", r.out)
        other = os.path.join(self.tmp, "other")
        r = self.run_modl("cache", "import", bundle, HF_HOME=other)
        self.assertExit(r, 0)
        mine = tree_state(self.folder())
        theirs = tree_state(os.path.join(other, "hub", "models--acme--two"))
        for k in [k for k in mine if k.startswith(("trees", ".no_exist"))]:
            del mine[k]
        self.assertEqual(mine, theirs)
        for rev in ("main", "dev"):
            self.assertExit(self.run_modl("verify", "acme/two@" + rev, HF_HOME=other, HF_HUB_OFFLINE="1"), 0)
        # online verify against the Hub too
        self.assertExit(self.run_modl("verify", "acme/two", HF_HOME=other), 0)
        return bundle

    def test_roundtrip_every_format(self):
        for name in ("b.tar", "b.tar.gz", "b.tar.zst"):
            self.roundtrip(name)
            import shutil
            shutil.rmtree(os.path.join(self.tmp, "other"))

    def test_export_one_revision_to_stdout(self):
        with open(os.path.join(self.tmp, "dev.tar"), "wb") as out:
            p = subprocess.run([MODL, "cache", "export", "acme/two@dev", "-o", "-"], stdout=out,
                               stderr=subprocess.PIPE, env=self.env())
        self.assertEqual(p.returncode, 0, p.stderr)
        with tarfile.open(os.path.join(self.tmp, "dev.tar")) as t:
            names = t.getnames()
        self.assertEqual(names[0], "modl-manifest.json")
        self.assertIn("models--acme--two/refs/dev", names)
        self.assertNotIn("models--acme--two/refs/main", names)
        self.assertNotIn("models--acme--two/blobs/" + git_blob_sha1(MAIN_ONLY), names)
        r = self.run_modl("cache", "import", os.path.join(self.tmp, "dev.tar"), HF_HOME=os.path.join(self.tmp, "o"))
        self.assertExit(r, 0)

    def test_import_into_a_cache_that_has_the_repo(self):
        bundle = os.path.join(self.tmp, "all.tar")
        self.assertExit(self.run_modl("cache", "export", "acme/two", "-o", bundle), 0)
        self.assertExit(self.run_modl("cache", "rm", "acme/two@dev", "-y"), 0)
        r = self.run_modl("cache", "import", bundle, "--json")
        self.assertExit(r, 0)
        self.assertEqual(r.json()["blobs_added"], 1)
        self.assertExit(self.run_modl("verify", "acme/two@dev", HF_HUB_OFFLINE="1"), 0)

    def test_export_errors(self):
        self.assertExit(self.run_modl("cache", "export", "acme/two"), 2)
        self.assertExit(self.run_modl("cache", "export", "acme/two", "-o", os.path.join(self.tmp, "x.zip")), 2)
        self.assertExit(self.run_modl("cache", "export", "acme/none", "-o", os.path.join(self.tmp, "x.tar")), 4)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "x.tar")))


class HostileBundles(CacheCase):
    """Each crafted bundle is refused with a clear error and the cache left as it was."""

    def setUp(self):
        super().setUp()
        self.good = os.path.join(self.tmp, "good.tar")
        self.assertExit(self.run_modl("cache", "export", "acme/two@dev", "-o", self.good), 0)
        with tarfile.open(self.good) as t:
            self.members = [(m, t.extractfile(m).read() if m.isfile() else None) for m in t.getmembers()]
        self.manifest = json.loads(self.members[0][1])
        self.target = os.path.join(self.tmp, "target")
        # the target cache already holds a repo, which must not change either
        self.assertExit(self.run_modl("pull", "acme/big", "-q", HF_HOME=self.target), 0)

    def build(self, members, manifest=None, raw_tail=None):
        """A tar of members; raw_tail (bytes) goes before the end-of-archive blocks."""
        path = os.path.join(self.tmp, "bad.tar")
        buf = io.BytesIO()
        t = tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT)
        for info, data in members:
            if info.name == "modl-manifest.json" and manifest is not None:
                data = json.dumps(manifest).encode()
                info.size = len(data)
            t.addfile(info, io.BytesIO(data) if data is not None else None)
        body = buf.getvalue()
        t.close()
        with open(path, "wb") as f:
            f.write(body + raw_tail if raw_tail is not None else buf.getvalue())
        return path

    def assertRefused(self, path, code=8, *fragments):
        before = tree_state(self.target)
        r = self.run_modl("cache", "import", path, HF_HOME=self.target)
        self.assertExit(r, code)
        self.assertOneLineError(r, path, *fragments)
        self.assertEqual(tree_state(self.target), before)

    def member(self, name):
        return next((m, d) for m, d in self.members if m.name.endswith(name))

    def test_path_traversal(self):
        info = tarfile.TarInfo("models--acme--two/../../evil")
        self.assertRefused(self.build(self.members + [(info, b"")]), 8, "unsafe path")
        info = tarfile.TarInfo("models--acme--two/blobs/../../../evil")
        self.assertRefused(self.build(self.members + [(info, b"")]), 8)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "evil")))

    def test_absolute_symlink(self):
        m, _ = self.member("config.json")
        evil = tarfile.TarInfo(m.name)
        evil.type = tarfile.SYMTYPE
        evil.linkname = "/etc/passwd"
        members = [x for x in self.members if x[0].name != m.name] + [(evil, None)]
        self.assertRefused(self.build(members), 8, "outside the repository's blobs")

    def test_device_node_and_hardlink(self):
        dev = tarfile.TarInfo("models--acme--two/blobs/" + "c" * 64)
        dev.type = tarfile.CHRTYPE
        dev.devmajor, dev.devminor = 1, 3
        self.assertRefused(self.build(self.members + [(dev, None)]), 8)
        hard = tarfile.TarInfo("models--acme--two/blobs/" + git_blob_sha1(DEV_ONLY))
        hard.type = tarfile.LNKTYPE
        hard.linkname = "/etc/shadow"
        self.assertRefused(self.build(self.members[:1] + [(hard, None)]), 8)

    def test_wrong_hash(self):
        m, data = self.member(git_blob_sha1(DEV_ONLY))
        members = [(x, d if x.name != m.name else b"X" + d[1:]) for x, d in self.members]
        self.assertRefused(self.build(members), 6, "does not match its hash")

    def test_truncated(self):
        data = open(self.good, "rb").read()
        path = os.path.join(self.tmp, "cut.tar")
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
        self.assertRefused(path, 8)

    def test_ten_gigabyte_size_claim(self):
        name = "models--acme--two/blobs/" + sha256(SHARED)
        header = tarfile.TarInfo(name)
        header.size = 10 * 1000 ** 3
        raw = header.tobuf(format=tarfile.PAX_FORMAT) + b"\0" * 4096
        members = [x for x in self.members if x[0].name != name]
        t0 = time.monotonic()
        self.assertRefused(self.build(members, raw_tail=raw), 8, "10000000000 bytes")
        self.assertLess(time.monotonic() - t0, 20)

    def test_manifest_tricks(self):
        m = json.loads(json.dumps(self.manifest))
        m["revisions"][0]["files"][0]["path"] = "../../x"
        self.assertRefused(self.build(self.members, manifest=m), 8, "unsafe path")
        m = json.loads(json.dumps(self.manifest))
        m["folder"] = "../models--acme--two"
        self.assertRefused(self.build(self.members, manifest=m), 8)
        m = json.loads(json.dumps(self.manifest))
        m["blobs"] = m["blobs"][1:]
        self.assertRefused(self.build(self.members, manifest=m), 8)
        self.assertRefused(self.build(self.members[1:]), 8, "first entry")
        m = json.loads(json.dumps(self.manifest))
        m["revisions"][0]["refs"] = ["main"]  # the bundle's refs/dev says otherwise
        self.assertRefused(self.build(self.members, manifest=m), 8, "disagrees with the manifest")
        path = os.path.join(self.tmp, "garbage.tar")
        with open(path, "wb") as f:
            f.write(os.urandom(5000))
        self.assertRefused(path, 8)
        self.assertExit(self.run_modl("cache", "import", os.path.join(self.tmp, "missing.tar")), 4)
