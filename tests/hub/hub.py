#!/usr/bin/python3
"""Local test Hub for modl: a stdlib-only imitation of huggingface.co and its LFS CDN.

Usage:
  /usr/bin/python3 tests/hub/hub.py --root DIR [--page-size N] [--api-host 127.0.0.1]
      [--cdn-host 127.0.0.2] [--throttle BYTES_PER_SEC] [--token-file FILE]
      [--exit-on-stdin-eof] [--verbose]

Prints one JSON line {"endpoint": ..., "cdn": ..., "pid": ...} once both servers listen.

Repositories live in ROOT/{models,datasets,spaces}/<ns>/<name>/ (branch main) and
ROOT/.../<ns>/<name>@<branch>/ (other branches; the branch name is percent-decoded, so
"name@refs%2Fpr%2F1" is branch refs/pr/1).  Settings: ROOT/.../<ns>/<name>.hub.json.
Optional ROOT/users.json (tokens), ROOT/redirects.json (legacy ids).

Test control on the API server: POST /_test/faults, POST /_test/reset, GET /_test/log,
GET /_test/faults.  See tests/hub/README.md or the docstrings below for the fault specs.
"""

import argparse
import base64
import email.utils
import hashlib
import hmac
import http.server
import json
import math
import mimetypes
import os
import re
import secrets
import signal
import socket
import socketserver
import stat
import sys
import threading
import time
import traceback
import urllib.parse

CHUNK = 1 << 20
SENDFILE_SLICE = 16 << 20
LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize {}\n"
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
FILE_PREFIX = {"models": "", "datasets": "datasets/", "spaces": "spaces/"}
HEX40 = re.compile(r"^[0-9a-f]{40}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
STOP = threading.Event()

EXPOSE = ("X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,Link,"
          "Accept-Ranges,Content-Range,X-Linked-Size,X-Linked-ETag,X-Xet-Hash")
JSON_CT = "application/json; charset=utf-8"
TEXT_CT = "text/plain; charset=utf-8"
XML_CT = "application/xml"

TERMINAL_ACTIONS = {"status", "expire", "html", "listing"}
BODY_ACTIONS = {"drop", "corrupt", "ignore_range", "bad_content_range", "short", "stall", "throttle",
                "trickle", "long"}
RANGE_ACTIONS = {"ignore_range", "bad_content_range"}

MSG_BAD_TOKEN = "Invalid credentials in Authorization header"
MSG_NO_AUTH = "Invalid username or password."
MSG_REPO_NOT_FOUND = "Repository not found"
MSG_DISABLED = "Access to this resource is disabled."

HTML_PAGE = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
             b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudfront</center>\r\n"
             b"</body>\r\n</html>\r\n")


def log_err(msg):
    try:
        sys.stderr.write("hub: %s\n" % msg)
        sys.stderr.flush()
    except Exception:
        pass


def iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts))


def git_blob_sha1(data):
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def load_json_file(path, default):
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8") or "null")
    except FileNotFoundError:
        return default
    except Exception as e:  # a broken settings file should be visible, not fatal
        log_err("cannot read %s: %s" % (path, e))
        return default


# --------------------------------------------------------------------------------------------
# Hash cache (keyed by path, size, mtime_ns, inode): a 2 GiB file is hashed once.
# --------------------------------------------------------------------------------------------

class HashCache:
    def __init__(self):
        self.lock = threading.Lock()
        self.values = {}
        self.busy = {}
        self.by_sha256 = {}
        self.st_info = {}

    @staticmethod
    def key(path, st):
        return (path, st.st_size, st.st_mtime_ns, st.st_ino)

    def get(self, path, st, kind):
        """kind: 'sha256' (content) or 'git' (git blob sha1 of content)."""
        key = (self.key(path, st), kind)
        with self.lock:
            v = self.values.get(key)
            if v is not None:
                return v
            lk = self.busy.setdefault(key, threading.Lock())
        with lk:
            with self.lock:
                v = self.values.get(key)
            if v is None:
                v = self._compute(path, st.st_size, kind)
                with self.lock:
                    self.values[key] = v
                    self.busy.pop(key, None)
                    if kind == "sha256":
                        self.by_sha256[v] = path
        return v

    def cached(self, path, st, kind):
        with self.lock:
            return self.values.get((self.key(path, st), kind))

    @staticmethod
    def _compute(path, size, kind):
        if kind == "sha256":
            h = hashlib.sha256()
        else:
            h = hashlib.sha1(b"blob %d\0" % size)
        with open(path, "rb") as f:
            while True:
                b = f.read(CHUNK)
                if not b:
                    break
                h.update(b)
        return h.hexdigest()

    def memo(self, path, st, kind, fn):
        """Generic per-file memo (used for safetensors headers)."""
        key = (self.key(path, st), kind)
        with self.lock:
            if key in self.st_info:
                return self.st_info[key]
        v = fn()
        with self.lock:
            self.st_info[key] = v
        return v


# --------------------------------------------------------------------------------------------
# .gitattributes (git wildmatch subset)
# --------------------------------------------------------------------------------------------

