"""Issue 11: pull and cache hardening. A prune or rm while a pull runs, a read-only cache,
the state a kill -9 during `cache rm` leaves, a full disk. Some tests mount (a read-only
bind mount, a small tmpfs) and so need root; they say so when they skip."""
import json
import os
import shutil
import subprocess
import time
import unittest

from modltest import MODL, git_blob_sha1
from test_pull import PullCase, REPO, big_bytes


def can_mount():
    return os.geteuid() == 0 and shutil.which("mount") is not None


class HardeningPull(PullCase):
    def wait_for(self, cond, timeout=20, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.02)
        self.fail("timed out waiting for " + what)

    def committed_blobs(self):
        try:
            names = os.listdir(os.path.join(self.folder, "blobs"))
        except OSError:
            return []
        return [n for n in names if not n.endswith((".incomplete", ".chunks"))]

    def start_slow_pull(self, bps=250_000, *args):
        """A pull whose weights/big.bin (700 kB) trickles at bps; the small files land first."""
        self.hub.faults({"server": "cdn", "action": "throttle", "bps": bps, "times": -1,
                         "path_re": sha256_of(self.files["weights/big.bin"])})
        return subprocess.Popen([MODL, "pull", REPO, *args], env=self.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=self.tmp)

    # ---- item 1: prune / rm while a pull runs --------------------------------------------
    def test_prune_and_rm_during_a_pull_lose_nothing(self):
        proc = self.start_slow_pull()
        # Deterministic: the small files are committed while big.bin still trickles.
        self.wait_for(lambda: len(self.committed_blobs()) >= 3, what="the first blobs")
        self.assertIsNone(proc.poll())
        prune = self.run_modl("cache", "prune", "-y")
        self.assertExit(prune, 0)
        rm = self.run_modl("cache", "rm", REPO, "-y")
        self.assertExit(rm, 0)
        self.assertIsNone(proc.poll(), "the pull must still run while prune and rm ran")
        self.assertIn("skip", rm.out)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(out.decode().splitlines()[-1], self.snapshot())
        self.assertSnapshotComplete()
        self.hub.reset()
        self.assertExit(self.run_modl("verify", REPO), 0)

    def test_rm_before_the_first_partial_exists(self):
        # The pull holds big.bin's lock while it asks the Hub about it (told to come back
        # in 2 s here), before any partial file exists: `cache rm` must see that lock (and
        # the snapshot's) too.
        self.hub.faults({"server": "api", "method": "HEAD", "path_re": "weights/big.bin",
                         "action": "status", "code": 503, "headers": {"Retry-After": "2"}, "times": 1})
        proc = subprocess.Popen([MODL, "pull", REPO], env=self.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=self.tmp)
        others = {os.path.basename(self.blob(p)) for p in self.files if p != "weights/big.bin"}
        self.wait_for(lambda: others <= set(self.committed_blobs()), what="every other blob")
        self.assertEqual([n for n in os.listdir(os.path.join(self.folder, "blobs")) if "incomplete" in n], [])
        self.assertIsNone(proc.poll())
        self.assertFalse(os.path.exists(self.blob("weights/big.bin") + ".incomplete"))
        rm = self.run_modl("cache", "rm", REPO, "-y")
        self.assertExit(rm, 0)
        self.assertIn("skip", rm.out)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        self.assertSnapshotComplete()
        self.hub.reset()
        self.assertExit(self.run_modl("verify", REPO), 0)

    def test_prune_while_a_new_revision_is_pulled(self):
        # The repo has main at an older commit: the snapshot being filled is detached.
        self.assertExit(self.pull(), 0)
        old = self.commit
        from hubfixture import make_repo
        self.files["config.json"] = b'{"dim": 65}\n'
        self.files["weights/big.bin"] = big_bytes(700_001, seed=3)
        make_repo(self.hub_root, "models", REPO, self.files)
        st, _, body = self.hub.request("GET", "/api/models/" + REPO)
        self.commit = json.loads(body)["sha"]
        self.assertNotEqual(old, self.commit)
        self.hub.reset()
        proc = self.start_slow_pull()
        # Deterministic: the new config.json is committed while big.bin still trickles.
        self.wait_for(lambda: os.path.exists(self.blob("config.json")), what="the new config.json blob")
        self.assertIsNone(proc.poll())
        self.assertExit(self.run_modl("cache", "prune", "-y"), 0)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        self.assertSnapshotComplete()
        self.hub.reset()
        self.assertExit(self.run_modl("verify", REPO), 0)

    # ---- item 2: a read-only cache -------------------------------------------------------
    @unittest.skipUnless(can_mount(), "needs root for a read-only bind mount")
    def test_cached_repo_pulls_from_a_read_only_cache(self):
        self.assertExit(self.pull(), 0)
        self.hub.reset()
        subprocess.run(["mount", "--bind", self.cache, self.cache], check=True)
        try:
            subprocess.run(["mount", "-o", "remount,ro,bind", self.cache], check=True)
            r = self.pull()
        finally:
            subprocess.run(["umount", self.cache], check=True)
        self.assertExit(r, 0)
        self.assertEqual(r.out.splitlines()[-1], self.snapshot())
        self.assertEqual(self.cdn_gets(), [])

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"), "needs root and setpriv")
    def test_cached_repo_pulls_for_a_user_who_cannot_write_the_cache(self):
        # Another user's cache (modes 0755/0644): the lock files open read-only.
        self.assertExit(self.pull(), 0)
        self.hub.reset()
        os.chmod(self.tmp, 0o755)
        before = subprocess.run(["find", self.cache, "-printf", "%p %i %T@\n"], stdout=subprocess.PIPE).stdout
        proc = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                               MODL, "pull", REPO], env=self.env(MODL_CHUNK_BYTES="65536"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/", timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode()[-2000:])
        self.assertEqual(proc.stdout.decode().splitlines()[-1], self.snapshot())
        after = subprocess.run(["find", self.cache, "-printf", "%p %i %T@\n"], stdout=subprocess.PIPE).stdout
        self.assertEqual(before, after)  # nothing written, not even a lock file

    # ---- item 3: the state a kill -9 during `cache rm` leaves ----------------------------
    def test_offline_pull_refuses_an_emptied_snapshot(self):
        self.assertExit(self.pull(), 0)
        snap = self.snapshot()
        cases = {
            "empty snapshot, listing gone": lambda: (shutil.rmtree(os.path.join(self.folder, "trees")),
                                                     empty_dir(snap)),
            "empty snapshot, listing kept": lambda: empty_dir(snap),
            "dangling links, listing gone": lambda: (shutil.rmtree(os.path.join(self.folder, "trees")),
                                                     shutil.rmtree(os.path.join(self.folder, "blobs"))),
        }
        for name, damage in cases.items():
            with self.subTest(name):
                shutil.rmtree(self.hf_home)
                self.hub.reset()
                self.assertExit(self.pull(), 0)
                damage()
                r = self.pull(HF_HUB_OFFLINE="1")
                self.assertExit(r, 3)
                self.assertOneLineError(r, "offline", REPO)
                self.assertNotIn(snap, r.out)

    def test_rm_killed_at_each_step_never_leaves_a_usable_ref(self):
        # `cache rm` killed (SIGKILL, through the documented test hook) after each of its
        # removal steps in turn: an offline pull never takes what is left, and a prune
        # cleans it up. Step 1 of a whole repo is its refs.
        for step in (1, 2, 3):
            with self.subTest(step=step):
                shutil.rmtree(self.hf_home, ignore_errors=True)
                self.assertExit(self.pull(), 0)
                r = self.run_modl("cache", "rm", REPO, "-y", MODL_TEST_RM_STOP_AFTER=str(step))
                self.assertEqual(r.rc, -9, r)
                self.assertFalse(os.path.exists(os.path.join(self.folder, "refs", "main")))
                r = self.pull(HF_HUB_OFFLINE="1")
                self.assertExit(r, 3)
                self.assertExit(self.run_modl("cache", "prune", "-y"), 0)
                self.assertFalse(os.path.exists(self.folder))

    # ---- item 4: a full disk -------------------------------------------------------------
    @unittest.skipUnless(can_mount(), "needs root for a small tmpfs")
    def test_disk_full_names_the_file_and_the_reason(self):
        from hubfixture import make_repo
        make_repo(self.hub_root, "models", "acme/large", {"large.bin": big_bytes(2_000_000, seed=5)})
        os.makedirs(self.cache)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", self.cache], check=True)
        try:
            # --jobs 1: .gitattributes lands first, then large.bin fills the disk, then the
            # ref cannot be written either: still the first failure is the one reported.
            for chunk, jobs in ((None, "8"), (str(1 << 16), "8"), (None, "1")):
                with self.subTest(chunk=chunk, jobs=jobs):
                    for name in os.listdir(self.cache):
                        p = os.path.join(self.cache, name)
                        shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
                    r = self.run_modl("pull", "acme/large", "--jobs", jobs, MODL_CHUNK_BYTES=chunk)
                    self.assertExit(r, 1)
                    # The first failure in time, naming the repo file and the partial it
                    # wrote (.gitattributes may be the one that hit the wall first).
                    self.assertOneLineError(r, "No space left on device")
                    self.assertRegex(r.err.splitlines()[-1], r"^modl: (.*: )?(large\.bin|\.gitattributes): "
                                     r"cannot write \S+\.incomplete: No space left on device$")
                    folder = os.path.join(self.cache, "models--acme--large")
                    # Nothing half-written under a final name: a blob is whole and verified.
                    for name in os.listdir(os.path.join(folder, "blobs")):
                        if name.endswith((".incomplete", ".chunks")):
                            continue
                        with open(os.path.join(folder, "blobs", name), "rb") as f:
                            content = f.read()
                        self.assertIn(name, (git_blob_sha1(content), sha256_of(content)))
                    snaps = os.path.join(folder, "snapshots")
                    for d in os.listdir(snaps) if os.path.isdir(snaps) else []:
                        self.assertIn(os.listdir(os.path.join(snaps, d)), ([], [".gitattributes"]))
                    self.assertFalse(os.path.exists(os.path.join(folder, "refs", "main")))
        finally:
            subprocess.run(["umount", self.cache], check=True)


def sha256_of(data):
    from hubfixture import sha256
    return sha256(data)


def empty_dir(path):
    for name in os.listdir(path):
        p = os.path.join(path, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.remove(p)


class ChunkMapDurability(PullCase):
    """Item 5 (issue 12's loose end): a chunk is marked written in the map only after its
    bytes were synced (fdatasync of the partial), so a power loss never leaves a map that
    claims bytes the disk lost. Observed with strace: each mark follows a sync of the
    data file that began after the chunk's last write had completed."""

    @unittest.skipUnless(shutil.which("strace"), "needs strace")
    def test_marks_follow_a_data_sync(self):
        import re
        from hubfixture import make_repo, sha256
        data = big_bytes(3_000_000, seed=9)
        make_repo(self.hub_root, "models", "acme/huge", {"huge.bin": data})
        chunk = 1 << 16
        log = os.path.join(self.tmp, "strace.log")
        # LeakSanitizer cannot run under ptrace.
        env = self.env(MODL_CHUNK_BYTES=str(chunk), ASAN_OPTIONS="detect_leaks=0")
        proc = subprocess.run(["strace", "-f", "-qq", "-s", "0", "-o", log, "-e",
                               "trace=openat,pwrite64,fdatasync", MODL, "pull", "acme/huge", "-q"],
                              env=env, cwd=self.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        header = len("modl-chunks 1 %s %d %d\n" % (sha256(data), len(data), chunk))
        data_fd = map_fd = None
        pending = {}                  # pid -> the call line whose result is not in yet
        last_write = {}               # chunk -> event index its last data write completed at
        sync_starts = []              # event indexes where an fdatasync of the data began
        marks = 0
        with open(log) as f:
            lines = f.read().splitlines()
        for idx, line in enumerate(lines):
            pid, _, rest = line.partition(" ")
            rest = rest.lstrip()  # strace pads short pids
            if rest.startswith("<... "):
                call = pending.pop(pid, "") + rest.split("resumed>", 1)[1]
            elif rest.endswith("<unfinished ...>"):
                pending[pid] = rest[:-len("<unfinished ...>")]
                if rest.startswith("fdatasync(%s" % data_fd):
                    sync_starts.append(idx)
                continue
            else:
                call = rest
            m = re.match(r'openat\(AT_FDCWD, "([^"]*)".*\)\s+=\s+(\d+)', call)
            if m and m.group(1).endswith(sha256(data) + ".incomplete"):
                data_fd = m.group(2)
            elif m and m.group(1).endswith(".incomplete.chunks") and "O_WRONLY" in call:
                map_fd = m.group(2)
            if call.startswith("fdatasync(%s)" % data_fd) and not rest.startswith("<... "):
                sync_starts.append(idx)
            m = re.match(r'pwrite64\((\d+), .*, (\d+), (\d+)\)\s+=\s+\d+', call)
            if not m:
                continue
            if m.group(1) == data_fd:
                start, end = int(m.group(3)), int(m.group(3)) + int(m.group(2))
                for k in range(start // chunk, (end - 1) // chunk + 1):
                    last_write[k] = idx
            elif m.group(1) == map_fd:
                k = int(m.group(3)) - header
                marks += 1
                self.assertTrue(any(last_write.get(k, -1) < s < idx for s in sync_starts),
                                "chunk %d marked at event %d without a sync of its bytes" % (k, idx))
        self.assertIsNotNone(map_fd)
        self.assertGreaterEqual(marks, 3)  # one batch per 8 written chunks, of 46
