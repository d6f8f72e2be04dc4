"""Interoperability: the tokenizer modl convert writes, read back by llama.cpp
(node-llama-cpp), tokenizes a multilingual text set token for token as the source
tokenizer does:

- tokenizer.model (SentencePiece) against Debian's python3-sentencepiece: the Llama 2
  tokenizer (32000 pieces, byte fallback), the stand-in stories260K tokenizer, and a
  model trained here with user-defined symbols;
- tokenizer.json against Hugging Face's tokenizers.js (npm @huggingface/tokenizers): a
  Llama 3 tokenizer.json built from the shared encoder.json + vocab.bpe (128000 tokens,
  280147 merges, 256 special tokens; merges as strings and as pairs),
  mini_llama.tokenizer.json, and a SentencePiece-style tokenizer.json (byte fallback)
  built from the Llama 2 tokenizer.model the way transformers' LlamaConverter does.

Every case converts a tiny model carrying the tokenizer, so the GGUF is a real modl
output; llama.cpp tokenizes without BOS and without parsing special tokens, as the
references do with add_special_tokens off. A failing npm install is a failure."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import convert_checkpoints as ck  # noqa: E402
import quantize_tools as qt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
MODL = os.path.abspath(os.path.join(ROOT, os.environ.get("MODL_BIN", "modl")))
SHARED = os.path.join(ROOT, "..", "shared", "data")
LLAMA2_SPM = os.path.join(SHARED, "llama2-tokenizer", "tokenizer.model")
BPE_DIR = os.path.join(SHARED, "llama3.2-bpe-vocab")
TOKENIZERS = os.path.join(HERE, "tokenizers")

TEXTS = [
    "Hello world",
    " Hello world",
    "Hello  world,   with   runs of spaces\tand\ttabs\nand\nnewlines\n\n\n",
    "Once upon a time, there was a little cat named Lily. She liked to play.",
    "I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
    "3 33 333 3333 33333 333333 3.3 3..3 3...3 1e-5 0x1F 2024-05-13",
    "Größenordnung über Äpfel und Öl; straße",
    "Le cœur a ses raisons que la raison ne connaît point.",
    "¿Dónde está la biblioteca? ¡Muy bien!",
    "Привет, как дела? Съешь же ещё этих мягких французских булок.",
    "Καλημέρα κόσμε",
    "我想在apple工作1314151天～ 你好，世界！",
    "日本語のテキストとカタカナ、ひらがな。",
    "한국어 문장입니다.",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "ကာန်တဲ့ កាន់តែពិសេសអាច",
    "🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅ 🦙🦙",
    "def f(x):\n    return {'a': [1, 2, 3]}  # comment\n",
    "------======= ''''''```````\"\"\"\"......!!!!!!??????",
    "<s> </s> <unk> [INST] <|begin_of_text|> are plain text here",
    "",
    " ",
    "a",
    "\u00a0non-breaking\u2009thin\u3000ideographic spaces",
    "mixedCASE camelCaseWords and snake_case_words and ALLCAPS",
]


def npm_ci(folder):
    if not os.path.isdir(os.path.join(folder, "node_modules")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=folder, check=True,
                       stdout=subprocess.DEVNULL)


def llama3_tokenizer_json(pairs):
    """A Llama 3 tokenizer.json from the shared GPT-2-style files, with Llama 3's
    pre-tokenizer, ignore_merges and its 256 special tokens."""
    with open(os.path.join(BPE_DIR, "encoder.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    with open(os.path.join(BPE_DIR, "vocab.bpe"), encoding="utf-8") as f:
        merges = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#version")]
    with open(os.path.join(BPE_DIR, "mini_llama.tokenizer.json"), encoding="utf-8") as f:
        mini = json.load(f)
    names = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
             "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|step_id|>",
             "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"]
    names += ["<|reserved_special_token_%d|>" % i for i in range(2, 2 + 256 - len(names))]
    added = [{"id": 128000 + i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, c in enumerate(names)]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None, "pre_tokenizer": mini["pre_tokenizer"],
        "post_processor": {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                        {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                      {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}},
                      {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [128000],
                                                      "tokens": ["<|begin_of_text|>"]}}}]},
        "decoder": mini["decoder"],
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": True, "vocab": vocab,
                  "merges": [m.split(" ") for m in merges] if pairs else merges},
    }


def spm_style_tokenizer_json(spm_path):
    """What transformers' LlamaConverter makes of a SentencePiece BPE model (legacy
    normalizer: prepend "▁", spaces to "▁"), with SentencePieceExtractor's merges."""
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=spm_path)
    n = sp.get_piece_size()
    vocab = {sp.id_to_piece(i): i for i in range(n)}
    scores = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(n)]
    merges = []
    for piece, score in scores:
        local = [(piece[:k], piece[k:], score) for k in range(1, len(piece))
                 if piece[:k] in vocab and piece[k:] in vocab]
        local.sort(key=lambda x: (vocab[x[0]], vocab[x[1]]))
        merges.extend(local)
    merges.sort(key=lambda m: m[2], reverse=True)
    added = [{"id": i, "content": sp.id_to_piece(i), "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i in (sp.unk_id(), sp.bos_id(), sp.eos_id()) if i >= 0]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": [[a, b] for a, b, _ in merges]},
    }


