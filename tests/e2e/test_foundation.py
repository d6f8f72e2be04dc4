"""End-to-end tests of the foundation: the dispatcher, info, ls, login, logout, whoami,
env, HTTP retries, error mapping and the token rules, against the local test hub."""
import json
import os
import re
import stat
import time

from modltest import (ModlTestCase, make_repo, write_users, write_redirects, git_blob_sha1,
                      sha256, tiny_model_files)

TOKEN = "hf_aliceSecretToken0123456789"
OTHER = "hf_bobToken9876543210"
USERS = {TOKEN: {"name": "alice", "fullname": "Alice", "orgs": ["acme", "labs"]},
         OTHER: {"name": "bob", "fullname": "Bob", "orgs": []}}


class Dispatcher(ModlTestCase):
    def test_version_and_help(self):
        r = self.run_modl("--version")
        self.assertExit(r, 0)
        self.assertRegex(r.out, r"^modl \d+\.\d+\.\d+\n$")
        r = self.run_modl("--help")
        self.assertExit(r, 0)
        for name in ("info", "ls", "login", "logout", "whoami", "env"):
            self.assertRegex(r.out, r"\n  %s\s" % name)

    def test_no_command_is_usage_error(self):
        r = self.run_modl()
        self.assertExit(r, 2)
        self.assertIn("usage: modl", r.err)

    def test_unknown_command_suggests(self):
        r = self.run_modl("lss")
        self.assertExit(r, 2)
        self.assertOneLineError(r, "unknown command 'lss'", "did you mean 'ls'")
        r = self.run_modl("frobnicate")
        self.assertExit(r, 2)
        self.assertNotIn("did you mean", r.err)

    def test_unknown_flag_suggests(self):
        r = self.run_modl("info", "a/b", "--repo-tpye", "model")
        self.assertExit(r, 2)
        self.assertOneLineError(r, "--repo-tpye", "did you mean '--repo-type'")

    def test_command_help_three_ways(self):
        a = self.run_modl("help", "ls")
        b = self.run_modl("ls", "--help")
        c = self.run_modl("--help", "ls")
        for r in (a, b, c):
            self.assertExit(r, 0)
            self.assertTrue(r.out.startswith("usage: modl ls"), r)
        self.assertEqual(a.out, b.out)
        self.assertEqual(a.out, c.out)
        self.assertExit(self.run_modl("help", "nope"), 2)

    def test_missing_and_extra_arguments(self):
        self.assertExit(self.run_modl("info"), 2)
        self.assertExit(self.run_modl("info", "a/b", "c/d"), 2)
        self.assertExit(self.run_modl("ls"), 2)
        self.assertExit(self.run_modl("whoami", "x"), 2)
        r = self.run_modl("info", "not/a/repo")
        self.assertExit(r, 2)
        self.assertOneLineError(r, "not a valid repo id")
        self.assertExit(self.run_modl("info", "a/b", "--repo-type", "kernel"), 2)

    def test_bad_endpoint_is_usage_error(self):
        r = self.run_modl("info", "a/b", HF_ENDPOINT="ftp://example")
        self.assertExit(r, 2)
        self.assertOneLineError(r, "HF_ENDPOINT")


