"""End-to-end tests of `modl convert`: the bundled stories260K and synthetic checkpoints
(tests/interop/convert_checkpoints.py) converted by the real binary, the output's
metadata read back with an independent GGUF parser (every key with its exact type, the
tensors and their types), SRC as a directory and as a repo pulled into the cache from the
local test hub, output names, and every refusal: exit 8 with one line
`modl: FILE: what is wrong` and no file left behind."""
import json
import os
import shutil
import struct
import sys

from modltest import ModlTestCase, ROOT, tiny_model_files, make_repo

sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
import convert_checkpoints as ck  # noqa: E402
import quantize_tools as qt  # noqa: E402

STORIES = os.path.join(ROOT, "tests", "data", "stories260K")
SHARED = os.path.join(ROOT, "..", "shared", "data")

# doc/gguf.md §2 value type ids
U32, I32, F32, BOOL, STR, ARR = 4, 5, 6, 7, 8, 9


class ConvertTestCase(ModlTestCase):
    def model(self, name="m", cfg=None, dtype="BF16", **kw):
        d = os.path.join(self.tmp, name)
        ck.make_llama(d, cfg or ck.config(vocab=512, hidden=64, ff=96, layers=2, heads=4, kv_heads=2),
                      dtype=dtype, **kw)
        return d

    def convert(self, *args, code=0, **env):
        r = self.run_modl("convert", *args, **env)
        self.assertExit(r, code)
        return r

    def read(self, path):
        with open(path if os.path.isabs(path) else os.path.join(self.tmp, path), "rb") as f:
            return qt.parse_gguf(f.read())

    def leftovers(self, d=None):
        d = d or self.tmp
        return [f for f in os.listdir(d) if ".tmp." in f or f.endswith(".gguf")]

    def refuse(self, src, *fragments, args=(), code=8):
        r = self.convert(src, *args, code=code)
        self.assertOneLineError(r, *fragments)
        self.assertEqual(self.leftovers(), [], "a failed conversion left a file behind")
        return r


