"""The man pages (man/*.1) and the shell completions (completions/) against the binary.

The commands and flags come from the binary itself (`modl --help`, `modl help <cmd>`), so a
command or flag added without documentation or completion makes these tests fail. groff,
zsh and fish are required: when one is missing the test fails and says to run `make deps`.
Standard library only."""
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODL = os.path.abspath(os.path.join(ROOT, os.environ.get("MODL_BIN", "modl")))
MAN = os.path.join(ROOT, "man")
BASH_FILE = os.path.join(ROOT, "completions", "modl.bash")
ZSH_FILE = os.path.join(ROOT, "completions", "_modl")
FISH_FILE = os.path.join(ROOT, "completions", "modl.fish")
COMPLETION_FILES = {"bash": BASH_FILE, "zsh": ZSH_FILE, "fish": FISH_FILE}

# Not in `modl --help` (yet, or ever) but documented and completed.
EXTRA_COMMANDS = ("inspect", "help")
GLOBAL_LONG = ("--help", "--version", "--quiet", "--verbose", "--json")
GLOBAL_SHORT = ("-h", "-q", "-v")
REPO_TYPES = {"model", "dataset", "space"}

# doc/cli.md "Exit codes", word for word.
EXIT_CODES = {
    0: "success",
    1: "other runtime failure (I/O error, disk full, internal error)",
    2: "usage error (unknown command or flag, missing argument)",
    3: "network failure after retries, or offline and not cached",
    4: "not found: repo, revision or file",
    5: "authentication or authorisation: bad token, gated repo not accepted, private repo",
    6: "integrity failure: a hash or size does not match",
    7: "license policy violated",
    8: "invalid input file: malformed safetensors, GGUF, JSON, archive, tokenizer",
}

# Variables modl reads that modl(1) need not list.
UNDOCUMENTED_ENV = {"HOME"}
# The variables libcurl reads for modl, which no getenv() in modl's source shows.
LIBCURL_ENV = {"HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"}

DEPS_HINT = " is not installed; run `make deps` (as root) to install the test dependencies"


def require(tool):
    path = shutil.which(tool)
    if not path:
        raise AssertionError(tool + DEPS_HINT)
    return path


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HF_", "HUGGING", "MODL_", "BASH_ENV", "ENV", "ZDOTDIR"))}
    env.update(extra)
    return env


def run(argv, timeout=60, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout, **kw)


# ---- the binary -------------------------------------------------------------------------

_help_cache = {}


def modl_help(*args):
    if args not in _help_cache:
        p = run([MODL, *args], env=clean_env(), cwd=ROOT)
        if p.returncode != 0:
            raise AssertionError("modl %s exited %d: %s" % (" ".join(args), p.returncode, p.stderr))
        _help_cache[args] = p.stdout
    return _help_cache[args]


def listed_commands():
    """The command names of `modl --help`, in order."""
    text = modl_help("--help")
    m = re.search(r"^Commands:\n((?:  \S.*\n)+)", text, re.M)
    if not m:
        raise AssertionError("no 'Commands:' block in modl --help:\n" + text)
    names = [line.split()[0] for line in m.group(1).splitlines()]
    if not names:
        raise AssertionError("modl --help lists no commands")
    return names


def command_flags(cmd):
    """Every --flag in the usage text of `modl help <cmd>`."""
    return sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", modl_help("help", cmd))))