def _glob_to_regex(pat):
    i, n, out = 0, len(pat), []
    while i < n:
        c = pat[i]
        if c == "*":
            if pat.startswith("**", i):
                # '**/' => any number of directories; trailing '/**' => everything below
                if pat.startswith("**/", i):
                    out.append("(?:.*/)?")
                    i += 3
                    continue
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i + 1
            if j < n and pat[j] in "!^":
                j += 1
            if j < n and pat[j] == "]":
                j += 1
            while j < n and pat[j] != "]":
                j += 1
            if j >= n:
                out.append("\\[")
            else:
                body = pat[i + 1:j]
                neg = body[:1] in ("!", "^")
                if neg:
                    body = body[1:]
                body = body.replace("\\", "\\\\")
                out.append("[" + ("^" if neg else "") + body + "]")
                i = j
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pat[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def parse_gitattributes(text):
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        pat, attrs = parts[0], parts[1:]
        val = None
        for a in attrs:
            if a == "filter=lfs":
                val = True
            elif a in ("-filter", "!filter") or (a.startswith("filter=") and a != "filter=lfs"):
                val = False
        if val is None or pat.endswith("/"):
            continue
        anchored = "/" in pat
        p = pat.lstrip("/")
        try:
            rx = re.compile("^" + _glob_to_regex(p) + "$", re.S)
        except re.error:
            continue
        rules.append((rx, anchored, val))
    return rules


def is_lfs(rules, path):
    if path == ".gitattributes":
        return False
    base = path.rsplit("/", 1)[-1]
    res = False
    for rx, anchored, val in rules:
        if rx.match(path if anchored else base):
            res = val
    return res


# --------------------------------------------------------------------------------------------
# Small YAML subset parser for README front matter
# --------------------------------------------------------------------------------------------

def _strip_comment(s):
    q = None
    for i, ch in enumerate(s):
        if q:
            if ch == q:
                q = None
        elif ch in "\"'" and (i == 0 or s[i - 1] in " \t[,{:"):
            q = ch
        elif ch == "#" and (i == 0 or s[i - 1] in " \t"):
            return s[:i].rstrip()
    return s


def _split_flow(s):
    items, depth, q, cur = [], 0, None, []
    for ch in s:
        if q:
            cur.append(ch)
            if ch == q:
                q = None
            continue
        if ch in "\"'":
            q = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    if "".join(cur).strip():
        items.append("".join(cur))
    return [x.strip() for x in items if x.strip()]


def _split_key(text):
    if not text or text[0] in "[{" or _is_seq(text):
        return None, None
    if text[0] in "\"'":
        q = text[0]
        end = text.find(q, 1)
        if end < 0:
            return None, None
        key = text[1:end]
        rest = text[end + 1:].lstrip()
        if not rest.startswith(":"):
            return None, None
        rest = rest[1:]
        if rest and rest[0] not in " \t":
            return None, None
        return key, rest.strip()
    m = re.search(r":(\s|$)", text)
    if not m:
        return None, None
    return text[:m.start()].strip(), text[m.end():].strip()


def _scalar(s):
    s = s.strip()
    if not s:
        return None
    if s[0] == '"':
        try:
            return json.loads(s)
        except ValueError:
            return s.strip('"')
    if s[0] == "'":
        if len(s) > 1 and s.endswith("'"):
            return s[1:-1].replace("''", "'")
        return s[1:]
    if s[0] == "[" and s.endswith("]"):
        return [_scalar(x) for x in _split_flow(s[1:-1])]
    if s[0] == "{" and s.endswith("}"):
        d = {}
        for item in _split_flow(s[1:-1]):
            k, v = _split_key(item)
            if k is None:
                d[item] = None
            else:
                d[k] = _scalar(v)
        return d
    low = s.lower()
    if low == "true":
        return True
    if low == "false":
        return False
    if low in ("null", "~"):
        return None
    if re.fullmatch(r"[-+]?\d+", s):
        return int(s)
    if re.fullmatch(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?", s):
        try:
            return float(s)
        except ValueError:
            pass
    return s


def _is_seq(t):
    return t == "-" or t.startswith("- ")


class _Yaml:
    def __init__(self, text):
        self.lines = []
        for raw in text.replace("\t", "  ").split("\n"):
            st = raw.strip()
            if not st or st.startswith("#"):
                self.lines.append((None, "", raw))
            else:
                self.lines.append((len(raw) - len(raw.lstrip(" ")), st, raw))
        self.i = 0

    def peek(self):
        while self.i < len(self.lines) and self.lines[self.i][0] is None:
            self.i += 1
        return self.lines[self.i] if self.i < len(self.lines) else None

    def node(self, ind):
        l = self.peek()
        if l is None or l[0] < ind:
            return None
        return self.seq(l[0]) if _is_seq(l[1]) else self.mapping(l[0])

    def mapping(self, ind):
        d = {}
        while True:
            l = self.peek()
            if l is None or l[0] != ind or _is_seq(l[1]):
                break
            key, rest = _split_key(_strip_comment(l[1]))
            self.i += 1
            if key is None:
                continue
            d[key] = self.value(rest, ind)
        return d

    def value(self, rest, ind):
        rest = (rest or "").strip()
        if not rest:
            l = self.peek()
            if l is not None and (l[0] > ind or (l[0] == ind and _is_seq(l[1]))):
                return self.node(l[0])
            return None
        if rest[0] in "|>":
            raw = []
            while self.i < len(self.lines):
                l = self.lines[self.i]
                if l[0] is not None and l[0] <= ind:
                    break
                raw.append(l[2])
                self.i += 1
            while raw and not raw[-1].strip():
                raw.pop()
            cut = min((len(r) - len(r.lstrip(" ")) for r in raw if r.strip()), default=0)
            body = [r[cut:] for r in raw]
            if rest[0] == "|":
                out = "\n".join(body)
            else:
                out = " ".join(b.strip() for b in body if b.strip())
            return out if rest.endswith("-") else out + "\n"
        # multi-line flow collections / quoted strings
        if (rest[0] in "[{" and not self._balanced(rest)) or (rest[0] == '"' and not self._closed(rest)):
            while self.i < len(self.lines):
                l = self.lines[self.i]
                self.i += 1
                rest += " " + l[2].strip()
                if (rest[0] in "[{" and self._balanced(rest)) or (rest[0] == '"' and self._closed(rest)):
                    break
            return _scalar(rest)
        rest = _strip_comment(rest)
        v = _scalar(rest)
        if isinstance(v, str) and rest[0] not in "\"'[{":
            while True:
                l = self.peek()
                if l is None or l[0] <= ind:
                    break
                v += " " + l[1]
                self.i += 1
        return v

    @staticmethod
    def _balanced(s):
        depth, q = 0, None
        for ch in s:
            if q:
                if ch == q:
                    q = None
            elif ch in "\"'":
                q = ch
            elif ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
        return depth <= 0

    @staticmethod
    def _closed(s):
        i = 1
        while i < len(s):
            if s[i] == "\\":
                i += 2
                continue
            if s[i] == '"':
                return True
            i += 1
        return False

    def seq(self, ind):
        out = []
        while True:
            l = self.peek()
            if l is None or l[0] != ind or not _is_seq(l[1]):
                break
            item = l[1][1:].lstrip(" ")
            if not _strip_comment(item):
                self.i += 1
                nl = self.peek()
                out.append(self.node(nl[0]) if nl is not None and nl[0] > ind else None)
                continue
            k, _ = _split_key(_strip_comment(item))
            if _is_seq(item) or (k is not None and item[0] not in "[{"):
                new_ind = ind + (len(l[1]) - len(item))
                self.lines[self.i] = (new_ind, item, l[2])
                out.append(self.node(new_ind))
            else:
                self.i += 1
                out.append(self.value(item, ind))
        return out


def parse_yaml(text):
    y = _Yaml(text)
    v = y.node(0)
    return v if isinstance(v, dict) else {}


def front_matter(text):
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != "---":
        return None
    for j in range(1, len(lines)):
        if lines[j].strip() in ("---", "..."):
            try:
                return parse_yaml("\n".join(lines[1:j]))
            except Exception as e:
                log_err("front matter parse error: %s" % e)
                return None
    return None


def safetensors_params(path):
    try:
        with open(path, "rb") as f:
            hdr = f.read(8)
            if len(hdr) < 8:
                return None
            n = int.from_bytes(hdr, "little")
            size = os.fstat(f.fileno()).st_size
            if n <= 1 or n > min(100 << 20, size - 8):
                return None
            meta = json.loads(f.read(n).decode("utf-8"))
        if not isinstance(meta, dict):
            return None
        out = {}
        for k, v in meta.items():
            if k == "__metadata__" or not isinstance(v, dict):
                continue
            dt = v.get("dtype")
            shape = v.get("shape")
            if not isinstance(dt, str) or not isinstance(shape, list):
                continue
            out[dt] = out.get(dt, 0) + math.prod(int(x) for x in shape)
        return out
    except Exception:
        return None


# --------------------------------------------------------------------------------------------
# Repositories and snapshots
# --------------------------------------------------------------------------------------------

class FileEntry:
    __slots__ = ("path", "abspath", "size", "mtime", "lfs", "oid", "sha256", "psize", "st")


class Snapshot:
    def __init__(self, repo, branch, files):
        self.repo, self.branch = repo, branch
        self.files = sorted(files, key=lambda f: f.path)
        self.by_path = {f.path: f for f in self.files}
        self.dir_oids, self.children, root_oid = _tree_oids(self.files)
        self.dirs = set(self.dir_oids)
        self.commit = hashlib.sha1(("modl-test-hub commit\0%s/%s\0%s" % (
            repo.plural, repo.id, root_oid)).encode()).hexdigest()
        mt = [f.mtime for f in self.files]
        self.last_modified = max(mt) if mt else 0.0
        self.created = min(mt) if mt else 0.0

    def dir_mtime(self, d):
        pre = d + "/"
        mt = [f.mtime for f in self.files if f.path.startswith(pre)]
        return max(mt) if mt else self.last_modified


def _git_tree_sha(entries):
    # entries: list of (name, is_dir, oid)
    ents = sorted(entries, key=lambda e: (e[0] + ("/" if e[1] else "")).encode("utf-8"))
    body = b"".join((b"40000 " if d else b"100644 ") + n.encode("utf-8") + b"\0" + bytes.fromhex(o)
                    for n, d, o in ents)
    return hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()


def _tree_oids(files):
    children = {"": []}
    dirs = set()
    for f in files:
        parts = f.path.split("/")
        for k in range(1, len(parts)):
            d = "/".join(parts[:k])
            if d not in dirs:
                dirs.add(d)
                children.setdefault(d, [])
        children.setdefault("/".join(parts[:-1]), []).append((parts[-1], False, f.oid))
    oids = {}
    for d in sorted(dirs, key=lambda x: x.count("/"), reverse=True):
        oid = _git_tree_sha(children.get(d, []))
        oids[d] = oid
        parent, _, name = d.rpartition("/")
        children[parent].append((name, True, oid))
    # children listing for non-recursive trees: dir -> list of child paths
    listing = {}
    for f in files:
        parent = f.path.rpartition("/")[0]
        listing.setdefault(parent, []).append(f.path)
    for d in dirs:
        listing.setdefault(d.rpartition("/")[0], []).append(d)
    return oids, listing, _git_tree_sha(children[""])


class Repo:
    def __init__(self, app, plural, repo_id):
        self.app = app
        self.plural = plural
        self.type = REPO_TYPES[plural]
        self.id = repo_id
        self.ns, self.name = repo_id.split("/", 1)
        self.parent = os.path.join(app.root, plural, self.ns)

    def branches(self):
        out = {}
        main = os.path.join(self.parent, self.name)
        if os.path.isdir(main):
            out["main"] = main
        try:
            names = os.listdir(self.parent)
        except OSError:
            names = []
        pre = self.name + "@"
        for n in names:
            if n.startswith(pre) and len(n) > len(pre):
                p = os.path.join(self.parent, n)
                if os.path.isdir(p):
                    out[urllib.parse.unquote(n[len(pre):])] = p
        return out

    def exists(self):
        return bool(self.branches())

    def settings(self):
        s = load_json_file(os.path.join(self.parent, self.name + ".hub.json"), {})
        return s if isinstance(s, dict) else {}

    def snapshot(self, branch, directory):
        return self.app.scan(self, branch, directory)

    def resolve(self, rev):
        br = self.branches()
        if rev in br:
            return self.snapshot(rev, br[rev])
        if HEX40.match(rev):
            for b, d in br.items():
                s = self.snapshot(b, d)
                if s.commit == rev:
                    return s
        return None


class Bucket:
    """Token bucket: rate bytes/s."""

    def __init__(self, rate):
        self.rate = float(max(1, rate))
        self.cap = max(1024.0, min(self.rate / 10.0, float(CHUNK)))
        self.tokens = self.cap
        self.t = time.monotonic()

    def chunk(self):
        return int(min(self.cap, 65536))

    def take(self, n):
        while True:
            now = time.monotonic()
            self.tokens = min(self.cap, self.tokens + (now - self.t) * self.rate)
            self.t = now
            if self.tokens >= n:
                self.tokens -= n
                return
            if STOP.wait((n - self.tokens) / self.rate):
                raise ConnectionAbortedError("hub stopping")


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.specs = []  # list of [spec, remaining]

    def add(self, specs):
        with self.lock:
            for s in specs:
                self.specs.append([s, int(s.get("times", 1))])

    def clear(self):
        with self.lock:
            self.specs = []

    def snapshot(self):
        with self.lock:
            return [dict(s, remaining=r) for s, r in self.specs]

    def match(self, server, method, path, has_range):
        fired = []
        with self.lock:
            for ent in self.specs:
                s, rem = ent
                if rem == 0:
                    continue
                if s.get("server") not in (None, "any", server):
                    continue
                m = s.get("method")
                if m and m.upper() != method:
                    continue
                pr = s.get("path_re")
                if pr and not re.search(pr, path):
                    continue
                if s.get("only_range") and not has_range:
                    continue
                act = s.get("action")
                if act in RANGE_ACTIONS and not has_range:
                    continue
                if act in BODY_ACTIONS and method == "HEAD" and not m:
                    continue
                fired.append(s)
                if rem > 0:
                    ent[1] = rem - 1
        return fired


def validate_fault(s):
    if not isinstance(s, dict):
        raise ValueError("fault spec must be an object")
    act = s.get("action")
    if act not in TERMINAL_ACTIONS | BODY_ACTIONS:
        raise ValueError("unknown action %r" % (act,))
    if s.get("server") not in (None, "api", "cdn", "any"):
        raise ValueError("bad server %r" % (s.get("server"),))
    if s.get("path_re"):
        re.compile(s["path_re"])
    if act == "status" and not isinstance(s.get("code"), int):
        raise ValueError("status fault needs an integer code")
    if act in ("throttle", "trickle") and not (isinstance(s.get("bps"), (int, float)) and s["bps"] > 0):
        raise ValueError("%s fault needs bps > 0" % act)
    if act == "long" and not (isinstance(s.get("bytes"), int) and s["bytes"] > 0):
        raise ValueError("long fault needs bytes > 0")
    if act == "listing" and not (isinstance(s.get("entries"), int) and s["entries"] >= 0):
        raise ValueError("listing fault needs entries >= 0")
    return s


class Resp:
    def __init__(self, status, headers=None, body=b"", file=None, throttle=False):
        self.status = status
        self.headers = list(headers or [])
        self.body = body
        self.file = file          # (abspath, offset, length)
        self.throttle = throttle  # server-wide --throttle applies

    def length(self):
        return self.file[2] if self.file else len(self.body)


# --------------------------------------------------------------------------------------------
# Application state
# --------------------------------------------------------------------------------------------

class App:
    def __init__(self, args):
        self.root = os.path.abspath(args.root)
        self.page_size = max(1, args.page_size)
        self.throttle = args.throttle
        self.token_file = args.token_file
        self.verbose = args.verbose
        self.key = secrets.token_bytes(32)
        self.hashes = HashCache()
        self.faults = Faults()
        self.log_lock = threading.Lock()
        self.log = []
        self.endpoint = ""
        self.cdn = ""

    # ---- settings files ----
    def redirects(self):
        raw = load_json_file(os.path.join(self.root, "redirects.json"), {})
        out = {}
        if isinstance(raw, dict):
            for k, v in raw.items():
                k, v = k.strip("/"), str(v).strip("/")
                if k.split("/", 1)[0] not in REPO_TYPES:
                    k = "models/" + k
                if v.split("/", 1)[0] not in REPO_TYPES:
                    v = k.split("/", 1)[0] + "/" + v
                out[k] = v
        return out

    def users(self):
        u = load_json_file(os.path.join(self.root, "users.json"), {})
        users = dict(u) if isinstance(u, dict) else {}
        if self.token_file:
            try:
                with open(self.token_file, encoding="utf-8") as f:
                    txt = f.read()
                try:
                    extra = json.loads(txt)
                except ValueError:
                    extra = [l.strip() for l in txt.splitlines() if l.strip() and not l.startswith("#")]
                if isinstance(extra, dict):
                    users.update(extra)
                elif isinstance(extra, list):
                    for t in extra:
                        users.setdefault(str(t), None)
                elif isinstance(extra, str):
                    users.setdefault(extra, None)
            except OSError as e:
                log_err("token file: %s" % e)
        return users

    def allowed_tokens_everywhere(self):
        out = set()
        for plural in REPO_TYPES:
            base = os.path.join(self.root, plural)
            try:
                nss = os.listdir(base)
            except OSError:
                continue
            for ns in nss:
                try:
                    names = os.listdir(os.path.join(base, ns))
                except OSError:
                    continue
                for n in names:
                    if n.endswith(".hub.json"):
                        s = load_json_file(os.path.join(base, ns, n), {})
                        if isinstance(s, dict):
                            out.update(str(t) for t in s.get("allowed_tokens") or [])
        return out

    def lookup_token(self, tok):
        users = self.users()
        if tok in users:
            u = users[tok]
            if not isinstance(u, dict):
                u = {"name": "user-" + hashlib.sha1(tok.encode()).hexdigest()[:6]}
            return u
        if tok in self.allowed_tokens_everywhere():
            return {"name": "user-" + hashlib.sha1(tok.encode()).hexdigest()[:6]}
        return None

    # ---- repos ----
    def repo(self, plural, repo_id):
        if plural not in REPO_TYPES or repo_id.count("/") != 1:
            return None
        ns, name = repo_id.split("/")
        if not NAME_RE.match(ns) or not NAME_RE.match(name) or ".." in repo_id or "@" in name:
            return None
        r = Repo(self, plural, repo_id)
        return r if r.exists() else None

    def all_repos(self):
        for plural in REPO_TYPES:
            base = os.path.join(self.root, plural)
            try:
                nss = sorted(os.listdir(base))
            except OSError:
                continue
            for ns in nss:
                try:
                    names = sorted(os.listdir(os.path.join(base, ns)))
                except OSError:
                    continue
                seen = set()
                for n in names:
                    nm = n.split("@", 1)[0]
                    if nm in seen or not os.path.isdir(os.path.join(base, ns, n)):
                        continue
                    seen.add(nm)
                    r = self.repo(plural, ns + "/" + nm)
                    if r:
                        yield r

    def scan(self, repo, branch, directory):
        raw = []
        for dp, dns, fns in os.walk(directory):
            dns[:] = sorted(d for d in dns if d != ".git")
            for fn in fns:
                ap = os.path.join(dp, fn)
                try:
                    st = os.stat(ap)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                rel = os.path.relpath(ap, directory).replace(os.sep, "/")
                raw.append((rel, ap, st))
        rules = []
        ga = os.path.join(directory, ".gitattributes")
        if os.path.isfile(ga):
            try:
                with open(ga, encoding="utf-8", errors="replace") as f:
                    rules = parse_gitattributes(f.read())
            except OSError:
                pass
        files = []
        for rel, ap, st in raw:
            fe = FileEntry()
            fe.path, fe.abspath, fe.size, fe.mtime, fe.st = rel, ap, st.st_size, st.st_mtime, st
            fe.lfs = is_lfs(rules, rel)
            if fe.lfs:
                fe.sha256 = self.hashes.get(ap, st, "sha256")
                ptr = LFS_POINTER.format(fe.sha256, st.st_size).encode()
                fe.oid = git_blob_sha1(ptr)
                fe.psize = len(ptr)
            else:
                fe.sha256 = None
                fe.psize = None
                fe.oid = self.hashes.get(ap, st, "git")
            files.append(fe)
        return Snapshot(repo, branch, files)

    def find_blob(self, sha):
        path = self.hashes.by_sha256.get(sha)
        if path:
            try:
                st = os.stat(path)
                if self.hashes.cached(path, st, "sha256") == sha:
                    return path, st.st_size
            except OSError:
                pass
        for r in self.all_repos():
            for b, d in r.branches().items():
                s = r.snapshot(b, d)
                for f in s.files:
                    if f.lfs and f.sha256 == sha:
                        return f.abspath, f.size
        return None

    def warm(self):
        try:
            for r in self.all_repos():
                for b, d in r.branches().items():
                    if STOP.is_set():
                        return
                    r.snapshot(b, d)
        except Exception as e:
            log_err("warm-up: %s" % e)

    # ---- signing ----
    def sign(self, sha, expires):
        return hmac.new(self.key, ("%s:%d" % (sha, expires)).encode(), hashlib.sha256).hexdigest()

    def log_append(self, entry):
        with self.log_lock:
            self.log.append(entry)

    def log_snapshot(self):
        with self.log_lock:
            return [dict(e) for e in self.log]


# --------------------------------------------------------------------------------------------
# Repo info / tree JSON
# --------------------------------------------------------------------------------------------

def _as_list(v):
    if v is None:
        return []
    if isinstance(v, list):
        return [x for x in v if x is not None]
    return [v]


def repo_info(app, repo, snap, blobs, expand):
    settings = repo.settings()
    card = None
    readme = snap.by_path.get("README.md")
    if readme is not None and readme.size < (4 << 20):
        try:
            with open(readme.abspath, "rb") as f:
                card = front_matter(f.read().decode("utf-8", errors="replace"))
        except OSError:
            card = None
    config = None
    cfg = snap.by_path.get("config.json")
    if repo.type == "model" and cfg is not None and cfg.size < (4 << 20):
        cj = load_json_file(cfg.abspath, None)
        if isinstance(cj, dict):
            config = {}
            if "architectures" in cj:
                config["architectures"] = cj["architectures"]
            if "model_type" in cj:
                config["model_type"] = cj["model_type"]
    c = card or {}
    tags = []
    lib = c.get("library_name")
    if isinstance(lib, str):
        tags.append(lib)
    has_st = any(f.path.endswith(".safetensors") for f in snap.files)
    if has_st:
        tags.append("safetensors")
    if any(f.path.endswith(".gguf") for f in snap.files):
        tags.append("gguf")
    if config and isinstance(config.get("model_type"), str):
        tags.append(config["model_type"])
    if isinstance(c.get("pipeline_tag"), str):
        tags.append(c["pipeline_tag"])
    tags += [str(t) for t in _as_list(c.get("tags"))]
    tags += [str(t) for t in _as_list(c.get("language"))]
    tags += ["dataset:%s" % t for t in _as_list(c.get("datasets"))]
    tags += ["base_model:%s" % t for t in _as_list(c.get("base_model"))]
    if c.get("license") is not None:
        tags.append("license:%s" % c["license"])
    tags.append("region:us")
    seen, utags = set(), []
    for t in tags:
        if t not in seen:
            seen.add(t)
            utags.append(t)

    if blobs:
        siblings = []
        for f in snap.files:
            s = {"rfilename": f.path, "blobId": f.oid, "size": f.size}
            if f.lfs:
                s["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": f.psize}
            siblings.append(s)
    else:
        siblings = [{"rfilename": f.path} for f in snap.files]

    st_info = None
    if has_st:
        params = {}
        for f in snap.files:
            if f.path.endswith(".safetensors"):
                p = app.hashes.memo(f.abspath, f.st, "safetensors", lambda f=f: safetensors_params(f.abspath))
                for k, v in (p or {}).items():
                    params[k] = params.get(k, 0) + v
        if params:
            st_info = {"parameters": params, "total": sum(params.values())}

    used, seen_blobs = 0, set()
    for b, d in repo.branches().items():
        s2 = snap if b == snap.branch else repo.snapshot(b, d)
        for f in s2.files:
            k = f.sha256 or f.oid
            if k not in seen_blobs:
                seen_blobs.add(k)
                used += f.size

    d = {"_id": hashlib.sha1(("%s/%s" % (repo.plural, repo.id)).encode()).hexdigest()[:24], "id": repo.id}
    private = bool(settings.get("private", False))
    gated = settings.get("gated", False)
    if gated not in (False, "auto", "manual"):
        gated = "manual" if gated else False
    common = [
        ("author", repo.ns), ("sha", snap.commit), ("lastModified", iso(snap.last_modified)),
        ("private", private), ("gated", gated), ("disabled", bool(settings.get("disabled", False))),
    ]
    if repo.type == "model":
        d["private"] = private
        if isinstance(c.get("pipeline_tag"), str):
            d["pipeline_tag"] = c["pipeline_tag"]
        if isinstance(lib, str):
            d["library_name"] = lib
        d["tags"] = utags
        d["downloads"] = int(settings.get("downloads", 0))
        d["likes"] = int(settings.get("likes", 0))
        d["modelId"] = repo.id
        for k, v in common:
            if k != "private":
                d[k] = v
        if config is not None:
            d["config"] = config
        if card is not None:
            d["cardData"] = card
        d["siblings"] = siblings
        d["spaces"] = []
        d["createdAt"] = iso(snap.created)
        if st_info:
            d["safetensors"] = st_info
        d["usedStorage"] = used
    else:
        for k, v in common:
            d[k] = v
        d["tags"] = utags
        if repo.type == "dataset":
            d["downloads"] = int(settings.get("downloads", 0))
        d["likes"] = int(settings.get("likes", 0))
        if repo.type == "space":
            d["sdk"] = c.get("sdk", "static")
        if card is not None:
            d["cardData"] = card
        d["siblings"] = siblings
        d["createdAt"] = iso(snap.created)
        d["usedStorage"] = used
    if expand:
        keep = set(expand) | {"_id", "id"}
        d = {k: v for k, v in d.items() if k in keep}
    return d


def tree_entry(snap, p, expand):
    f = snap.by_path.get(p)
    if f is not None:
        e = {"type": "file", "oid": f.oid, "size": f.size, "path": f.path}
        if f.lfs:
            e["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": f.psize}
        mt = f.mtime
    else:
        e = {"type": "directory", "oid": snap.dir_oids[p], "size": 0, "path": p}
        mt = snap.dir_mtime(p)
    if expand:
        e["lastCommit"] = {"id": snap.commit, "title": "Upload folder using huggingface_hub", "date": iso(mt)}
        if f is not None:
            e["securityFileStatus"] = {"status": "safe", "avScan": {"status": "safe"},
                                       "pickleImportScan": {"status": "unscanned", "pickleImports": None}}
    return e


def tree_paths(snap, base, recursive):
    """Directories first, then files, at each level; recursive = pre-order."""
    kids = snap.children.get(base, [])
    dirs = sorted(k for k in kids if k in snap.dirs)
    files = sorted(k for k in kids if k not in snap.dirs)
    out = []
    for d in dirs:
        out.append(d)
        if recursive:
            out.extend(tree_paths(snap, d, True))
    out.extend(files)
    return out


def parse_range(h, size):
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", h or "")
    if not m:
        return None
    a, b = m.groups()
    if a == "" and b == "":
        return None
    if a == "":
        n = int(b)
        if n == 0 or size == 0:
            return "unsat"
        return (max(0, size - n), size - 1)
    start = int(a)
    end = int(b) if b else size - 1
    if b and end < start:
        return None
    if start >= size:
        return "unsat"
    return (start, min(end, size - 1))


def truthy(v):
    return str(v).lower() in ("1", "true", "yes", "on")


# --------------------------------------------------------------------------------------------
# HTTP handler
# --------------------------------------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "modl-test-hub/1"

    def version_string(self):
        return self.server_version
    timeout = 300

    def log_message(self, fmt, *args):
        if self.server.app.verbose:
            sys.stderr.write("%s %s - %s\n" % (self.server.kind, self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    # ---- plumbing ----
    def dispatch(self):
        app = self.server.app
        kind = self.server.kind
        raw = self.path
        if raw.startswith("http://") or raw.startswith("https://"):
            u = urllib.parse.urlsplit(raw)
            raw = u.path + ("?" + u.query if u.query else "")
        raw = raw.split("#", 1)[0]
        path, _, query = raw.partition("?")
        self.req_body = b""
        n = self.headers.get("Content-Length")
        if n:
            try:
                self.req_body = self.rfile.read(int(n))
            except (ValueError, OSError):
                self.close_connection = True
                return
        elif self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
        if kind == "api" and path.startswith("/_test/"):
            return self.control(path, query)
        entry = {"server": kind, "method": self.command, "path": path, "query": query,
                 "headers": {k.lower(): v for k, v in self.headers.items()},
                 "status": None, "bytes_sent": 0, "time": time.time()}
        app.log_append(entry)
        self.q = urllib.parse.parse_qs(query, keep_blank_values=True)
        has_range = "Range" in self.headers
        fired = app.faults.match(kind, self.command, path, has_range)
        self.mods = {}
        terminal = None
        for s in fired:
            if s["action"] in TERMINAL_ACTIONS:
                if terminal is None:
                    terminal = s
            else:
                self.mods[s["action"]] = s
        try:
            if terminal is not None:
                resp = self.terminal_response(terminal, path)
            elif kind == "cdn":
                resp = self.route_cdn(path, query)
            else:
                resp = self.route_api(path, query)
        except Exception:
            log_err("error handling %s %s\n%s" % (self.command, self.path, traceback.format_exc()))
            resp = self.err(500, "Internal Error - We're working hard to fix this as soon as possible!")
        if kind == "api":
            resp.headers += [("Access-Control-Expose-Headers", EXPOSE), ("Vary", "Origin"),
                             ("X-Powered-By", "huggingface-moon"),
                             ("X-Request-Id", "Root=1-%08x-%s" % (int(time.time()), secrets.token_hex(12)))]
        else:
            resp.headers += [("X-Cache", "Miss from cloudfront"), ("Via", "1.1 modl-test-hub (CloudFront)"),
                             ("X-Amz-Cf-Id", secrets.token_urlsafe(36))]
        self.send(resp, entry)

    def send(self, resp, entry):
        mods = self.mods
        length = resp.length()
        limit = None
        if "drop" in mods:
            limit = max(0, int(mods["drop"].get("after", 0)))
        if "short" in mods:
            b = max(0, int(mods["short"].get("bytes", 0)))
            limit = b if limit is None else min(limit, b)
        # "long": extra bytes after the body; "declare" counts them in Content-Length too
        # (an answer longer than the listed size), else they overrun the Content-Length.
        extra = b""
        if "long" in mods:
            extra = b"x" * int(mods["long"]["bytes"])
            if mods["long"].get("declare"):
                length += len(extra)
        entry["status"] = resp.status
        try:
            self.send_response(resp.status)
            names = set()
            for k, v in resp.headers:
                names.add(k.lower())
                v = str(v)
                if not v.isascii():  # header values must be latin-1; escape like a URL
                    v = urllib.parse.quote(v, safe="".join(chr(c) for c in range(32, 127)))
                self.send_header(k, v)
            if "content-length" not in names and "transfer-encoding" not in names:
                self.send_header("Content-Length", str(length))
            if extra:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command == "HEAD" or resp.status in (204, 304) or resp.status < 200:
                if limit is not None:
                    self.abort()
                return
            if "stall" in mods:
                secs = min(120.0, max(0.0, float(mods["stall"].get("seconds", 1))))
                if STOP.wait(secs):
                    self.abort()
                    return
            buckets = []
            if resp.throttle and self.server.app.throttle:
                if getattr(self, "_conn_bucket", None) is None:
                    self._conn_bucket = Bucket(self.server.app.throttle)
                buckets.append(self._conn_bucket)
            if "throttle" in mods:
                buckets.append(Bucket(mods["throttle"]["bps"]))
            corrupt = None
            if "corrupt" in mods:
                corrupt = int(mods["corrupt"].get("offset", 0))
            if "trickle" in mods:
                self.trickle_body(resp, limit, float(mods["trickle"]["bps"]), entry)
            else:
                self.write_body(resp, limit, corrupt, buckets, entry)
            if extra:
                self.connection.sendall(extra)
                entry["bytes_sent"] += len(extra)
                self.abort()
            elif limit is not None:
                self.abort()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout, OSError) as e:
            if self.server.app.verbose:
                log_err("connection ended during %s %s: %s" % (self.command, self.path, e))
            self.close_connection = True

    def abort(self):
        try:
            self.wfile.flush()
        except Exception:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True

    def trickle_body(self, resp, limit, bps, entry):
        """The body at bps bytes/s from its first byte on (no burst): max(1, bps/10) bytes per step."""
        length = resp.length() if limit is None else min(resp.length(), limit)
        if resp.file is not None:
            with open(resp.file[0], "rb") as f:
                f.seek(resp.file[1])
                data = f.read(length)
        else:
            data = resp.body[:length]
        step = max(1, int(bps // 10))
        for i in range(0, len(data), step):
            piece = data[i:i + step]
            self.connection.sendall(piece)
            entry["bytes_sent"] = i + len(piece)
            if STOP.wait(len(piece) / bps):
                raise ConnectionAbortedError("hub stopping")

    def write_body(self, resp, limit, corrupt, buckets, entry):
        length = resp.length()
        if limit is not None:
            length = min(length, limit)
        if length <= 0:
            return
        if resp.file is not None:
            path, offset, _ = resp.file
            f = open(path, "rb")
        else:
            f, offset = None, 0
        try:
            if f is not None and not buckets and corrupt is None:
                sent = 0
                while sent < length:
                    want = min(SENDFILE_SLICE, length - sent)
                    # recorded before sending: the client may read the log as soon as it has the bytes
                    entry["bytes_sent"] = sent + want
                    try:
                        n = self.connection.sendfile(f, offset + sent, want)
                    except BaseException:
                        entry["bytes_sent"] = sent
                        raise
                    if n <= 0:
                        break
                    sent += n
                    entry["bytes_sent"] = sent
                if sent < length:  # file shrank: cannot honour Content-Length
                    self.close_connection = True
                return
            chunk = CHUNK
            for b in buckets:
                chunk = min(chunk, b.chunk())
            if f is not None:
                f.seek(offset)
            sent = 0
            while sent < length:
                n = min(chunk, length - sent)
                if f is not None:
                    data = f.read(n)
                    if not data:
                        self.close_connection = True
                        return
                else:
                    data = resp.body[sent:sent + n]
                pos = offset + sent
                if corrupt is not None and pos <= corrupt < pos + len(data):
                    ba = bytearray(data)
                    ba[corrupt - pos] ^= 0xFF
                    data = bytes(ba)
                for b in buckets:
                    b.take(len(data))
                entry["bytes_sent"] = sent + len(data)
                try:
                    self.connection.sendall(data)
                except BaseException:
                    entry["bytes_sent"] = sent
                    raise
                sent += len(data)
        finally:
            if f is not None:
                f.close()

    # ---- response helpers ----
    def json_resp(self, status, obj, headers=()):
        return Resp(status, [("Content-Type", JSON_CT)] + list(headers),
                    json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))

    def err(self, status, msg, code=None, headers=(), send_message=True):
        h = list(headers)
        if code:
            h.append(("X-Error-Code", code))
        if send_message:
            h.append(("X-Error-Message", msg))
        return self.json_resp(status, {"error": msg}, h)

    def xml_err(self, status, code, msg):
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
                '<RequestId>%s</RequestId><HostId>%s</HostId></Error>' % (
                    code, msg, secrets.token_hex(8).upper(), secrets.token_urlsafe(32))).encode()
        return Resp(status, [("Content-Type", XML_CT)], body)

    def terminal_response(self, s, path):
        act = s["action"]
        kind = self.server.kind
        if act == "expire":
            return self.xml_err(403, "AccessDenied", "Request has expired")
        if act == "html":
            code = int(s.get("code", 200))
            return Resp(code, [("Content-Type", "text/html")], HTML_PAGE)
        if act == "listing":
            return self.synthetic_listing(s)
        code = int(s["code"])
        hdrs = []
        if code == 429 or "retry_after" in s:
            ra = int(s.get("retry_after", 1))
            bucket = "resolvers" if "/resolve" in path else "api"
            hdrs += [("Retry-After", str(ra)), ("RateLimit", '"%s";r=0;t=%d' % (bucket, ra)),
                     ("RateLimit-Policy", '"fixed window";"%s";q=%d;w=300' % (bucket, 3000 if bucket == "resolvers" else 500))]
        extra = s.get("headers") or {}
        hdrs = [h for h in hdrs if h[0].lower() not in {k.lower() for k in extra}]
        hdrs += [(str(k), str(v)) for k, v in extra.items()]
        if "body" in s:
            ct = TEXT_CT
            if isinstance(s["body"], str):
                body = s["body"].encode("utf-8")
                try:
                    if s["body"].lstrip()[:1] in ("[", "{"):
                        json.loads(s["body"])
                        ct = JSON_CT
                except ValueError:
                    pass
            else:
                body, ct = json.dumps(s["body"]).encode(), JSON_CT
            if not any(k.lower() == "content-type" for k, _ in hdrs):
                hdrs.append(("Content-Type", ct))
            return Resp(code, hdrs, body)
        phrase = http.server.BaseHTTPRequestHandler.responses.get(code, ("Error",))[0]
        if code == 429:
            phrase = ("You have exceeded our hourly quotas for action: resolve. We invite you to retry later."
                      if "/resolve" in path else "Too Many Requests")
        if kind == "cdn" and code >= 400 and code < 500:
            r = self.xml_err(code, phrase.replace(" ", ""), phrase)
            r.headers += hdrs
            return r
        r = self.json_resp(code, {"error": phrase}, hdrs)
        return r

    def synthetic_listing(self, s):
        """A made-up tree listing: "pages" pages (default 1) of "entries" files each,
        "<prefix><n>.bin" (size 1, oid = n in hex), linked by a `listing_page` query
        parameter, so that a client can be fed a huge listing without a huge repo."""
        pages = int(s.get("pages", 1))
        prefix = str(s.get("prefix", "synthetic/"))
        n = int(s["entries"])
        try:
            k = int((self.q.get("listing_page") or ["0"])[-1])
        except ValueError:
            k = 0
        first = k * n
        body = "[" + ",".join('{"type":"file","oid":"%040x","size":1,"path":%s}'
                              % (i, json.dumps("%s%09d.bin" % (prefix, i)))
                              for i in range(first, first + n)) + "]"
        headers = [("Content-Type", JSON_CT)]
        if k + 1 < pages:
            _, _, query = self.path.partition("?")
            pairs = [(a, b) for a, b in urllib.parse.parse_qsl(query, keep_blank_values=True)
                     if a != "listing_page"] + [("listing_page", str(k + 1))]
            url = "%s%s?%s" % (self.server.app.endpoint, self.path.split("?", 1)[0],
                               urllib.parse.urlencode(pairs))
            headers.append(("Link", '<%s>; rel="next"' % url))
        return Resp(200, headers, body.encode())

    def file_response(self, abspath, size, headers, throttle=True):
        headers = list(headers) + [("Accept-Ranges", "bytes")]
        rng = self.headers.get("Range")
        if rng and "ignore_range" not in self.mods:
            r = parse_range(rng, size)
            if r == "unsat":
                h = headers + [("Content-Range", "bytes */%d" % size)]
                if self.server.kind == "cdn":
                    x = self.xml_err(416, "InvalidRange", "The requested range is not satisfiable")
                    x.headers = h + x.headers
                    return x
                return self.err(416, "Requested Range Not Satisfiable", headers=h, send_message=False)
            if r is not None:
                start, end = r
                cs, ce = start, end
                if "bad_content_range" in self.mods:
                    if end + 1 < size:
                        cs, ce = start + 1, end + 1
                    elif start > 0:
                        cs, ce = start - 1, end - 1
                    else:
                        cs = start + 1
                h = headers + [("Content-Range", "bytes %d-%d/%d" % (cs, ce, size))]
                return Resp(206, h, file=(abspath, start, end - start + 1), throttle=throttle)
        return Resp(200, headers, file=(abspath, 0, size), throttle=throttle)

    # ---- /_test control ----
    def control(self, path, query):
        app = self.server.app
        try:
            if path == "/_test/faults" and self.command == "POST":
                specs = json.loads(self.req_body.decode("utf-8") or "[]")
                if isinstance(specs, dict):
                    specs = [specs]
                for s in specs:
                    validate_fault(s)
                app.faults.add(specs)
                r = self.json_resp(200, {"ok": True, "added": len(specs)})
            elif path == "/_test/faults":
                r = self.json_resp(200, app.faults.snapshot())
            elif path == "/_test/reset":
                app.faults.clear()
                with app.log_lock:
                    app.log = []
                r = self.json_resp(200, {"ok": True})
            elif path == "/_test/log":
                r = self.json_resp(200, app.log_snapshot())
            else:
                r = self.json_resp(404, {"error": "unknown test endpoint"})
        except (ValueError, re.error, TypeError, KeyError) as e:
            r = self.json_resp(400, {"error": "bad request: %s" % e})
        self.mods = {}
        self.send(r, {})

    # ---- auth ----
    def auth(self):
        h = self.headers.get("Authorization")
        if h is None:
            return None, None, False
        m = re.match(r"(?i)bearer\s+(\S+)\s*$", h)
        if not m:
            return None, None, True
        tok = m.group(1)
        user = self.server.app.lookup_token(tok)
        if user is None:
            return tok, None, True
        return tok, user, False

    def is_member(self, repo, tok, user):
        if tok is None:
            return False
        s = repo.settings()
        if "allowed_tokens" in s:  # authoritative when present
            return tok in [str(t) for t in s.get("allowed_tokens") or []]
        if user:  # otherwise: the owner of the namespace or a member of that org
            if user.get("name") == repo.ns:
                return True
            for o in user.get("orgs") or []:
                if (o.get("name") if isinstance(o, dict) else o) == repo.ns:
                    return True
        return False

    def repo_not_found(self, tok):
        if tok is None:
            return self.err(401, MSG_NO_AUTH, "RepoNotFound")
        return self.err(404, MSG_REPO_NOT_FOUND, "RepoNotFound")

    def check_access(self, repo, tok, user, files):
        """None when allowed, else an error Resp."""
        if repo is None:
            return self.repo_not_found(tok)
        s = repo.settings()
        member = self.is_member(repo, tok, user)
        if s.get("private") and not member:
            return self.repo_not_found(tok)
        if files and s.get("disabled"):
            return self.err(403, MSG_DISABLED, "DisabledRepo")
        if files and s.get("gated") and not member:
            what = "%s %s" % (repo.type, repo.id)
            if tok is None:
                return self.err(401, "Access to %s is restricted. You must have access to it and be "
                                     "authenticated to access it. Please log in." % what, "GatedRepo")
            return self.err(403, "Access to %s is restricted and you are not in the authorized list. "
                                 "Visit %s/%s%s to ask for access." % (
                                     what, self.server.app.endpoint, FILE_PREFIX[repo.plural], repo.id),
                            "GatedRepo")
        return None

    def rev_not_found(self, rev):
        return self.err(404, "Invalid rev id: %s" % rev, "RevisionNotFound")

    # ---- API server routes ----
    def route_api(self, path, query):
        segs = path.split("/")[1:]
        tok, user, bad = self.auth()
        if bad:
            return self.err(401, MSG_BAD_TOKEN)
        if segs[:2] == ["api", "whoami-v2"]:
            return self.whoami(tok, user)
        if len(segs) >= 2 and segs[0] == "api" and segs[1] == "resolve-cache":
            return self.resolve_cache(segs[2:], tok, user)
        if len(segs) >= 2 and segs[0] == "api" and segs[1] in REPO_TYPES:
            return self.api_repo(segs[1], segs[2:], query, tok, user)
        if segs and segs[0] == "api":
            return self.err(404, "Sorry, we can't find the page you are looking for.", send_message=False)
        plural, rest = "models", segs
        if segs and segs[0] in ("datasets", "spaces"):
            plural, rest = segs[0], segs[1:]
        return self.file_url(plural, rest, query, tok, user)

    def whoami(self, tok, user):
        if tok is None:
            return self.err(401, MSG_NO_AUTH)
        orgs = []
        for o in user.get("orgs") or []:
            name = o.get("name") if isinstance(o, dict) else str(o)
            orgs.append({"type": "org", "id": hashlib.sha1(name.encode()).hexdigest()[:24], "name": name,
                         "fullname": name, "email": None, "canPay": False, "periodEnd": None,
                         "avatarUrl": "/avatars/%s.svg" % name, "roleInOrg": "read", "isEnterprise": False})
        name = user.get("name", "user")
        return self.json_resp(200, {
            "type": user.get("type", "user"), "id": hashlib.sha1(name.encode()).hexdigest()[:24], "name": name,
            "fullname": user.get("fullname", name), "email": user.get("email"),
            "emailVerified": bool(user.get("email")), "canPay": False, "periodEnd": None,
            "isPro": bool(user.get("isPro", False)), "avatarUrl": "/avatars/%s.svg" % name, "orgs": orgs,
            "auth": {"type": "access_token", "accessToken": {
                "displayName": user.get("displayName", "test"), "role": user.get("role", "read"),
                "createdAt": "2024-01-01T00:00:00.000Z"}}})

    def legacy_redirect(self, plural, rest, kind, query):
        reds = self.server.app.redirects()
        if not reds:
            return None
        for n in (2, 1):
            if len(rest) < n:
                continue
            if kind == "file" and not (len(rest) > n and rest[n] in ("resolve", "raw")):
                continue
            key = plural + "/" + "/".join(urllib.parse.unquote(s) for s in rest[:n])
            target = reds.get(key)
            if not target:
                continue
            tp, _, tid = target.partition("/")
            enc = "/".join(urllib.parse.quote(x, safe="") for x in tid.split("/"))
            if kind == "api":
                loc = "/api/%s/%s" % (tp, enc)
            else:
                loc = "/%s%s" % (FILE_PREFIX[tp], enc)
            if rest[n:]:
                loc += "/" + "/".join(rest[n:])
            if query:
                loc += "?" + query
            return Resp(307, [("Location", loc), ("Content-Type", TEXT_CT)],
                        ("Temporary Redirect. Redirecting to %s" % loc).encode())
        return None

    def api_repo(self, plural, rest, query, tok, user):
        r = self.legacy_redirect(plural, rest, "api", query)
        if r:
            return r
        if not rest or rest == [""]:
            return self.list_repos(plural, tok, user, query)
        if len(rest) < 2:
            return self.repo_not_found(tok)
        repo_id = urllib.parse.unquote(rest[0]) + "/" + urllib.parse.unquote(rest[1])
        repo = self.server.app.repo(plural, repo_id)
        tail = rest[2:]
        if tail and tail[-1] == "" and len(tail) <= 2 and tail[0] != "tree":
            tail = tail[:-1]
        deny = self.check_access(repo, tok, user, files=False)
        if deny:
            return deny
        if not tail or tail[0] == "revision":
            if tail and len(tail) < 2:
                return self.err(404, "Sorry, we can't find the page you are looking for.", send_message=False)
            rev = urllib.parse.unquote("/".join(tail[1:])) if tail else "main"
            snap = repo.resolve(rev)
            if snap is None:
                return self.rev_not_found(rev)
            expand = self.q.get("expand") or self.q.get("expand[]") or []
            blobs = truthy((self.q.get("blobs") or ["false"])[-1])
            return self.json_resp(200, repo_info(self.server.app, repo, snap, blobs, expand))
        if tail[0] == "tree" and len(tail) >= 2:
            return self.tree(repo, tail, query)
        if tail[0] == "refs" and len(tail) == 1:
            return self.refs(repo)
        if tail[0] == "paths-info" and len(tail) >= 2:
            return self.paths_info(repo, urllib.parse.unquote("/".join(tail[1:])))
        return self.err(404, "Sorry, we can't find the page you are looking for.", send_message=False)

    def list_repos(self, plural, tok, user, query):
        search = (self.q.get("search") or [""])[-1].lower()
        author = (self.q.get("author") or [""])[-1]
        limit = (self.q.get("limit") or [""])[-1]
        out = []
        for r in self.server.app.all_repos():
            if r.plural != plural:
                continue
            if search and search not in r.id.lower():
                continue
            if author and r.ns != author:
                continue
            s = r.settings()
            if s.get("private") and not self.is_member(r, tok, user):
                continue
            br = r.branches()
            if "main" not in br:
                continue
            snap = r.snapshot("main", br["main"])
            info = repo_info(self.server.app, r, snap, False, None)
            keep = ["_id", "id", "likes", "downloads", "private", "tags", "pipeline_tag", "library_name",
                    "createdAt", "modelId", "author", "sha", "lastModified", "gated"]
            out.append({k: info[k] for k in keep if k in info})
        if limit.isdigit():
            out = out[:int(limit)]
        return self.paginate(out, query)

    def paginate(self, items, query, page_size=None):
        ps = page_size or self.server.app.page_size
        cur = (self.q.get("cursor") or [""])[-1]
        start = 0
        if cur:
            try:
                start = int(json.loads(base64.urlsafe_b64decode(cur + "=" * (-len(cur) % 4)))["o"])
                if start < 0:
                    raise ValueError
            except Exception:
                return self.err(400, "Invalid cursor")
        page = items[start:start + ps]
        headers = []
        if start + ps < len(items):
            nc = base64.urlsafe_b64encode(json.dumps({"o": start + ps}).encode()).decode().rstrip("=")
            pairs = [(k, v) for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True) if k != "cursor"]
            pairs.append(("cursor", nc))
            url = "%s%s?%s" % (self.server.app.endpoint, self.path.split("?", 1)[0], urllib.parse.urlencode(pairs))
            headers.append(("Link", '<%s>; rel="next"' % url))
        return self.json_resp(200, page, headers)

    def tree(self, repo, tail, query):
        rev = urllib.parse.unquote(tail[1])
        snap = repo.resolve(rev)
        if snap is None:
            return self.rev_not_found(rev)
        sub = urllib.parse.unquote("/".join(tail[2:])).strip("/")
        if sub and sub not in snap.dirs:
            return self.err(404, "Entry not found", "EntryNotFound", [("X-Repo-Commit", snap.commit)])
        recursive = truthy((self.q.get("recursive") or ["false"])[-1])
        expand = truthy((self.q.get("expand") or ["false"])[-1])
        paths = tree_paths(snap, sub, recursive)
        ps = self.server.app.page_size
        if expand:
            ps = min(ps, 50)
        r = self.paginate(paths, query, ps)
        if r.status != 200:
            return r
        page = json.loads(r.body)
        r.body = json.dumps([tree_entry(snap, p, expand) for p in page], separators=(",", ":")).encode()
        r.headers.append(("X-Repo-Commit", snap.commit))
        return r

    def refs(self, repo):
        branches, prs = [], []
        for b, d in sorted(repo.branches().items()):
            s = repo.snapshot(b, d)
            if b.startswith("refs/"):
                prs.append({"name": b, "ref": b, "targetCommit": s.commit})
            else:
                branches.append({"name": b, "ref": "refs/heads/" + b, "targetCommit": s.commit})
        out = {"branches": branches, "converts": [], "tags": []}
        if truthy((self.q.get("include_prs") or ["0"])[-1]):
            out["pullRequests"] = prs
        return self.json_resp(200, out)

    def paths_info(self, repo, rev):
        snap = repo.resolve(rev)
        if snap is None:
            return self.rev_not_found(rev)
        ct = self.headers.get("Content-Type", "")
        paths, expand = [], False
        try:
            if "json" in ct:
                j = json.loads(self.req_body.decode("utf-8") or "{}")
                paths = _as_list(j.get("paths"))
                expand = truthy(j.get("expand", False))
            else:
                f = urllib.parse.parse_qs(self.req_body.decode("utf-8"), keep_blank_values=True)
                paths = f.get("paths", []) + f.get("paths[]", [])
                expand = truthy((f.get("expand") or ["false"])[-1])
        except (ValueError, AttributeError):
            return self.err(400, "Invalid body")
        out = []
        for p in paths:
            p = str(p).strip("/")
            if p in snap.by_path or p in snap.dirs:
                out.append(tree_entry(snap, p, expand))
        return self.json_resp(200, out, [("X-Repo-Commit", snap.commit)])

    # ---- file URLs ----
    def file_url(self, plural, rest, query, tok, user):
        r = self.legacy_redirect(plural, rest, "file", query)
        if r:
            return r
        if len(rest) >= 4 and rest[2] in ("resolve", "raw"):
            repo_id = urllib.parse.unquote(rest[0]) + "/" + urllib.parse.unquote(rest[1])
            action, rev, fparts = rest[2], urllib.parse.unquote(rest[3]), rest[4:]
        elif len(rest) >= 3 and rest[1] in ("resolve", "raw"):
            return self.repo_not_found(tok)  # bare legacy id without a redirect
        else:
            return self.err(404, "Sorry, we can't find the page you are looking for.", send_message=False)
        fpath = urllib.parse.unquote("/".join(fparts))
        repo = self.server.app.repo(plural, repo_id)
        deny = self.check_access(repo, tok, user, files=True)
        if deny:
            return deny
        snap = repo.resolve(rev)
        if snap is None:
            return self.rev_not_found(rev)
        f = snap.by_path.get(fpath)
        if f is None:
            return self.err(404, "Entry not found", "EntryNotFound", [("X-Repo-Commit", snap.commit)])
        if action == "raw":
            if f.lfs:
                ptr = LFS_POINTER.format(f.sha256, f.size).encode()
                return Resp(200, [("Content-Type", TEXT_CT), ("ETag", '"%s"' % f.oid),
                                  ("X-Repo-Commit", snap.commit)], ptr)
            return self.serve_git_file(repo, snap, f)
        if f.lfs:
            app = self.server.app
            expires = int(time.time()) + 3600
            base = f.path.rsplit("/", 1)[-1]
            loc = "%s/lfs/%s?name=%s&expires=%d&sig=%s" % (
                app.cdn, f.sha256, urllib.parse.quote(base, safe=""), expires, app.sign(f.sha256, expires))
            return Resp(302, [("Location", loc), ("Content-Type", TEXT_CT),
                              ("X-Linked-Etag", '"%s"' % f.sha256), ("X-Linked-Size", str(f.size)),
                              ("X-Repo-Commit", snap.commit), ("ETag", '"%s"' % f.sha256),
                              ("Accept-Ranges", "bytes")],
                        ("Found. Redirecting to %s" % loc).encode())
        s = repo.settings()
        if not s.get("private") and not s.get("gated") and f.size > 0:
            loc = "/api/resolve-cache/%s/%s/%s/%s?etag=%%22%s%%22" % (
                repo.plural, repo.id, snap.commit, urllib.parse.quote(f.path), f.oid)
            return Resp(307, [("Location", loc), ("Content-Type", TEXT_CT), ("X-Repo-Commit", snap.commit),
                              ("ETag", '"%s"' % f.oid), ("Accept-Ranges", "bytes")],
                        ("Temporary Redirect. Redirecting to %s" % loc).encode())
        return self.serve_git_file(repo, snap, f)

    def serve_git_file(self, repo, snap, f):
        etag = '"%s"' % (f.sha256 if f.lfs else f.oid)
        base = f.path.rsplit("/", 1)[-1]
        ct = mimetypes.guess_type(base)[0] or "application/octet-stream"
        if ct.startswith("text/") or ct == "application/json":
            ct += "; charset=utf-8"
        headers = [("ETag", etag), ("X-Repo-Commit", snap.commit), ("Content-Type", ct),
                   ("Content-Disposition", "inline; filename*=UTF-8''%s; filename=\"%s\";" % (
                       urllib.parse.quote(base), base.replace('"', "_"))),
                   ("Last-Modified", email.utils.formatdate(f.mtime, usegmt=True)),
                   ("Cache-Control", "private, max-age=0, must-revalidate" if repo.settings().get("private")
                    else "public, max-age=31536000, immutable")]
        inm = self.headers.get("If-None-Match")
        if inm and etag in [x.strip().replace("W/", "") for x in inm.split(",")]:
            return Resp(304, headers + [("Accept-Ranges", "bytes")], b"")
        return self.file_response(f.abspath, f.size, headers)

    def resolve_cache(self, rest, tok, user):
        # rest: {plural}/{ns}/{name}/{commit}/{path...}
        if len(rest) < 5 or rest[0] not in REPO_TYPES:
            return self.err(404, "Sorry, we can't find the page you are looking for.", send_message=False)
        plural = rest[0]
        repo_id = urllib.parse.unquote(rest[1]) + "/" + urllib.parse.unquote(rest[2])
        rev = urllib.parse.unquote(rest[3])
        fpath = urllib.parse.unquote("/".join(rest[4:]))
        repo = self.server.app.repo(plural, repo_id)
        deny = self.check_access(repo, tok, user, files=True)
        if deny:
            return deny
        snap = repo.resolve(rev)
        if snap is None:
            return self.rev_not_found(rev)
        f = snap.by_path.get(fpath)
        if f is None:
            return self.err(404, "Entry not found", "EntryNotFound", [("X-Repo-Commit", snap.commit)])
        return self.serve_git_file(repo, snap, f)

    # ---- CDN ----
    def route_cdn(self, path, query):
        segs = path.split("/")[1:]
        if len(segs) != 2 or segs[0] != "lfs" or not HEX64.match(segs[1]):
            return self.xml_err(404, "NoSuchKey", "The specified key does not exist.")
        sha = segs[1]
        app = self.server.app
        exp = (self.q.get("expires") or [""])[-1]
        sig = (self.q.get("sig") or [""])[-1]
        if not exp.isdigit() or not sig:
            return self.xml_err(403, "AccessDenied", "Access Denied")
        if not hmac.compare_digest(sig, app.sign(sha, int(exp))):
            return self.xml_err(403, "AccessDenied", "Access Denied")
        if int(exp) < time.time():
            return self.xml_err(403, "AccessDenied", "Request has expired")
        found = app.find_blob(sha)
        if found is None:
            return self.xml_err(404, "NoSuchKey", "The specified key does not exist.")
        abspath, size = found
        name = (self.q.get("name") or [sha])[-1]
        try:
            mtime = os.stat(abspath).st_mtime
        except OSError:
            mtime = time.time()
        headers = [("Content-Type", "application/octet-stream"), ("ETag", '"%s"' % sha),
                   ("Last-Modified", email.utils.formatdate(mtime, usegmt=True)),
                   ("Content-Disposition", "inline; filename*=UTF-8''%s; filename=\"%s\";" % (
                       urllib.parse.quote(name), name.replace('"', "_"))),
                   ("Cache-Control", "public, max-age=604800, immutable, s-maxage=604800")]
        return self.file_response(abspath, size, headers)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def server_bind(self):
        # skip HTTPServer's getfqdn() (slow reverse DNS)
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        if self.app.verbose:
            super().handle_error(request, client_address)


def main(argv=None):
    ap = argparse.ArgumentParser(description="local Hugging Face Hub imitation for tests")
    ap.add_argument("--root", required=True)
    ap.add_argument("--page-size", type=int, default=1000)
    ap.add_argument("--api-host", default="127.0.0.1")
    ap.add_argument("--cdn-host", default="127.0.0.2")
    ap.add_argument("--throttle", type=int, default=0, help="bytes/s per connection for file bodies")
    ap.add_argument("--token-file", default=None,
                    help="extra valid tokens: JSON object like users.json, JSON list, or one token per line")
    ap.add_argument("--exit-on-stdin-eof", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    app = App(args)
    servers = []
    for kind, host in (("api", args.api_host), ("cdn", args.cdn_host)):
        s = Server((host, 0), Handler)
        s.kind, s.app = kind, app
        servers.append(s)
    app.endpoint = "http://%s:%d" % (args.api_host, servers[0].server_address[1])
    app.cdn = "http://%s:%d" % (args.cdn_host, servers[1].server_address[1])
    for s in servers:
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()

    def on_signal(signum, frame):
        STOP.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.exit_on_stdin_eof:
        def watch_stdin():
            try:
                while sys.stdin.buffer.read(65536):
                    pass
            except Exception:
                pass
            STOP.set()
        threading.Thread(target=watch_stdin, daemon=True).start()
    threading.Thread(target=app.warm, daemon=True).start()
    sys.stdout.write(json.dumps({"endpoint": app.endpoint, "cdn": app.cdn, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    while not STOP.wait(0.5):
        pass
    # no graceful drain needed: in-flight transfers are cut, the OS closes the sockets
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
