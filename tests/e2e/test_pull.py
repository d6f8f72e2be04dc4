"""End-to-end tests of `modl pull` and `modl verify` against the local test hub, with its
fault injection: every promise of issue 3 that can be observed from outside."""
import fnmatch
import json
import os
import signal
import subprocess
import threading
import time

from modltest import MODL, ModlTestCase, make_repo, git_blob_sha1, sha256, tiny_model_files

TOKEN = "hf_pullTestToken0123456789"
CHUNK = 65536  # MODL_CHUNK_BYTES: small chunks exercise ranged transfers on small files
REPO = "acme/tiny"


def big_bytes(n, seed=7):
    """Deterministic incompressible bytes."""
    out = bytearray()
    block = seed.to_bytes(4, "little")
    while len(out) < n:
        block = sha256(block).encode()
        out += bytes.fromhex(block.decode()) * 4
    return bytes(out[:n])


class PullCase(ModlTestCase):
    def setUp(self):
        super().setUp()
        self.files = tiny_model_files()
        self.files["weights/big.bin"] = big_bytes(700_000)
        self.files["original/params.json"] = b'{"dim": 64}\n'
        self.files["empty.txt"] = b""
        make_repo(self.hub_root, "models", REPO, self.files)
        with open(os.path.join(self.hub_root, "models/acme/tiny/.gitattributes"), "rb") as f:
            self.files[".gitattributes"] = f.read()
        from hubfixture import write_users
        write_users(self.hub_root, {TOKEN: {"name": "alice", "orgs": []}})
        self.start_hub()
        st, _, body = self.hub.request("GET", "/api/models/" + REPO)
        self.commit = json.loads(body)["sha"]
        self.hub.reset()

    # ---- helpers ----
    def pull(self, *args, **env):
        env.setdefault("MODL_CHUNK_BYTES", str(CHUNK))
        return self.run_modl("pull", REPO, *args, **env)

    @property
    def cache(self):
        return os.path.join(self.hf_home, "hub")

    @property
    def folder(self):
        return os.path.join(self.cache, "models--acme--tiny")

    def snapshot(self, commit=None):
        return os.path.join(self.folder, "snapshots", commit or self.commit)

    @staticmethod
    def expected_hash(path, data):
        return sha256(data) if path.endswith((".bin", ".safetensors")) else git_blob_sha1(data)

    def blob(self, path):
        return os.path.join(self.folder, "blobs", self.expected_hash(path, self.files[path]))

    def assertSnapshotComplete(self, files=None):
        files = files if files is not None else self.files
        for path, data in files.items():
            link = os.path.join(self.snapshot(), path)
            self.assertTrue(os.path.islink(link), path)
            target = os.readlink(link)
            self.assertFalse(os.path.isabs(target), target)
            self.assertEqual(os.path.normpath(os.path.join(os.path.dirname(link), target)),
                             self.blob(path))
            with open(link, "rb") as f:
                self.assertEqual(f.read(), data, path)

    def resolve_requests(self):
        return [e for e in self.hub.log() if "/resolve" in e["path"] or e["server"] == "cdn"]

    def cdn_gets(self, path=None):
        return [e for e in self.hub.log() if e["server"] == "cdn" and e["method"] == "GET"
                and (path is None or sha256(self.files[path]) in e["path"])]

    def no_partial_left(self):
        blobs = os.listdir(os.path.join(self.folder, "blobs"))
        return [b for b in blobs if not b.endswith((".incomplete", ".chunks"))]