def subcommands(cmd):
    """{sub-command: set of its --flags} for a command whose usage has one line per
    sub-command ("usage: modl cache ls [...]", "       modl cache rm ..."); {} for the
    others. A sub-command's flags are those of its usage line, and those whose description
    starts with the sub-commands they apply to ("  -y, --yes   rm, prune: ..."). Every flag
    of the usage text must belong to a sub-command."""
    text = modl_help("help", cmd)
    usage = text.split("\n\n")[0]
    subs = {}
    for m in re.finditer(r"(?m)^(?:usage:)?[ \t]+modl %s ([a-z][a-z-]*)(?![\w@/.-])(.*)$"
                         % re.escape(cmd), usage):
        subs.setdefault(m.group(1), set()).update(
            re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", m.group(2)))
    if not subs:
        return {}
    for m in re.finditer(r"(?m)^[ \t]+(?:-\w, )?(--[a-z][a-z0-9-]*)(?: [A-Z]+)?[ \t]+"
                         r"((?:[a-z]+, )*[a-z]+):", text):
        names = m.group(2).split(", ")
        if all(n in subs for n in names):
            for n in names:
                subs[n].add(m.group(1))
    placed = set().union(*subs.values())
    missing = sorted(set(command_flags(cmd)) - placed)
    if missing:
        raise AssertionError("modl help %s: no sub-command takes %s" % (cmd, ", ".join(missing)))
    return subs


def flag_places(cmd):
    """[(words after `modl`, the flags that must be offered after them)]: the command and
    all its flags; for a command with sub-commands, the command alone (global flags only)
    and each sub-command with its flags."""
    subs = subcommands(cmd)
    if not subs:
        return [((cmd,), set(command_flags(cmd)))]
    return [((cmd,), set())] + [((cmd, sub), flags) for sub, flags in sorted(subs.items())]


# ---- roff -------------------------------------------------------------------------------

_FONT = re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)")
_ALTERNATING = {"BR", "RB", "BI", "IB", "IR", "RI"}
_SPACED = {"B", "I", "SM", "SB"}


def unescape(s):
    s = _FONT.sub("", s)
    for a, b in (("\\-", "-"), ("\\&", ""), ("\\%", ""), ("\\(dq", '"'), ("\\(lq", '"'),
                 ("\\(rq", '"'), ("\\(em", "--"), ("\\~", " "), ("\\e", "\\"), ("\\ ", " ")):
        s = s.replace(a, b)
    return s


def macro_args(rest):
    try:
        return shlex.split(rest.replace("\\", "\\\\"), posix=True)
    except ValueError:
        return rest.split()


def plain_lines(lines):
    """The text of roff source lines, one output line per input line; requests that are
    not font macros become empty lines."""
    out = []
    for line in lines:
        if line.startswith(".\\\"") or line.startswith("'\\\""):
            continue
        if line.startswith("."):
            name, _, rest = line[1:].partition(" ")
            if name in _ALTERNATING:
                out.append(unescape("".join(macro_args(rest)).replace("\\\\", "\\")))
            elif name in _SPACED:
                out.append(unescape(" ".join(macro_args(rest)).replace("\\\\", "\\")))
            else:
                out.append("")
        else:
            out.append(unescape(line))
    return out


def read_man(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def sections(src):
    """{section name: [source lines]} of a man page."""
    result, current = {}, None
    for line in src.splitlines():
        if line.startswith(".SH"):
            current = line[3:].strip().strip('"')
            result[current] = []
        elif current is not None:
            result[current].append(line)
    return result


def section_text(src, name):
    secs = sections(src)
    if name not in secs:
        raise AssertionError("no .SH %s section" % name)
    return " ".join(" ".join(plain_lines(secs[name])).split())


def tagged_paragraphs(lines):
    """[(tag, body)] of the .TP paragraphs in lines; a body ends at the next paragraph
    macro."""
    items, i = [], 0
    while i < len(lines):
        if lines[i].startswith(".TP") and i + 1 < len(lines):
            tag = " ".join(plain_lines([lines[i + 1]])).strip()
            body, i = [], i + 2
            while i < len(lines) and not re.match(r"\.(TP|PP|P|LP|IP|SH|SS|RS|RE)\b", lines[i]):
                body.append(lines[i])
                i += 1
            items.append((tag, " ".join(" ".join(plain_lines(body)).split())))
        else:
            i += 1
    return items


def man_path(cmd):
    return os.path.join(MAN, "modl-%s.1" % cmd)


def all_man_pages():
    return sorted(os.path.join(MAN, n) for n in os.listdir(MAN) if n.endswith(".1"))


def has_word(text, word):
    return re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(word), text) is not None


def has_flag(shell, text, flag):
    """Whether a completion file's source offers --flag."""
    if shell == "fish":
        return re.search(r"(?:-l|--long-option|--long)[ =]['\"]?%s(?![\w-])"
                         % re.escape(flag[2:]), text) is not None
    return has_word(text, flag)


