"""Issue 11, cache bundles: an import that stays fast on many entries, refuses bundle
bombs before writing them, cleans up after a signal, keeps its staging from prune, and an
export that says why it could not write.

The bundles are made here with tarfile (and the zstd tool), not by `modl cache export`,
so that each test says exactly what it feeds the importer."""
import fcntl
import hashlib
import io
import json
import os
import resource
import signal
import subprocess
import tarfile
import threading
import time
import unittest

from modltest import MODL, ModlTestCase

COMMIT = "1" * 40
FOLDER = "models--acme--bundle"


def manifest_doc(files, blobs, commit=COMMIT, refs=("main",)):
    """files: [(path, blob name, size)], blobs: {name: size}."""
    return {
        "format": "modl-cache-export", "version": 1, "repo": "acme/bundle", "type": "model",
        "folder": FOLDER,
        "revisions": [{"commit": commit, "refs": list(refs),
                       "files": [{"path": p, "size": s, "blob": b} for p, b, s in files]}],
        "blobs": [{"name": n, "size": s} for n, s in blobs.items()],
    }


def link_target(path, blob):
    return "../" * path.count("/") + "../../blobs/" + blob


class TarWriter:
    """A modl bundle written entry by entry to a file object."""

    def __init__(self, out):
        self.t = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)

    def regular(self, name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        self.t.addfile(info, io.BytesIO(data))

    def link(self, name, target):
        info = tarfile.TarInfo(name)
        info.type = tarfile.SYMTYPE
        info.linkname = target
        self.t.addfile(info)

    def close(self):
        self.t.close()


def bundle_bytes(files):
    """A valid bundle of {path: bytes}, one blob per distinct content."""
    blobs = {hashlib.sha256(d).hexdigest(): d for d in files.values()}
    doc = manifest_doc([(p, hashlib.sha256(d).hexdigest(), len(d)) for p, d in files.items()],
                       {n: len(d) for n, d in blobs.items()})
    buf = io.BytesIO()
    w = TarWriter(buf)
    w.regular("modl-manifest.json", json.dumps(doc).encode())
    for name, data in blobs.items():
        w.regular("%s/blobs/%s" % (FOLDER, name), data)
    for path, data in files.items():
        w.link("%s/snapshots/%s/%s" % (FOLDER, COMMIT, path), link_target(path, hashlib.sha256(data).hexdigest()))
    w.regular("%s/refs/main" % FOLDER, COMMIT.encode())
    w.close()
    return buf.getvalue()


def tree_bytes(root):
    """Bytes the files under root take on disk."""
    total = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def tree_state(root):
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            state[os.path.relpath(p, root)] = os.readlink(p) if os.path.islink(p) else os.path.isdir(p)
    return state


def stagings(cache):
    return [n for n in os.listdir(cache) if n.startswith(".modl-import-")] if os.path.isdir(cache) else []


class BundleCase(ModlTestCase):
    @property
    def cache(self):
        return os.path.join(self.hf_home, "hub")

    def mount_tmpfs(self, path, size, required=True):
        """A small file system of its own (root only): what a full disk looks like."""
        os.makedirs(path, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode != 0 and required:
            raise unittest.SkipTest("needs root to mount a tmpfs")
        if r.returncode == 0:
            self.addCleanup(subprocess.run, ["umount", "-l", path])

    def import_watching(self, bundle, hf_home):
        """Runs `cache import` and samples the bytes under hf_home while it runs: the most
        it ever wrote, not just what is left after its cleanup."""
        most = [0]
        done = threading.Event()

        def sample():
            while not done.is_set():
                most[0] = max(most[0], tree_bytes(hf_home))
                time.sleep(0.01)

        t = threading.Thread(target=sample)
        t.start()
        try:
            r = self.run_modl("cache", "import", bundle, HF_HOME=hf_home, timeout=120)
        finally:
            done.set()
            t.join()
        return r, max(most[0], tree_bytes(hf_home))


class ManyEntries(BundleCase):
    def test_forty_thousand_entries_import_in_linear_time(self):
        # 40,000 snapshot entries over 100 tiny blobs: the manifest checks and the entry
        # lookups were linear searches, 18 s for this bundle.
        contents = [b"%d\n" % i for i in range(100)]
        names = [hashlib.sha256(c).hexdigest() for c in contents]
        n = 40_000
        files = [("d%d/f%d" % (i % 200, i), names[i % 100], len(contents[i % 100])) for i in range(n)]
        doc = manifest_doc(files, {nm: len(c) for nm, c in zip(names, contents)})
        # On a tmpfs when possible: 40,000 symlinks on a busy ext4 take a minute of kernel
        # time, which is not what this test measures.
        self.mount_tmpfs(self.hf_home, "512m", required=False)
        path = os.path.join(self.hf_home, "many.tar")
        with open(path, "wb") as f:
            w = TarWriter(f)
            w.regular("modl-manifest.json", json.dumps(doc).encode())
            for nm, c in zip(names, contents):
                w.regular("%s/blobs/%s" % (FOLDER, nm), c)
            for p, b, _ in files:
                w.link("%s/snapshots/%s/%s" % (FOLDER, COMMIT, p), link_target(p, b))
            w.regular("%s/refs/main" % FOLDER, COMMIT.encode())
            w.close()
        # CPU time in modl itself: the 40,000 symlinks cost the file system (ext4) seconds
        # of kernel time on a loaded machine, which is not what this test measures.
        t0, cpu0 = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        r = self.run_modl("cache", "import", path)
        took, cpu = time.monotonic() - t0, resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - cpu0
        self.assertExit(r, 0)
        self.assertEqual(len(os.listdir(os.path.join(self.cache, FOLDER, "snapshots", COMMIT))), 200)
        self.assertLess(cpu, 6, "40k entries took %.1f s of CPU" % cpu)
        self.assertLess(took, 90, "40k entries took %.1f s" % took)

    def test_duplicates_still_found(self):
        data = b"x"
        name = hashlib.sha256(data).hexdigest()
        doc = manifest_doc([("a", name, 1), ("a", name, 1)], {name: 1})
        path = os.path.join(self.tmp, "dup.tar")
        with open(path, "wb") as f:
            w = TarWriter(f)
            w.regular("modl-manifest.json", json.dumps(doc).encode())
            w.close()
        r = self.run_modl("cache", "import", path)
        self.assertExit(r, 8)
        self.assertOneLineError(r, path, "listed twice")
        doc = manifest_doc([("a", name, 1)], {name: 1})
        doc["blobs"].append({"name": name, "size": 1})
        with open(path, "wb") as f:
            w = TarWriter(f)
            w.regular("modl-manifest.json", json.dumps(doc).encode())
            w.close()
        r = self.run_modl("cache", "import", path)
        self.assertExit(r, 8)
        self.assertOneLineError(r, path, "twice")


class Bombs(BundleCase):
    """A few KB of bundle that unpacks to far more than the disk: refused before writing."""

    def setUp(self):
        super().setUp()
        self.target = os.path.join(self.tmp, "small")
        self.mount_tmpfs(self.target, "64m")
        # the cache already holds a repo, which must not change
        os.makedirs(self.target + "/hub")
        with open(os.path.join(self.tmp, "good.tar"), "wb") as f:
            f.write(bundle_bytes({"config.json": b"{}"}))
        self.assertExit(self.run_modl("cache", "import", os.path.join(self.tmp, "good.tar"), HF_HOME=self.target), 0)

    def assertBombRefused(self, bundle, code, *fragments):
        before = tree_state(self.target)
        used_before = tree_bytes(self.target)
        r, most = self.import_watching(bundle, self.target)
        self.assertExit(r, code)
        self.assertOneLineError(r, bundle, *fragments)
        self.assertLess(most - used_before, 1 << 20, "wrote %d bytes" % (most - used_before))
        self.assertEqual(tree_state(self.target), before)

    def test_sparse_entry_claiming_a_tebibyte(self):
        size = 1 << 40
        name = hashlib.sha256(b"never").hexdigest()
        doc = manifest_doc([("w.bin", name, size)], {name: size})
        path = os.path.join(self.tmp, "sparse.tar")
        with open(path, "wb") as f:
            w = TarWriter(f)
            w.regular("modl-manifest.json", json.dumps(doc).encode())
            # PAX 1.0 sparse file: a map of one 1-byte region at the very end, the rest hole
            sparse_map = b"1\n%d\n1\n" % (size - 1)
            data = sparse_map.ljust(512, b"\0") + b"x"
            info = tarfile.TarInfo("%s/blobs/GNUSparseFile.0/%s" % (FOLDER, name))
            info.size = len(data)
            info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                                "GNU.sparse.name": "%s/blobs/%s" % (FOLDER, name),
                                "GNU.sparse.realsize": str(size)}
            w.t.addfile(info, io.BytesIO(data))
            w.close()
        self.assertLess(os.path.getsize(path), 20_000)
        self.assertBombRefused(path, 8, "sparse")

    def zstd_bomb(self, listed):
        """A tar.zst of 1 GiB of zeros in one blob entry, the manifest listing `listed` bytes."""
        size = 1 << 30
        name = hashlib.sha256(b"zeros?").hexdigest()
        doc = manifest_doc([("w.bin", name, listed)], {name: listed})
        path = os.path.join(self.tmp, "bomb.tar.zst")
        manifest = json.dumps(doc).encode()
        info = tarfile.TarInfo("modl-manifest.json")
        info.size = len(manifest)
        head = info.tobuf(format=tarfile.PAX_FORMAT) + manifest.ljust((len(manifest) + 511) // 512 * 512, b"\0")
        info = tarfile.TarInfo("%s/blobs/%s" % (FOLDER, name))
        info.size = size
        head += info.tobuf(format=tarfile.PAX_FORMAT)
        with open(path, "wb") as out:
            z = subprocess.Popen(["zstd", "-q", "-1", "-c"], stdin=subprocess.PIPE, stdout=out)
            z.stdin.write(head)
            chunk = bytes(1 << 20)
            for _ in range(size >> 20):
                z.stdin.write(chunk)
            z.stdin.write(bytes(1024))  # end of archive
            z.stdin.close()
            self.assertEqual(z.wait(), 0)
        self.assertLess(os.path.getsize(path), 200_000)
        return path

    def test_zstd_of_a_gibibyte_of_zeros(self):
        # The manifest honestly lists 1 GiB: more than the cache's file system has free,
        # so nothing is written (a disk-full failure, exit 1).
        path = self.zstd_bomb(1 << 30)
        self.assertBombRefused(path, 1, "free")
        # The manifest lists a small blob: the entry's size disagrees before any write.
        path = self.zstd_bomb(1000)
        self.assertBombRefused(path, 8, "the manifest says 1000")


class FullDiskExport(BundleCase):
    def test_export_to_a_full_disk_names_the_file_and_the_reason(self):
        with open(os.path.join(self.tmp, "in.tar"), "wb") as f:
            f.write(bundle_bytes({"model.bin": os.urandom(400_000)}))
        self.assertExit(self.run_modl("cache", "import", os.path.join(self.tmp, "in.tar")), 0)
        small = os.path.join(self.tmp, "full")
        self.mount_tmpfs(small, "128k")
        for name in ("b.tar", "b.tar.gz", "b.tar.zst"):
            out = os.path.join(small, name)
            r = self.run_modl("cache", "export", "acme/bundle", "-o", out)
            self.assertExit(r, 1)
            self.assertOneLineError(r, out, os.strerror(28))  # ENOSPC
            self.assertEqual(os.listdir(small), [], "a partial bundle was left")


class Interrupted(BundleCase):
    """An import fed slowly from a pipe, interrupted or pruned in the middle."""

    def setUp(self):
        super().setUp()
        self.bundle = bundle_bytes({"model.bin": os.urandom(300_000), "config.json": b"{}"})
        # everything up to the middle of the big blob: the manifest is in, staging exists
        self.head, self.tail = self.bundle[:150_000], self.bundle[150_000:]

    def start_import(self):
        os.makedirs(self.cache, exist_ok=True)
        p = subprocess.Popen([MODL, "cache", "import", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=self.env())
        self.addCleanup(lambda: p.poll() is None and p.kill())
        p.stdin.write(self.head)
        p.stdin.flush()
        deadline = time.monotonic() + 20
        while not stagings(self.cache) and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.02)
        self.assertEqual(len(stagings(self.cache)), 1, "no staging folder appeared")
        time.sleep(0.2)  # the importer is now blocked reading the rest
        return p

    def test_sigint_and_sigterm_remove_the_staging(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            p = self.start_import()
            p.send_signal(sig)
            try:
                _, err = p.communicate(timeout=10)  # stdin stays open: the read must give up
            except subprocess.TimeoutExpired:
                self.fail("the import did not stop on %s" % sig.name)
            # cleaned up, then died of the signal itself (shell status 128+n)
            self.assertEqual(p.returncode, -sig, err)
            self.assertNotIn(b"Sanitizer", err)
            self.assertEqual(stagings(self.cache), [])
            self.assertFalse(os.path.exists(os.path.join(self.cache, FOLDER)))

    def test_prune_keeps_a_live_import_however_old(self):
        p = self.start_import()
        staging = os.path.join(self.cache, stagings(self.cache)[0])
        os.utime(staging, (time.time() - 7200, time.time() - 7200))
        # a dead import's staging (nobody holds its lock) goes, whatever its age
        dead = os.path.join(self.cache, ".modl-import-dead01")
        os.makedirs(os.path.join(dead, FOLDER))
        r = self.run_modl("cache", "prune", "-y")
        self.assertExit(r, 0)
        self.assertTrue(os.path.isdir(staging), r)
        self.assertFalse(os.path.exists(dead), r)
        out, err = p.communicate(self.tail, timeout=30)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(stagings(self.cache), [])
        self.assertExit(self.run_modl("verify", "acme/bundle", HF_HUB_OFFLINE="1"), 0)

    def test_prune_takes_the_lock_before_removing(self):
        # a staging whose lock a live process holds is kept even when prune planned it
        staging = os.path.join(self.cache, ".modl-import-held01")
        os.makedirs(staging)
        fd = os.open(staging, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            r = self.run_modl("cache", "prune", "-y")
            self.assertExit(r, 0)
            self.assertTrue(os.path.isdir(staging))
        finally:
            os.close(fd)
        self.assertExit(self.run_modl("cache", "prune", "-y"), 0)
        self.assertFalse(os.path.exists(staging))


if __name__ == "__main__":
    unittest.main()