class Basics(PullCase):
    def test_pull_writes_the_cache_layout(self):
        r = self.pull()
        self.assertExit(r, 0)
        self.assertEqual(r.out.splitlines()[-1], self.snapshot())
        self.assertSnapshotComplete()
        with open(os.path.join(self.folder, "refs", "main"), "rb") as f:
            self.assertEqual(f.read(), self.commit.encode())  # no trailing newline
        blobs = sorted(os.listdir(os.path.join(self.folder, "blobs")))
        self.assertEqual(blobs, sorted({self.expected_hash(p, d) for p, d in self.files.items()}))
        self.assertTrue(os.path.exists(os.path.join(self.cache, "CACHEDIR.TAG")))
        with open(os.path.join(self.folder, "trees", self.commit + ".json")) as f:
            tree = json.load(f)
        self.assertEqual(tree["format_version"], 1)
        self.assertEqual(tree["files"]["weights/big.bin"]["lfs_sha256"], sha256(self.files["weights/big.bin"]))
        # The license line comes before the transfers.
        self.assertIn("license mit, not gated", r.err.splitlines()[0])

    def test_files_fetched_at_the_commit_with_ranges_for_large_files(self):
        self.assertExit(self.pull(), 0)
        heads = [e for e in self.hub.log() if e["method"] == "HEAD" and "/resolve/" in e["path"]
                 and e["path"].startswith("/" + REPO)]
        self.assertEqual(len(heads), len(self.files))
        for e in heads:
            self.assertIn("/resolve/%s/" % self.commit, e["path"])
        big = self.cdn_gets("weights/big.bin")
        self.assertEqual(len(big), -(-len(self.files["weights/big.bin"]) // CHUNK))
        self.assertTrue(all(e["headers"].get("range", "").startswith("bytes=") for e in big))

    def test_second_pull_makes_only_metadata_requests(self):
        self.assertExit(self.pull(), 0)
        self.hub.reset()
        r = self.pull("--json")
        self.assertExit(r, 0)
        self.assertEqual(self.resolve_requests(), [])
        doc = r.json()
        self.assertEqual(doc["downloaded"], 0)
        self.assertEqual(doc["cached"], len(self.files))

    def test_json_summary(self):
        r = self.pull("--json")
        self.assertExit(r, 0)
        doc = r.json()
        self.assertEqual(doc["commit"], self.commit)
        self.assertEqual(doc["path"], self.snapshot())
        self.assertEqual(doc["downloaded"], len(self.files))
        self.assertEqual(doc["verified"], len(self.files))
        self.assertEqual(doc["failed"], 0)
        self.assertEqual(doc["bytes"], sum(len(d) for d in self.files.values()))
        self.assertEqual(doc["bytes_downloaded"], doc["bytes"])
        self.assertIsInstance(doc["seconds"], float)
        self.assertEqual(r.err, "")  # --json: no progress

    def test_quiet_prints_only_the_path(self):
        r = self.pull("-q")
        self.assertExit(r, 0)
        self.assertEqual(r.out, self.snapshot() + "\n")
        self.assertEqual(r.err, "")

    def test_include_exclude_and_files(self):
        r = self.pull("--include", "*.json", "--exclude", "original/", "--json")
        self.assertExit(r, 0)
        got = sorted(f["path"] for f in r.json()["files"])
        self.assertEqual(got, sorted(p for p in self.files if fnmatch.fnmatch(p, "*.json")
                                     and not p.startswith("original/")))
        self.assertIn("config.json", got)
        r = self.pull("--include", "original/", "--json")
        self.assertEqual([f["path"] for f in r.json()["files"]], ["original/params.json"])
        r = self.pull("config.json", "weights/big.bin", "--json")
        self.assertExit(r, 0)
        self.assertEqual(sorted(f["path"] for f in r.json()["files"]), ["config.json", "weights/big.bin"])
        self.assertSnapshotComplete({p: self.files[p] for p in ("config.json", "weights/big.bin", "original/params.json")})
        self.assertExit(self.pull("config.json", "--include", "*"), 2)

    def test_missing_file_is_not_found_and_recorded(self):
        r = self.pull("nope.txt")
        self.assertExit(r, 4)
        self.assertOneLineError(r, "nope.txt", "not found")
        self.assertTrue(os.path.exists(os.path.join(self.folder, ".no_exist", self.commit, "nope.txt")))

    def test_dry_run_downloads_nothing(self):
        self.assertExit(self.pull("config.json"), 0)
        self.hub.reset()
        r = self.pull("--dry-run")
        self.assertExit(r, 0)
        self.assertEqual(self.resolve_requests(), [])
        self.assertRegex(r.out, r"(?m)^cached\s+576 B\s+config\.json$")
        self.assertRegex(r.out, r"(?m)^download\s+700 kB\s+weights/big\.bin$")
        self.assertIn("%d of %d files to download" % (len(self.files) - 1, len(self.files)), r.out)

    def test_force_downloads_again(self):
        self.assertExit(self.pull("config.json"), 0)
        self.hub.reset()
        r = self.pull("config.json", "--force", "--json")
        self.assertExit(r, 0)
        self.assertEqual(r.json()["downloaded"], 1)

    def test_branch_and_commit_revisions(self):
        make_repo(self.hub_root, "models", REPO, dict(self.files, **{"config.json": b"{}"}), branch="dev")
        r = self.run_modl("pull", REPO + "@dev", "config.json")
        self.assertExit(r, 0)
        with open(os.path.join(self.folder, "refs", "dev")) as f:
            dev = f.read()
        self.assertNotEqual(dev, self.commit)
        self.assertEqual(r.out.strip(), self.snapshot(dev))
        r = self.run_modl("pull", REPO + "@" + self.commit, "config.json")
        self.assertExit(r, 0)
        self.assertEqual(sorted(os.listdir(os.path.join(self.folder, "refs"))), ["dev"])

    def test_local_dir(self):
        target = os.path.join(self.tmp, "out")
        r = self.pull("--local-dir", target)
        self.assertExit(r, 0)
        self.assertEqual(r.out.splitlines()[-1], target)
        for path, data in self.files.items():
            p = os.path.join(target, path)
            self.assertFalse(os.path.islink(p))
            with open(p, "rb") as f:
                self.assertEqual(f.read(), data)
            with open(os.path.join(target, ".cache/huggingface/download", path + ".metadata")) as f:
                commit, etag, ts = f.read().split("\n")[:3]
            self.assertEqual(commit, self.commit)
            self.assertEqual(etag, self.expected_hash(path, data))
            self.assertGreater(int(ts), 0)
        self.assertFalse(os.path.exists(self.folder))
        self.hub.reset()
        r = self.pull("--local-dir", target, "--json")
        self.assertExit(r, 0)
        self.assertEqual(r.json()["downloaded"], 0)
        self.assertEqual(self.resolve_requests(), [])


class Integrity(PullCase):
    def test_corrupt_byte_is_caught_and_fetched_again(self):
        self.hub.faults({"server": "cdn", "action": "corrupt", "offset": 5,
                         "path_re": sha256(self.files["weights/big.bin"])})
        # One connection: the first request for the file is the range that holds byte 5.
        r = self.pull("--connections", "1")
        self.assertExit(r, 0)
        self.assertIn("sha256 mismatch", r.err)
        self.assertSnapshotComplete()

    def test_persistent_corruption_fails_with_exit_6_and_leaves_no_blob(self):
        self.hub.faults({"server": "cdn", "action": "corrupt", "offset": 5, "times": -1})
        r = self.pull("weights/big.bin")
        self.assertExit(r, 6)
        good = sha256(self.files["weights/big.bin"])
        self.assertOneLineError(r, "weights/big.bin", "expected " + good, "got ")
        self.assertFalse(os.path.exists(self.blob("weights/big.bin")))
        self.assertFalse(os.path.lexists(os.path.join(self.snapshot(), "weights/big.bin")))

    def test_corrupt_small_git_file(self):
        self.hub.faults({"server": "api", "path_re": "^/api/resolve-cache/", "method": "GET",
                         "action": "corrupt", "offset": 3, "times": -1})
        r = self.pull("config.json")
        self.assertExit(r, 6)
        self.assertOneLineError(r, "config.json", "git sha1 mismatch", git_blob_sha1(self.files["config.json"]))
        self.assertEqual(self.no_partial_left(), [])

    def test_html_error_page_never_becomes_a_blob(self):
        self.hub.faults({"server": "cdn", "action": "html", "code": 200, "times": -1})
        r = self.pull("model.safetensors")
        self.assertNotEqual(r.rc, 0)
        self.assertIn(r.rc, (3, 6))
        self.assertFalse(os.path.exists(self.blob("model.safetensors")))
        self.assertFalse(os.path.lexists(os.path.join(self.snapshot(), "model.safetensors")))

    def test_oversized_answer_is_refused(self):
        # A whole-file answer longer than the listed size is hostile (issue 11): exit 8
        # before a byte is written, and not retried.
        data = self.files["model.safetensors"]
        self.hub.faults({"server": "cdn", "method": "GET", "action": "status", "code": 200,
                         "body": "x" * (len(data) + 1000)})
        r = self.pull("model.safetensors", MODL_CHUNK_BYTES=str(4 << 20))
        self.assertExit(r, 8)
        self.assertOneLineError(r, "model.safetensors", str(len(data)))
        self.assertFalse(os.path.exists(self.blob("model.safetensors")))
        self.assertEqual(len([e for e in self.hub.log() if e["server"] == "cdn"]), 1)

    def test_verify_finds_a_flipped_byte(self):
        self.assertExit(self.pull(), 0)
        r = self.run_modl("verify", REPO)
        self.assertExit(r, 0)
        self.assertIn("%d verified, 0 bad" % len(self.files), r.out)
        blob = self.blob("weights/big.bin")
        with open(blob, "r+b") as f:
            f.seek(1234)
            b = f.read(1)
            f.seek(1234)
            f.write(bytes([b[0] ^ 1]))
        for env in ({}, {"HF_HUB_OFFLINE": "1"}):
            r = self.run_modl("verify", REPO, "--json", **env)
            self.assertExit(r, 6)
            doc = r.json()
            bad = [f for f in doc["files"] if f["status"] == "bad"]
            self.assertEqual([f["path"] for f in bad], ["weights/big.bin"])
            self.assertEqual(bad[0]["expected"], sha256(self.files["weights/big.bin"]))
            self.assertEqual(doc["verified"], len(self.files) - 1)
        # Offline without the recorded listing: against the blob names.
        os.remove(os.path.join(self.folder, "trees", self.commit + ".json"))
        r = self.run_modl("verify", REPO, HF_HUB_OFFLINE="1")
        self.assertExit(r, 6)
        self.assertIn("BAD      weights/big.bin", r.out)
        self.assertOneLineError(r, "weights/big.bin")

    def test_verify_not_cached(self):
        r = self.run_modl("verify", REPO)
        self.assertExit(r, 4)
        self.assertOneLineError(r, "not in the cache")


class Faults(PullCase):
    def assertPullSurvives(self, *faults, **env):
        self.hub.faults(list(faults))
        r = self.pull(**env)
        self.assertExit(r, 0)
        self.assertSnapshotComplete()
        return r

    def test_dropped_connection(self):
        self.assertPullSurvives({"server": "cdn", "action": "drop", "after": 1000, "times": 3})

    def test_200_for_a_range_request(self):
        self.assertPullSurvives({"server": "cdn", "action": "ignore_range", "times": 2})

    def test_wrong_content_range(self):
        self.assertPullSurvives({"server": "cdn", "action": "bad_content_range", "times": 2})

    def test_short_body(self):
        self.assertPullSurvives({"server": "cdn", "action": "short", "bytes": 10, "times": 2})

    def test_5xx_and_429(self):
        self.assertPullSurvives({"server": "cdn", "action": "status", "code": 503, "times": 2},
                                {"server": "api", "method": "HEAD", "path_re": "/resolve/", "action": "status",
                                 "code": 429, "retry_after": 1},
                                {"server": "api", "path_re": "^/api/resolve-cache/", "method": "GET",
                                 "action": "status", "code": 500})

    def test_stall(self):
        self.assertPullSurvives({"server": "cdn", "action": "stall", "seconds": 4}, HF_HUB_DOWNLOAD_TIMEOUT="1")

    def test_expired_cdn_url_triggers_a_fresh_head(self):
        self.hub.faults({"server": "cdn", "action": "expire", "path_re": sha256(self.files["weights/big.bin"])})
        r = self.pull("weights/big.bin")
        self.assertExit(r, 0)
        heads = [e for e in self.hub.log() if e["method"] == "HEAD" and "weights/big.bin" in e["path"]]
        self.assertEqual(len(heads), 2)
        self.assertSnapshotComplete({"weights/big.bin": self.files["weights/big.bin"]})

    def test_network_failure_after_retries_is_exit_3(self):
        self.hub.faults({"server": "cdn", "action": "status", "code": 503, "times": -1})
        r = self.pull("weights/big.bin", MODL_MAX_RETRIES="1")
        self.assertExit(r, 3)
        self.assertOneLineError(r, "weights/big.bin")
        self.assertFalse(os.path.exists(self.blob("weights/big.bin")))

    def assertRangeTriesBounded(self, fault):
        """One range that keeps failing is tried at most MODL_MAX_RETRIES + 1 times in all:
        one retry policy, not a loop around another loop."""
        big = sha256(self.files["weights/big.bin"])
        self.hub.faults(dict(fault, server="cdn", path_re=big, only_range=True, times=-1))
        r = self.pull("weights/big.bin", MODL_MAX_RETRIES="3")
        self.assertExit(r, 3)
        self.assertOneLineError(r, "big.bin")
        tries = {}
        for e in self.cdn_gets("weights/big.bin"):
            tries[e["headers"].get("range")] = tries.get(e["headers"].get("range"), 0) + 1
        self.assertTrue(tries)
        self.assertLessEqual(max(tries.values()), 3 + 1, tries)
        self.assertFalse(os.path.exists(self.blob("weights/big.bin")))

    def test_a_range_that_keeps_dropping_is_tried_max_retries_plus_one_times(self):
        self.assertRangeTriesBounded({"action": "drop"})

    def test_a_range_that_keeps_failing_with_503_is_tried_max_retries_plus_one_times(self):
        self.assertRangeTriesBounded({"action": "status", "code": 503})

    def test_a_range_that_keeps_coming_short_is_tried_max_retries_plus_one_times(self):
        self.assertRangeTriesBounded({"action": "short", "bytes": 10})

    def test_a_range_with_a_wrong_content_range_is_tried_max_retries_plus_one_times(self):
        self.assertRangeTriesBounded({"action": "bad_content_range"})

    def test_a_range_answered_200_is_tried_max_retries_plus_one_times(self):
        self.assertRangeTriesBounded({"action": "ignore_range"})

    def test_a_url_that_keeps_expiring_is_refreshed_within_the_same_tries(self):
        self.assertRangeTriesBounded({"action": "expire"})
        heads = [e for e in self.hub.log() if e["method"] == "HEAD" and "weights/big.bin" in e["path"]]
        self.assertGreater(len(heads), 1)  # a fresh URL was asked for

    def test_a_range_longer_than_declared_is_tried_once_and_is_exit_8(self):
        big = sha256(self.files["weights/big.bin"])
        self.hub.faults({"server": "cdn", "path_re": big, "only_range": True, "times": -1,
                         "action": "long", "bytes": 100, "declare": True})
        r = self.pull("weights/big.bin", MODL_MAX_RETRIES="3")
        self.assertExit(r, 8)
        ranges = [e["headers"].get("range") for e in self.cdn_gets("weights/big.bin")]
        self.assertTrue(ranges)
        self.assertEqual(len(ranges), len(set(ranges)), ranges)

    def test_hostile_listing_writes_nothing(self):
        for bad in ("../../../evil", "/etc/evil", "a\\\\b", "ok/../../evil"):
            self.hub.reset()
            body = json.dumps([{"type": "file", "oid": "1" * 40, "size": 1, "path": bad}])
            self.hub.faults({"server": "api", "path_re": "/tree/", "action": "status", "code": 200, "body": body})
            r = self.pull()
            self.assertExit(r, 8)
            self.assertFalse(os.path.exists(os.path.join(self.folder, "blobs")) and
                             os.listdir(os.path.join(self.folder, "blobs")))
            self.assertEqual(self.resolve_requests(), [])
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "evil")))

    def test_etag_that_disagrees_with_the_listing(self):
        self.hub.faults({"server": "api", "method": "HEAD", "path_re": "/resolve/.*/config.json",
                         "action": "status", "code": 200,
                         "headers": {"X-Repo-Commit": self.commit, "ETag": '"%s"' % ("0" * 40),
                                     "Content-Length": "576"}})
        r = self.pull("config.json")
        self.assertExit(r, 6)
        self.assertOneLineError(r, "config.json", "ETag")