class ConvertTokenizer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        qt.install_llama()
        npm_ci(TOKENIZERS)
        cls.tmp = tempfile.mkdtemp(prefix="modl-convert-tok-")
        cls.texts = os.path.join(cls.tmp, "texts.json")
        with open(cls.texts, "w", encoding="utf-8") as f:
            json.dump(TEXTS, f, ensure_ascii=False)
        cls.report = {}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        for name, (agree, total) in sorted(cls.report.items()):
            print("tokenizer %s: %d of %d texts identical" % (name, agree, total))

    # ---- helpers --------------------------------------------------------------------------

    def model_with(self, name, vocab, files):
        """A tiny checkpoint carrying the tokenizer files; returns its converted GGUF."""
        d = os.path.join(self.tmp, name)
        cfg = ck.config(vocab=vocab, hidden=16, ff=32, layers=1, heads=2, kv_heads=2, tied=True)
        ck.make_llama(d, cfg, dtype="F32", tokenizer=False)
        for fname, content in files.items():
            path = os.path.join(d, fname)
            if isinstance(content, str) and os.path.isfile(content):
                shutil.copy(content, path)
            else:
                with open(path, "w", encoding="utf-8") as f:
                    json.dump(content, f, ensure_ascii=False)
        out = os.path.join(self.tmp, name + ".gguf")
        r = subprocess.run([MODL, "-q", "convert", d, "--type", "F32", "-o", out], capture_output=True, text=True,
                           env=dict(os.environ, ASAN_OPTIONS="detect_leaks=1"))
        self.assertEqual(r.returncode, 0, r.stderr)
        return d, out

    def llama_ids(self, gguf, special=False):
        """special: match special tokens in the text (as Hugging Face tokenizers always
        match added tokens); SentencePiece never does."""
        out = os.path.join(self.tmp, "llama-ids.json")
        mode = "tokenize-special" if special else "tokenize"
        r = subprocess.run(["node", os.path.join(HERE, "convert_llama.mjs"), mode, gguf, self.texts, out],
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        with open(out) as f:
            return json.load(f)["ids"]

    def hf_ids(self, tokenizer_json, config="-"):
        out = os.path.join(self.tmp, "hf-ids.json")
        r = subprocess.run(["node", os.path.join(HERE, "convert_tokenizers.mjs"), tokenizer_json, config,
                            self.texts, out], capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        with open(out) as f:
            return json.load(f)["ids"]

    def spm_ids(self, model):
        import sentencepiece as spm
        sp = spm.SentencePieceProcessor(model_file=model)
        return [sp.encode(t) for t in TEXTS]

    def assertSameTokens(self, name, got, want):
        agree = sum(1 for a, b in zip(got, want) if a == b)
        type(self).report[name] = (agree, len(TEXTS))
        bad = [(TEXTS[i], got[i], want[i]) for i in range(len(TEXTS)) if got[i] != want[i]]
        self.assertEqual(bad, [], "%s: %d of %d texts differ" % (name, len(bad), len(TEXTS)))

    # ---- SentencePiece ----------------------------------------------------------------------

    def test_llama2_tokenizer_model(self):
        _, gguf = self.model_with("llama2-spm", 32000, {"tokenizer.model": LLAMA2_SPM})
        self.assertSameTokens("llama2 tokenizer.model", self.llama_ids(gguf), self.spm_ids(LLAMA2_SPM))

    def test_stories260K_stand_in(self):
        model = os.path.join(ck.STORIES, "tokenizer.model")
        gguf = os.path.join(self.tmp, "stories.gguf")
        r = subprocess.run([MODL, "-q", "convert", ck.STORIES, "-o", gguf], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertSameTokens("stories260K tokenizer.model", self.llama_ids(gguf), self.spm_ids(model))

    def test_user_defined_symbols(self):
        """A USER_DEFINED piece stays one token (gguf-py would make it NORMAL and
        llama.cpp would spell it out). The text set matches token for token; in texts
        with the symbols, the symbols come out where SentencePiece puts them, but
        llama.cpp's SPM tokenizer prefixes the text after any special or user-defined
        token with a space (llama-vocab.cpp, "prefix with space if previous is
        special"), which SentencePiece does not: that difference is llama.cpp's."""
        work = os.path.join(self.tmp, "spm-user")
        os.makedirs(work)
        text = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tests", "data", "stories260K-tokenizer",
                                                                "make_text.py")],
                              capture_output=True, text=True, check=True).stdout
        with open(os.path.join(work, "text.txt"), "w") as f:
            f.write(text[:200000])
        symbols = ["<sep>", "<|x|>", "@@"]
        subprocess.run(["spm_train", "--input=text.txt", "--model_prefix=m", "--model_type=bpe",
                        "--vocab_size=400", "--byte_fallback=true", "--character_coverage=1.0",
                        "--normalization_rule_name=identity", "--remove_extra_whitespaces=false",
                        "--user_defined_symbols=" + ",".join(symbols), "--num_threads=1", "--minloglevel=2"],
                       cwd=work, check=True, capture_output=True)
        model = os.path.join(work, "m.model")
        _, gguf = self.model_with("spm-user", 400, {"tokenizer.model": model})
        self.assertSameTokens("tokenizer.model with user-defined symbols", self.llama_ids(gguf),
                              self.spm_ids(model))
        import sentencepiece as spm
        sp = spm.SentencePieceProcessor(model_file=model)
        ids = {sp.piece_to_id(s) for s in symbols}
        with_symbols = ["a <sep> b @@ c<|x|>d", "<sep><sep>@@", "x<|x|>y"]
        saved = self.texts
        try:
            type(self).texts = os.path.join(self.tmp, "symbol-texts.json")
            with open(self.texts, "w", encoding="utf-8") as f:
                json.dump(with_symbols, f)
            got = self.llama_ids(gguf)
        finally:
            type(self).texts = saved
        for text, g in zip(with_symbols, got):
            want = sp.encode(text)
            self.assertEqual([t for t in g if t in ids], [t for t in want if t in ids], text)

    # ---- tokenizer.json ------------------------------------------------------------------------

    def llama3_case(self, pairs):
        tj = llama3_tokenizer_json(pairs)
        d, gguf = self.model_with("llama3-%s" % ("pairs" if pairs else "strings"), 128256,
                                  {"tokenizer.json": tj, "tokenizer_config.json": {
                                      "bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"}})
        kvs, _, _ = qt.parse_gguf(open(gguf, "rb").read())
        self.assertEqual(kvs["tokenizer.ggml.model"][2], "gpt2")
        self.assertEqual(kvs["tokenizer.ggml.pre"][2], "llama-bpe")
        self.assertEqual(len(kvs["tokenizer.ggml.merges"][2]), 280147)
        self.assertEqual(kvs["tokenizer.ggml.bos_token_id"][2], 128000)
        self.assertEqual(kvs["tokenizer.ggml.eos_token_id"][2], 128001)
        self.assertIs(kvs["tokenizer.ggml.add_bos_token"][2], 1)
        return gguf, os.path.join(d, "tokenizer.json")

    def test_llama3_tokenizer_json_string_merges(self):
        gguf, tj = self.llama3_case(False)
        self.assertSameTokens("llama3 tokenizer.json (string merges)", self.llama_ids(gguf, True), self.hf_ids(tj))

    def test_llama3_tokenizer_json_pair_merges(self):
        gguf, tj = self.llama3_case(True)
        self.assertSameTokens("llama3 tokenizer.json (pair merges)", self.llama_ids(gguf, True), self.hf_ids(tj))

    def test_mini_llama_tokenizer_json(self):
        with open(os.path.join(BPE_DIR, "mini_llama.tokenizer.json"), encoding="utf-8") as f:
            src = json.load(f)
        for key in ("normalizer", "post_processor"):
            src.setdefault(key, None)  # tokenizers.js wants the keys (null = none, as absent)
        d, gguf = self.model_with("mini-llama", 128002, {"tokenizer.json": src})
        kvs, _, _ = qt.parse_gguf(open(gguf, "rb").read())
        # Llama 3's split without ignore_merges: llama.cpp's smaug-bpe
        self.assertEqual(kvs["tokenizer.ggml.pre"][2], "smaug-bpe")
        self.assertSameTokens("mini_llama tokenizer.json", self.llama_ids(gguf, True),
                              self.hf_ids(os.path.join(d, "tokenizer.json")))

    def test_sentencepiece_style_tokenizer_json(self):
        tj = spm_style_tokenizer_json(LLAMA2_SPM)
        d, gguf = self.model_with("llama2-json", 32000, {"tokenizer.json": tj})
        kvs, _, _ = qt.parse_gguf(open(gguf, "rb").read())
        self.assertEqual(kvs["tokenizer.ggml.model"][2], "llama")
        self.assertSameTokens("SentencePiece-style tokenizer.json (llama2)", self.llama_ids(gguf, True),
                              self.hf_ids(os.path.join(d, "tokenizer.json")))


if __name__ == "__main__":
    unittest.main()
