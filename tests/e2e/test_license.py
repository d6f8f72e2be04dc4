"""End-to-end tests of `modl license` (issue 7): identification over the whole corpus and
variants of it generated here from the originals, altered clauses, unrelated texts,
declared-versus-shipped mismatches, terms, policies and their exit codes, and the three
sources: a directory, a cached snapshot (pulled with `modl pull`), and a repository on
the local test Hub, checked in the Hub's request log to fetch nothing but the card and
the license files.

Expected values come from the texts (src/license/data/, src/license/testdata/) and from
doc/cli.md, never from modl's own output."""
import json
import os
import re
import textwrap

from modltest import ROOT, ModlTestCase, make_repo

DATA = os.path.join(ROOT, "src", "license", "data")
VARIANTS = os.path.join(ROOT, "src", "license", "testdata", "variants")
TOKEN = "hf_licenseTestToken0123456789"

# Ids of the licenses written for models: an unrelated text must never be taken for one.
MODEL_LICENSE_PREFIXES = ("llama", "gemma", "mistral", "tongyi", "qwen", "deepseek", "bigscience",
                          "bigcode", "creativeml", "openrail")


def corpus():
    """{id: text} of every known text (the file name is the id)."""
    out = {}
    for name in sorted(os.listdir(DATA)):
        if name.endswith(".txt") and name != "SOURCE.txt":
            with open(os.path.join(DATA, name), encoding="utf-8") as f:
                out[name[:-4]] = f.read()
    return out


def text_of(lid):
    with open(os.path.join(DATA, lid + ".txt"), encoding="utf-8") as f:
        return f.read()


# ---- variants of a text, made the way people and tools make them --------------------------

LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\(?(?:\d{1,3}|[a-zA-Z]|[ivxIVX]{1,4})[.)]|\d+(?:\.\d+)+\.?)\s")


def paragraphs(text):
    """Paragraphs (blank-line separated; a list item starts a new one), each as one line."""
    paras, cur = [], []
    for line in text.splitlines():
        if not line.strip():
            if cur:
                paras.append(cur)
                cur = []
        elif LIST_ITEM.match(line) and cur:
            paras.append(cur)
            cur = [line]
        else:
            cur.append(line)
    if cur:
        paras.append(cur)
    return [" ".join(part.strip() for part in p) for p in paras]


def reflowed(text):
    return "\n\n".join(paragraphs(text)) + "\n"


def rewrapped(text, width=58):
    return "\n\n".join(textwrap.fill(p, width, break_long_words=False, break_on_hyphens=False)
                       for p in paragraphs(text)) + "\n"


def markdown(text):
    out = []
    for p in paragraphs(text):
        p = (p.replace("\u201c", '"').replace("\u201d", '"').replace("\u2019", "'")
             .replace("_", "\\_"))
        p = re.sub(r"(https?://[^\s)\]]+)", r"[\1](\1)", p)
        if len(p) < 70 and not p.endswith("."):
            out.append("## " + p)
        elif LIST_ITEM.match(p + " "):
            out.append("- " + LIST_ITEM.sub("", p, count=1))
        else:
            words = p.split(" ")
            out.append("**" + " ".join(words[:3]) + "** " + " ".join(words[3:]))
    return "\r\n\r\n".join(out) + "\r\n"


def html(text):
    return ("<html><body>\n" + "\n".join(
        "<p>%s</p>" % p.replace("&", "&amp;").replace('"', "&quot;") for p in paragraphs(text))
        + "\n</body></html>\n")


WRAPPER_HEAD = ("This model is distributed under the license quoted below; the full text is in the "
                "repository that published the weights.\n\n")
WRAPPER_TAIL = "\n\nQuestions about the license go to the publisher, not to us.\n"


def quoted(text, start, share):
    """A share of the text's words from start (a fraction), whole paragraphs, inside other
    text."""
    paras = paragraphs(text)
    total = sum(len(p.split()) for p in paras)
    words, taken, first = 0, [], None
    for p in paras:
        n = len(p.split())
        if words >= start * total and sum(len(t.split()) for t in taken) < share * total:
            taken.append(p)
            first = first if first is not None else words
        words += n
    return WRAPPER_HEAD + "\n\n".join(taken) + WRAPPER_TAIL


CHANGES = {
    "insert": "except for any commercial purpose whatsoever,",
    "replace": "never",
}