class HubCase(ModlTestCase):
    page_size = 2

    def setUp(self):
        super().setUp()
        self.files = tiny_model_files()
        self.files["original/params.json"] = b'{"dim": 64}\n'
        self.files["tokenizer/extra.bin"] = b"\x00\x01" * 500
        make_repo(self.hub_root, "models", "karpathy/stories260K", self.files)
        make_repo(self.hub_root, "models", "karpathy/stories260K",
                  dict(self.files, **{"config.json": b'{"dev": true}\n'}), branch="dev")
        make_repo(self.hub_root, "models", "meta/gated", {"README.md": "---\nlicense: llama3.1\n---\n",
                                                           "model.safetensors": b"x" * 100},
                  settings={"gated": "manual", "allowed_tokens": [TOKEN]})
        make_repo(self.hub_root, "models", "acme/private", {"config.json": b"{}"},
                  settings={"private": True, "allowed_tokens": [TOKEN]})
        make_repo(self.hub_root, "datasets", "acme/data", {"train.csv": b"a,b\n1,2\n"})
        make_repo(self.hub_root, "models", "org/bert-tiny", {"config.json": b"{}"})
        write_redirects(self.hub_root, {"models/bert-tiny": "models/org/bert-tiny"})
        write_users(self.hub_root, USERS)
        self.start_hub()
        # Expected values come from the hub's own API, read here without modl.
        st, _, body = self.hub.request("GET", "/api/models/karpathy/stories260K")
        self.assertEqual(st, 200)
        self.commit = json.loads(body)["sha"]
        self.hub.reset()

    def api_requests(self, server="api"):
        return [e for e in self.hub.log() if e["server"] == server]


class Info(HubCase):
    def test_text(self):
        r = self.run_modl("info", "karpathy/stories260K")
        self.assertExit(r, 0)
        fields = dict(re.findall(r"^(\S+(?: \S+)?)\s{2,}(.*)$", r.out, re.M))
        self.assertEqual(fields["commit"], self.commit)
        self.assertEqual(fields["license"], "mit")
        self.assertEqual(fields["gated"], "false")
        self.assertEqual(fields["private"], "no")
        self.assertEqual(fields["pipeline"], "text-generation")
        self.assertEqual(fields["files"], str(len(self.files) + 1))  # + .gitattributes
        self.assertIn("safetensors", fields["weights"])

    def test_json(self):
        r = self.run_modl("info", "karpathy/stories260K", "--json")
        self.assertExit(r, 0)
        doc = r.json()
        self.assertEqual(doc["sha"], self.commit)
        self.assertEqual(doc["id"], "karpathy/stories260K")
        self.assertIs(doc["gated"], False)
        self.assertIs(doc["private"], False)
        self.assertEqual(doc["license"]["card"], "mit")
        self.assertEqual(doc["license"]["tag"], "mit")
        self.assertEqual(doc["library_name"], "transformers")
        gitattributes = open(os.path.join(self.hub_root, "models/karpathy/stories260K/.gitattributes"), "rb").read()
        self.assertEqual(doc["total_size"], sum(len(v) for v in self.files.values()) + len(gitattributes))
        self.assertEqual(doc["files"], len(self.files) + 1)
        self.assertEqual(doc["weight_formats"], ["safetensors", "pytorch"])  # tokenizer/extra.bin
        # Global option before the command gives the same document.
        self.assertEqual(self.run_modl("--json", "info", "karpathy/stories260K").json(), doc)

    def test_revision_branch_and_commit(self):
        dev = self.run_modl("info", "karpathy/stories260K@dev", "--json")
        self.assertExit(dev, 0)
        self.assertNotEqual(dev.json()["sha"], self.commit)
        self.assertEqual(dev.json()["revision"], "dev")
        pinned = self.run_modl("info", "karpathy/stories260K@" + self.commit, "--json")
        self.assertExit(pinned, 0)
        self.assertEqual(pinned.json()["sha"], self.commit)
        paths = [e["path"] for e in self.api_requests()]
        self.assertIn("/api/models/karpathy/stories260K/revision/dev", paths)

    def test_hf_uri_and_dataset(self):
        r = self.run_modl("info", "hf://datasets/acme/data", "--json")
        self.assertExit(r, 0)
        self.assertEqual(r.json()["id"], "acme/data")
        r = self.run_modl("info", "acme/data", "--repo-type", "dataset")
        self.assertExit(r, 0)

    def test_legacy_id_redirect(self):
        r = self.run_modl("info", "bert-tiny", "--json")
        self.assertExit(r, 0)
        self.assertEqual(r.json()["id"], "org/bert-tiny")

    def test_not_found(self):
        r = self.run_modl("info", "karpathy/nope")
        self.assertExit(r, 4)
        self.assertOneLineError(r, "karpathy/nope", "not found")
        r = self.run_modl("info", "karpathy/stories260K@nobranch")
        self.assertExit(r, 4)
        self.assertOneLineError(r, "revision 'nobranch' not found")

    def test_gated_info_is_public(self):
        r = self.run_modl("info", "meta/gated", "--json")
        self.assertExit(r, 0)
        self.assertEqual(r.json()["gated"], "manual")
        self.assertEqual(r.json()["license"]["card"], "llama3.1")

    def test_gated_files_need_accepted_terms(self):
        r = self.run_modl("ls", "meta/gated")  # the tree of a gated repo is public too
        self.assertExit(r, 0)

    def test_private(self):
        r = self.run_modl("info", "acme/private")
        self.assertExit(r, 4)
        self.assertOneLineError(r, "not found", "modl login")
        r = self.run_modl("info", "acme/private", HF_TOKEN=OTHER)
        self.assertExit(r, 4)
        self.assertOneLineError(r, "token cannot read it")
        r = self.run_modl("info", "acme/private", "--json", HF_TOKEN=TOKEN)
        self.assertExit(r, 0)
        self.assertIs(r.json()["private"], True)

    def test_invalid_token(self):
        r = self.run_modl("info", "karpathy/stories260K", HF_TOKEN="hf_wrong")
        self.assertExit(r, 5)
        self.assertOneLineError(r, "refused as invalid", "HF_TOKEN")
        self.assertNotIn("hf_wrong", r.err)

    def test_offline(self):
        r = self.run_modl("info", "karpathy/stories260K", HF_HUB_OFFLINE="1")
        self.assertExit(r, 3)
        self.assertOneLineError(r, "offline")
        self.assertEqual(self.hub.log(), [])

    def test_invalid_json_answer(self):
        self.hub.faults({"server": "api", "path_re": "^/api/models/", "action": "status",
                         "code": 200, "body": "<html>oops</html>", "times": -1})
        r = self.run_modl("info", "karpathy/stories260K")
        self.assertExit(r, 8)
        self.assertOneLineError(r, "invalid JSON")