# ---- man pages --------------------------------------------------------------------------

class ManPages(unittest.TestCase):
    def test_every_command_has_a_man_page(self):
        for cmd in listed_commands():
            path = man_path(cmd)
            self.assertTrue(os.path.isfile(path), "modl %s has no man page %s" % (cmd, path))
            src = read_man(path)
            self.assertRegex(src, r"(?m)^\.TH MODL\\?-%s 1 " % re.escape(cmd.upper()), path)
            name = section_text(src, "NAME")
            self.assertRegex(name, r"^modl-%s - \S" % re.escape(cmd), path)
            for sec in ("SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "ENVIRONMENT",
                        "EXAMPLES", "SEE ALSO"):
                self.assertIn(sec, sections(src), "%s: no %s section" % (path, sec))
            self.assertIn("modl %s" % cmd, section_text(src, "SYNOPSIS"), path)
            self.assertIn("modl(1)", section_text(src, "SEE ALSO"), path)

    def test_modl1_names_every_command(self):
        src = read_man(os.path.join(MAN, "modl.1"))
        tags = [t.split()[0] for t, _ in tagged_paragraphs(sections(src).get("COMMANDS", []))
                if t]
        commands_text = section_text(src, "COMMANDS")
        see_also = section_text(src, "SEE ALSO")
        for cmd in listed_commands() + ["inspect"]:
            self.assertIn(cmd, tags, "modl.1 COMMANDS has no entry for %s" % cmd)
            self.assertIn("modl-%s(1)" % cmd, commands_text, "modl.1 COMMANDS: %s" % cmd)
            self.assertIn("modl-%s(1)" % cmd, see_also, "modl.1 SEE ALSO: %s" % cmd)
        self.assertIn("help", tags)

    def test_modl1_documents_global_options(self):
        src = read_man(os.path.join(MAN, "modl.1"))
        synopsis = section_text(src, "SYNOPSIS")
        options = section_text(src, "GLOBAL OPTIONS")
        for flag in re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)",
                               modl_help("--help").split("\n")[0]):
            self.assertTrue(has_word(synopsis, flag), "modl.1 SYNOPSIS lacks " + flag)
            self.assertTrue(has_word(options, flag), "modl.1 GLOBAL OPTIONS lacks " + flag)

    def test_every_flag_is_in_its_man_page(self):
        for cmd in listed_commands():
            flags = command_flags(cmd)
            src = read_man(man_path(cmd))
            synopsis = section_text(src, "SYNOPSIS")
            options = section_text(src, "OPTIONS")
            for flag in flags:
                self.assertTrue(has_word(synopsis, flag), "modl-%s.1 SYNOPSIS lacks %s" % (cmd, flag))
                self.assertTrue(has_word(options, flag), "modl-%s.1 OPTIONS lacks %s" % (cmd, flag))
            for sub in subcommands(cmd):
                self.assertIn("modl %s %s" % (cmd, sub), synopsis,
                              "modl-%s.1 SYNOPSIS lacks sub-command %s" % (cmd, sub))

    def test_exit_status_is_the_table_of_cli_md(self):
        src = read_man(os.path.join(MAN, "modl.1"))
        entries = tagged_paragraphs(sections(src).get("EXIT STATUS", []))
        table = {}
        for tag, body in entries:
            self.assertRegex(tag, r"^\d+$", "EXIT STATUS tag %r is not a code" % tag)
            self.assertNotIn(int(tag), table, "exit code %s listed twice" % tag)
            table[int(tag)] = body
        self.assertEqual(sorted(table), list(range(9)))
        for code, meaning in EXIT_CODES.items():
            self.assertEqual(table[code], meaning, "modl.1 EXIT STATUS %d" % code)

    def test_command_pages_list_their_exit_codes(self):
        for cmd in listed_commands():
            src = read_man(man_path(cmd))
            codes = [tag for tag, _ in tagged_paragraphs(sections(src)["EXIT STATUS"])]
            self.assertIn("0", codes, cmd)
            self.assertIn("2", codes, cmd)
            for c in codes:
                self.assertRegex(c, r"^[0-8]$", "modl-%s.1 EXIT STATUS: %r" % (cmd, c))

    def test_modl1_documents_the_environment(self):
        names = set(LIBCURL_ENV)
        pattern = re.compile(r"\b(?:getenv|env_nonempty|settings_env_true|env_uint)\(\s*\"([A-Z_]+)\"")
        for d in ("src", "cmd"):
            for folder, _, files in sorted(os.walk(os.path.join(ROOT, d))):
                for n in sorted(files):
                    if not n.endswith(".c"):
                        continue
                    with open(os.path.join(folder, n), encoding="utf-8") as f:
                        text = f.read()
                    names.update(pattern.findall(text))
                    # Token variables are read from a table.
                    names.update(re.findall(r"\"(HF_TOKEN|HUGGING_FACE_HUB_TOKEN)\"", text))
        names -= UNDOCUMENTED_ENV
        self.assertIn("HF_ENDPOINT", names)  # the scan itself works
        env = section_text(read_man(os.path.join(MAN, "modl.1")), "ENVIRONMENT")
        for name in sorted(names):
            self.assertTrue(has_word(env, name), "modl.1 ENVIRONMENT lacks " + name)
        self.assertIn("HF_TOKEN, then HUGGING_FACE_HUB_TOKEN, then the token file", env)
        self.assertIn("HF_HUB_CACHE, then HUGGINGFACE_HUB_CACHE, then $HF_HOME/hub", env)

    def test_modl1_security_section(self):
        text = section_text(read_man(os.path.join(MAN, "modl.1")), "SECURITY")
        self.assertIn("Bearer hf_***", text)
        self.assertIn("HF_ENDPOINT", text)
        self.assertIn("redirect", text)

    def test_man_pages_render_without_warnings(self):
        groff = require("groff")
        pages = all_man_pages()
        self.assertIn(os.path.join(MAN, "modl.1"), pages)
        man = shutil.which("man")
        for page in pages:
            for width in ("", "-rLL=78n", "-rLL=65n"):
                argv = [groff, "-man", "-Tutf8", "-ww", "-z"] + ([width] if width else []) + [page]
                p = run(argv, env=clean_env(LC_ALL="C.UTF-8"))
                self.assertEqual(p.returncode, 0, "%s: %s" % (" ".join(argv), p.stderr))
                self.assertEqual(p.stderr, "", "%s: %s" % (" ".join(argv), p.stderr))
            if man:  # man-db, when present, renders through its own preprocessor chain
                for width in ("80", "60"):
                    p = run([man, "--warnings", "-l", "-Tutf8", page],
                            env=clean_env(MANWIDTH=width, LC_ALL="C.UTF-8", MANPAGER="cat",
                                          PAGER="cat"))
                    self.assertEqual(p.returncode, 0, "man -l %s: %s" % (page, p.stderr))
                    self.assertEqual(p.stderr, "", "man -l %s (MANWIDTH=%s): %s"
                                     % (page, width, p.stderr))
            p = run([groff, "-man", "-Tutf8", page], env=clean_env(LC_ALL="C.UTF-8"))
            self.assertNotRegex(p.stdout, r"\\(f[BIRP(\[]|[-&%])", "%s: unrendered escape" % page)