class ConvertStories(ConvertTestCase):
    def test_default_type_name_and_metadata(self):
        r = self.convert(STORIES)
        self.assertEqual(r.out.splitlines()[-1], "stories260K-260K-F32.gguf")
        self.assertIn("tokenizer llama/default with 512 tokens", r.out)
        kvs, tensors, _ = self.read("stories260K-260K-F32.gguf")
        want = {
            "general.architecture": (STR, "llama"), "general.type": (STR, "model"),
            "general.name": (STR, "stories260K"), "general.size_label": (STR, "260K"),
            "general.license": (STR, "mit"),
            "llama.block_count": (U32, 5), "llama.context_length": (U32, 512),
            "llama.embedding_length": (U32, 64), "llama.feed_forward_length": (U32, 172),
            "llama.attention.head_count": (U32, 8), "llama.attention.head_count_kv": (U32, 4),
            "llama.attention.key_length": (U32, 8), "llama.attention.value_length": (U32, 8),
            "llama.vocab_size": (U32, 512), "llama.rope.dimension_count": (U32, 8),
            "tokenizer.ggml.model": (STR, "llama"), "tokenizer.ggml.pre": (STR, "default"),
            "tokenizer.ggml.bos_token_id": (U32, 1), "tokenizer.ggml.eos_token_id": (U32, 2),
            "tokenizer.ggml.unknown_token_id": (U32, 0), "tokenizer.ggml.add_bos_token": (BOOL, 1),
            "tokenizer.ggml.add_eos_token": (BOOL, 0),
            "general.quantization_version": (U32, 2), "general.file_type": (U32, 0),
        }
        for key, (t, v) in want.items():
            self.assertEqual(kvs[key][0], t, key)
            self.assertEqual(kvs[key][2], v, key)
        self.assertEqual(kvs["llama.rope.freq_base"][:2], (F32, None))
        self.assertAlmostEqual(kvs["llama.rope.freq_base"][2], 10000.0)
        self.assertEqual(kvs["llama.attention.layer_norm_rms_epsilon"][0], F32)
        self.assertEqual(kvs["tokenizer.ggml.tokens"][:2], (ARR, STR))
        self.assertEqual(kvs["tokenizer.ggml.scores"][:2], (ARR, F32))
        self.assertEqual(kvs["tokenizer.ggml.token_type"][:2], (ARR, I32))
        self.assertEqual(len(kvs["tokenizer.ggml.tokens"][2]), 512)
        types = kvs["tokenizer.ggml.token_type"][2]
        self.assertEqual(types[:3], [2, 3, 3])           # <unk> UNKNOWN, <s> </s> CONTROL
        self.assertEqual(types[3:259], [6] * 256)         # <0x00>..<0xFF> BYTE
        self.assertEqual(list(kvs)[-2:], ["general.quantization_version", "general.file_type"])
        names = [t[0] for t in tensors]
        self.assertEqual(len(names), 47)
        self.assertNotIn("output.weight", names)          # tied: the embedding is the output
        self.assertEqual(names[:2], ["output_norm.weight", "token_embd.weight"])  # llama.cpp's order
        self.assertTrue(all(t[2] == 0 for t in tensors))
        self.assertEqual(dict((t[0], t[1]) for t in tensors)["blk.0.attn_k.weight"], [64, 32])

    def test_quantized_mixture_and_json(self):
        r = self.convert(STORIES, "--type", "q4_k_m", "--json")
        doc = r.json()
        self.assertEqual(doc["type"], "Q4_K_M")
        self.assertEqual(doc["file_type"], 15)
        self.assertEqual(doc["architecture"], "llama")
        self.assertEqual(doc["hf_architecture"], "LlamaForCausalLM")
        self.assertEqual(doc["source_dtype"], "F32")
        self.assertEqual(doc["tokenizer"], {"model": "llama", "pre": "default", "tokens": 512})
        self.assertEqual(doc["tensors"], 47)
        self.assertEqual(doc["parameters"], 260032)
        # rows of 64 and 172: Q4_K falls back to Q5_0, 172 to F16, the tied output Q8_0
        self.assertEqual(doc["tensor_types"], {"F32": 11, "F16": 5, "Q5_0": 28, "Q8_0": 3})
        self.assertTrue(os.path.isfile(os.path.join(self.tmp, doc["output"])))
        self.assertEqual(os.path.basename(doc["output"]), "stories260K-260K-Q4_K_M.gguf")
        kvs, tensors, _ = self.read(doc["output"])
        self.assertEqual(kvs["general.file_type"][2], 15)
        types = dict((t[0], t[2]) for t in tensors)
        self.assertEqual(types["token_embd.weight"], 8)
        self.assertEqual(types["blk.0.ffn_down.weight"], 1)
        self.assertEqual(types["blk.0.attn_norm.weight"], 0)

    def test_output_options(self):
        out = os.path.join(self.tmp, "sub", "x.gguf")
        os.makedirs(os.path.dirname(out))
        r = self.convert(STORIES, "-o", out, "--type", "Q8_0", "--name", "Tiny Stories", "--threads", "1")
        self.assertEqual(r.out.splitlines()[-1], out)
        kvs, _, _ = self.read(out)
        self.assertEqual(kvs["general.name"][2], "Tiny Stories")
        # -o DIR: the default name inside it
        r = self.convert(STORIES, "-o", os.path.dirname(out), "--type", "BF16", "--name", "Tiny Stories")
        self.assertEqual(r.out.splitlines()[-1], os.path.join(os.path.dirname(out), "Tiny-Stories-260K-BF16.gguf"))
        # --quiet: only the path
        r = self.run_modl("-q", "convert", STORIES, "-o", out)
        self.assertEqual(r.out, out + "\n")
        self.assertEqual(r.err, "")

    def test_progress_lines(self):
        r = self.convert(STORIES, "--type", "F16")
        self.assertIn("converted token_embd.weight", r.err)

    def test_usage_errors(self):
        r = self.convert(STORIES, "--type", "Q4_K_X", code=2)
        self.assertOneLineError(r, "unknown type 'Q4_K_X'")
        r = self.convert(STORIES, "--pre", "nonsense", code=2)
        self.assertOneLineError(r, "--pre 'nonsense'")
        r = self.convert(STORIES, "--pre", "llama-bpe", code=2)
        self.assertOneLineError(r, "--pre applies to byte-level BPE")
        r = self.convert(code=2)
        self.assertOneLineError(r, "expected one SRC")
        r = self.convert(os.path.join(STORIES, "config.json"), code=2)
        self.assertOneLineError(r, "is not a directory")
        self.assertEqual(self.leftovers(), [])


