"""Test fixture around tests/hub/hub.py (the local test Hub). Standard library only.

    from hubfixture import Hub, make_repo, git_blob_sha1, sha256

    make_repo(root, "models", "acme/tiny", {"config.json": b"{}", "model.safetensors": blob})
    with Hub(root, page_size=2) as hub:
        hub.endpoint   # "http://127.0.0.1:PORT"  (set HF_ENDPOINT to this)
        hub.cdn        # "http://127.0.0.2:PORT"
        hub.faults([{"server": "cdn", "action": "drop", "after": 100}])
        hub.log()      # list of request records of both servers
        hub.reset()    # clear faults and log

The hub is started with --exit-on-stdin-eof: if the test process dies, the hub exits too.
"""

import hashlib
import http.client
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
HUB_PY = os.path.normpath(os.path.join(HERE, "..", "hub", "hub.py"))
DEFAULT_LFS_PATTERNS = ["*.safetensors", "*.bin", "*.gguf"]


def _python():
    if os.path.realpath(sys.executable) == os.path.realpath("/usr/bin/python3"):
        return sys.executable
    if os.path.exists("/usr/bin/python3"):
        return "/usr/bin/python3"
    return sys.executable


def git_blob_sha1(data: bytes) -> str:
    """git hash-object of data (the ETag of a non-LFS file)."""
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    return ("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n"
            % (sha256(data), len(data))).encode()


def make_repo(root, repo_type, repo_id, files, lfs_patterns=None, settings=None, branch=None):
    """Write a repo working tree under root.

    repo_type: "models"/"datasets"/"spaces" (singular "model"... accepted too).
    files: {relative path: bytes or str}.  lfs_patterns: .gitattributes filter=lfs patterns
    (default *.safetensors, *.bin, *.gguf; [] for none).  A ".gitattributes" in files wins.
    settings: dict written to <name>.hub.json (gated/private/allowed_tokens/disabled...).
    branch: None/"main" for the main tree, else the "<name>@<branch>" sibling (percent-encoded).
    Returns the repo directory.
    """
    if not repo_type.endswith("s"):
        repo_type += "s"
    ns, name = repo_id.split("/")
    parent = os.path.join(root, repo_type, ns)
    d = os.path.join(parent, name if branch in (None, "main") else
                     name + "@" + urllib.parse.quote(branch, safe=""))
    os.makedirs(d, exist_ok=True)
    if lfs_patterns is None:
        lfs_patterns = DEFAULT_LFS_PATTERNS
    if ".gitattributes" not in files and lfs_patterns:
        with open(os.path.join(d, ".gitattributes"), "w") as f:
            for p in lfs_patterns:
                f.write("%s filter=lfs diff=lfs merge=lfs -text\n" % p)
    for rel, data in files.items():
        p = os.path.join(d, *rel.split("/"))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
    if settings is not None:
        with open(os.path.join(parent, name + ".hub.json"), "w") as f:
            json.dump(settings, f)
    return d


def write_users(root, users):
    """users: {"hf_token": {"name": "alice", "fullname": "Alice", "orgs": ["acme"]}}"""
    with open(os.path.join(root, "users.json"), "w") as f:
        json.dump(users, f)


def write_redirects(root, redirects):
    """redirects: {"models/bert-tiny": "models/org/bert-tiny"}"""
    with open(os.path.join(root, "redirects.json"), "w") as f:
        json.dump(redirects, f)


class Hub:
    def __init__(self, root_dir, page_size=None, throttle=None, token_file=None, extra_args=(), verbose=False):
        self.root = root_dir
        self.args = [_python(), HUB_PY, "--root", root_dir, "--exit-on-stdin-eof"]
        if page_size is not None:
            self.args += ["--page-size", str(page_size)]
        if throttle:
            self.args += ["--throttle", str(int(throttle))]
        if token_file:
            self.args += ["--token-file", token_file]
        if verbose:
            self.args.append("--verbose")
        self.args += list(extra_args)
        self.proc = None
        self.endpoint = self.cdn = None
        self.pid = None

    # ---- lifecycle ----
    def start(self):
        self._errf = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._errf)
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 20
        buf = b""
        try:
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise RuntimeError("hub did not start within 20 s: %s" % self.stderr())
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    raise RuntimeError("hub exited early (rc=%s): %s" % (self.proc.wait(), self.stderr()))
                buf += chunk
        except BaseException:
            self.stop()
            raise
        finally:
            sel.close()
        info = json.loads(buf.split(b"\n", 1)[0])
        self.endpoint, self.cdn, self.pid = info["endpoint"], info["cdn"], info["pid"]
        return self

    def stop(self):
        p = self.proc
        if p is None:
            return
        self.proc = None
        try:
            p.stdin.close()
        except Exception:
            pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for f in (p.stdout, getattr(self, "_errf", None)):
            try:
                f.close()
            except Exception:
                pass

    def stderr(self):
        """Everything the hub wrote to stderr so far (tracebacks etc.); empty after stop()."""
        try:
            self._errf.seek(0)
            return self._errf.read().decode("utf-8", "replace")
        except Exception:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- HTTP helpers ----
    def request(self, method, url_or_path, headers=None, body=None, timeout=30):
        """One request (no redirect following). Returns (status, headers dict lowercased, body bytes)."""
        u = urllib.parse.urlsplit(url_or_path if "://" in url_or_path else self.endpoint + url_or_path)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                headers = dict(headers or {}, **{"Content-Type": "application/json"})
            c.request(method, u.path + ("?" + u.query if u.query else ""), body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def _control(self, method, path, body=None):
        st, _, data = self.request(method, path, body=body)
        if st != 200:
            raise RuntimeError("%s %s -> %d %s" % (method, path, st, data[:200]))
        return json.loads(data)

    def faults(self, specs):
        """Append fault specs (list of dicts, or one dict)."""
        if isinstance(specs, dict):
            specs = [specs]
        return self._control("POST", "/_test/faults", specs)

    def reset(self):
        return self._control("POST", "/_test/reset", b"")

    def log(self):
        return self._control("GET", "/_test/log")
