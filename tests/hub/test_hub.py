"""Tests of the local test Hub (tests/hub/hub.py).

Run from the work tree root:  /usr/bin/python3 -m unittest tests/hub/test_hub.py
"""

import hashlib
import http.client
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from hubfixture import Hub, make_repo, write_users, write_redirects, git_blob_sha1, sha256, lfs_pointer  # noqa: E402

ALICE, BOB, BAD = "hf_alice_token", "hf_bob_token", "hf_not_a_valid_token"
LFS_DATA = bytes((i * 7 + 3) % 251 for i in range(300_000))


def safetensors_blob():
    hdr = json.dumps({"__metadata__": {"format": "pt"},
                      "a": {"dtype": "F32", "shape": [4, 8], "data_offsets": [0, 128]},
                      "b": {"dtype": "BF16", "shape": [10], "data_offsets": [128, 148]}}).encode()
    return struct.pack("<Q", len(hdr)) + hdr + bytes(148)


README = """---
license: apache-2.0
library_name: transformers
pipeline_tag: text-generation
language:
- en
tags:
  - tiny
datasets: [wiki, books]
---
# Tiny model
"""

TINY_FILES = {
    "README.md": README,
    "config.json": json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}),
    "model.safetensors": safetensors_blob(),
    "weights.bin": LFS_DATA,
    "sub/a.txt": "alpha\n",
    "sub/deep/b.txt": "beta\n",
    "empty.txt": b"",
}


def git_hash_object(data):
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(data)
    try:
        return subprocess.check_output(["git", "hash-object", f.name]).decode().strip()
    finally:
        os.unlink(f.name)


def raw_get(url, headers=None, method="GET"):
    """GET returning (status, headers, body, complete) — tolerates truncated bodies."""
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
    try:
        c.request(method, u.path + ("?" + u.query if u.query else ""), headers=headers or {})
        r = c.getresponse()
        hd = {k.lower(): v for k, v in r.getheaders()}
        try:
            return r.status, hd, r.read(), True
        except http.client.IncompleteRead as e:
            return r.status, hd, e.partial, False
    finally:
        c.close()


class HubTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="modl-hub-test-")
        r = cls.root
        make_repo(r, "models", "acme/tiny", TINY_FILES)
        make_repo(r, "models", "acme/tiny", {"config.json": '{"model_type": "llama"}', "dev.txt": "dev"},
                  branch="dev")
        make_repo(r, "models", "acme/tiny", {"pr.txt": "pull request"}, branch="refs/pr/1")
        make_repo(r, "models", "acme/gated", {"config.json": "{}", "model.safetensors": safetensors_blob()},
                  settings={"gated": "manual", "allowed_tokens": [ALICE]})
        make_repo(r, "models", "acme/secret", {"config.json": '{"secret": 1}', "w.bin": b"x" * 1000},
                  settings={"private": True, "allowed_tokens": [ALICE]})
        make_repo(r, "datasets", "acme/data", {"data/train.csv": "a,b\n1,2\n", "big.parquet": b"P" * 5000},
                  lfs_patterns=["*.parquet"])
        write_users(r, {ALICE: {"name": "alice", "fullname": "Alice", "orgs": ["acme"]},
                        BOB: {"name": "bob", "fullname": "Bob", "orgs": []}})
        write_redirects(r, {"models/tiny": "models/acme/tiny"})
        cls.hub = Hub(r, page_size=2).start()

    @classmethod
    def tearDownClass(cls):
        cls.hub.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def setUp(self):
        self.hub.reset()

    def req(self, method, path, token=None, headers=None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        return self.hub.request(method, path, headers=h)

    def info(self, path="/api/models/acme/tiny", token=None):
        st, hd, body = self.req("GET", path, token)
        self.assertEqual(st, 200, body)
        return json.loads(body)

    def tree_all(self, path):
        entries, pages, url = [], 0, self.hub.endpoint + path
        while url:
            st, hd, body, _ = raw_get(url)
            self.assertEqual(st, 200, body)
            page = json.loads(body)
            self.assertLessEqual(len(page), 2)
            entries += page
            pages += 1
            url = None
            if "link" in hd:
                self.assertTrue(hd["link"].startswith("<" + self.hub.endpoint + "/api/"), hd["link"])
                self.assertTrue(hd["link"].endswith('>; rel="next"'))
                url = hd["link"][1:hd["link"].index(">")]
        return entries, pages

    def lfs_location(self, path="/acme/tiny/resolve/main/weights.bin"):
        st, hd, _ = self.req("HEAD", path)
        self.assertEqual(st, 302)
        return hd["location"]

    # ------------------------------------------------------------------ info
    def test_info(self):
        d = self.info()
        for k in ("_id", "id", "modelId", "author", "sha", "lastModified", "createdAt", "private", "gated",
                  "disabled", "tags", "pipeline_tag", "library_name", "downloads", "likes", "cardData",
                  "config", "siblings", "usedStorage", "safetensors"):
            self.assertIn(k, d)
        self.assertEqual(d["id"], "acme/tiny")
        self.assertEqual(d["author"], "acme")
        self.assertRegex(d["sha"], r"^[0-9a-f]{40}$")
        self.assertRegex(d["lastModified"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$")
        self.assertIs(d["gated"], False)
        self.assertEqual(d["cardData"]["license"], "apache-2.0")
        self.assertEqual(d["cardData"]["datasets"], ["wiki", "books"])
        self.assertEqual(d["pipeline_tag"], "text-generation")
        self.assertEqual(d["library_name"], "transformers")
        for t in ("license:apache-2.0", "safetensors", "llama", "tiny", "en", "dataset:wiki", "transformers"):
            self.assertIn(t, d["tags"])
        self.assertEqual(d["config"], {"architectures": ["LlamaForCausalLM"], "model_type": "llama"})
        self.assertEqual(d["safetensors"], {"parameters": {"F32": 32, "BF16": 10}, "total": 42})
        names = [s["rfilename"] for s in d["siblings"]]
        self.assertEqual(sorted(names), sorted(list(TINY_FILES) + [".gitattributes"]))
        self.assertEqual(set(d["siblings"][0]), {"rfilename"})
        # stable sha, and revision/<sha> answers the same sha
        self.assertEqual(self.info()["sha"], d["sha"])
        self.assertEqual(self.info("/api/models/acme/tiny/revision/" + d["sha"])["sha"], d["sha"])
        # expand returns only the asked fields
        e = self.info("/api/models/acme/tiny?expand=sha&expand=gated")
        self.assertEqual(set(e), {"_id", "id", "sha", "gated"})

    def test_info_blobs(self):
        d = self.info("/api/models/acme/tiny?blobs=true")
        sib = {s["rfilename"]: s for s in d["siblings"]}
        w = sib["weights.bin"]
        self.assertEqual(w["size"], len(LFS_DATA))
        self.assertEqual(w["lfs"], {"sha256": sha256(LFS_DATA), "size": len(LFS_DATA),
                                    "pointerSize": len(lfs_pointer(LFS_DATA))})
        self.assertEqual(w["blobId"], git_hash_object(lfs_pointer(LFS_DATA)))
        c = sib["config.json"]
        self.assertNotIn("lfs", c)
        self.assertEqual(c["blobId"], git_hash_object(TINY_FILES["config.json"].encode()))

    def test_dataset(self):
        d = self.info("/api/datasets/acme/data")
        self.assertNotIn("modelId", d)
        self.assertEqual(sorted(s["rfilename"] for s in d["siblings"]),
                         [".gitattributes", "big.parquet", "data/train.csv"])
        st, hd, _ = self.req("HEAD", "/datasets/acme/data/resolve/main/data/train.csv")
        self.assertEqual(st, 307)
        self.assertTrue(hd["location"].startswith("/api/resolve-cache/datasets/acme/data/"), hd["location"])
        st, hd, _ = self.req("HEAD", "/datasets/acme/data/resolve/main/big.parquet")
        self.assertEqual(st, 302)
        self.assertEqual(hd["x-linked-etag"], '"%s"' % sha256(b"P" * 5000))

    # ------------------------------------------------------------------ revisions
    def test_revisions(self):
        main_sha = self.info()["sha"]
        dev = self.info("/api/models/acme/tiny/revision/dev")
        self.assertNotEqual(dev["sha"], main_sha)
        self.assertEqual(sorted(s["rfilename"] for s in dev["siblings"]), [".gitattributes", "config.json", "dev.txt"])
        pr = self.info("/api/models/acme/tiny/revision/refs%2Fpr%2F1")
        self.assertEqual([s["rfilename"] for s in pr["siblings"]], [".gitattributes", "pr.txt"])
        for bad in ("nope", "0" * 40):
            st, hd, body = self.req("GET", "/api/models/acme/tiny/revision/" + bad)
            self.assertEqual(st, 404)
            self.assertEqual(hd["x-error-code"], "RevisionNotFound")
            self.assertIn("error", json.loads(body))
        st, hd, _ = self.req("HEAD", "/acme/tiny/resolve/nope/config.json")
        self.assertEqual((st, hd["x-error-code"]), (404, "RevisionNotFound"))
        st, hd, _ = self.req("HEAD", "/acme/tiny/resolve/%s/dev.txt" % dev["sha"])
        self.assertEqual((st, hd["x-repo-commit"]), (307, dev["sha"]))
        st, hd, body = self.req("GET", "/api/models/acme/tiny/refs")
        self.assertEqual(sorted(b["name"] for b in json.loads(body)["branches"]), ["dev", "main"])

    # ------------------------------------------------------------------ tree
    def test_tree_pagination_and_oids(self):
        entries, pages = self.tree_all("/api/models/acme/tiny/tree/main?recursive=true")
        self.assertGreaterEqual(pages, 5)
        files = {e["path"]: e for e in entries if e["type"] == "file"}
        dirs = {e["path"] for e in entries if e["type"] == "directory"}
        self.assertEqual(sorted(files), sorted(list(TINY_FILES) + [".gitattributes"]))
        self.assertEqual(dirs, {"sub", "sub/deep"})
        for p, content in TINY_FILES.items():
            content = content.encode() if isinstance(content, str) else content
            e = files[p]
            self.assertEqual(e["size"], len(content))
            if p.endswith((".bin", ".safetensors")):
                self.assertEqual(e["lfs"]["oid"], hashlib.sha256(content).hexdigest())
                self.assertEqual(e["lfs"]["size"], len(content))
                self.assertEqual(e["lfs"]["pointerSize"], len(lfs_pointer(content)))
                self.assertEqual(e["oid"], git_hash_object(lfs_pointer(content)))
            else:
                self.assertNotIn("lfs", e)
                self.assertEqual(e["oid"], git_hash_object(content))
                self.assertEqual(e["oid"], git_blob_sha1(content))
        # non-recursive: direct children only, directory entries included
        top, _ = self.tree_all("/api/models/acme/tiny/tree/main")
        self.assertIn({"type": "directory", "oid": [e for e in top if e["path"] == "sub"][0]["oid"],
                       "size": 0, "path": "sub"}, top)
        self.assertFalse(any("/" in e["path"] for e in top))
        sub, _ = self.tree_all("/api/models/acme/tiny/tree/main/sub")
        self.assertEqual(sorted(e["path"] for e in sub), ["sub/a.txt", "sub/deep"])
        st, hd, _ = self.req("GET", "/api/models/acme/tiny/tree/main/missing")
        self.assertEqual((st, hd["x-error-code"]), (404, "EntryNotFound"))

    # ------------------------------------------------------------------ resolve
    def test_resolve_small_file(self):
        sha = self.info()["sha"]
        content = TINY_FILES["config.json"].encode()
        st, hd, body = self.req("HEAD", "/acme/tiny/resolve/main/config.json")
        self.assertEqual(st, 307)
        self.assertEqual(hd["x-repo-commit"], sha)
        self.assertEqual(hd["etag"], '"%s"' % git_blob_sha1(content))
        loc = hd["location"]
        self.assertTrue(loc.startswith("/api/resolve-cache/models/acme/tiny/%s/config.json?" % sha), loc)
        self.assertIn("etag=%22" + git_blob_sha1(content) + "%22", loc)
        st, hd, body = self.req("GET", loc)
        self.assertEqual(st, 200)
        self.assertEqual(body, content)
        self.assertEqual(hd["etag"], '"%s"' % git_blob_sha1(content))
        self.assertEqual(hd["x-repo-commit"], sha)
        self.assertEqual(hd["content-length"], str(len(content)))
        st, hd, body = self.req("GET", loc, headers={"Range": "bytes=2-5"})
        self.assertEqual((st, body, hd["content-range"]), (206, content[2:6], "bytes 2-5/%d" % len(content)))
        # nested path, empty file (served directly), missing file
        st, hd, _ = self.req("HEAD", "/acme/tiny/resolve/main/sub/deep/b.txt")
        self.assertEqual(st, 307)
        st, hd, body = self.req("GET", "/acme/tiny/resolve/main/empty.txt")
        self.assertEqual((st, body, hd["etag"]), (200, b"", '"%s"' % git_blob_sha1(b"")))
        st, hd, body = self.req("HEAD", "/acme/tiny/resolve/main/nope.txt")
        self.assertEqual((st, hd["x-error-code"], hd["x-repo-commit"]), (404, "EntryNotFound", sha))

    def test_resolve_lfs_and_cdn(self):
        sha = self.info()["sha"]
        st, hd, body = self.req("HEAD", "/acme/tiny/resolve/main/weights.bin")
        self.assertEqual(st, 302)
        loc = urllib.parse.urlsplit(hd["location"])
        self.assertEqual(loc.scheme + "://" + loc.netloc, self.hub.cdn)
        self.assertEqual(loc.hostname, "127.0.0.2")
        self.assertEqual(hd["x-linked-etag"], '"%s"' % sha256(LFS_DATA))
        self.assertEqual(hd["x-linked-size"], str(len(LFS_DATA)))
        self.assertEqual(hd["x-repo-commit"], sha)
        self.assertEqual(hd["accept-ranges"], "bytes")
        url = hd["location"]
        st, hd, body, ok = raw_get(url)
        self.assertEqual((st, ok), (200, True))
        self.assertEqual(body, LFS_DATA)
        self.assertEqual(hd["etag"], '"%s"' % sha256(LFS_DATA))
        self.assertEqual(hd["content-type"], "application/octet-stream")
        st, hd, body, _ = raw_get(url, method="HEAD")
        self.assertEqual((st, hd["content-length"], body), (200, str(len(LFS_DATA)), b""))
        n = len(LFS_DATA)
        for rng, a, b in (("bytes=100-199", 100, 199), ("bytes=299990-", 299990, n - 1),
                          ("bytes=-10", n - 10, n - 1), ("bytes=5-999999999", 5, n - 1)):
            st, hd, body, _ = raw_get(url, {"Range": rng})
            self.assertEqual(st, 206, rng)
            self.assertEqual(hd["content-range"], "bytes %d-%d/%d" % (a, b, n))
            self.assertEqual(body, LFS_DATA[a:b + 1])
        st, hd, body, _ = raw_get(url, {"Range": "bytes=%d-" % n})
        self.assertEqual((st, hd["content-range"]), (416, "bytes */%d" % n))
        # tampered / expired signatures
        bad = url.replace("sig=", "sig=0")
        st, hd, body, _ = raw_get(bad)
        self.assertEqual(st, 403)
        self.assertIn(b"<Code>AccessDenied</Code>", body)
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        st, _, _, _ = raw_get(url.replace("expires=" + q["expires"], "expires=1000"))
        self.assertEqual(st, 403)
        # commit-pinned URL
        st, hd, _ = self.req("HEAD", "/acme/tiny/resolve/%s/model.safetensors" % sha)
        self.assertEqual((st, hd["x-linked-size"]), (302, str(len(safetensors_blob()))))

    # ------------------------------------------------------------------ auth
    def test_gated(self):
        d = self.info("/api/models/acme/gated")
        self.assertEqual(d["gated"], "manual")
        self.assertIs(d["private"], False)
        for path in ("/acme/gated/resolve/main/config.json", "/acme/gated/resolve/main/model.safetensors"):
            st, hd, body = self.req("HEAD", path)
            self.assertEqual((st, hd["x-error-code"]), (401, "GatedRepo"))
            self.assertEqual(hd["x-error-message"], "Access to model acme/gated is restricted. You must have "
                             "access to it and be authenticated to access it. Please log in.")
            st, hd, body = self.req("HEAD", path, BOB)
            self.assertEqual((st, hd["x-error-code"]), (403, "GatedRepo"))
            self.assertIn("not in the authorized list", hd["x-error-message"])
        st, hd, body = self.req("GET", "/acme/gated/resolve/main/config.json", ALICE)
        self.assertEqual((st, body), (200, b"{}"))  # private/gated small files: 200 directly, like the Hub
        self.assertIn("x-repo-commit", hd)
        st, hd, _ = self.req("HEAD", "/acme/gated/resolve/main/model.safetensors", ALICE)
        self.assertEqual(st, 302)
        st, hd, body, _ = raw_get(hd["location"])  # CDN needs no token
        self.assertEqual(body, safetensors_blob())

    def test_private(self):
        st, hd, body = self.req("GET", "/api/models/acme/secret")
        self.assertEqual((st, hd["x-error-code"]), (401, "RepoNotFound"))
        st, hd, body = self.req("GET", "/api/models/acme/secret", BOB)
        self.assertEqual((st, hd["x-error-code"]), (404, "RepoNotFound"))
        st, hd, body = self.req("HEAD", "/acme/secret/resolve/main/config.json")
        self.assertEqual((st, hd["x-error-code"]), (401, "RepoNotFound"))
        d = self.info("/api/models/acme/secret", ALICE)
        self.assertIs(d["private"], True)
        st, hd, body = self.req("GET", "/acme/secret/resolve/main/config.json", ALICE)
        self.assertEqual((st, body), (200, b'{"secret": 1}'))
        st, hd, body = self.req("GET", "/api/models/acme/secret/tree/main", ALICE)
        self.assertEqual(st, 200)
        # a missing repo looks the same
        st, hd, _ = self.req("GET", "/api/models/acme/nothing")
        self.assertEqual((st, hd["x-error-code"]), (401, "RepoNotFound"))
        st, hd, _ = self.req("HEAD", "/acme/nothing/resolve/main/x", ALICE)
        self.assertEqual((st, hd["x-error-code"]), (404, "RepoNotFound"))

    def test_tokens_and_whoami(self):
        for m, path in (("GET", "/api/models/acme/tiny"), ("HEAD", "/acme/tiny/resolve/main/config.json"),
                        ("GET", "/api/whoami-v2")):
            st, hd, body = self.req(m, path, BAD)
            self.assertEqual(st, 401, path)
            self.assertEqual(hd["x-error-message"], "Invalid credentials in Authorization header")
        st, hd, body = self.req("GET", "/api/whoami-v2", ALICE)
        self.assertEqual(st, 200)
        w = json.loads(body)
        self.assertEqual((w["type"], w["name"], w["fullname"]), ("user", "alice", "Alice"))
        self.assertEqual([o["name"] for o in w["orgs"]], ["acme"])
        self.assertEqual(w["auth"]["type"], "access_token")
        self.assertEqual(w["auth"]["accessToken"]["role"], "read")
        st, hd, body = self.req("GET", "/api/whoami-v2")
        self.assertEqual((st, json.loads(body)), (401, {"error": "Invalid username or password."}))

    def test_legacy_redirect(self):
        st, hd, body = self.req("GET", "/api/models/tiny")
        self.assertEqual(st, 307)
        self.assertEqual(hd["location"], "/api/models/acme/tiny")
        self.assertTrue(hd["content-type"].startswith("text/plain"))
        self.assertEqual(body, b"Temporary Redirect. Redirecting to /api/models/acme/tiny")
        st, hd, _ = self.req("GET", "/api/models/tiny/revision/dev?blobs=true")
        self.assertEqual(hd["location"], "/api/models/acme/tiny/revision/dev?blobs=true")
        st, hd, _ = self.req("HEAD", "/tiny/resolve/main/sub/a.txt")
        self.assertEqual((st, hd["location"]), (307, "/acme/tiny/resolve/main/sub/a.txt"))

    # ------------------------------------------------------------------ faults
    def test_fault_status_and_429(self):
        self.hub.faults([{"server": "api", "path_re": "^/api/models/acme/tiny$", "action": "status", "code": 503},
                         {"server": "api", "path_re": "/resolve/", "action": "status", "code": 429,
                          "retry_after": 7, "times": 2}])
        st, _, body = self.req("GET", "/api/models/acme/tiny")
        self.assertEqual(st, 503)
        self.assertIn("error", json.loads(body))
        self.assertEqual(self.req("GET", "/api/models/acme/tiny")[0], 200)  # spent after 1
        for _ in range(2):
            st, hd, _ = self.req("HEAD", "/acme/tiny/resolve/main/config.json")
            self.assertEqual(st, 429)
            self.assertEqual(hd["retry-after"], "7")
            self.assertRegex(hd["ratelimit"], r'^"\w+";r=0;t=7$')
            self.assertRegex(hd["ratelimit-policy"], r'^"fixed window";"\w+";q=\d+;w=300$')
        self.assertEqual(self.req("HEAD", "/acme/tiny/resolve/main/config.json")[0], 307)

    def test_fault_drop_short_corrupt(self):
        url = self.lfs_location()
        self.hub.faults([{"server": "cdn", "action": "drop", "after": 1000}])
        st, hd, body, ok = raw_get(url)
        self.assertEqual((st, hd["content-length"], ok, body), (200, str(len(LFS_DATA)), False, LFS_DATA[:1000]))
        self.hub.faults([{"server": "cdn", "method": "GET", "action": "short", "bytes": 50}])
        st, hd, body, ok = raw_get(url, {"Range": "bytes=100-1099"})
        self.assertEqual((st, hd["content-length"], ok, body), (206, "1000", False, LFS_DATA[100:150]))
        self.hub.faults([{"server": "cdn", "action": "corrupt", "offset": 150}])
        st, hd, body, ok = raw_get(url, {"Range": "bytes=100-199"})
        self.assertTrue(ok)
        self.assertEqual(body[50], LFS_DATA[150] ^ 0xFF)
        self.assertEqual(body[:50] + body[51:], LFS_DATA[100:150] + LFS_DATA[151:200])
        st, hd, body, ok = raw_get(url, {"Range": "bytes=100-199"})
        self.assertEqual(body, LFS_DATA[100:200])

    def test_fault_ranges(self):
        url = self.lfs_location()
        self.hub.faults([{"server": "cdn", "action": "ignore_range"}])
        st, _, body, _ = raw_get(url)  # no Range: does not consume the fault
        st, hd, body, _ = raw_get(url, {"Range": "bytes=10-19"})
        self.assertEqual((st, len(body)), (200, len(LFS_DATA)))
        self.assertNotIn("content-range", hd)
        self.hub.faults([{"server": "cdn", "only_range": True, "action": "bad_content_range"}])
        st, hd, body, _ = raw_get(url, {"Range": "bytes=10-19"})
        self.assertEqual((st, hd["content-range"], body), (206, "bytes 11-20/%d" % len(LFS_DATA), LFS_DATA[10:20]))

    def test_fault_stall_throttle(self):
        url = self.lfs_location()
        self.hub.faults([{"server": "cdn", "action": "stall", "seconds": 1}])
        t = time.monotonic()
        st, _, body, _ = raw_get(url, {"Range": "bytes=0-9"})
        self.assertGreaterEqual(time.monotonic() - t, 0.9)
        self.assertEqual(body, LFS_DATA[:10])
        self.hub.faults([{"server": "cdn", "action": "throttle", "bps": 200_000}])
        t = time.monotonic()
        st, _, body, _ = raw_get(url, {"Range": "bytes=0-99999"})
        self.assertGreaterEqual(time.monotonic() - t, 0.35)
        self.assertEqual(body, LFS_DATA[:100000])

    def test_fault_trickle(self):
        url = self.lfs_location()
        self.hub.faults([{"server": "cdn", "action": "trickle", "bps": 20}])
        t = time.monotonic()
        st, _, body, _ = raw_get(url, {"Range": "bytes=0-29"})
        # 30 bytes at 20 B/s from the first byte on: no initial burst
        self.assertGreaterEqual(time.monotonic() - t, 1.3)
        self.assertEqual((st, body), (206, LFS_DATA[:30]))

    def test_fault_long(self):
        url = self.lfs_location()
        self.hub.faults([{"server": "cdn", "action": "long", "bytes": 7}])
        u = urllib.parse.urlsplit(url)
        import socket
        with socket.create_connection((u.hostname, u.port), timeout=20) as sk:
            sk.sendall(("GET %s?%s HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\n" % (u.path, u.query)).encode())
            raw = b""
            while True:
                b = sk.recv(65536)
                if not b:
                    break
                raw += b
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertIn(b"Content-Length: 10\r\n", head)
        self.assertEqual(body, LFS_DATA[:10] + b"x" * 7)
        self.hub.faults([{"server": "cdn", "action": "long", "bytes": 7, "declare": True}])
        st, hd, body, ok = raw_get(url, {"Range": "bytes=0-9"})
        self.assertEqual((st, hd["content-length"], body), (206, "17", LFS_DATA[:10] + b"x" * 7))

    def test_fault_listing(self):
        self.hub.faults([{"server": "api", "path_re": "/tree/", "action": "listing", "entries": 2,
                          "pages": 3, "times": -1}])
        entries, pages = self.tree_all("/api/models/acme/tiny/tree/main?recursive=true")
        self.assertEqual(pages, 3)
        self.assertEqual([e["path"] for e in entries], ["synthetic/%09d.bin" % i for i in range(6)])
        self.assertTrue(all(e["type"] == "file" and len(e["oid"]) == 40 for e in entries))

    def test_fault_expire_html(self):
        url = self.lfs_location()
        self.hub.faults([{"server": "cdn", "action": "expire"}])
        st, hd, body, _ = raw_get(url)
        self.assertEqual(st, 403)
        self.assertIn(b"<Error><Code>AccessDenied</Code>", body)
        self.hub.faults([{"server": "any", "path_re": "/resolve-cache/", "action": "html", "code": 200}])
        st, hd, _ = self.req("HEAD", "/acme/tiny/resolve/main/config.json")
        st, hd, body = self.req("GET", hd["location"])
        self.assertEqual(st, 200)
        self.assertIn(b"502 Bad Gateway", body)
        self.assertEqual(hd["content-length"], str(len(body)))
        self.assertTrue(hd["content-type"].startswith("text/html"))
        st, _, body, _ = raw_get(url)
        self.assertEqual((st, body), (200, LFS_DATA))

    def test_bad_fault_spec(self):
        st, _, _ = self.hub.request("POST", "/_test/faults", body=[{"action": "explode"}])
        self.assertEqual(st, 400)

    # ------------------------------------------------------------------ log
    def test_request_log(self):
        st, hd, _ = self.req("HEAD", "/acme/gated/resolve/main/model.safetensors", ALICE)
        raw_get(hd["location"], {"Range": "bytes=0-9"})
        log = self.hub.log()
        self.assertEqual([(e["server"], e["method"], e["status"]) for e in log],
                         [("api", "HEAD", 302), ("cdn", "GET", 206)])
        api, cdn = log
        self.assertEqual(api["path"], "/acme/gated/resolve/main/model.safetensors")
        self.assertEqual(api["headers"]["authorization"], "Bearer " + ALICE)
        self.assertNotIn("authorization", cdn["headers"])
        self.assertEqual(cdn["headers"]["range"], "bytes=0-9")
        self.assertEqual(cdn["bytes_sent"], 10)
        self.assertIn("sig=", cdn["query"])
        self.hub.reset()
        self.assertEqual(self.hub.log(), [])


class HubProcessTest(unittest.TestCase):
    def test_cli_throttle_and_stdin_eof(self):
        root = tempfile.mkdtemp(prefix="modl-hub-test2-")
        try:
            data = os.urandom(60_000)
            make_repo(root, "models", "a/b", {"x.bin": data})
            hub = Hub(root, throttle=100_000).start()
            try:
                st, hd, _ = hub.request("HEAD", "/a/b/resolve/main/x.bin")
                t = time.monotonic()
                st, _, body, _ = raw_get(hd["location"])
                self.assertEqual(body, data)
                self.assertGreaterEqual(time.monotonic() - t, 0.4)
                proc = hub.proc
            finally:
                hub.stop()
            self.assertIsNotNone(proc.returncode)  # exited on stdin EOF
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