# ---- completion files -------------------------------------------------------------------

def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


class CompletionFiles(unittest.TestCase):
    def test_every_command_is_in_every_completion_file(self):
        for shell, path in COMPLETION_FILES.items():
            text = read(path)
            for cmd in listed_commands() + list(EXTRA_COMMANDS):
                self.assertTrue(has_word(text, cmd), "%s completion lacks command %s" % (shell, cmd))
            for cmd in listed_commands():
                for sub in subcommands(cmd):
                    self.assertTrue(has_word(text, sub), "%s completion lacks %s %s" % (shell, cmd, sub))

    def test_every_flag_is_in_every_completion_file(self):
        for shell, path in COMPLETION_FILES.items():
            text = read(path)
            flags = set(GLOBAL_LONG) | {"--tensors"}
            for cmd in listed_commands():
                flags.update(command_flags(cmd))
            for flag in sorted(flags):
                self.assertTrue(has_flag(shell, text, flag), "%s completion lacks %s" % (shell, flag))

    def test_bash_file_registers_the_function(self):
        self.assertRegex(read(BASH_FILE), r"(?m)^complete -F _modl modl\s*$")

    def test_zsh_file_is_a_compdef(self):
        self.assertTrue(read(ZSH_FILE).startswith("#compdef modl\n"))