class Auth(PullCase):
    def setUp(self):
        super().setUp()
        make_repo(self.hub_root, "models", "meta/gated", {"model.safetensors": self.files["weights/big.bin"],
                                                          "README.md": "---\nlicense: llama3.1\n---\n"},
                  settings={"gated": "manual", "allowed_tokens": [TOKEN]})
        self.hub.reset()

    def test_token_never_reaches_the_cdn(self):
        r = self.run_modl("pull", "meta/gated", HF_TOKEN=TOKEN, MODL_CHUNK_BYTES=str(CHUNK))
        self.assertExit(r, 0)
        self.assertIn("license llama3.1, gated (manual approval)", r.err)
        log = self.hub.log()
        cdn = [e for e in log if e["server"] == "cdn"]
        self.assertGreater(len(cdn), 5)
        for e in cdn:
            self.assertNotIn("authorization", e["headers"])
        for e in log:
            if e["server"] == "api":
                self.assertEqual(e["headers"].get("authorization"), "Bearer " + TOKEN)

    def test_gated_without_token(self):
        r = self.run_modl("pull", "meta/gated")
        self.assertExit(r, 5)
        self.assertOneLineError(r, "gated", self.hub.endpoint + "/meta/gated", "no token was sent")
        self.assertEqual([e for e in self.hub.log() if e["server"] == "cdn"], [])

    def test_gated_with_a_token_not_granted(self):
        from hubfixture import write_users
        write_users(self.hub_root, {TOKEN: {"name": "alice"}, "hf_other": {"name": "bob"}})
        r = self.run_modl("pull", "meta/gated", HF_TOKEN="hf_other")
        self.assertExit(r, 5)
        self.assertOneLineError(r, "gated", "a token was sent")


