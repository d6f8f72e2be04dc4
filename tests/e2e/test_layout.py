"""The folders are the architecture (doc/architecture.md): every quoted #include goes from a
layer to the same layer or one below it, never up or sideways, and formats/ includes nothing
of the project but itself. A new include that breaks the picture fails here."""
import os
import re
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Higher ranks may include lower ranks. Features of equal rank do not include each other.
RANK = {
    "cmd": 7,
    "src/pull": 6,
    "src/license": 5, "src/convert": 5, "src/inspect": 5,
    "src/quant": 4,
    "src/cache": 3,
    "src/hub": 2,
    "src/util": 1,
    "formats": 0,
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(path):
    rel = os.path.relpath(path, ROOT)
    for layer in sorted(RANK, key=len, reverse=True):
        if rel == layer or rel.startswith(layer + "/"):
            return layer
    return None


def resolve(including, name):
    """Where the compiler finds a quoted include: the including file's folder, then
    -iquote src, then -iquote . (the Makefile's order)."""
    for base in (os.path.dirname(including), os.path.join(ROOT, "src"), ROOT):
        path = os.path.normpath(os.path.join(base, name))
        if os.path.exists(path):
            return path
    return None


def sources():
    for top in ("cmd", "src", "formats"):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for n in sorted(files):
                if n.endswith((".c", ".h")):
                    yield os.path.join(folder, n)


def violations(files):
    """files: (path, text) pairs. Returns (includes seen, the ones that go up or sideways)."""
    wrong, seen = [], 0
    for path, text in files:
        here = layer_of(path)
        for name in INCLUDE.findall(text):
            target = resolve(path, name)
            if target is None:
                wrong.append("%s: \"%s\" not found" % (os.path.relpath(path, ROOT), name))
                continue
            there = layer_of(target)
            seen += 1
            if there != here and (there is None or RANK[there] >= RANK[here]):
                wrong.append("%s (%s) includes %s (%s)" % (os.path.relpath(path, ROOT), here,
                                                          os.path.relpath(target, ROOT), there))
    return seen, wrong


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


class Layers(unittest.TestCase):
    def test_every_source_is_in_a_layer(self):
        stray = [os.path.relpath(p, ROOT) for p in sources() if layer_of(p) is None]
        self.assertEqual(stray, [], "files outside the layer folders (src/ holds only folders)")

    def test_includes_go_down(self):
        seen, wrong = violations((p, read(p)) for p in sources())
        self.assertGreater(seen, 200)  # the scan itself works
        self.assertEqual(wrong, [])

    def test_an_upward_or_sideways_include_is_caught(self):
        util = os.path.join(ROOT, "src", "util", "made_up.c")
        fmt = os.path.join(ROOT, "formats", "made_up.c")
        lic = os.path.join(ROOT, "src", "license", "made_up.c")
        _, wrong = violations([(util, '#include "hub/hub.h"\n'), (fmt, '#include "util/error.h"\n'),
                               (lic, '#include "convert/convert.h"\n'), (util, '#include "error.h"\n')])
        self.assertEqual(len(wrong), 3, wrong)


class Format(unittest.TestCase):
    """The tree follows .clang-format (clang-format from `make deps`); tables that the
    project lays out by hand stand between clang-format off/on markers."""

    def test_every_c_file_is_formatted(self):
        import shutil
        import subprocess
        tool = shutil.which("clang-format")
        if not tool:
            raise AssertionError("clang-format is not installed; run `make deps` (as root)")
        files = subprocess.run(["git", "ls-files", "*.c", "*.h"], cwd=ROOT, check=True,
                               stdout=subprocess.PIPE, text=True).stdout.split()
        files = [f for f in files if not f.startswith("tests/fuzz/corpus/")]
        self.assertGreater(len(files), 100)
        r = subprocess.run([tool, "--dry-run", "--Werror"] + files, cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        unformatted = sorted({l.split(":")[0] for l in r.stderr.splitlines() if ": error:" in l})
        self.assertEqual(r.returncode, 0, "not formatted (run clang-format -i on them): %s" % unformatted)