class ConvertCache(ConvertTestCase):
    def test_cached_repo_and_not_cached(self):
        r = self.convert("karpathy/stories260K", code=4)
        self.assertOneLineError(r, "karpathy/stories260K@main is not in the cache", "run 'modl pull")
        r = self.convert("./no/such/dir", code=4)
        self.assertOneLineError(r, "no such directory")
        self.start_hub()
        make_repo(self.hub_root, "models", "karpathy/stories260K", tiny_model_files())
        self.assertExit(self.run_modl("pull", "karpathy/stories260K"), 0)
        r = self.convert("karpathy/stories260K", "--type", "Q8_0", HF_HUB_OFFLINE="1")
        out = r.out.splitlines()[-1]
        self.assertEqual(out, "stories260K-260K-Q8_0.gguf")
        kvs, _, _ = self.read(out)
        self.assertEqual(kvs["general.name"][2], "stories260K")
        self.assertEqual(kvs["general.file_type"][2], 7)
        # @REV with the commit, and a branch that is not cached
        refs = os.path.join(self.hf_home, "hub", "models--karpathy--stories260K", "refs", "main")
        commit = open(refs).read().strip()
        r = self.convert("karpathy/stories260K@" + commit, "-o", "pinned.gguf")
        self.assertTrue(os.path.isfile(os.path.join(self.tmp, "pinned.gguf")))
        r = self.convert("karpathy/stories260K@dev", code=4)
        self.assertOneLineError(r, "@dev is not in the cache")