def altered(text, how):
    """The text with one clause changed near its middle; returns (text, words changed)."""
    paras = text.split("\n\n")
    order = sorted(range(len(paras)), key=lambda i: abs(i - len(paras) // 2))
    for i in order:
        w = paras[i].split()
        if len(w) >= 20 and w[7] not in ("never", "always"):
            break
    else:
        raise AssertionError("no paragraph to alter")
    if how == "insert":
        w.insert(8, CHANGES["insert"])
        marker = "commercial purpose whatsoever"
    elif how == "delete":
        marker = " ".join(w[6:9])  # removed: shown on the known side
        del w[6:12]
    else:
        w[7] = CHANGES["replace"]
        marker = "never"
    paras[i] = " ".join(w)
    return "\n\n".join(paras), marker


def unrelated_texts():
    """Texts that are not model licenses: this project's own documents, a README, a made-up
    agreement, and the other licenses of /usr/share/common-licenses that are on this
    machine (GPL-2, LGPL, MPL: not in the knowledge base)."""
    out = {}
    for rel in ("README.md", "tests/hub/README.md", "src/license/data/SOURCE.txt"):
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            out[rel.replace("/", "_")] = f.read()
    out["readme"] = ("# tiny-model\n\nA 260K-parameter model trained on TinyStories for tests. "
                     "Load it with transformers, run it with llama.cpp, and report bugs on the "
                     "tracker. It is not meant for production use of any kind.\n") * 3
    out["made-up"] = ("ACME MODEL AGREEMENT\n\nYou may run the model on your own computers. You "
                      "may not sell it, rent it, or offer it as a service. Acme may end this "
                      "agreement by e-mail. The laws of Ruritania apply. Disputes go to the "
                      "courts of Strelsau. No warranty of any kind is given.\n")
    for name in ("GPL-2", "LGPL-2.1", "MPL-2.0", "Artistic", "GFDL-1.3"):
        path = os.path.join("/usr/share/common-licenses", name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                out[name] = f.read()
    return out


def card(**fields):
    lines = ["---"]
    for k, v in fields.items():
        if isinstance(v, list):
            lines.append("%s:" % k)
            lines += ["- %s" % x for x in v]
        else:
            lines.append("%s: %s" % (k, v))
    return "\n".join(lines + ["---", "", "# A model", ""])


class LicenseCase(ModlTestCase):
    def write_dir(self, files, name="model"):
        d = os.path.join(self.tmp, name)
        for rel, data in files.items():
            p = os.path.join(d, *rel.split("/"))
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.makedirs(d, exist_ok=True)
        return d

    def audit(self, target, *args, code=0, **env):
        r = self.run_modl("license", target, "--json", *args, **env)
        self.assertExit(r, code)
        return r.json()

    def detected(self, doc):
        """{file: [entries]}"""
        out = {}
        for e in doc["detected"]:
            out.setdefault(e["file"], []).append(e)
        return out

    def identify_all(self, texts):
        """Writes every text as its own LICENSE file of one directory and returns {key: [entries]}."""
        d = self.write_dir({"LICENSE.%s.txt" % k: v for k, v in texts.items()},
                           name="batch%d" % len(os.listdir(self.tmp)))
        found = self.detected(self.audit(d))
        return {k: found["LICENSE.%s.txt" % k] for k in texts}


# ---- identification -------------------------------------------------------------------------

class Identification(LicenseCase):
    def test_every_known_text_is_identified_as_itself(self):
        texts = corpus()
        self.assertGreaterEqual(len(texts), 38)
        found = self.identify_all(texts)
        for lid, entries in found.items():
            self.assertEqual([e["id"] for e in entries], [lid], lid)
            self.assertGreaterEqual(entries[0]["confidence"], 0.99, lid)
            self.assertFalse(entries[0]["altered"], lid)
            self.assertFalse(entries[0]["incomplete"], lid)
            self.assertEqual(entries[0]["alternatives"], [], lid)

    def check_variant(self, make, min_confidence=0.95):
        texts = {lid: make(t) for lid, t in corpus().items()}
        found = self.identify_all(texts)
        wrong = {lid: [(e["id"], e["confidence"], e["altered"]) for e in entries]
                 for lid, entries in found.items()
                 if [e["id"] for e in entries] != [lid] or entries[0]["confidence"] < min_confidence
                 or entries[0]["altered"]}
        self.assertEqual(wrong, {})

    def test_reflowed_copies(self):
        self.check_variant(reflowed)

    def test_rewrapped_copies(self):
        self.check_variant(rewrapped)

    def test_markdown_copies(self):
        self.check_variant(markdown)

    def test_html_copies(self):
        self.check_variant(html)

    def test_copies_with_other_line_endings_and_trailing_blanks(self):
        self.check_variant(lambda t: "\r\n".join(l + " \t" for l in t.splitlines()) + "\r\n")

    def test_partly_quoted_copies(self):
        """Three quarters of a text (from its beginning, or from a fifth of the way in) inside
        other text: identified, incomplete, not altered."""
        texts = {}
        for lid, t in corpus().items():
            texts[lid + ".head"] = quoted(t, 0.0, 0.75)
            texts[lid + ".middle"] = quoted(t, 0.2, 0.75)
        found = self.identify_all(texts)
        wrong = {}
        for key, entries in found.items():
            lid = key.rsplit(".", 1)[0]
            ids = [e["id"] for e in entries]
            # Revisions that differ only outside the quoted part cannot be told apart: the
            # one named must then list the other as an alternative.
            if len(ids) == 1 and lid in entries[0]["alternatives"]:
                ids = [lid]
            if ids != [lid] or entries[0]["altered"] or entries[0]["confidence"] < 0.5:
                wrong[key] = [(e["id"], e["confidence"], e["altered"]) for e in entries]
        # The middle of the two OpenRAIL-M texts of 2022 is the same text, word for word:
        # that part alone cannot name one of them, and must not be guessed.
        ambiguous = {"bigscience-openrail-m.middle", "creativeml-openrail-m.middle"}
        for key in ambiguous & set(wrong):
            self.assertTrue(wrong[key] == [] or wrong[key][0][0] == key.rsplit(".", 1)[0],
                            (key, wrong[key]))
            del wrong[key]
        self.assertEqual(wrong, {})

    def test_real_world_variant_files(self):
        expect = {
            "apache-2.0-debian-common-licenses": "apache-2.0",
            "gemma-numbered-list": "gemma",
            "llama2-trailing-whitespace": "llama2",
            "mit-llama2.c": "mit",
        }
        texts = {}
        for name in os.listdir(VARIANTS):
            with open(os.path.join(VARIANTS, name), encoding="utf-8") as f:
                texts[name[:-4]] = f.read()
        self.assertEqual(sorted(texts), sorted(expect))
        # and reflowed, to be sure the layout is not what identifies them
        texts.update({k + ".reflowed": reflowed(v) for k, v in list(texts.items())})
        found = self.identify_all(texts)
        for key, entries in found.items():
            lid = expect[key.split(".reflowed")[0]]
            self.assertEqual([e["id"] for e in entries], [lid], key)
            self.assertGreaterEqual(entries[0]["confidence"], 0.95, key)
            self.assertFalse(entries[0]["altered"], key)

    def test_close_versions_are_told_apart(self):
        """Llama 3, 3.1, 3.2, 3.3 and 4 and their policies, and the three Gemma revisions,
        differ in a few words: each is named without an alternative, even reflowed."""
        ids = ["llama3", "llama3.1", "llama3.2", "llama3.3", "llama4", "llama3.1-aup",
               "llama3.2-aup", "llama3.3-aup", "llama4-aup", "gemma", "gemma-2024-04-01",
               "gemma-2024-02-21", "llama2-aup", "llama3-aup"]
        texts = {lid: reflowed(text_of(lid)) for lid in ids}
        found = self.identify_all(texts)
        for lid in ids:
            self.assertEqual([e["id"] for e in found[lid]], [lid])
            self.assertEqual(found[lid][0]["alternatives"], [], lid)

    def test_llama3_without_the_policy_appended_to_it(self):
        """llama3.txt ends with the acceptable use policy (SOURCE.txt); a LICENSE without it
        is the whole license, not an incomplete one."""
        t = text_of("llama3")
        cut = t.index("Meta Llama 3 Acceptable Use Policy")
        found = self.identify_all({"bare": t[:cut]})
        self.assertEqual([e["id"] for e in found["bare"]], ["llama3"])
        self.assertFalse(found["bare"][0]["incomplete"])
        self.assertFalse(found["bare"][0]["altered"])

    def test_a_license_followed_by_its_policy_in_one_file(self):
        both = text_of("llama3.2") + "\n\n" + text_of("llama3.2-aup")
        found = self.identify_all({"both": both})
        self.assertEqual(sorted(e["id"] for e in found["both"]), ["llama3.2", "llama3.2-aup"])

    def test_changed_clauses_are_flagged_with_their_region(self):
        texts, markers = {}, {}
        for lid, t in corpus().items():
            for how in ("insert", "delete", "replace"):
                texts["%s.%s" % (lid, how)], markers["%s.%s" % (lid, how)] = altered(t, how)
        d = self.write_dir({"LICENSE.%s.txt" % k: v for k, v in texts.items()}, name="altered")
        doc = self.audit(d)
        found = self.detected(doc)
        regions = {}
        for g in doc["altered_regions"]:
            regions.setdefault(g["file"], []).append(g)
        self.assertTrue(doc["terms"]["altered"])
        missed = []
        for key in texts:
            f = "LICENSE.%s.txt" % key
            entries = found[f]
            lid = key.rsplit(".", 1)[0]
            if [e["id"] for e in entries] != [lid] or not entries[0]["altered"]:
                missed.append((key, [(e["id"], e["altered"]) for e in entries]))
                continue
            # The region shows the changed sentence, on both sides.
            shown = " ".join(g["shipped"] + " " + g["known"] for g in regions.get(f, []))
            if markers[key] not in " ".join(shown.split()):
                missed.append((key, "region does not show %r" % markers[key]))
        self.assertEqual(missed, [])

    def test_unrelated_texts_are_unknown_never_a_model_license(self):
        texts = unrelated_texts()
        found = self.identify_all(texts)
        for key, entries in found.items():
            for e in entries:
                self.assertFalse(e["id"].startswith(MODEL_LICENSE_PREFIXES), (key, e))
        for key in ("README.md", "readme", "made-up", "tests_hub_README.md"):
            self.assertEqual([e["id"] for e in found[key]], ["unknown"], key)


# ---- reports ------------------------------------------------------------------------------

class Reports(LicenseCase):
    def test_matching_repo_passes_with_the_terms_of_the_texts(self):
        d = self.write_dir({"README.md": card(license="llama3.1"),
                            "LICENSE": text_of("llama3.1"),
                            "USE_POLICY.md": text_of("llama3.1-aup"),
                            "NOTICE": "Llama 3.1 is licensed under the Llama 3.1 Community License, "
                                      "Copyright \u00a9 Meta Platforms, Inc. All Rights Reserved.\n"})
        doc = self.audit(d)
        for key in ("declared", "detected", "mismatch", "terms", "verdict", "reasons"):
            self.assertIn(key, doc)
        self.assertEqual(doc["declared"], "llama3.1")
        self.assertEqual(sorted((e["file"], e["id"]) for e in doc["detected"]),
                         [("LICENSE", "llama3.1"), ("NOTICE", "unknown"), ("USE_POLICY.md", "llama3.1-aup")])
        for e in doc["detected"]:
            self.assertEqual(set(e) >= {"id", "file", "confidence"}, True)
        self.assertFalse(doc["mismatch"])
        t = doc["terms"]
        # Section 2 of the text: 700 million monthly active users.
        self.assertEqual(t["commercial_use"], "conditional")
        self.assertEqual(t["user_threshold"], 700000000)
        self.assertTrue(any("Built with Llama" in a for a in t["attribution"]))
        self.assertTrue(any('"Llama" at the beginning' in a for a in t["attribution"]))
        self.assertEqual(t["acceptable_use_policy"], "https://llama.meta.com/llama3_1/use-policy")
        self.assertTrue(any("copy of the Agreement" in x for x in t["redistribution"]))
        self.assertIsInstance(t["use_restrictions"], list)
        self.assertFalse(t["altered"])
        self.assertEqual(doc["verdict"], "pass")
        self.assertEqual(doc["detected"][1]["notice_of"], ["llama3.1"])
        self.assertTrue(doc["licenses"][0]["notice_present"])

    def test_tag_that_disagrees_with_the_license_file(self):
        d = self.write_dir({"README.md": card(license="apache-2.0"), "LICENSE": text_of("llama3.2")})
        doc = self.audit(d)
        self.assertTrue(doc["mismatch"])
        self.assertEqual(doc["verdict"], "unknown")
        self.assertTrue(any("mismatch" in r and "llama3.2" in r for r in doc["reasons"]))
        # Both licenses apply until someone finds out: the stricter terms win.
        self.assertEqual(doc["terms"]["commercial_use"], "conditional")
        r = self.run_modl("license", d)
        self.assertExit(r, 0)
        self.assertRegex(r.out, r"(?m)^mismatch\s+YES")

    def test_policy_text_of_another_version(self):
        d = self.write_dir({"README.md": card(license="llama3.2"), "LICENSE": text_of("llama3.2"),
                            "USE_POLICY.md": text_of("llama3.1-aup")})
        doc = self.audit(d)
        self.assertTrue(doc["mismatch"])

    def test_gemma_revision_agrees_with_the_gemma_tag(self):
        d = self.write_dir({"README.md": card(license="gemma"), "LICENSE": text_of("gemma-2024-02-21")})
        doc = self.audit(d)
        self.assertFalse(doc["mismatch"])
        self.assertEqual([e["id"] for e in doc["detected"]], ["gemma-2024-02-21"])
        self.assertEqual([l["id"] for l in doc["licenses"]], ["gemma-2024-02-21"])
        self.assertTrue(any("latest version of Gemma" in x for x in doc["terms"]["use_restrictions"]))

    def test_other_license_by_name(self):
        d = self.write_dir({"README.md": card(license="other", license_name="mrl",
                                              license_link="https://mistral.ai/licenses/MRL-0.1.md"),
                            "LICENSE.md": text_of("mistral-research-license-0.1")})
        doc = self.audit(d)
        self.assertEqual(doc["declared"], "mrl")
        self.assertFalse(doc["mismatch"])
        self.assertEqual(doc["terms"]["commercial_use"], "forbidden")
        self.assertTrue(doc["terms"]["research_only"])

    def test_missing_license_file(self):
        d = self.write_dir({"README.md": card(license="mit"), "config.json": "{}"})
        doc = self.audit(d)
        self.assertTrue(doc["missing_license_file"])
        self.assertEqual(doc["detected"], [])
        self.assertEqual(doc["terms"]["commercial_use"], "allowed")

    def test_noncommercial_terms(self):
        d = self.write_dir({"README.md": card(license="cc-by-nc-4.0"), "LICENSE": text_of("cc-by-nc-4.0")})
        self.assertEqual(self.audit(d)["terms"]["commercial_use"], "forbidden")

    def test_altered_license_file(self):
        text, marker = altered(text_of("apache-2.0"), "insert")
        d = self.write_dir({"README.md": card(license="apache-2.0"), "LICENSE": text})
        doc = self.audit(d)
        self.assertTrue(doc["terms"]["altered"])
        self.assertEqual(doc["verdict"], "unknown")
        self.assertEqual(len(doc["altered_regions"]), 1)
        self.assertIn(marker, doc["altered_regions"][0]["shipped"])
        self.assertEqual(doc["altered_regions"][0]["kind"], "added")
        self.assertEqual(doc["altered_regions"][0]["shipped_words"], CHANGES["insert"].rstrip(","))
        self.assertEqual(doc["altered_regions"][0]["known_words"], "")
        r = self.run_modl("license", d)
        self.assertIn("ALTERED", r.out)
        self.assertIn(marker, r.out)
        self.assertTrue(any("altered" in x and CHANGES["insert"].rstrip(",") in x for x in doc["reasons"]))

    def test_license_files_anywhere_in_any_case(self):
        d = self.write_dir({"README.md": card(license="llama3"),
                            "original/license.txt": text_of("llama3"),
                            "Licence.md": text_of("llama3"),
                            "copying": text_of("llama3"),
                            "weights/model.safetensors": b"\0" * 64,
                            "LICENSE.png": b"\x89PNG"})
        doc = self.audit(d)
        self.assertEqual(sorted(e["file"] for e in doc["detected"]),
                         ["Licence.md", "copying", "original/license.txt"])

    def test_gated_prompt_holding_the_license(self):
        prompt = "\n".join("  " + l.strip() for l in text_of("llama3.3").splitlines() if l.strip())
        d = self.write_dir({"README.md": "---\nlicense: llama3.3\nextra_gated_prompt: |\n" + prompt +
                                         "\nextra_gated_fields:\n  Name: text\n  Affiliation: text\n---\n",
                            "LICENSE": text_of("llama3.3")})
        doc = self.audit(d)
        self.assertEqual(doc["gating"]["fields"], ["Name", "Affiliation"])
        self.assertIn(("README.md (extra_gated_prompt)", "llama3.3"),
                      [(e["file"], e["id"]) for e in doc["detected"]])

    def test_base_model_chain_from_the_cache(self):
        """A directory is audited offline; its base models' cards come from the cache."""
        cache = os.path.join(self.hf_home, "hub")
        for repo, files in (("meta-llama/Llama-3.1-8B", {"README.md": card(license="llama3.1")}),
                            ("acme/mid", {"README.md": card(license="llama3.1",
                                                            base_model="meta-llama/Llama-3.1-8B")})):
            folder = os.path.join(cache, "models--" + repo.replace("/", "--"))
            commit = "%040x" % abs(hash(repo))
            for rel, data in files.items():
                p = os.path.join(folder, "snapshots", commit, rel)
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "w") as f:
                    f.write(data)
            os.makedirs(os.path.join(folder, "refs"), exist_ok=True)
            with open(os.path.join(folder, "refs", "main"), "w") as f:
                f.write(commit)
        d = self.write_dir({"README.md": card(license="apache-2.0", base_model="acme/mid"),
                            "LICENSE": text_of("apache-2.0")})
        doc = self.audit(d)
        chain = [(b["repo"], b["depth"], b["license"], b["read_from"]) for b in doc["base_models"]]
        self.assertEqual(chain, [("acme/mid", 1, "llama3.1", "cache"),
                                 ("meta-llama/Llama-3.1-8B", 2, "llama3.1", "cache")])
        self.assertTrue(doc["base_conflict"])
        self.assertEqual(doc["terms"]["commercial_use"], "conditional")
        self.assertIn("llama3.1", [l["id"] for l in doc["licenses"]])
        self.assertEqual(doc["verdict"], "unknown")

    def test_malformed_card_is_exit_8(self):
        d = self.write_dir({"README.md": "---\nlicense: [apache-2.0\n---\n", "LICENSE": text_of("mit")})
        r = self.run_modl("license", d)
        self.assertExit(r, 8)
        self.assertOneLineError(r, os.path.join(d, "README.md"), "front matter")
        d2 = self.write_dir({"README.md": "---\nlicense:\n  name: mit\n---\n"}, name="m2")
        r = self.run_modl("license", d2)
        self.assertExit(r, 8)
        self.assertOneLineError(r, "license: expected a string or a list of strings")

    def test_card_front_matter_over_the_read_limit_is_exit_8(self):
        # The front matter opens but does not close within the first MiB: its license
        # cannot be read, which is not "declares none".
        big = "---\n" + "".join("note%06d: %s\n" % (i, "x" * 90) for i in range(12000)) + \
              "license: cc-by-nc-4.0\n---\n"
        self.assertGreater(len(big), 1 << 20)
        d = self.write_dir({"README.md": big, "LICENSE": text_of("mit")}, name="bigcard")
        r = self.run_modl("license", d)
        self.assertExit(r, 8)
        self.assertOneLineError(r, os.path.join(d, "README.md"), "front matter", "1048576")
        # A card larger than that whose front matter closes early is read as usual.
        d2 = self.write_dir({"README.md": card(license="mit") + "x" * (2 << 20),
                             "LICENSE": text_of("mit")}, name="bigbody")
        self.assertEqual(self.audit(d2)["declared"], "mit")

    def test_usage_errors(self):
        self.assertExit(self.run_modl("license"), 2)
        self.assertExit(self.run_modl("license", "a/b", "c/d"), 2)
        self.assertExit(self.run_modl("license", "a/b", "--nope"), 2)
        r = self.run_modl("license", "./no-such-dir")
        self.assertExit(r, 4)
        self.assertOneLineError(r, "no-such-dir", "no such directory")


# ---- policies --------------------------------------------------------------------------------

class Policies(LicenseCase):
    def setUp(self):
        super().setUp()
        self.nc = self.write_dir({"README.md": card(license="cc-by-nc-4.0"),
                                  "LICENSE": text_of("cc-by-nc-4.0")}, name="nc")
        self.llama = self.write_dir({"README.md": card(license="llama3.2"),
                                     "LICENSE": text_of("llama3.2")}, name="llama")

    def policy(self, doc, name="policy.json"):
        p = os.path.join(self.tmp, name)
        with open(p, "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))
        return p

    def test_allowed_license_passes(self):
        p = self.policy({"allow": ["apache-2.0", "llama3*"], "deny": ["cc-by-nc-*"],
                         "require_commercial_use": True, "max_unknown": 0})
        doc = self.audit(self.llama, "--policy", p)
        self.assertEqual(doc["verdict"], "pass")
        self.assertEqual(doc["policy"]["violations"], [])

    def test_denied_license_fails_with_exit_7(self):
        p = self.policy({"deny": ["cc-by-nc-*"]})
        r = self.run_modl("license", self.nc, "--policy", p, "--json")
        self.assertExit(r, 7)
        self.assertEqual(r.json()["verdict"], "fail")  # the report is printed all the same
        self.assertOneLineError(r, "license policy", p, "cc-by-nc-4.0 is denied")

    def test_license_outside_the_allow_list(self):
        p = self.policy({"allow": ["apache-2.0", "mit"]})
        r = self.run_modl("license", self.llama, "--policy", p)
        self.assertExit(r, 7)
        self.assertOneLineError(r, "llama3.2 is not in the allow list")

    def test_commercial_use_required(self):
        p = self.policy({"require_commercial_use": True})
        r = self.run_modl("license", self.nc, "--policy", p)
        self.assertExit(r, 7)
        self.assertOneLineError(r, "commercial use is forbidden")
        self.assertExit(self.run_modl("license", self.llama, "--policy", p), 0)  # conditional

    def test_unknown_texts_counted(self):
        d = self.write_dir({"README.md": card(license="mit"),
                            "LICENSE": "Do what you like, but not on Tuesdays.\n"}, name="odd")
        p0, p1 = self.policy({"max_unknown": 0}, "p0.json"), self.policy({"max_unknown": 1}, "p1.json")
        r = self.run_modl("license", d, "--policy", p0)
        self.assertExit(r, 7)
        self.assertOneLineError(r, "1 unknown item")
        self.assertExit(self.run_modl("license", d, "--policy", p1), 0)
        text, _ = altered(text_of("mit"), "replace")
        d2 = self.write_dir({"README.md": card(license="mit"), "LICENSE": text}, name="alt")
        self.assertExit(self.run_modl("license", d2, "--policy", p0), 7)

    def test_deny_applies_to_base_models(self):
        cache = os.path.join(self.hf_home, "hub", "models--acme--base")
        os.makedirs(os.path.join(cache, "snapshots", "1" * 40))
        os.makedirs(os.path.join(cache, "refs"))
        with open(os.path.join(cache, "refs", "main"), "w") as f:
            f.write("1" * 40)
        with open(os.path.join(cache, "snapshots", "1" * 40, "README.md"), "w") as f:
            f.write(card(license="cc-by-nc-4.0"))
        d = self.write_dir({"README.md": card(license="mit", base_model="acme/base"),
                            "LICENSE": text_of("mit")}, name="ft")
        r = self.run_modl("license", d, "--policy", self.policy({"deny": ["cc-by-nc-4.0"]}))
        self.assertExit(r, 7)
        self.assertOneLineError(r, "cc-by-nc-4.0 (base model) is denied")

    def test_require_license_file(self):
        d = self.write_dir({"README.md": card(license="mit")}, name="nofile")
        self.assertExit(self.run_modl("license", d, "--policy", self.policy({})), 0)
        r = self.run_modl("license", d, "--policy", self.policy({"require_license_file": True}))
        self.assertExit(r, 7)

    def test_malformed_policies_are_exit_8(self):
        cases = [
            ("{\"deny\": [\"mit\"", "not valid JSON"),
            ("[\"mit\"]", "a policy is a JSON object"),
            ({"allow": "mit"}, "\"allow\" must be a list"),
            ({"deny": [1]}, "\"deny\" must be a list"),
            ({"require_commercial_use": "yes"}, "must be true or false"),
            ({"max_unknown": -1}, "\"max_unknown\" must be a whole number"),
            ({"max_unknown": 0.5}, "\"max_unknown\" must be a whole number"),
            ({"alow": ["mit"]}, "unknown key \"alow\""),
        ]
        for i, (doc, message) in enumerate(cases):
            p = self.policy(doc, "bad%d.json" % i)
            r = self.run_modl("license", self.llama, "--policy", p)
            self.assertExit(r, 8)
            self.assertOneLineError(r, p + ":", message)
            self.assertEqual(r.out, "")  # nothing read, nothing printed

    def test_missing_policy_file(self):
        r = self.run_modl("license", self.llama, "--policy", os.path.join(self.tmp, "nope.json"))
        self.assertExit(r, 4)
        self.assertOneLineError(r, "nope.json", "no such policy file")


# ---- sources: the Hub and the cache ------------------------------------------------------------

WEIGHTS = (".safetensors", ".bin", ".pth", ".gguf", ".pt")


class Sources(LicenseCase):
    def setUp(self):
        super().setUp()
        from hubfixture import write_users
        write_users(self.hub_root, {TOKEN: {"name": "alice", "orgs": []}})
        make_repo(self.hub_root, "models", "meta-llama/Llama-3.1-8B", {
            "README.md": card(license="llama3.1"),
            "LICENSE": text_of("llama3.1"),
            "USE_POLICY.md": text_of("llama3.1-aup"),
            "original/LICENSE": text_of("llama3.1"),
            "model-00001-of-00002.safetensors": b"\1" * 4096,
            "model-00002-of-00002.safetensors": b"\2" * 4096,
            "original/consolidated.00.pth": b"\3" * 4096,
            "config.json": "{}",
        })
        make_repo(self.hub_root, "models", "acme/ft", {
            "README.md": card(license="apache-2.0", base_model="meta-llama/Llama-3.1-8B"),
            "LICENSE": text_of("apache-2.0"),
            "NOTICE": "This product includes software developed by Acme.\n",
            "model.safetensors": b"\4" * 4096,
            "pytorch_model.bin": b"\5" * 4096,
        })
        self.start_hub()
        self.hub.reset()

    def weight_requests(self):
        return [e for e in self.hub.log() if e["path"].split("?")[0].endswith(WEIGHTS)
                or e["server"] == "cdn"]

    def test_remote_repo_fetches_only_the_card_and_license_files(self):
        doc = self.audit("meta-llama/Llama-3.1-8B")
        self.assertEqual(doc["source"]["kind"], "hub")
        self.assertRegex(doc["source"]["commit"], r"^[0-9a-f]{40}$")
        self.assertEqual(sorted((e["file"], e["id"]) for e in doc["detected"]),
                         [("LICENSE", "llama3.1"), ("USE_POLICY.md", "llama3.1-aup"),
                          ("original/LICENSE", "llama3.1")])
        self.assertEqual(doc["verdict"], "pass")
        self.assertEqual(self.weight_requests(), [])
        got = sorted({e["path"].split("?")[0].rsplit("/", 1)[-1] for e in self.hub.log()
                      if "resolve" in e["path"]})
        self.assertEqual(got, ["LICENSE", "README.md", "USE_POLICY.md"])
        # Every file at the commit, not at the branch.
        commit = doc["source"]["commit"]
        for e in self.hub.log():
            if "/resolve/" in e["path"] and not e["path"].startswith("/api/"):
                self.assertIn("/resolve/%s/" % commit, e["path"])

    def test_base_model_card_fetched_from_the_hub(self):
        doc = self.audit("acme/ft")
        self.assertEqual([(b["repo"], b["license"], b["read_from"]) for b in doc["base_models"]],
                         [("meta-llama/Llama-3.1-8B", "llama3.1", "hub")])
        self.assertTrue(doc["base_conflict"])
        self.assertEqual(doc["terms"]["commercial_use"], "conditional")
        self.assertEqual(doc["terms"]["user_threshold"], 700000000)
        self.assertEqual(self.weight_requests(), [])
        # Only the base model's card is read, not its license files.
        base = [e["path"] for e in self.hub.log() if "meta-llama" in e["path"]]
        self.assertTrue(base)
        self.assertTrue(all("README.md" in p for p in base), base)

    def test_base_model_loop_and_depth_limit(self):
        make_repo(self.hub_root, "models", "loop/a", {"README.md": card(license="mit", base_model="loop/b")})
        make_repo(self.hub_root, "models", "loop/b", {"README.md": card(license="mit", base_model="loop/a")})
        doc = self.audit("loop/a")
        self.assertEqual([b["repo"] for b in doc["base_models"]], ["loop/b"])
        for i in range(8):
            make_repo(self.hub_root, "models", "deep/m%d" % i,
                      {"README.md": card(license="mit", base_model="deep/m%d" % (i + 1))})
        doc = self.audit("deep/m0")
        self.assertEqual([b["depth"] for b in doc["base_models"]], [1, 2, 3, 4])
        self.assertIn("depth limit", doc["base_models"][-1]["note"])

    def test_missing_base_model(self):
        make_repo(self.hub_root, "models", "acme/orphan",
                  {"README.md": card(license="mit", base_model="nobody/nothing"), "LICENSE": text_of("mit")})
        doc = self.audit("acme/orphan")
        self.assertIsNone(doc["base_models"][0]["read_from"])
        self.assertEqual(doc["verdict"], "unknown")

    def test_gated_repo_without_access(self):
        make_repo(self.hub_root, "models", "acme/gated",
                  {"README.md": card(license="llama3.2"), "LICENSE": text_of("llama3.2")},
                  settings={"gated": "manual", "allowed_tokens": [TOKEN]})
        doc = self.audit("acme/gated")
        # The card's fields come from the repo info; the license file could not be read.
        self.assertEqual(doc["declared"], "llama3.2")
        self.assertEqual(doc["detected"][0]["read"], False)
        self.assertEqual(doc["verdict"], "unknown")
        doc = self.audit("acme/gated", HF_TOKEN=TOKEN)
        self.assertEqual([e["id"] for e in doc["detected"]], ["llama3.2"])
        self.assertEqual(doc["verdict"], "pass")

    def test_remote_policy_failure(self):
        make_repo(self.hub_root, "models", "acme/nc",
                  {"README.md": card(license="cc-by-nc-4.0"), "LICENSE": text_of("cc-by-nc-4.0"),
                   "model.safetensors": b"\6" * 4096})
        p = os.path.join(self.tmp, "policy.json")
        with open(p, "w") as f:
            json.dump({"require_commercial_use": True}, f)
        r = self.run_modl("license", "acme/nc", "--policy", p)
        self.assertExit(r, 7)
        self.assertEqual(self.weight_requests(), [])

    def test_unknown_repo_is_exit_4(self):
        self.assertExit(self.run_modl("license", "acme/none"), 4)

    def test_offline_and_not_cached_is_exit_3(self):
        r = self.run_modl("license", "acme/ft", HF_HUB_OFFLINE="1")
        self.assertExit(r, 3)
        self.assertOneLineError(r, "offline")

    def test_cached_snapshot(self):
        self.assertExit(self.run_modl("pull", "acme/ft"), 0)
        self.assertExit(self.run_modl("pull", "meta-llama/Llama-3.1-8B", "README.md"), 0)
        self.hub.reset()
        doc = self.audit("acme/ft", HF_HUB_OFFLINE="1")
        self.assertEqual(doc["source"]["kind"], "cache")
        self.assertEqual(doc["source"]["revision"], "main")
        self.assertEqual([(e["file"], e["id"]) for e in doc["detected"]],
                         [("LICENSE", "apache-2.0"), ("NOTICE", "unknown")])
        self.assertEqual([(b["repo"], b["read_from"]) for b in doc["base_models"]],
                         [("meta-llama/Llama-3.1-8B", "cache")])
        self.assertEqual(self.hub.log(), [])
        # Online, the cache still answers first; --remote asks the Hub.
        doc = self.audit("acme/ft")
        self.assertEqual(doc["source"]["kind"], "cache")
        self.assertEqual(self.hub.log(), [])
        doc = self.audit("acme/ft", "--remote")
        self.assertEqual(doc["source"]["kind"], "hub")
        self.assertEqual(self.weight_requests(), [])

    def test_partial_snapshot_falls_back_to_the_hub(self):
        self.assertExit(self.run_modl("pull", "meta-llama/Llama-3.1-8B", "config.json", "README.md"), 0)
        self.hub.reset()
        doc = self.audit("meta-llama/Llama-3.1-8B")
        self.assertEqual(doc["source"]["kind"], "hub")  # the snapshot lacks the license files
        self.assertEqual(self.weight_requests(), [])
        doc = self.audit("meta-llama/Llama-3.1-8B", HF_HUB_OFFLINE="1")
        self.assertEqual(doc["source"]["kind"], "cache")
        self.assertEqual(doc["verdict"], "unknown")
        self.assertTrue(any("LICENSE" in r and "not in the cached snapshot" in r for r in doc["reasons"]))

    def test_revision_and_human_report(self):
        make_repo(self.hub_root, "models", "acme/ft", {"README.md": card(license="mit"),
                                                        "LICENSE": text_of("mit")}, branch="v2")
        doc = self.audit("acme/ft@v2")
        self.assertEqual(doc["source"]["revision"], "v2")
        self.assertEqual([e["id"] for e in doc["detected"]], ["mit"])
        r = self.run_modl("license", "acme/ft")
        self.assertExit(r, 0)
        for label in ("source", "declared", "files", "base models", "mismatch", "terms", "verdict"):
            self.assertRegex(r.out, r"(?m)^%s\b" % label)
        self.assertIn("commercial use", r.out)


# ---- no silent cap on the license files (issue 11) ---------------------------------------------

class ManyLicenseFiles(LicenseCase):
    """A repo whose card says mit and that ships 300 MIT copies and one CC-BY-NC text: every
    license-like file is audited, so a policy that denies CC-BY-NC fails (it used to stop
    at the 256th file and pass)."""

    COPIES = 300

    def files(self):
        files = {"README.md": card(license="mit"), "model.safetensors": b"\7" * 4096}
        mit = text_of("mit")
        for i in range(self.COPIES):
            files["LICENSE.%03d" % i] = mit
        files["LICENSE.zz"] = text_of("cc-by-nc-4.0")  # listed and visited last
        return files

    def policy(self):
        p = os.path.join(self.tmp, "policy.json")
        with open(p, "w") as f:
            json.dump({"deny": ["cc-by-nc-*"]}, f)
        return p

    def test_directory_with_300_copies_and_one_denied_text(self):
        d = self.write_dir(self.files())
        r = self.run_modl("license", d, "--policy", self.policy())
        self.assertExit(r, 7)
        self.assertOneLineError(r, "cc-by-nc-4.0 is denied")

    def test_hub_repo_license_and_pull_policy(self):
        make_repo(self.hub_root, "models", "acme/many", self.files())
        self.start_hub()
        r = self.run_modl("license", "acme/many", "--policy", self.policy())
        self.assertExit(r, 7)
        self.assertOneLineError(r, "cc-by-nc-4.0 is denied")
        self.hub.reset()
        r = self.run_modl("pull", "acme/many", "--policy", self.policy())
        self.assertExit(r, 7)
        self.assertOneLineError(r, "cc-by-nc-4.0 is denied")
        weights = [e for e in self.hub.log() if e["path"].split("?")[0].endswith(WEIGHTS)
                   or e["server"] == "cdn"]
        self.assertEqual(weights, [])
        self.assertFalse(os.path.exists(os.path.join(self.hf_home, "hub", "models--acme--many",
                                                     "snapshots")))

    def test_more_files_than_the_documented_cap_is_exit_8(self):
        d = self.write_dir({"README.md": card(license="mit")}, name="toomany")
        for i in range(10001):
            with open(os.path.join(d, "LICENSE.%05d" % i), "w") as f:
                f.write("x\n")
        r = self.run_modl("license", d)
        self.assertExit(r, 8)
        self.assertOneLineError(r, d, "10000 license-like files")

    def test_more_license_text_than_the_documented_cap_is_exit_8(self):
        d = self.write_dir({"README.md": card(license="mit")}, name="toobig")
        chunk = (b"x" * 1023 + b"\n") * 1024  # exactly 1 MiB: read
        for i in range(65):
            with open(os.path.join(d, "LICENSE.%02d" % i), "wb") as f:
                f.write(chunk)
        r = self.run_modl("license", d)
        self.assertExit(r, 8)
        self.assertOneLineError(r, d, "64 MiB")