class Offline(PullCase):
    def test_offline_after_a_pull(self):
        self.assertExit(self.pull(), 0)
        self.hub.reset()
        r = self.pull(HF_HUB_OFFLINE="1")
        self.assertExit(r, 0)
        self.assertEqual(r.out.splitlines()[-1], self.snapshot())
        self.assertEqual(self.hub.log(), [])

    def test_offline_not_cached(self):
        r = self.pull(HF_HUB_OFFLINE="1")
        self.assertExit(r, 3)
        self.assertOneLineError(r, "offline")

    def test_offline_incomplete_snapshot(self):
        self.assertExit(self.pull(), 0)
        os.remove(os.path.join(self.snapshot(), "config.json"))
        r = self.pull(HF_HUB_OFFLINE="1")
        self.assertExit(r, 3)
        self.assertOneLineError(r, "lacks 1 file", "config.json")
        # Only what was asked for has to be there.
        self.assertExit(self.pull("--include", "*.bin", HF_HUB_OFFLINE="1"), 0)


class ResumeAndConcurrency(PullCase):
    SIZE = 3_000_000

    def setUp(self):
        super().setUp()
        self.files = {"huge.bin": big_bytes(self.SIZE, seed=11)}
        make_repo(self.hub_root, "models", "acme/huge", self.files)
        st, _, body = self.hub.request("GET", "/api/models/acme/huge")
        self.commit = json.loads(body)["sha"]
        self.hub.reset()

    @property
    def folder(self):
        return os.path.join(self.cache, "models--acme--huge")

    def chunk_map(self):
        path = self.blob("huge.bin") + ".incomplete.chunks"
        with open(path, "rb") as f:
            data = f.read()
        return data[data.index(b"\n") + 1:]

    def test_kill_9_then_resume_fetches_only_the_rest(self):
        self.hub.faults({"server": "cdn", "action": "throttle", "bps": 150_000, "times": -1})
        proc = subprocess.Popen([MODL, "pull", "acme/huge"], env=self.env(MODL_CHUNK_BYTES=str(CHUNK)),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.tmp)
        deadline = time.monotonic() + 30
        done_before = b""
        while time.monotonic() < deadline:
            time.sleep(0.2)
            try:
                done_before = self.chunk_map()
            except (OSError, ValueError):
                continue
            if done_before.count(b"1") >= 8:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done_before = self.chunk_map()  # as it was at the kill
        self.assertGreaterEqual(done_before.count(b"1"), 8)
        self.assertLess(done_before.count(b"1"), len(done_before))
        self.assertFalse(os.path.exists(self.blob("huge.bin")))
        self.hub.reset()
        r = self.run_modl("pull", "acme/huge", "--json", MODL_CHUNK_BYTES=str(CHUNK))
        self.assertExit(r, 0)
        fetched = set()
        for e in self.cdn_gets():
            start = int(e["headers"]["range"].split("=")[1].split("-")[0])
            fetched.add(start // CHUNK)
        already = {i for i, c in enumerate(done_before) if c == ord("1")}
        self.assertEqual(fetched & already, set())  # nothing fetched twice
        self.assertEqual(fetched | already, set(range(len(done_before))))
        self.assertEqual(r.json()["bytes_downloaded"],
                         self.SIZE - sum(min(CHUNK, self.SIZE - i * CHUNK) for i in already))
        self.assertSnapshotComplete()
        self.assertFalse(os.path.exists(self.blob("huge.bin") + ".incomplete"))
        self.assertFalse(os.path.exists(self.blob("huge.bin") + ".incomplete.chunks"))

    def test_resume_rechecks_the_bytes_on_disk(self):
        # A partial whose recorded chunks hold wrong bytes: the final hash catches it and
        # the file is fetched again from scratch.
        self.hub.faults({"server": "cdn", "action": "throttle", "bps": 150_000, "times": -1})
        proc = subprocess.Popen([MODL, "pull", "acme/huge"], env=self.env(MODL_CHUNK_BYTES=str(CHUNK)),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.tmp)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.2)
            try:
                if self.chunk_map().count(b"1") >= 4:
                    break
            except (OSError, ValueError):
                pass
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with open(self.blob("huge.bin") + ".incomplete", "r+b") as f:
            f.seek(10)
            f.write(b"garbage")
        self.hub.reset()
        r = self.run_modl("pull", "acme/huge", MODL_CHUNK_BYTES=str(CHUNK))
        self.assertExit(r, 0)
        self.assertIn("sha256 mismatch", r.err)
        self.assertSnapshotComplete()

    def test_two_pulls_at_once_download_each_blob_once(self):
        self.hub.faults({"server": "cdn", "action": "throttle", "bps": 1_000_000, "times": -1})
        env = self.env(MODL_CHUNK_BYTES=str(CHUNK))
        procs = [subprocess.Popen([MODL, "pull", "acme/huge"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, cwd=self.tmp) for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (out, err) in zip(procs, outs):
            self.assertEqual(p.returncode, 0, err)
            self.assertEqual(out.decode().splitlines()[-1], self.snapshot())
        served = sum(e["bytes_sent"] for e in self.cdn_gets())
        self.assertEqual(served, self.SIZE)
        self.assertSnapshotComplete()


class Progress(PullCase):
    """doc/cli.md: a bar on a terminal; plain lines otherwise; nothing with --quiet/--json."""

    def pull_on_tty(self, *args, **env):
        import pty
        master, slave = pty.openpty()
        env.setdefault("MODL_CHUNK_BYTES", str(CHUNK))
        self.hub.faults({"server": "cdn", "action": "throttle", "bps": 400_000, "times": -1})
        proc = subprocess.Popen([MODL, "pull", REPO, *args], env=self.env(**env), stdout=subprocess.PIPE,
                                stderr=slave, cwd=self.tmp)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        out = proc.stdout.read().decode()
        proc.wait()
        os.close(master)
        return proc.returncode, out, b"".join(chunks).decode("utf-8", "replace")

    def test_bar_on_a_terminal(self):
        rc, out, err = self.pull_on_tty()
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.splitlines()[-1], self.snapshot())
        self.assertIn("\r\x1b[K[", err)           # the bar is redrawn in place
        self.assertRegex(err, r"\] +\d+% [\d.]+ [kM]?B/[\d.]+ [kM]?B [\d.]+ [kM]?B/s")
        self.assertRegex(err, r"\d+/%d files" % len(self.files))
        self.assertNotIn("downloaded config.json", err)  # no per-file lines with a bar

    def test_plain_lines_when_bars_are_disabled(self):
        for env in ({"HF_HUB_DISABLE_PROGRESS_BARS": "1"}, {"NO_COLOR": "1"}):
            self.hub.reset()
            import shutil
            shutil.rmtree(self.hf_home, ignore_errors=True)
            rc, out, err = self.pull_on_tty(**env)
            self.assertEqual(rc, 0, err)
            self.assertNotIn("\x1b[", err)
            self.assertIn("downloaded config.json (576 B)", err)

    def test_nothing_with_quiet_on_a_terminal(self):
        rc, out, err = self.pull_on_tty("--quiet")
        self.assertEqual(rc, 0, err)
        self.assertEqual(err, "")
        self.assertEqual(out, self.snapshot() + "\n")


class Policy(PullCase):
    """pull --policy: the license is checked from the card and license files before any
    weight is fetched; a failing policy stops the pull with exit 7."""

    def setUp(self):
        super().setUp()
        with open(os.path.join(self.tmp, "deny-mit.json"), "w") as f:
            json.dump({"deny": ["mit"]}, f)
        with open(os.path.join(self.tmp, "allow-mit.json"), "w") as f:
            json.dump({"allow": ["mit", "apache-2.0"], "require_commercial_use": True}, f)

    def weight_requests(self):
        return [e for e in self.hub.log()
                if e["server"] == "cdn" or ("/resolve/" in e["path"] and e["path"].endswith((".bin", ".safetensors")))]

    def test_failing_policy_fetches_no_weight(self):
        r = self.pull("--policy", os.path.join(self.tmp, "deny-mit.json"))
        self.assertExit(r, 7)
        self.assertOneLineError(r, "deny-mit.json", "mit")
        self.assertEqual(self.weight_requests(), [])
        # only cards (this one's and its base model's) and the license file were read
        got = {e["path"].split("?")[0].rsplit("/", 1)[-1] for e in self.hub.log()
               if e["method"] in ("GET", "HEAD") and "resolve" in e["path"]}
        self.assertEqual(got, {"LICENSE", "README.md"})
        self.assertFalse(os.path.exists(os.path.join(self.folder, "snapshots")) and
                         os.listdir(os.path.join(self.folder, "snapshots")))

    def test_passing_policy_pulls(self):
        r = self.pull("--policy", os.path.join(self.tmp, "allow-mit.json"))
        self.assertExit(r, 0)
        self.assertIn("license policy", r.err)
        self.assertSnapshotComplete()

    def test_malformed_policy_is_exit_8_before_any_request(self):
        bad = os.path.join(self.tmp, "bad.json")
        with open(bad, "w") as f:
            f.write("{not json")
        r = self.pull("--policy", bad)
        self.assertExit(r, 8)
        self.assertOneLineError(r, "bad.json")
        self.assertEqual(self.weight_requests(), [])

    def test_offline_refuses_a_policy(self):
        self.assertExit(self.pull(), 0)
        r = self.pull("--policy", os.path.join(self.tmp, "allow-mit.json"), HF_HUB_OFFLINE="1")
        self.assertExit(r, 2)