class Ls(HubCase):
    def expected(self):
        gitattributes = open(os.path.join(self.hub_root, "models/karpathy/stories260K/.gitattributes"), "rb").read()
        files = dict(self.files, **{".gitattributes": gitattributes})
        lfs = lambda p: p.endswith((".safetensors", ".bin"))
        return {p: (len(d), "lfs" if lfs(p) else "git", sha256(d) if lfs(p) else git_blob_sha1(d))
                for p, d in files.items()}

    def test_json_follows_pagination(self):
        r = self.run_modl("ls", "karpathy/stories260K", "--json")
        self.assertExit(r, 0)
        doc = r.json()
        got = {f["path"]: (f["size"], f["kind"], f["hash"]) for f in doc["files"]}
        self.assertEqual(got, self.expected())
        self.assertEqual(doc["total_files"], len(got))
        self.assertEqual(doc["total_size"], sum(v[0] for v in got.values()))
        # page size 2 → several pages, each fetched once through the Link header
        tree = [e for e in self.api_requests() if "/tree/" in e["path"]]
        self.assertGreaterEqual(len(tree), 4)
        self.assertEqual(sum(1 for e in tree if "cursor=" in e["query"]), len(tree) - 1)

    def test_text(self):
        r = self.run_modl("ls", "karpathy/stories260K")
        self.assertExit(r, 0)
        exp = self.expected()
        for path, (size, kind, h) in exp.items():
            self.assertRegex(r.out, r"(?m)^\s*\S+ \S+\s+%s\s+%s\s+%s$" % (kind, h, re.escape(path)))
        self.assertIn("%d files" % len(exp), r.out.splitlines()[-1])
        self.assertIn("(%d bytes)" % sum(v[0] for v in exp.values()), r.out.splitlines()[-1])

    def test_subdirectory(self):
        r = self.run_modl("ls", "karpathy/stories260K", "original", "--json")
        self.assertExit(r, 0)
        self.assertEqual([f["path"] for f in r.json()["files"]], ["original/params.json"])
        r = self.run_modl("ls", "karpathy/stories260K", "nothing-here")
        self.assertExit(r, 4)

    def test_hostile_listing_is_refused(self):
        for bad in ("../../etc/passwd", "/etc/passwd", "a\\\\b", "a/../../x"):
            self.hub.reset()
            body = json.dumps([{"type": "file", "oid": "0" * 40, "size": 1, "path": "ok.txt"},
                               {"type": "file", "oid": "1" * 40, "size": 1, "path": bad}])
            self.hub.faults({"server": "api", "path_re": "/tree/", "action": "status", "code": 200,
                             "body": body})
            r = self.run_modl("ls", "karpathy/stories260K")
            self.assertExit(r, 8)
            self.assertOneLineError(r, "unsafe path")

    def test_pagination_may_not_leave_the_endpoint(self):
        self.hub.faults({"server": "api", "path_re": "/tree/", "action": "status", "code": 200,
                         "body": "[]", "headers": {"Link": '<%s/steal>; rel="next"' % self.hub.cdn}})
        r = self.run_modl("ls", "karpathy/stories260K", HF_TOKEN=TOKEN)
        self.assertExit(r, 8)
        self.assertEqual(self.api_requests("cdn"), [])