# ---- bash -------------------------------------------------------------------------------

class BashCompletion(unittest.TestCase):
    """Sources completions/modl.bash in a clean bash and calls _modl as readline would."""

    def complete(self, *cases, cwd=None):
        bash = require("bash")
        script = ["set -u", "source %s" % shlex.quote(BASH_FILE),
                  "complete -p modl"]
        for words in cases:
            script.append("COMP_WORDS=(%s); COMP_CWORD=%d; COMP_LINE=%s; COMP_POINT=${#COMP_LINE}"
                          % (" ".join(shlex.quote(w) for w in words), len(words) - 1,
                             shlex.quote(" ".join(words))))
            script.append("COMPREPLY=(); _modl modl %s %s; echo '>>>'; "
                          "printf '%%s\\n' \"${COMPREPLY[@]}\""
                          % (shlex.quote(words[-1]), shlex.quote(words[-2])))
        p = run([bash, "--norc", "--noprofile", "-c", "\n".join(script)],
                env=clean_env(), cwd=cwd or ROOT)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "", p.stderr)
        head, *chunks = p.stdout.split(">>>\n")
        self.assertIn("-F _modl", head)
        return [set(l for l in c.splitlines() if l) for c in chunks]

    def test_brief_cases(self):
        got = self.complete(["modl", "in"], ["modl", "ls", "--re"],
                            ["modl", "info", "x", "--repo-type", ""], ["modl", "help", "l"])
        self.assertEqual(got[0], {"info", "inspect"})
        self.assertEqual(got[1], {"--repo-type"})
        self.assertEqual(got[2], REPO_TYPES)
        self.assertEqual(got[3], {c for c in listed_commands() + list(EXTRA_COMMANDS)
                                  if c.startswith("l")})
        self.assertEqual(got[3], {"license", "login", "logout", "ls"})

    def test_commands(self):
        everything = set(listed_commands()) | set(EXTRA_COMMANDS)
        got = self.complete(["modl", ""], ["modl", "--json", "-v", ""], ["modl", "help", ""],
                            ["modl", "help", "ls", ""])
        self.assertEqual(got[0], everything)
        self.assertEqual(got[1], everything)
        self.assertEqual(got[2], everything)
        self.assertEqual(got[3], set())

    def test_flags_of_every_command(self):
        places = [p for c in listed_commands() for p in flag_places(c)]
        got = self.complete(*[["modl", *words, "--"] for words, _ in places],
                            ["modl", "inspect", "--"], ["modl", "-"])
        for (words, flags), offered in zip(places, got):
            self.assertLessEqual(flags | set(GLOBAL_LONG), offered, " ".join(words))
        self.assertEqual(got[len(places)], set(GLOBAL_LONG) | {"--tensors"})
        self.assertEqual(got[-1], set(GLOBAL_LONG) | set(GLOBAL_SHORT))

    def test_subcommands(self):
        for cmd in listed_commands():
            subs = set(subcommands(cmd))
            if not subs:
                continue
            first = sorted(subs)[0]
            got = self.complete(["modl", cmd, ""], ["modl", "--json", cmd, ""],
                                ["modl", cmd, first[:1]], ["modl", cmd, first, ""])
            self.assertEqual(got[0], subs, cmd)
            self.assertEqual(got[1], subs, cmd)
            self.assertEqual(got[2], {s for s in subs if s.startswith(first[:1])}, cmd)
            self.assertNotIn(first, got[3], cmd)

    def test_cache_values_and_files(self):
        tmp = tempfile.mkdtemp(prefix="modl-docs-")
        try:
            for name in ("model.tar.zst", "notes.txt"):
                open(os.path.join(tmp, name), "w").close()
            got = self.complete(["modl", "cache", "ls", "--sort", ""],
                                ["modl", "cache", "rm", "x", "--repo-type", ""],
                                ["modl", "cache", "export", "x", "-o", "mo"],
                                ["modl", "cache", "export", "x", "--output", "=", "mo"],
                                ["modl", "cache", "import", ""],
                                ["modl", "cache", "import", "model.tar.zst", ""],
                                ["modl", "cache", "export", "mo"], cwd=tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertEqual(got[0], {"size", "name", "accessed"})
        self.assertEqual(got[1], REPO_TYPES)
        self.assertEqual(got[2], {"model.tar.zst"})
        self.assertEqual(got[3], {"model.tar.zst"})
        self.assertEqual(got[4], {"model.tar.zst", "notes.txt"})
        self.assertEqual(got[5], set())
        self.assertEqual(got[6], set())  # a repo id, not a file

    def test_option_values(self):
        got = self.complete(["modl", "ls", "x", "--repo-type", "d"],
                            ["modl", "info", "x", "--repo-type", "=", ""],
                            ["modl", "info", "x", "--repo-type", "=", "sp"],
                            ["modl", "--json", "ls", "--repo-type", ""],
                            ["modl", "login", "--token", ""])
        self.assertEqual(got[0], {"dataset"})
        self.assertEqual(got[1], REPO_TYPES)
        self.assertEqual(got[2], {"space"})
        self.assertEqual(got[3], REPO_TYPES)
        self.assertEqual(got[4], {"-"})

    def test_inspect_completes_files(self):
        tmp = tempfile.mkdtemp(prefix="modl-docs-")
        try:
            for name in ("model.safetensors", "model-Q4_K_M.gguf", "notes.txt"):
                open(os.path.join(tmp, name), "w").close()
            os.mkdir(os.path.join(tmp, "models"))
            got = self.complete(["modl", "inspect", "model"], ["modl", "inspect", ""],
                                ["modl", "info", "mod"], cwd=tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertEqual(got[0], {"model.safetensors", "model-Q4_K_M.gguf", "models"})
        self.assertEqual(got[1], {"model.safetensors", "model-Q4_K_M.gguf", "notes.txt", "models"})
        self.assertEqual(got[2], set())  # a repo id, not a file


# ---- zsh --------------------------------------------------------------------------------

# Drives an interactive zsh in a pseudo-terminal (zsh/zpty), types each line followed by
# TAB TAB, and prints what zsh listed. Every case ends with a marker line.
ZSH_DRIVER = r'''
zmodload zsh/zpty || exit 3
zpty z zsh -f -i
zpty -w z 'PS1="%% "; fpath=('"${(q)1}"' $fpath); autoload -U compinit; compinit -u -D; setopt nobeep; LISTMAX=0; zstyle ":completion:*" list-separator "--"'
zpty -w z 'print RE""ADY'
zpty -r z out '*READY*' || exit 4
# Wait for the prompt: keys typed before the line editor starts are lost.
zpty -r z out '*% ' || exit 6
shift
integer i=0
for line in "$@"; do
  (( i++ ))
  zpty -w -n z "$line"$'\t\t\C-u'
  zpty -w z "print CASE\"\"END$i"
  zpty -r z out "*CASEEND$i*" || exit 5
  print -r -- "$out"
  zpty -r z rest '*% ' || exit 6
done
zpty -d z
'''


class ZshCompletion(unittest.TestCase):
    def test_parses(self):
        zsh = require("zsh")
        p = run([zsh, "-n", ZSH_FILE], env=clean_env())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")

    def test_completes(self):
        zsh = require("zsh")
        cases = ["modl in", "modl ls --", "modl info x --repo-type ", "modl help l", "modl --json lo",
                 "modl inspect --"]
        # Commands with sub-commands: the sub-commands, then each one's flags.
        sub_cases = []
        for cmd in listed_commands():
            subs = subcommands(cmd)
            if subs:
                sub_cases.append(("modl %s " % cmd, set(subs)))
                sub_cases += [("modl %s %s --" % (cmd, sub), flags | set(GLOBAL_LONG))
                              for sub, flags in sorted(subs.items())]
        sub_cases.append(("modl cache ls --sort ", {"size", "name", "accessed"}))
        cases += [line for line, _ in sub_cases]
        home = tempfile.mkdtemp(prefix="modl-docs-zsh-")
        try:
            p = run([zsh, "-f", "-c", ZSH_DRIVER, "zsh", os.path.dirname(ZSH_FILE), *cases],
                    env=clean_env(HOME=home, TERM="xterm", LC_ALL="C.UTF-8"), cwd=home,
                    timeout=120)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", p.stdout).replace("\r", "\n")
        outputs = re.split(r"CASEEND\d+", text)[:len(cases)]
        self.assertEqual(len(outputs), len(cases), text)
        words = [set(re.findall(r"(?<![\w-])(-{0,2}[\w][\w-]*)", o)) for o in outputs]
        self.assertLessEqual({"info", "inspect"}, words[0], outputs[0])
        self.assertNotIn("login", words[0], outputs[0])
        self.assertLessEqual(set(command_flags("ls")) | set(GLOBAL_LONG), words[1], outputs[1])
        self.assertLessEqual(REPO_TYPES, words[2], outputs[2])
        self.assertLessEqual({"login", "logout", "ls"}, words[3], outputs[3])
        self.assertLessEqual({"login", "logout"}, words[4], outputs[4])
        self.assertIn("--tensors", words[5], outputs[5])
        for (line, expected), got, out in zip(sub_cases, words[6:], outputs[6:]):
            self.assertLessEqual(expected, got, line + ": " + out)
        for out in outputs:
            self.assertNotIn("command not found", out)
            self.assertNotIn("_arguments:", out)


# ---- fish -------------------------------------------------------------------------------

class FishCompletion(unittest.TestCase):
    def test_parses(self):
        fish = require("fish")
        p = run([fish, "--no-execute", FISH_FILE], env=clean_env())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")

    def complete(self, *lines, cwd=None):
        fish = require("fish")
        home = tempfile.mkdtemp(prefix="modl-docs-fish-")
        script = ["source %s" % shlex.quote(FISH_FILE)]
        for line in lines:
            script.append("complete -C %s; echo '>>>'" % shlex.quote(line))
        try:
            p = run([fish, "--no-config", "-c", "\n".join(script)],
                    env=clean_env(HOME=home, XDG_CONFIG_HOME=home, XDG_DATA_HOME=home),
                    cwd=cwd or home)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "", p.stderr)
        chunks = p.stdout.split(">>>\n")[:len(lines)]
        return [set(l.split("\t")[0] for l in c.splitlines() if l) for c in chunks]

    def test_completes(self):
        everything = set(listed_commands()) | set(EXTRA_COMMANDS)
        cmds = listed_commands()
        places = [p for c in cmds for p in flag_places(c)]
        got = self.complete("modl in", "modl ls --re", "modl info x --repo-type ", "modl help l",
                            "modl ", "modl --json ", "modl info x --repo-type=d",
                            "modl inspect --", *["modl %s --" % " ".join(w) for w, _ in places])
        self.assertEqual(got[0], {"info", "inspect"})
        self.assertEqual(got[1], {"--repo-type"})
        self.assertEqual(got[2], REPO_TYPES)
        self.assertEqual(got[3], {"license", "login", "logout", "ls"})
        self.assertEqual(got[4], everything)
        self.assertEqual(got[5], everything)
        self.assertEqual(got[6], {"--repo-type=dataset"})
        self.assertEqual(got[7], set(GLOBAL_LONG) | {"--tensors"})
        for (words, flags), offered in zip(places, got[8:]):
            self.assertLessEqual(flags | set(GLOBAL_LONG), offered, " ".join(words))

    def test_subcommands(self):
        for cmd in listed_commands():
            subs = set(subcommands(cmd))
            if not subs:
                continue
            first = sorted(subs)[0]
            got = self.complete("modl %s " % cmd, "modl --json %s " % cmd,
                                "modl %s %s" % (cmd, first[:1]), "modl %s %s " % (cmd, first))
            self.assertEqual(got[0], subs, cmd)
            self.assertEqual(got[1], subs, cmd)
            self.assertEqual(got[2], {s for s in subs if s.startswith(first[:1])}, cmd)
            self.assertNotIn(first, got[3], cmd)

    def test_cache_values_and_files(self):
        tmp = tempfile.mkdtemp(prefix="modl-docs-")
        try:
            for name in ("model.tar.zst", "notes.txt"):
                open(os.path.join(tmp, name), "w").close()
            got = self.complete("modl cache ls --sort ", "modl cache rm x --repo-type ",
                                "modl cache export x -o mo", "modl cache export x --output=mo",
                                "modl cache import ", "modl cache import model.tar.zst ",
                                "modl cache export mo", cwd=tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertEqual(got[0], {"size", "name", "accessed"})
        self.assertEqual(got[1], REPO_TYPES)
        self.assertEqual(got[2], {"model.tar.zst"})
        self.assertEqual(got[3], {"--output=model.tar.zst"})
        self.assertEqual(got[4], {"model.tar.zst", "notes.txt"})
        self.assertEqual(got[5], set())
        self.assertEqual(got[6], set())  # a repo id, not a file

    def test_inspect_completes_files(self):
        tmp = tempfile.mkdtemp(prefix="modl-docs-")
        try:
            for name in ("model.safetensors", "model-Q4_K_M.gguf"):
                open(os.path.join(tmp, name), "w").close()
            got = self.complete("modl inspect model", "modl info mod", cwd=tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertEqual(got[0], {"model.safetensors", "model-Q4_K_M.gguf"})
        self.assertEqual(got[1], set())


if __name__ == "__main__":
    unittest.main()


def binary_type_names():
    """The TYPE names from the binary's one table, as its usage error lists them."""
    r = subprocess.run([MODL, "quantize", "in.gguf", "out.gguf", "NO_SUCH_TYPE"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(), cwd=ROOT)
    m = re.search(r"unknown type 'NO_SUCH_TYPE' \(([A-Z0-9_ ]+)\)", r.stderr.decode())
    if r.returncode != 2 or not m:
        raise AssertionError("no type list in: %r" % r.stderr)
    return m.group(1).split()


class TypeNames(unittest.TestCase):
    """The TYPE names are written once, in the binary's table; everything that lists them for
    people (help, man pages, completions) must list exactly those."""

    def setUp(self):
        self.names = binary_type_names()
        self.assertIn("Q4_K_M", self.names)

    def words_of(self, text):
        return {w for w in re.findall(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b|\bF32\b|\bF16\b|\bBF16\b", text)}

    def test_convert_reports_the_same_list(self):
        r = subprocess.run([MODL, "convert", ROOT, "--type", "NO_SUCH_TYPE"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=clean_env(), cwd=ROOT)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("(%s)" % " ".join(self.names), r.stderr.decode())

    def test_help_lists_every_type(self):
        for cmd in ("quantize", "convert"):
            out = subprocess.run([MODL, "help", cmd], stdout=subprocess.PIPE, env=clean_env()).stdout.decode()
            for name in self.names:
                self.assertRegex(out, r"\b%s\b" % name, cmd)

    def test_completions_offer_exactly_the_types(self):
        with open(BASH_FILE) as f:
            m = re.search(r'quant_types="([^"]+)"', f.read())
        self.assertEqual(m.group(1).split(), self.names)
        with open(ZSH_FILE) as f:
            lists = re.findall(r":type:\(([^)]+)\)", f.read())
        self.assertEqual(len(lists), 2)
        for lst in lists:
            self.assertEqual(lst.split(), self.names)
        with open(FISH_FILE) as f:
            lists = [m for m in re.findall(r"-a '([^']+)'", f.read()) if "Q4_K_M" in m]
        self.assertEqual(len(lists), 2)
        for lst in lists:
            self.assertEqual(lst.split(), self.names)

    def test_man_pages_list_every_type(self):
        for page in ("modl-quantize.1", "modl-convert.1"):
            with open(os.path.join(MAN, page)) as f:
                text = f.read()
            for name in self.names:
                self.assertRegex(text, r"\b%s\b" % name, page)