class ConvertCheckpoints(ConvertTestCase):
    def test_bf16_default_and_names(self):
        # 127296 parameters: the folder's size label agrees with the count
        d = self.model("SmolTest-3.2-127K-Instruct", readme="---\nlicense: llama3.2\n---\n# x\n")
        r = self.convert(d)
        # the default type is the checkpoint's; the name comes from the folder
        out = r.out.splitlines()[-1]
        self.assertEqual(out, "SmolTest-3.2-127K-Instruct-BF16.gguf")
        kvs, tensors, _ = self.read(out)
        self.assertEqual(kvs["general.name"][2], "SmolTest 3.2 127K Instruct")
        self.assertEqual(kvs["general.basename"][2], "SmolTest-3.2")
        self.assertEqual(kvs["general.size_label"][2], "127K")
        self.assertEqual(kvs["general.finetune"][2], "Instruct")
        self.assertEqual(kvs["general.license"][2], "llama3.2")
        self.assertEqual(kvs["general.file_type"][2], 32)
        types = dict((t[0], t[2]) for t in tensors)
        self.assertEqual(types["blk.0.attn_q.weight"], 30)
        self.assertEqual(types["blk.0.attn_norm.weight"], 0)
        self.assertIn("output.weight", types)

    def test_f16_source_defaults_to_f16_and_sharded(self):
        d = self.model(dtype="F16", shards=3)
        r = self.convert(d, "-o", "f16.gguf", "--json")
        self.assertEqual(r.json()["source_dtype"], "F16")
        self.assertEqual(r.json()["type"], "F16")

    def test_rope_scaling_keys(self):
        cfg = ck.config(vocab=512, hidden=64, ff=96, layers=1, heads=4, kv_heads=2,
                        rope_scaling={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 128,
                                      "beta_fast": 32.0, "beta_slow": 1.0})
        d = self.model(cfg=cfg)
        self.convert(d, "-o", "yarn.gguf")
        kvs, tensors, _ = self.read("yarn.gguf")
        self.assertEqual(kvs["llama.rope.scaling.type"][:3:2], (STR, "yarn"))
        self.assertEqual(kvs["llama.rope.scaling.factor"][:3:2], (F32, 4.0))
        self.assertEqual(kvs["llama.rope.scaling.original_context_length"][:3:2], (U32, 128))
        self.assertEqual(kvs["llama.rope.scaling.yarn_beta_fast"][:3:2], (F32, 32.0))
        cfg["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                               "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
        cfg["rope_theta"] = 500000.0
        d = self.model("l3", cfg=cfg)
        self.convert(d, "-o", "l3.gguf")
        kvs, tensors, data = self.read("l3.gguf")
        self.assertNotIn("llama.rope.scaling.type", kvs)
        rope = [t for t in tensors if t[0] == "rope_freqs.weight"]
        self.assertEqual(rope[0][1:3], ([8], 0))  # head_dim 16 / 2, F32
        raw = open(os.path.join(self.tmp, "l3.gguf"), "rb").read()[data + rope[0][3]:data + rope[0][3] + 32]
        factors = struct.unpack("<8f", raw)
        want = list(ck.inv_freq(dict(cfg, rope_scaling=None)) / ck.inv_freq(cfg))
        for a, b in zip(factors, want):
            self.assertAlmostEqual(a, b, places=4)

    def test_special_tokens_and_chat_templates(self):
        d = self.model()
        # tokenizer_config strings resolve through tokenizer.json's added tokens only; with
        # tokenizer.model alone, config.json's ids (a list-valued eos is ignored) win.
        cfg = json.load(open(os.path.join(d, "config.json")))
        cfg["eos_token_id"] = [2, 3]
        cfg["pad_token_id"] = 5
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
        tc = json.load(open(os.path.join(d, "tokenizer_config.json")))
        tc["chat_template"] = "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}"
        tc["add_eos_token"] = True
        json.dump(tc, open(os.path.join(d, "tokenizer_config.json"), "w"))
        self.convert(d, "-o", "a.gguf")
        kvs, _, _ = self.read("a.gguf")
        self.assertEqual(kvs["tokenizer.chat_template"][2], tc["chat_template"])
        self.assertEqual(kvs["tokenizer.ggml.eos_token_id"][2], 2)   # from tokenizer.model, not the list
        self.assertEqual(kvs["tokenizer.ggml.padding_token_id"][2], 5)
        self.assertEqual(kvs["tokenizer.ggml.add_eos_token"][2], 1)
        # chat_template.jinja, with additional templates, when tokenizer_config has none
        del tc["chat_template"]
        json.dump(tc, open(os.path.join(d, "tokenizer_config.json"), "w"))
        with open(os.path.join(d, "chat_template.jinja"), "w") as f:
            f.write("JINJA {{ messages }}")
        os.makedirs(os.path.join(d, "additional_chat_templates"))
        with open(os.path.join(d, "additional_chat_templates", "tool-use.jinja"), "w") as f:
            f.write("TOOLS")
        self.convert(d, "-o", "b.gguf")
        kvs, _, _ = self.read("b.gguf")
        self.assertEqual(kvs["tokenizer.chat_template"][2], "JINJA {{ messages }}")
        self.assertEqual(kvs["tokenizer.chat_template.tool_use"][2], "TOOLS")
        self.assertEqual(kvs["tokenizer.chat_templates"][2], ["tool_use"])

    def test_vocab_padding(self):
        d = self.model(cfg=ck.config(vocab=520, hidden=64, ff=96, layers=1, heads=4, kv_heads=2))
        self.convert(d, "-o", "p.gguf")
        kvs, _, _ = self.read("p.gguf")
        tokens, types = kvs["tokenizer.ggml.tokens"][2], kvs["tokenizer.ggml.token_type"][2]
        self.assertEqual(len(tokens), 520)
        self.assertEqual(tokens[512:514], ["[PAD512]", "[PAD513]"])
        self.assertEqual(types[512:], [5] * 8)

    def test_bpe_tokenizer_json(self):
        d = self.model(cfg=ck.config(vocab=128002, hidden=16, ff=32, layers=1, heads=2, kv_heads=2, tied=True),
                       tokenizer=False)
        shutil.copy(os.path.join(SHARED, "llama3.2-bpe-vocab", "mini_llama.tokenizer.json"),
                    os.path.join(d, "tokenizer.json"))
        self.convert(d, "-o", "bpe.gguf", "--type", "F32")
        kvs, _, _ = self.read("bpe.gguf")
        self.assertEqual(kvs["tokenizer.ggml.model"][2], "gpt2")
        self.assertEqual(kvs["tokenizer.ggml.pre"][2], "smaug-bpe")
        self.assertEqual(len(kvs["tokenizer.ggml.merges"][2]), 77)
        self.assertNotIn("tokenizer.ggml.scores", kvs)
        types = kvs["tokenizer.ggml.token_type"][2]
        self.assertEqual(types[128000], 3)
        self.assertEqual(types[5000], 5)  # a hole: [PAD5000], UNUSED
        self.assertEqual(kvs["tokenizer.ggml.tokens"][2][5000], "[PAD5000]")
        # an unknown pre-tokenizer is refused, then accepted with --pre
        tj = json.load(open(os.path.join(d, "tokenizer.json")))
        tj["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\s+|\\w+"
        json.dump(tj, open(os.path.join(d, "tokenizer.json"), "w"))
        os.remove(os.path.join(self.tmp, "bpe.gguf"))
        self.refuse(d, "tokenizer.json: unknown pre-tokenizer", "--pre NAME", args=("-o", "bpe.gguf"))
        self.convert(d, "-o", "bpe.gguf", "--pre", "llama-bpe")
        kvs, _, _ = self.read("bpe.gguf")
        self.assertEqual(kvs["tokenizer.ggml.pre"][2], "llama-bpe")


class ConvertRefusals(ConvertTestCase):
    """Every one exits 8 with `modl: FILE: what is wrong` and leaves no file."""

    def edit_config(self, d, **changes):
        path = os.path.join(d, "config.json")
        cfg = json.load(open(path))
        for k, v in changes.items():
            if v is None:
                cfg.pop(k, None)
            else:
                cfg[k] = v
        json.dump(cfg, open(path, "w"))

    def test_unsupported_architecture(self):
        d = self.model()
        self.edit_config(d, architectures=["GPT2LMHeadModel"])
        self.refuse(d, "config.json: architecture GPT2LMHeadModel is not supported",
                    "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM")

    def test_config_problems(self):
        d = self.model()
        os.rename(os.path.join(d, "config.json"), os.path.join(d, "c.json"))
        self.refuse(d, "no config.json")
        os.rename(os.path.join(d, "c.json"), os.path.join(d, "config.json"))
        self.edit_config(d, hidden_size=None)
        self.refuse(d, "config.json: hidden_size is missing")
        self.edit_config(d, hidden_size="64")
        self.refuse(d, "config.json: hidden_size must be an integer")
        self.edit_config(d, hidden_size=64, rope_scaling={"rope_type": "dynamic", "factor": 2.0})
        self.refuse(d, "rope_scaling type \"dynamic\" is not supported")
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write('{"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "hidden_size": 65}')
        self.refuse(d, "duplicate key")

    def test_shape_disagrees_with_config(self):
        d = self.model()
        self.edit_config(d, intermediate_size=128)
        self.refuse(d, "tensor model.layers.0.mlp.down_proj.weight has shape [64, 96]", "config.json says [64, 128]")

    def test_missing_and_extra_tensors(self):
        cfg = ck.config(vocab=512, hidden=64, ff=96, layers=2, heads=4, kv_heads=2)
        d = os.path.join(self.tmp, "m")
        os.makedirs(d)
        ck.copy_tokenizer(d)
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
        t = ck.random_weights(cfg, 1, "F32")
        del t["model.layers.1.mlp.up_proj.weight"]
        ck.write_safetensors(os.path.join(d, "model.safetensors"), t)
        self.refuse(d, "no model.layers.1.mlp.up_proj.weight", "2 layers")
        t = ck.random_weights(cfg, 1, "F32")
        del t["lm_head.weight"]
        ck.write_safetensors(os.path.join(d, "model.safetensors"), t)
        self.refuse(d, "no lm_head.weight", "tie_word_embeddings false")
        t = ck.random_weights(cfg, 1, "F32")
        t["model.layers.0.self_attn.extra.weight"] = ("F32", t["model.norm.weight"][1])
        ck.write_safetensors(os.path.join(d, "model.safetensors"), t)
        self.refuse(d, "tensor model.layers.0.self_attn.extra.weight is not part of a LlamaForCausalLM")
        t = ck.random_weights(cfg, 1, "F32")
        t["model.layers.2.input_layernorm.weight"] = t["model.norm.weight"]
        ck.write_safetensors(os.path.join(d, "model.safetensors"), t)
        self.refuse(d, "belongs to a layer beyond the 2")

    def test_missing_shard(self):
        d = self.model(shards=3)
        os.remove(os.path.join(d, "model-00002-of-00003.safetensors"))
        self.refuse(d, "model-00002-of-00003.safetensors")

    def test_no_safetensors(self):
        d = self.model()
        os.remove(os.path.join(d, "model.safetensors"))
        self.refuse(d, d)

    def test_tokenizer_problems(self):
        d = self.model()
        os.remove(os.path.join(d, "tokenizer.model"))
        self.refuse(d, "no tokenizer (tokenizer.model or tokenizer.json)")
        with open(os.path.join(d, "tokenizer.model"), "wb") as f:
            f.write(open(os.path.join(STORIES, "tokenizer.model"), "rb").read()[:3000])
        self.refuse(d, "tokenizer.model: offset")
        os.remove(os.path.join(d, "tokenizer.model"))
        with open(os.path.join(d, "tokenizer.json"), "w") as f:
            f.write('{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}}')
        self.refuse(d, "tokenizer.json: model.merges[0] \"a b\": the merged token \"ab\" is not in model.vocab")
        with open(os.path.join(d, "tokenizer.json"), "w") as f:
            f.write('{"model": {"type": "Unigram", "vocab": [["a", -1.0]]}}')
        self.refuse(d, "a Unigram tokenizer cannot be converted")
        with open(os.path.join(d, "tokenizer.json"), "w") as f:
            f.write('{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []')
        self.refuse(d, "tokenizer.json: invalid JSON")

    def test_tokenizer_larger_than_the_model(self):
        d = self.model(cfg=ck.config(vocab=500, hidden=64, ff=96, layers=1, heads=4, kv_heads=2))
        self.refuse(d, "tokenizer.model: 512 pieces, but the model has 500 tokens")

    def test_unsupported_dtype_and_bad_values(self):
        cfg = ck.config(vocab=512, hidden=64, ff=96, layers=1, heads=4, kv_heads=2)
        d = self.model(cfg=cfg, dtype="F32")
        t = ck.random_weights(cfg, 1, "F32")
        w = t["model.layers.0.mlp.up_proj.weight"][1].copy()
        w[3, 5] = float("nan")
        t["model.layers.0.mlp.up_proj.weight"] = ("F32", w)
        ck.write_safetensors(os.path.join(d, "model.safetensors"), t)
        self.refuse(d, "tensor model.layers.0.mlp.up_proj.weight has a NaN or infinite value", "row 3",
                    args=("--type", "Q8_0"))
        w[3, 5] = 1e6  # fine for BF16, too large for F16
        ck.write_safetensors(os.path.join(d, "model.safetensors"), t)
        self.refuse(d, "does not fit in F16", "use --type BF16 or F32", args=("--type", "F16"))
        with open(os.path.join(d, "model.safetensors"), "rb") as f:
            raw = f.read()
        (n,) = struct.unpack_from("<Q", raw)
        header = json.loads(raw[8:8 + n])
        header["model.norm.weight"]["dtype"] = "I32"
        text = json.dumps(header).encode()
        text += b" " * ((-len(text)) % 8)
        with open(os.path.join(d, "model.safetensors"), "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text + raw[8 + n:])
        self.refuse(d, "tensor model.norm.weight has dtype I32 (supported: BF16, F16, F32)")


if __name__ == "__main__":
    import unittest
    unittest.main()