class Retries(HubCase):
    def test_5xx_once_then_success(self):
        for code in (500, 502, 503, 504, 408):
            self.hub.reset()
            self.hub.faults({"server": "api", "path_re": "^/api/models/", "action": "status", "code": code})
            r = self.run_modl("info", "karpathy/stories260K", "--json")
            self.assertExit(r, 0)
            self.assertEqual(len(self.api_requests()), 2, code)

    def test_429_honours_retry_after(self):
        self.hub.faults({"server": "api", "path_re": "^/api/models/", "action": "status", "code": 429,
                         "retry_after": 1})
        t0 = time.monotonic()
        r = self.run_modl("info", "karpathy/stories260K")
        self.assertExit(r, 0)
        self.assertGreaterEqual(time.monotonic() - t0, 1.0)
        self.assertEqual(len(self.api_requests()), 2)

    def test_gives_up_with_exit_3(self):
        self.hub.faults({"server": "api", "path_re": "^/api/models/", "action": "status", "code": 503,
                         "times": -1})
        r = self.run_modl("info", "karpathy/stories260K", MODL_MAX_RETRIES="2")
        self.assertExit(r, 3)
        self.assertOneLineError(r, "503")
        self.assertEqual(len(self.api_requests()), 3)

    def test_dropped_connection_is_retried(self):
        self.hub.faults({"server": "api", "path_re": "^/api/models/", "action": "drop", "after": 10})
        r = self.run_modl("info", "karpathy/stories260K")
        self.assertExit(r, 0)

    def test_stall_is_retried(self):
        self.hub.faults({"server": "api", "path_re": "^/api/models/", "action": "stall", "seconds": 5})
        r = self.run_modl("info", "karpathy/stories260K", HF_HUB_DOWNLOAD_TIMEOUT="1")
        self.assertExit(r, 0)

    def test_unreachable_endpoint(self):
        r = self.run_modl("info", "karpathy/stories260K", HF_ENDPOINT="http://127.0.0.1:9",
                          MODL_MAX_RETRIES="1")
        self.assertExit(r, 3)
        self.assertOneLineError(r, "127.0.0.1:9")


class Token(HubCase):
    def test_token_sent_to_endpoint_only(self):
        r = self.run_modl("info", "karpathy/stories260K", HF_TOKEN=TOKEN)
        self.assertExit(r, 0)
        api = self.api_requests()
        self.assertTrue(api)
        for e in api:
            self.assertEqual(e["headers"].get("authorization"), "Bearer " + TOKEN)

    def test_token_never_follows_a_redirect_to_another_host(self):
        # The API answers with a redirect to the CDN host: the request that follows must
        # carry no Authorization header.
        self.hub.faults({"server": "api", "path_re": "^/api/models/", "action": "status", "code": 302,
                         "headers": {"Location": self.hub.cdn + "/lfs/" + "0" * 64}})
        r = self.run_modl("info", "karpathy/stories260K", HF_TOKEN=TOKEN)
        self.assertNotEqual(r.rc, 0)
        cdn = self.api_requests("cdn")
        self.assertEqual(len(cdn), 1)
        self.assertNotIn("authorization", cdn[0]["headers"])
        self.assertNotIn(TOKEN, r.out + r.err)

    def test_verbose_redacts_the_token(self):
        r = self.run_modl("-v", "info", "karpathy/stories260K", HF_TOKEN=TOKEN)
        self.assertExit(r, 0)
        self.assertIn("Authorization: Bearer hf_***", r.err)
        self.assertIn("> GET %s/api/models/karpathy/stories260K" % self.hub.endpoint, r.err)
        self.assertNotIn(TOKEN, r.err + r.out)

    def test_user_agent(self):
        self.run_modl("info", "karpathy/stories260K")
        self.assertRegex(self.api_requests()[0]["headers"]["user-agent"], r"^modl/\d+\.\d+\.\d+$")

    def test_legacy_token_variable_and_file(self):
        r = self.run_modl("whoami", HUGGING_FACE_HUB_TOKEN=OTHER)
        self.assertExit(r, 0)
        self.assertEqual(r.out.strip(), "bob")
        os.makedirs(self.hf_home, exist_ok=True)
        with open(os.path.join(self.hf_home, "token"), "w") as f:
            f.write(OTHER + "\n")
        self.assertEqual(self.run_modl("whoami").out.strip(), "bob")
        # HF_TOKEN wins over the file
        self.assertEqual(self.run_modl("whoami", HF_TOKEN=TOKEN).out.splitlines()[0], "alice")
        # HF_TOKEN_PATH moves the file
        path = os.path.join(self.tmp, "elsewhere")
        with open(path, "w") as f:
            f.write(TOKEN)
        self.assertEqual(self.run_modl("whoami", HF_TOKEN_PATH=path).out.splitlines()[0], "alice")


class Login(HubCase):
    def token_path(self):
        return os.path.join(self.hf_home, "token")

    def test_login_whoami_logout(self):
        r = self.run_modl("login", "--token", TOKEN)
        self.assertExit(r, 0)
        self.assertIn("alice", r.out)
        self.assertNotIn(TOKEN, r.out + r.err)
        st = os.stat(self.token_path())
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(self.hf_home).st_mode), 0o700)
        with open(self.token_path()) as f:
            self.assertEqual(f.read(), TOKEN)  # no newline, as huggingface_hub writes it
        r = self.run_modl("whoami")
        self.assertExit(r, 0)
        self.assertEqual(r.out.splitlines()[0], "alice")
        self.assertIn("acme", r.out)
        doc = self.run_modl("whoami", "--json").json()
        self.assertEqual(doc["user"], "alice")
        self.assertEqual(doc["orgs"], ["acme", "labs"])
        self.assertEqual(doc["token_source"], "token file")
        r = self.run_modl("logout")
        self.assertExit(r, 0)
        self.assertFalse(os.path.exists(self.token_path()))
        r = self.run_modl("whoami")
        self.assertExit(r, 5)
        self.assertOneLineError(r, "not logged in")
        r = self.run_modl("logout")
        self.assertExit(r, 0)
        self.assertIn("Not logged in", r.out)

    def test_login_from_stdin(self):
        r = self.run_modl("login", stdin=(TOKEN + "\n").encode())
        self.assertExit(r, 0)
        with open(self.token_path()) as f:
            self.assertEqual(f.read(), TOKEN)

    def test_login_refuses_invalid_token(self):
        r = self.run_modl("login", "--token", "hf_not_a_user")
        self.assertExit(r, 5)
        self.assertOneLineError(r, "invalid")
        self.assertNotIn("hf_not_a_user", r.err)
        self.assertFalse(os.path.exists(self.token_path()))

    def test_login_replaces_atomically(self):
        self.assertExit(self.run_modl("login", "--token", OTHER), 0)
        self.assertExit(self.run_modl("login", "--token", TOKEN), 0)
        with open(self.token_path()) as f:
            self.assertEqual(f.read(), TOKEN)
        self.assertEqual(sorted(os.listdir(self.hf_home)), ["token"])

    def test_whoami_invalid_token(self):
        r = self.run_modl("whoami", HF_TOKEN="hf_bad")
        self.assertExit(r, 5)


class Env(HubCase):
    def test_env_never_prints_the_token(self):
        r = self.run_modl("env", HF_TOKEN=TOKEN)
        self.assertExit(r, 0)
        self.assertNotIn(TOKEN, r.out + r.err)
        self.assertIn("present (from HF_TOKEN)", r.out)
        self.assertIn(self.hub.endpoint, r.out)
        doc = self.run_modl("env", "--json", HF_TOKEN=TOKEN).json()
        self.assertEqual(doc["endpoint"], self.hub.endpoint)
        self.assertEqual(doc["hf_home"], self.hf_home)
        self.assertEqual(doc["hub_cache"], os.path.join(self.hf_home, "hub"))
        self.assertEqual(doc["token_path"], os.path.join(self.hf_home, "token"))
        self.assertIs(doc["token_present"], True)
        self.assertEqual(doc["token_source"], "HF_TOKEN")
        self.assertNotIn(TOKEN, json.dumps(doc))
        doc = self.run_modl("env", "--json", HF_HUB_CACHE="/somewhere/hub", MODL_THREADS="3").json()
        self.assertEqual(doc["hub_cache"], "/somewhere/hub")
        self.assertIs(doc["token_present"], False)
        self.assertEqual(doc["threads"], 3)


class BadTokenFile(HubCase):
    """A token file that cannot be used (issue 11): a directory or a FIFO in its place, one
    larger than the 4096-byte cap, or HF_HOME a regular file. Commands without the network
    never read it; the others warn once and go on without a token; env diagnoses it."""

    def local_inputs(self):
        d = os.path.join(self.tmp, "local")
        os.makedirs(d, exist_ok=True)
        st = os.path.join(d, "model.safetensors")
        with open(st, "wb") as f:
            f.write(self.files["model.safetensors"])
        with open(os.path.join(d, "README.md"), "w") as f:
            f.write("---\nlicense: mit\n---\n")
        return d, st

    def cases(self):
        """(name, env) for each bad token file."""
        out = []
        as_dir = os.path.join(self.tmp, "tokdir")
        os.makedirs(as_dir)
        out.append(("directory", {"HF_TOKEN_PATH": as_dir}))
        fifo = os.path.join(self.tmp, "tokfifo")
        os.mkfifo(fifo)
        out.append(("fifo", {"HF_TOKEN_PATH": fifo}))
        big = os.path.join(self.tmp, "tokbig")
        with open(big, "w") as f:
            f.write("hf_" + "a" * 5000)
        out.append(("oversized", {"HF_TOKEN_PATH": big}))
        home_file = os.path.join(self.tmp, "hf-home-file")
        with open(home_file, "w") as f:
            f.write("not a directory\n")
        out.append(("HF_HOME a file", {"HF_HOME": home_file}))
        return out

    def test_offline_commands_do_not_read_the_token(self):
        d, st = self.local_inputs()
        for name, env in self.cases():
            with self.subTest(name):
                r = self.run_modl("inspect", st, timeout=20, **env)
                self.assertExit(r, 0)
                self.assertNotIn("token", r.err)
                r = self.run_modl("license", d, timeout=20, **env)
                self.assertExit(r, 0)
                self.assertNotIn("token", r.err)
                if name != "HF_HOME a file":
                    r = self.run_modl("cache", "ls", timeout=20, **env)
                    self.assertExit(r, 0)
                    self.assertNotIn("token", r.err)

    def test_network_commands_warn_once_and_go_on_anonymously(self):
        for name, env in self.cases():
            with self.subTest(name):
                path = env.get("HF_TOKEN_PATH", os.path.join(env.get("HF_HOME", ""), "token"))
                for args in (("info", "karpathy/stories260K"), ("ls", "karpathy/stories260K")):
                    r = self.run_modl(*args, timeout=20, **env)
                    self.assertExit(r, 0)
                    warnings = [l for l in r.err.splitlines() if l.startswith("modl: warning: token file")]
                    self.assertEqual(len(warnings), 1, r)
                    self.assertIn(path, warnings[0])
                    self.assertIn("continuing without a token", warnings[0])
                # Anonymous: a private repo is refused as for no token at all.
                r = self.run_modl("info", "acme/private", timeout=20, **env)
                self.assertIn(r.rc, (4, 5), r)

    def test_env_diagnoses_the_token_file(self):
        for name, env in self.cases():
            with self.subTest(name):
                path = env.get("HF_TOKEN_PATH", os.path.join(env.get("HF_HOME", ""), "token"))
                r = self.run_modl("env", timeout=20, **env)
                self.assertExit(r, 0)
                line = [l for l in r.out.splitlines() if l.startswith("token:")]
                self.assertEqual(len(line), 1, r)
                self.assertIn("none", line[0])
                self.assertIn(path, line[0])
                doc = self.run_modl("env", "--json", timeout=20, **env).json()
                self.assertIs(doc["token_present"], False)
                self.assertIn(path, doc["token_problem"])
        doc = self.run_modl("env", "--json").json()
        self.assertIsNone(doc["token_problem"])


EVIL = "\x1b]0;pwned\x07\x1b[31m\u009b\u202e"
LEGIT = "caf\u00e9 \u65e5\u672c\u8a9e \u05e9\u05dc\u05d5\u05dd"  # printable UTF-8 must stay as it is


class TerminalEscapes(HubCase):
    """Text from outside (the API's answers, the model card, license texts, server headers)
    never reaches the terminal raw (issue 11): no ESC, no C1 control (U+009B is CSI), no
    bidi control, no invalid UTF-8 on stdout or stderr of info, license and pull; printable
    UTF-8 is kept, and --json stays valid JSON with the same values."""

    def run_raw(self, *args, **env):
        import subprocess
        proc = subprocess.run([self.modl_path(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=self.env(**env), timeout=60, cwd=self.tmp)
        self.assertNotIn(b"AddressSanitizer", proc.stderr)
        return proc

    def modl_path(self):
        from modltest import MODL
        return MODL

    def assertClean(self, proc):
        for name, data in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            where = "%s of rc=%d: %r" % (name, proc.returncode, data[-600:])
            self.assertNotIn(b"\x1b", data, where)
            text = data.decode("utf-8")  # invalid bytes are escaped, never written
            for ch in text:
                cp = ord(ch)
                self.assertFalse(cp < 0x20 and ch not in "\n\t\r", where)
                self.assertFalse(0x7f <= cp <= 0x9f, where)
                self.assertFalse(0x202a <= cp <= 0x202e or 0x2066 <= cp <= 0x2069, where)

    def evil_info(self):
        return {"id": "acme/evil", "sha": "a" * 40, "lastModified": EVIL, "gated": EVIL,
                "private": False, "pipeline_tag": EVIL, "library_name": LEGIT + EVIL,
                "tags": ["license:" + EVIL], "siblings": [{"rfilename": "config.json", "size": 2}],
                "cardData": {"license": EVIL, "license_name": EVIL, "license_link": EVIL}}

    def test_info_escapes_the_api_answer(self):
        self.hub.faults([{"server": "api", "path_re": "^/api/models/acme/evil", "action": "status",
                          "code": 200, "times": -1, "body": self.evil_info()}])
        p = self.run_raw("info", "acme/evil")
        self.assertEqual(p.returncode, 0, p)
        self.assertClean(p)
        self.assertIn(LEGIT, p.stdout.decode())
        p = self.run_raw("info", "acme/evil", "--json")
        self.assertEqual(p.returncode, 0, p)
        self.assertClean(p)
        doc = json.loads(p.stdout)
        self.assertEqual(doc["pipeline_tag"], EVIL)  # the same value, escaped as JSON
        self.assertEqual(doc["library_name"], LEGIT + EVIL)
        self.assertEqual(doc["license"]["card"], EVIL)

    def evil_card_repo(self):
        yaml_evil = '\\e]0;pwned\\a\\e[31m\\x9b\\u202e'  # YAML double-quoted escapes
        card = ('---\nlicense: "mit%s"\nlicense_name: "n%s"\nlicense_link: "l%s"\n'
                'base_model: "acme/base%s"\n---\n' % (yaml_evil, yaml_evil, yaml_evil, yaml_evil))
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "src", "license", "data", "mit.txt")) as f:
            mit = f.read()
        words = mit.split(" ")
        words.insert(len(words) // 2, EVIL)  # an altered license: its region is printed
        make_repo(self.hub_root, "models", "acme/evilcard",
                  {"README.md": card, "LICENSE": " ".join(words), "model.safetensors": b"\0" * 64})

    def test_license_escapes_the_card_and_the_texts(self):
        self.evil_card_repo()
        policy = os.path.join(self.tmp, "policy.json")
        with open(policy, "w") as f:
            json.dump({"allow": ["apache-2.0"]}, f)
        for args in ((), ("--json",), ("--policy", policy)):
            p = self.run_raw("license", "acme/evilcard", *args)
            self.assertIn(p.returncode, (0, 7), p)
            self.assertClean(p)
            if args == ("--json",):
                doc = json.loads(p.stdout)
                self.assertTrue(doc["declared"].endswith("\x1b]0;pwned\x07\x1b[31m\u009b\u202e"))

    def test_pull_escapes_server_headers_and_policy_errors(self):
        self.evil_card_repo()
        self.hub.faults([{"server": "api", "path_re": "^/api/models/acme/evilcard", "action": "status",
                          "code": 403, "times": -1, "headers": {"X-Error-Message": "no\x1b[31m\x9b\x1b]0;pwned\x07"}}])
        p = self.run_raw("pull", "acme/evilcard")
        self.assertEqual(p.returncode, 5, p)
        self.assertClean(p)
        p = self.run_raw("-v", "pull", "acme/evilcard")  # the headers logged, escaped
        self.assertEqual(p.returncode, 5, p)
        self.assertIn(b"X-Error-Message", p.stderr)
        self.assertClean(p)
        self.hub.reset()
        policy = os.path.join(self.tmp, "policy.json")
        with open(policy, "w") as f:
            json.dump({"allow": ["apache-2.0"]}, f)
        p = self.run_raw("pull", "acme/evilcard", "--policy", policy)
        self.assertEqual(p.returncode, 7, p)
        self.assertClean(p)

    def test_raw_escapes_in_server_headers(self):
        """The test hub percent-encodes header values: a bare server sends them raw."""
        import socketserver
        import threading

        class Raw(socketserver.StreamRequestHandler):
            def handle(self):
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                body = b'{"error": "no\\u001b[31m\\u009b"}'
                self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nX-Error-Message: no\x1b]0;pwned\x07\x1b[31m\x9b"
                                 b"\xc2\x9b\xe2\x80\xae\r\nX-Other\x1b[31m: \x1b[31m\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Raw)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            endpoint = "http://127.0.0.1:%d" % server.server_address[1]
            for args in (("info", "acme/x"), ("-v", "info", "acme/x"), ("pull", "acme/x")):
                p = self.run_raw(*args, HF_ENDPOINT=endpoint, MODL_MAX_RETRIES="0")
                self.assertEqual(p.returncode, 5, p)
                self.assertIn(b"access denied", p.stderr)
                self.assertClean(p)
        finally:
            server.shutdown()
            server.server_close()
