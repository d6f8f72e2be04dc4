/* The tokenizer: tokenizer.model or tokenizer.json, with tokenizer_config.json,
 * added_tokens.json, the chat templates and config.json's ids, to the tokenizer.* keys
 * of a GGUF (doc/gguf.md §4), as conversion/base.py and gguf-py's SpecialVocab write them.
 *
 * The choice of vocabulary follows LlamaModel.set_vocab: tokenizer.model first
 * (SentencePiece: model "llama", pre "default"), else tokenizer.json: BPE with byte
 * fallback is SentencePiece-style ("llama"), other BPE is byte-level ("gpt2", with the
 * merges and a pre-tokenizer from the table below).
 *
 * Where modl departs from gguf-py, on purpose (each makes llama.cpp tokenize as the
 * source tokenizer does, which the interop tests check token for token):
 *   - a USER_DEFINED piece of tokenizer.model stays USER_DEFINED (gguf-py makes it
 *     NORMAL, and llama.cpp then splits it);
 *   - a SentencePiece-style tokenizer.json gets scores from its merge ranks (gguf-py
 *     writes -1000 for every token, and llama.cpp's SPM tokenizer then merges left to
 *     right instead of by rank), its <unk> is UNKNOWN, and add_space_prefix follows its
 *     normalizer;
 *   - add_space_prefix false is written when tokenizer.model says add_dummy_prefix false;
 *   - special ids still unset after tokenizer_config.json and config.json come from
 *     tokenizer.model's trainer_spec;
 *   - tokenizer.ggml.pre comes from a table keyed on the pre-tokenizer's configuration
 *     (gguf-py hashes the token ids of a test text, which needs the real tokenizer), and
 *     an unknown configuration is an error, never a silent default;
 *   - a token id at or beyond the embedding's row count is an error (gguf-py drops it). */
#include "convert_internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/spm_model.h"
#include "formats/tokenizer_json.h"
#include "util/error.h"
#include "util/strbuf.h"

enum token_type { T_NORMAL = 1, T_UNKNOWN = 2, T_CONTROL = 3, T_USER_DEFINED = 4, T_UNUSED = 5, T_BYTE = 6 };

/* ---- the tokenizer.ggml.pre table -------------------------------------------------------- */

/* The pre-tokenizer configurations modl recognises: the tokenizer.json normalizer and
 * pre_tokenizer as tokenizer_json_pre_signature() prints them, and model.ignore_merges
 * (-1: either). The patterns are the ones llama-vocab.cpp quotes as "original regex from
 * tokenizer.json" for each type. Documented in modl-convert(1). */
struct pre_entry {
	const char *pre;
	int ignore_merges;
	const char *signature;
};

#define LLAMA3_REGEX \
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define QWEN2_REGEX \
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define TEKKEN_REGEX \
	"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define BYTE_LEVEL_NO_REGEX "+ByteLevel(prefix=0, regex=0)"

/* clang-format off */
static const struct pre_entry pre_table[] = {
	/* Llama 3, 3.1, 3.2, 3.3 */
	{ "llama-bpe", 1, "normalizer=none pre=Split(Regex \"" LLAMA3_REGEX "\", Isolated, invert=0)" BYTE_LEVEL_NO_REGEX },
	/* the same split without ignore_merges: Llama 3 derivatives (llama.cpp#7724) */
	{ "smaug-bpe", 0, "normalizer=none pre=Split(Regex \"" LLAMA3_REGEX "\", Isolated, invert=0)" BYTE_LEVEL_NO_REGEX },
	/* Qwen 1.5, 2, 2.5 */
	{ "qwen2", -1, "normalizer=NFC pre=Split(Regex \"" QWEN2_REGEX "\", Isolated, invert=0)" BYTE_LEVEL_NO_REGEX },
	/* Mistral NeMo and later Mistral models ("tekken") */
	{ "tekken", -1, "normalizer=none pre=Split(Regex \"" TEKKEN_REGEX "\", Isolated, invert=0)" BYTE_LEVEL_NO_REGEX },
	/* SmolLM (StarCoder-style: single digits, then GPT-2's split) */
	{ "smollm", -1, "normalizer=none pre=Digits(individual=1)+ByteLevel(prefix=0, regex=1)" },
	/* GPT-2's own byte-level split */
	{ "gpt-2", -1, "normalizer=none pre=ByteLevel(prefix=0, regex=1)" },
};
/* clang-format on */
#define PRE_TABLE_COUNT (sizeof(pre_table) / sizeof(pre_table[0]))

/* Every tokenizer.ggml.pre llama.cpp (llama-vocab.cpp, the version the tests use) knows. */
/* clang-format off */
static const char *const known_pre[] = {
	"default", "minicpm5", "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral",
	"midm-2.0", "lfm2", "jina-v5-nano", "deepseek-llm", "deepseek-coder", "deepseek-v3", "spark2_5",
	"youtu", "falcon", "mpt", "starcoder", "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat",
	"jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert", "jais-2", "gemma4",
	"granite-embed-multi-311m", "sarvam-moe", "jina-v1-en", "jina-v2-code", "roberta-bpe",
	"whitespace", "refact", "command-r", "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "qwen35",
	"stablelm2", "olmo", "dbrx", "smaug-bpe", "poro-chat", "glm4", "chatglm-bpe", "viking", "jais",
	"tekken", "smollm", "codeshell", "bloom", "gpt3-finnish", "exaone", "exaone4", "exaone-moe",
	"chameleon", "minerva-7b", "megrez", "gpt-4o", "llama4", "kanana2", "talkie",
	"granite-embed-multi-97m", "tiny_aya", "cohere2moe", "superbpe", "trillion", "granite-docling",
	"bailingmoe", "bailingmoe2", "llada-moe", "seed-coder", "hunyuan", "hunyuan-dense", "hy_v4",
	"joyai-llm", "kimi-k2", "ufakzeka", "grok-2", "afmoe", "laguna", "minimax-m2", "solar-open",
	"mellum2",
};
/* clang-format on */

int convert_pre_is_known(const char *name)
{
	for (size_t i = 0; i < sizeof(known_pre) / sizeof(known_pre[0]); i++)
		if (!strcmp(name, known_pre[i]))
			return 1;
	return 0;
}

const char *convert_pre_names(void)
{
	return "llama-bpe, smaug-bpe, qwen2, tekken, smollm, gpt-2, ... (any type llama.cpp knows)";
}

static const char *pre_lookup(const struct tokenizer_json *tj, const char *signature)
{
	for (size_t i = 0; i < PRE_TABLE_COUNT; i++)
		if (!strcmp(pre_table[i].signature, signature) &&
		    (pre_table[i].ignore_merges < 0 || pre_table[i].ignore_merges == tj->ignore_merges))
			return pre_table[i].pre;
	return NULL;
}

/* ---- small helpers ------------------------------------------------------------------------ */

static int oom(void)
{
	return modl_error_oom();
}

/* conversion/base.py does_token_look_special */
static int looks_special(const char *t)
{
	size_t n = strlen(t);
	if (!strcmp(t, "<pad>") || !strcmp(t, "<mask>") || !strcmp(t, "<2mass>") || !strcmp(t, "[@BOS@]"))
		return 1;
	if (n >= 4 && !strncmp(t, "<|", 2) && !strcmp(t + n - 2, "|>"))
		return 1;
	if (n >= 8 && !strncmp(t, "<\xef\xbd\x9c", 4) && !strcmp(t + n - 4, "\xef\xbd\x9c>"))
		return 1; /* <｜...｜> (DeepSeek) */
	return n >= 8 && !strncmp(t, "<unused", 7) && t[n - 1] == '>';
}

static int set_token(struct convert_vocab *v, uint32_t id, const char *text, size_t len)
{
	char *copy = malloc(len + 1);
	if (!copy)
		return oom();
	memcpy(copy, text, len);
	copy[len] = '\0';
	free(v->tokens[id]);
	v->tokens[id] = copy;
	v->lengths[id] = len;
	return 0;
}

/* "▁" (U+2581) to " " in place: gguf-py pre-normalizes user-defined tokens so. */
static size_t unescape_spaces(char *s)
{
	size_t r = 0, w = 0, n = strlen(s);
	while (r < n) {
		if (n - r >= 3 && !memcmp(s + r, "\xe2\x96\x81", 3)) {
			s[w++] = ' ';
			r += 3;
		} else {
			s[w++] = s[r++];
		}
	}
	s[w] = '\0';
	return w;
}

static int alloc_tokens(struct convert_vocab *v, uint32_t n, int with_scores, float pad_score)
{
	v->n = n;
	v->tokens = calloc(n ? n : 1, sizeof(*v->tokens));
	v->lengths = calloc(n ? n : 1, sizeof(*v->lengths));
	v->types = calloc(n ? n : 1, sizeof(*v->types));
	if (with_scores)
		v->scores = calloc(n ? n : 1, sizeof(*v->scores));
	if (!v->tokens || !v->lengths || !v->types || (with_scores && !v->scores))
		return oom();
	for (uint32_t i = 0; i < n; i++) {
		char pad[32];
		int k = snprintf(pad, sizeof(pad), "[PAD%u]", i);
		if (set_token(v, i, pad, (size_t)k))
			return MODL_EFAIL;
		v->types[i] = T_UNUSED;
		if (with_scores)
			v->scores[i] = pad_score;
	}
	return 0;
}

static int id_in_range(const struct convert_vocab *v, const char *path, const char *what, long long id)
{
	if (id >= 0 && id < (long long)v->n)
		return 0;
	return modl_error_set(MODL_EINVALID,
			      "%s: %s has id %lld, but the model has %u tokens (config.json "
			      "vocab_size)",
			      path, what, id, v->n);
}

/* ---- the files --------------------------------------------------------------------------- */

struct sources {
	const char *dir;
	struct strbuf tc_path, tj_path, spm_path;
	cJSON *tc; /* tokenizer_config.json, or NULL */
	struct tokenizer_json tj;
	int has_tj;
	struct spm_model spm;
	int has_spm;
};

static int load_json_file(const char *dir, const char *name, struct strbuf *path, cJSON **out)
{
	char *text = NULL;
	size_t len;
	int rc = strbuf_addf(path, "%s/%s", dir, name);
	if (!rc)
		rc = convert_read_file(dir, name, 64 << 20, &text, &len);
	if (rc == MODL_ENOTFOUND)
		return 0;
	if (!rc)
		rc = convert_parse_json(path->buf, text, len, out);
	free(text);
	return rc;
}

static int load_sources(struct sources *s)
{
	struct fmt_error err = { "" };
	char *text = NULL;
	size_t len;
	int rc;
	if ((rc = load_json_file(s->dir, "tokenizer_config.json", &s->tc_path, &s->tc)))
		return rc;
	if (s->tc && !cJSON_IsObject(s->tc))
		return modl_error_set(MODL_EINVALID, "%s: not a JSON object", s->tc_path.buf);
	if ((rc = strbuf_addf(&s->tj_path, "%s/tokenizer.json", s->dir)) ||
	    (rc = strbuf_addf(&s->spm_path, "%s/tokenizer.model", s->dir)))
		return rc;
	rc = convert_read_file(s->dir, "tokenizer.json", (size_t)1 << 30, &text, &len);
	if (!rc) {
		rc = tokenizer_json_parse(&s->tj, text, len, &err);
		free(text);
		text = NULL;
		if (rc)
			return convert_fmt_failure(rc, s->tj_path.buf, err.message);
		s->has_tj = 1;
	} else if (rc != MODL_ENOTFOUND) {
		return rc;
	}
	rc = convert_read_file(s->dir, "tokenizer.model", (size_t)1 << 30, &text, &len);
	if (!rc) {
		rc = spm_model_parse(&s->spm, text, len, &err);
		free(text);
		if (rc)
			return convert_fmt_failure(rc, s->spm_path.buf, err.message);
		s->has_spm = 1;
	} else if (rc != MODL_ENOTFOUND) {
		return rc;
	}
	modl_error_clear();
	return 0;
}

static void free_sources(struct sources *s)
{
	cJSON_Delete(s->tc);
	if (s->has_tj)
		tokenizer_json_free(&s->tj);
	if (s->has_spm)
		spm_model_free(&s->spm);
	strbuf_free(&s->tc_path);
	strbuf_free(&s->tj_path);
	strbuf_free(&s->spm_path);
}

/* tokenizer_config.json's added_tokens_decoder: {"<id>": {"content": ..., "special": ...}} */
static int config_added_tokens(struct convert_vocab *v, const struct sources *s, int replace_score)
{
	const cJSON *dec = cJSON_GetObjectItemCaseSensitive(s->tc, "added_tokens_decoder");
	if (!dec || cJSON_IsNull(dec))
		return 0;
	if (!cJSON_IsObject(dec))
		return modl_error_set(MODL_EINVALID, "%s: added_tokens_decoder must be an object",
				      s->tc_path.buf);
	for (const cJSON *e = dec->child; e; e = e->next) {
		char *end;
		long long id = strtoll(e->string, &end, 10);
		const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
		if (!*e->string || *end || !cJSON_IsObject(e) || !cJSON_IsString(content) ||
		    !*content->valuestring)
			return modl_error_set(MODL_EINVALID,
					      "%s: added_tokens_decoder[\"%s\"] must map a token id "
					      "to an object with a content",
					      s->tc_path.buf, e->string);
		int rc = id_in_range(v, s->tc_path.buf, "an added token", id);
		if (rc)
			return rc;
		const cJSON *special = cJSON_GetObjectItemCaseSensitive(e, "special");
		char *text = strdup(content->valuestring);
		if (!text)
			return oom();
		size_t len = strlen(text);
		if (cJSON_IsTrue(special) || looks_special(text)) {
			v->types[id] = T_CONTROL;
		} else {
			len = unescape_spaces(text);
			v->types[id] = T_USER_DEFINED;
		}
		rc = set_token(v, (uint32_t)id, text, len);
		free(text);
		if (rc)
			return rc;
		if (replace_score && v->scores)
			v->scores[id] = -1000.0f;
	}
	return 0;
}

/* ---- SentencePiece: tokenizer.model ------------------------------------------------------- */

static int load_spm(struct convert_vocab *v, const struct convert_model *m, struct sources *s)
{
	const struct spm_model *spm = &s->spm;
	int rc;
	if (spm->model_type != SPM_MODEL_BPE && spm->model_type != SPM_MODEL_UNIGRAM)
		return modl_error_set(MODL_EINVALID,
				      "%s: a SentencePiece %s model cannot be converted (BPE and "
				      "unigram only)",
				      s->spm_path.buf, spm->model_type == SPM_MODEL_WORD ? "word" : "char");
	if (spm->count > m->n_vocab)
		return modl_error_set(MODL_EINVALID,
				      "%s: %zu pieces, but the model has %u tokens (config.json "
				      "vocab_size)",
				      s->spm_path.buf, spm->count, m->n_vocab);
	if ((rc = alloc_tokens(v, m->n_vocab, 1, -10000.0f)))
		return rc;
	snprintf(v->model, sizeof(v->model), "llama");
	snprintf(v->pre, sizeof(v->pre), "default");
	v->source = s->spm_path.buf;
	for (size_t i = 0; i < spm->count; i++) {
		const struct spm_piece *p = &spm->pieces[i];
		if ((rc = set_token(v, (uint32_t)i, p->text, p->len)))
			return rc;
		v->scores[i] = p->score;
		v->types[i] = p->type; /* SentencePiece's numbering is GGUF's */
	}
	/* added_tokens.json: {"token": id} */
	cJSON *added = NULL;
	struct strbuf path = STRBUF_INIT;
	rc = load_json_file(s->dir, "added_tokens.json", &path, &added);
	if (!rc && added && !cJSON_IsObject(added))
		rc = modl_error_set(MODL_EINVALID, "%s: not a JSON object", path.buf);
	for (const cJSON *e = added ? added->child : NULL; !rc && e; e = e->next) {
		if (!cJSON_IsNumber(e) || e->valuedouble != (double)(long long)e->valuedouble) {
			rc = modl_error_set(MODL_EINVALID, "%s: \"%s\" must map to a token id", path.buf,
					    e->string);
			break;
		}
		long long id = (long long)e->valuedouble;
		if ((rc = id_in_range(v, path.buf, e->string, id)) ||
		    (rc = set_token(v, (uint32_t)id, e->string, strlen(e->string))))
			break;
		v->scores[id] = -1000.0f;
		v->types[id] = T_USER_DEFINED;
	}
	cJSON_Delete(added);
	strbuf_free(&path);
	if (!rc && s->tc)
		rc = config_added_tokens(v, s, 1);
	if (!rc && !spm->add_dummy_prefix)
		v->add_space_prefix = 0;
	return rc;
}

/* ---- tokenizer.json, SentencePiece-style (byte fallback) ----------------------------------- */

static int is_byte_token(const char *t, size_t len)
{
	static const char hex[] = "0123456789ABCDEFabcdef";
	return len == 6 && !strncmp(t, "<0x", 3) && strchr(hex, t[3]) && strchr(hex, t[4]) && t[5] == '>';
}

/* The normalizer and pre-tokenizer a SentencePiece-style tokenizer.json may have, and
 * whether they add the "▁" prefix (llama.cpp's add_space_prefix). */
static int spm_style_prefix(const struct sources *s, int *prefix)
{
	const struct tokenizer_json *tj = &s->tj;
	static const char space[] = "\xe2\x96\x81";
	*prefix = 0;
	for (size_t i = 0; i < tj->normalizer.count; i++) {
		const struct tokenizer_json_component *c = &tj->normalizer.items[i];
		if (!strcmp(c->type, "Prepend") && c->content && !strcmp(c->content, space))
			*prefix = 1;
		else if (!(!strcmp(c->type, "Replace") && c->pattern && !strcmp(c->pattern, " ") &&
			   c->content && !strcmp(c->content, space)))
			goto unsupported;
	}
	for (size_t i = 0; i < tj->pre_tokenizer.count; i++) {
		const struct tokenizer_json_component *c = &tj->pre_tokenizer.items[i];
		if (strcmp(c->type, "Metaspace") || !c->content || strcmp(c->content, space))
			goto unsupported;
		*prefix = !c->prepend_scheme || strcmp(c->prepend_scheme, "never");
	}
	return 0;
unsupported:;
	char *sig = NULL;
	int rc = tokenizer_json_pre_signature(tj, &sig);
	rc = rc ? oom()
		: modl_error_set(MODL_EINVALID,
				 "%s: a byte-fallback BPE tokenizer with an unsupported "
				 "normalizer or pre-tokenizer (%s)",
				 s->tj_path.buf, sig);
	free(sig);
	return rc;
}

/* llama.cpp's SPM tokenizer merges the adjacent pair whose result scores highest; BPE
 * merges the pair of lowest rank. A token's score is minus the rank of the first merge
 * that makes it, so both pick the same pair. */
static void scores_from_merges(struct convert_vocab *v, const struct tokenizer_json *tj)
{
	unsigned char *done = calloc(v->n ? v->n : 1, 1);
	char *buf = NULL;
	size_t cap = 0;
	if (!done)
		return;
	for (size_t r = 0; r < tj->merge_count; r++) {
		const char *mrg = tj->merges[r], *space = strchr(mrg, ' ');
		size_t len = strlen(mrg);
		if (!space)
			continue;
		if (len > cap) {
			char *b = realloc(buf, len + 1);
			if (!b)
				break;
			buf = b;
			cap = len;
		}
		size_t a = (size_t)(space - mrg);
		memcpy(buf, mrg, a);
		memcpy(buf + a, space + 1, len - a - 1);
		long id = tokenizer_json_find(tj, buf, len - 1);
		if (id >= 0 && (uint32_t)id < v->n && !done[id]) {
			done[id] = 1;
			v->scores[id] = -(float)r;
		}
	}
	free(buf);
	free(done);
}

static int load_json_spm_style(struct convert_vocab *v, const struct convert_model *m, struct sources *s)
{
	struct tokenizer_json *tj = &s->tj;
	int prefix, rc;
	if ((rc = spm_style_prefix(s, &prefix)))
		return rc;
	if (tj->vocab_size > m->n_vocab)
		return id_in_range(v, s->tj_path.buf, "a token of model.vocab",
				   (long long)tj->vocab_size - 1);
	if ((rc = alloc_tokens(v, m->n_vocab, 1, -1000.0f)))
		return rc;
	snprintf(v->model, sizeof(v->model), "llama");
	snprintf(v->pre, sizeof(v->pre), "default");
	v->source = s->tj_path.buf;
	for (uint32_t i = 0; i < tj->vocab_size; i++) {
		if (!tj->vocab[i])
			continue;
		if ((rc = set_token(v, i, tj->vocab[i], tj->vocab_len[i])))
			return rc;
		v->scores[i] = 0.0f;
		v->types[i] = is_byte_token(tj->vocab[i], tj->vocab_len[i])           ? T_BYTE
			      : tj->unk_token && !strcmp(tj->unk_token, tj->vocab[i]) ? T_UNKNOWN
										      : T_NORMAL;
	}
	scores_from_merges(v, tj);
	for (size_t i = 0; i < tj->added_count; i++) {
		const struct tokenizer_json_added_token *a = &tj->added[i];
		if ((rc = id_in_range(v, s->tj_path.buf, a->content, a->id)) ||
		    (rc = set_token(v, a->id, a->content, a->len)))
			return rc;
		if (v->types[a->id] != T_UNKNOWN)
			v->types[a->id] =
				a->special || looks_special(a->content) ? T_CONTROL : T_USER_DEFINED;
		if (v->types[a->id] != T_NORMAL && tokenizer_json_find(tj, a->content, a->len) < 0)
			v->scores[a->id] = -1000.0f;
	}
	v->add_space_prefix = prefix;
	return 0;
}

/* ---- tokenizer.json, byte-level BPE --------------------------------------------------------- */

static int choose_pre(struct convert_vocab *v, const struct sources *s, const char *override)
{
	char *sig = NULL;
	if (override) {
		snprintf(v->pre, sizeof(v->pre), "%s", override);
		return 0;
	}
	if (tokenizer_json_pre_signature(&s->tj, &sig))
		return oom();
	const char *pre = pre_lookup(&s->tj, sig);
	int rc = 0;
	if (pre)
		snprintf(v->pre, sizeof(v->pre), "%s", pre);
	else
		rc = modl_error_set(MODL_EINVALID,
				    "%s: unknown pre-tokenizer (%s, ignore_merges %s); if you know "
				    "which llama.cpp pre-tokenizer it is, give it with --pre NAME",
				    s->tj_path.buf, sig, s->tj.ignore_merges ? "true" : "false");
	free(sig);
	return rc;
}

static int load_json_bpe(struct convert_vocab *v, const struct convert_model *m, struct sources *s,
			 const char *pre_override)
{
	struct tokenizer_json *tj = &s->tj;
	int rc;
	if (tj->has_subword_affixes)
		return modl_error_set(MODL_EINVALID,
				      "%s: BPE with continuing_subword_prefix or end_of_word_suffix "
				      "is not supported",
				      s->tj_path.buf);
	if (!tj->merge_count)
		return modl_error_set(MODL_EINVALID, "%s: a BPE tokenizer without merges", s->tj_path.buf);
	if ((rc = choose_pre(v, s, pre_override)))
		return rc;
	if (tj->vocab_size > m->n_vocab)
		return id_in_range(v, s->tj_path.buf, "a token of model.vocab",
				   (long long)tj->vocab_size - 1);
	if ((rc = alloc_tokens(v, m->n_vocab, 0, 0)))
		return rc;
	snprintf(v->model, sizeof(v->model), "gpt2");
	v->source = s->tj_path.buf;
	for (uint32_t i = 0; i < tj->vocab_size; i++) {
		if (!tj->vocab[i])
			continue;
		if ((rc = set_token(v, i, tj->vocab[i], tj->vocab_len[i])))
			return rc;
		v->types[i] = T_NORMAL;
	}
	for (size_t i = 0; i < tj->added_count; i++) {
		const struct tokenizer_json_added_token *a = &tj->added[i];
		char *text;
		if ((rc = id_in_range(v, s->tj_path.buf, a->content, a->id)))
			return rc;
		if (!(text = strdup(a->content)))
			return oom();
		size_t len = a->len;
		if (a->special || looks_special(text)) {
			v->types[a->id] = T_CONTROL;
		} else {
			len = unescape_spaces(text);
			v->types[a->id] = T_USER_DEFINED;
		}
		rc = set_token(v, a->id, text, len);
		free(text);
		if (rc)
			return rc;
	}
	if (s->tc && (rc = config_added_tokens(v, s, 0)))
		return rc;
	/* The merges move to the vocabulary. */
	v->merges = tj->merges;
	v->merge_count = tj->merge_count;
	tj->merges = NULL;
	tj->merge_count = 0;
	return 0;
}

/* ---- special tokens (gguf-py SpecialVocab) ---------------------------------------------------- */

/* clang-format off */
static const char *const special_names[CONVERT_SPECIAL_COUNT] = {
	"bos", "eos", "unk", "sep", "pad", "cls", "mask", "eot", "eom", "prefix", "suffix", "middle",
};
/* clang-format on */

static void set_special(struct convert_vocab *v, int typ, long long id)
{
	if (id < 0 || id >= (long long)v->n || v->special[typ] >= 0)
		return; /* out of range: gguf-py skips it with a warning; set: the first wins */
	v->special[typ] = (long)id;
}

/* A {typ}_token of tokenizer_config.json: a string, or {"content": ...}. */
static const char *config_token(const cJSON *tc, const char *typ)
{
	char key[32];
	snprintf(key, sizeof(key), "%s_token", typ);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(tc, key);
	if (cJSON_IsObject(e))
		e = cJSON_GetObjectItemCaseSensitive(e, "content");
	return cJSON_IsString(e) ? e->valuestring : NULL;
}

static long added_token_id(const struct sources *s, const char *content)
{
	for (size_t i = 0; content && s->has_tj && i < s->tj.added_count; i++)
		if (!strcmp(s->tj.added[i].content, content))
			return (long)s->tj.added[i].id;
	return -1;
}

static void load_specials(struct convert_vocab *v, const struct convert_model *m, const struct sources *s)
{
	const char *want[CONVERT_SPECIAL_COUNT] = { 0 };
	int use[CONVERT_SPECIAL_COUNT] = { 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0 };
	for (int t = 0; t < CONVERT_SPECIAL_CLS + 2 && s->tc; t++)
		want[t] = config_token(s->tc, special_names[t]);
	if (s->has_tj) {
		const struct tokenizer_json *tj = &s->tj;
		const char **bos = &want[CONVERT_SPECIAL_BOS], **eos = &want[CONVERT_SPECIAL_EOS];
		const char **cls = &want[CONVERT_SPECIAL_CLS], **sep = &want[CONVERT_SPECIAL_SEP];
		if (!*bos && *cls && s->tc)
			*bos = *cls;
		if (!*eos && *sep && s->tc)
			*eos = *sep;
		if (tj->roberta_processing)
			v->add_bos = v->add_eos = v->add_sep = 1;
		/* TemplateProcessing: a leading special token is BOS, a trailing one EOS. */
		const char *first = tj->template_first, *last = tj->template_last;
		if (first) {
			if (!s->tc) {
				*bos = first;
			} else if ((!*bos || strcmp(first, *bos)) && (!*cls || strcmp(first, *cls))) {
				if (!*bos)
					*bos = first;
				if (!*cls)
					*cls = first;
			}
			v->add_bos = (*bos && !strcmp(first, *bos)) || (*cls && !strcmp(first, *cls));
		}
		if (last) {
			if (!s->tc) {
				*eos = last;
			} else if (!*eos || strcmp(last, *eos)) {
				/* the old EOS becomes EOT (then EOM) rather than being lost */
				int slot = !use[CONVERT_SPECIAL_EOT]   ? CONVERT_SPECIAL_EOT
					   : !use[CONVERT_SPECIAL_EOM] ? CONVERT_SPECIAL_EOM
								       : -1;
				if (slot >= 0) {
					use[slot] = 1;
					want[slot] = *eos;
				}
				*eos = last;
			}
			v->add_eos = 1;
		}
	}
	if (s->tc) {
		for (int t = 0; t < CONVERT_SPECIAL_COUNT; t++) {
			char key[32];
			if (!use[t])
				continue;
			snprintf(key, sizeof(key), "add_%s_token", special_names[t]);
			const cJSON *add = cJSON_GetObjectItemCaseSensitive(s->tc, key);
			if (cJSON_IsBool(add)) {
				int value = cJSON_IsTrue(add);
				if (t == CONVERT_SPECIAL_BOS)
					v->add_bos = value;
				else if (t == CONVERT_SPECIAL_EOS)
					v->add_eos = value;
				else if (t == CONVERT_SPECIAL_SEP)
					v->add_sep = value;
			}
			set_special(v, t, added_token_id(s, want[t]));
		}
	}
	/* config.json: integers only (Llama 3.1's list-valued eos_token_id is ignored). */
	for (int t = 0; t <= CONVERT_SPECIAL_MASK; t++) {
		char key[32];
		snprintf(key, sizeof(key), "%s_token_id", special_names[t]);
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(m->config_json, key);
		if (cJSON_IsNumber(id) && id->valuedouble >= 0 &&
		    id->valuedouble == (double)(long long)id->valuedouble)
			set_special(v, t, (long long)id->valuedouble);
	}
	/* tokenizer.model's own ids, for what is still unset. */
	if (s->has_spm) {
		set_special(v, CONVERT_SPECIAL_UNK, s->spm.unk_id);
		set_special(v, CONVERT_SPECIAL_BOS, s->spm.bos_id);
		set_special(v, CONVERT_SPECIAL_EOS, s->spm.eos_id);
		set_special(v, CONVERT_SPECIAL_PAD, s->spm.pad_id);
	}
	if (!strcmp(m->arch->gguf_name, "llama")) {
		/* CodeLlama's infill tokens (LlamaModel.set_vocab) */
		if (m->n_vocab == 32016) {
			v->special[CONVERT_SPECIAL_PREFIX] = 32007;
			v->special[CONVERT_SPECIAL_SUFFIX] = 32008;
			v->special[CONVERT_SPECIAL_MIDDLE] = 32009;
			v->special[CONVERT_SPECIAL_EOT] = 32010;
		}
		if (m->n_vocab == 49152)
			v->add_bos = 0; /* as LlamaModel.set_vocab does for this vocabulary size */
	}
}

/* ---- chat templates ----------------------------------------------------------------------------- */

static int add_template(struct convert_vocab *v, const char *name, const char *text)
{
	struct convert_template *t = realloc(v->templates, (v->template_count + 1) * sizeof(*t));
	if (!t)
		return oom();
	v->templates = t;
	t = &v->templates[v->template_count];
	t->name = name ? strdup(name) : NULL;
	t->text = strdup(text);
	if ((name && !t->name) || !t->text) {
		free(t->name);
		free(t->text);
		return oom();
	}
	v->template_count++;
	return 0;
}

/* A list of {name, template}: "default" is the template, the others named ones (names
 * reduced to [A-Za-z0-9_] as gguf-py does). */
static int add_template_list(struct convert_vocab *v, const cJSON *list, const char *path)
{
	for (const cJSON *e = list->child; e; e = e->next) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
		const cJSON *text = cJSON_GetObjectItemCaseSensitive(e, "template");
		if (!cJSON_IsString(name) || !cJSON_IsString(text))
			return modl_error_set(MODL_EINVALID,
					      "%s: chat_template list entries need a name and a template",
					      path);
		char clean[128];
		size_t k = 0;
		for (const char *c = name->valuestring; *c && k + 1 < sizeof(clean); c++)
			clean[k++] = ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
				      (*c >= '0' && *c <= '9'))
					     ? *c
					     : '_';
		clean[k] = '\0';
		if (!k)
			continue;
		int rc = add_template(v, strcmp(clean, "default") ? clean : NULL, text->valuestring);
		if (rc)
			return rc;
	}
	return 0;
}

static int name_compare(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* chat_template.jinja, and the .jinja files of additional_chat_templates (then a list). */
static int load_jinja(struct convert_vocab *v, const char *dir, int *found)
{
	char *text = NULL, **names = NULL;
	size_t len, n = 0;
	struct strbuf sub = STRBUF_INIT;
	int rc = convert_read_file(dir, "chat_template.jinja", 16 << 20, &text, &len);
	*found = 0;
	if (rc == MODL_ENOTFOUND) {
		modl_error_clear();
		return 0;
	}
	if (rc)
		return rc;
	*found = 1;
	if ((rc = add_template(v, NULL, text)))
		goto out;
	if ((rc = strbuf_addf(&sub, "%s/additional_chat_templates", dir)))
		goto out;
	DIR *d = opendir(sub.buf);
	for (struct dirent *e; d && (e = readdir(d));) {
		size_t l = strlen(e->d_name);
		if (l <= 6 || strcmp(e->d_name + l - 6, ".jinja"))
			continue;
		char **nn = realloc(names, (n + 1) * sizeof(*nn));
		if (!nn || !(nn[n] = strdup(e->d_name))) {
			names = nn ? nn : names;
			rc = oom();
			break;
		}
		names = nn;
		n++;
	}
	if (d)
		closedir(d);
	if (names)
		qsort(names, n, sizeof(*names), name_compare);
	for (size_t i = 0; !rc && i < n; i++) {
		char *t = NULL, stem[128];
		size_t tl;
		if (!(rc = convert_read_file(sub.buf, names[i], 16 << 20, &t, &tl))) {
			snprintf(stem, sizeof(stem), "%.*s", (int)(strlen(names[i]) - 6), names[i]);
			for (char *c = stem; *c; c++)
				if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
				      (*c >= '0' && *c <= '9')))
					*c = '_';
			rc = add_template(v, stem, t);
		}
		free(t);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(text);
	strbuf_free(&sub);
	return rc;
}

static int load_templates(struct convert_vocab *v, const struct sources *s)
{
	const cJSON *ct = s->tc ? cJSON_GetObjectItemCaseSensitive(s->tc, "chat_template") : NULL;
	int found, rc;
	if (ct) {
		if (cJSON_IsString(ct))
			return add_template(v, NULL, ct->valuestring);
		if (cJSON_IsArray(ct))
			return add_template_list(v, ct, s->tc_path.buf);
		if (cJSON_IsNull(ct))
			return 0;
		return modl_error_set(MODL_EINVALID, "%s: chat_template must be a string or a list",
				      s->tc_path.buf);
	}
	if ((rc = load_jinja(v, s->dir, &found)) || found)
		return rc;
	cJSON *doc = NULL;
	struct strbuf path = STRBUF_INIT;
	rc = load_json_file(s->dir, "chat_template.json", &path, &doc);
	const cJSON *t = rc || !doc ? NULL : cJSON_GetObjectItemCaseSensitive(doc, "chat_template");
	if (cJSON_IsString(t))
		rc = add_template(v, NULL, t->valuestring);
	else if (cJSON_IsArray(t))
		rc = add_template_list(v, t, path.buf);
	else if (t && !cJSON_IsNull(t))
		rc = modl_error_set(MODL_EINVALID, "%s: chat_template must be a string or a list", path.buf);
	cJSON_Delete(doc);
	strbuf_free(&path);
	return rc;
}

/* ---- entry points --------------------------------------------------------------------------------- */

int convert_vocab_load(struct convert_vocab *v, const struct convert_model *m, const char *dir,
		       const char *pre_override)
{
	struct sources s = {
		.dir = dir, .tc_path = STRBUF_INIT, .tj_path = STRBUF_INIT, .spm_path = STRBUF_INIT
	};
	int rc;
	memset(v, 0, sizeof(*v));
	for (int i = 0; i < CONVERT_SPECIAL_COUNT; i++)
		v->special[i] = -1;
	v->add_bos = v->add_eos = v->add_sep = v->add_space_prefix = -1;
	v->n = m->n_vocab; /* for the messages of the checks before the arrays exist */
	if ((rc = load_sources(&s)))
		goto out;
	if (s.has_spm) {
		rc = load_spm(v, m, &s);
	} else if (s.has_tj) {
		if (strcmp(s.tj.model_type, "BPE"))
			rc = modl_error_set(MODL_EINVALID,
					    "%s: a %s tokenizer cannot be converted (BPE only)",
					    s.tj_path.buf, s.tj.model_type);
		else if (s.tj.byte_fallback)
			rc = load_json_spm_style(v, m, &s);
		else
			rc = load_json_bpe(v, m, &s, pre_override);
	} else {
		rc = modl_error_set(MODL_EINVALID, "%s: no tokenizer (tokenizer.model or tokenizer.json)",
				    dir);
	}
	if (rc)
		goto out;
	if (pre_override && strcmp(v->model, "gpt2")) {
		rc = modl_error_set(MODL_EUSAGE,
				    "convert: --pre applies to byte-level BPE tokenizers; %s is a "
				    "SentencePiece vocabulary",
				    v->source);
		goto out;
	}
	/* the source path outlives s */
	v->source = !strcmp(v->source, s.spm_path.buf) ? "tokenizer.model" : "tokenizer.json";
	load_specials(v, m, &s);
	if (s.tc) {
		const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(s.tc, "add_prefix_space");
		if (cJSON_IsBool(prefix))
			v->add_space_prefix = cJSON_IsTrue(prefix);
	}
	rc = load_templates(v, &s);
out:
	free_sources(&s);
	if (rc)
		convert_vocab_free(v);
	return rc;
}

void convert_vocab_free(struct convert_vocab *v)
{
	for (uint32_t i = 0; v->tokens && i < v->n; i++)
		free(v->tokens[i]);
	free(v->tokens);
	free(v->lengths);
	free(v->scores);
	free(v->types);
	for (size_t i = 0; i < v->merge_count; i++)
		free(v->merges[i]);
	free(v->merges);
	for (size_t i = 0; i < v->template_count; i++) {
		free(v->templates[i].name);
		free(v->templates[i].text);
	}
	free(v->templates);
	memset(v, 0, sizeof(*v));
}

/* clang-format off */
static const char *const special_keys[CONVERT_SPECIAL_COUNT] = {
	"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
	"tokenizer.ggml.seperator_token_id", "tokenizer.ggml.padding_token_id", NULL /* cls: no key */,
	"tokenizer.ggml.mask_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id",
	"tokenizer.ggml.prefix_token_id", "tokenizer.ggml.suffix_token_id", "tokenizer.ggml.middle_token_id",
};
/* clang-format on */

int convert_vocab_write_keys(const struct convert_vocab *v, struct gguf_writer *w)
{
	int rc;
	if ((rc = gguf_writer_add_string(w, "tokenizer.ggml.model", v->model)) ||
	    (rc = gguf_writer_add_string(w, "tokenizer.ggml.pre", v->pre)) ||
	    (rc = gguf_writer_add_array_string(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens,
					       v->lengths, v->n)))
		return rc;
	if (v->scores && (rc = gguf_writer_add_array_f32(w, "tokenizer.ggml.scores", v->scores, v->n)))
		return rc;
	if ((rc = gguf_writer_add_array_i32(w, "tokenizer.ggml.token_type", v->types, v->n)))
		return rc;
	if (v->merge_count &&
	    (rc = gguf_writer_add_array_string(w, "tokenizer.ggml.merges", (const char *const *)v->merges,
					       NULL, v->merge_count)))
		return rc;
	for (int t = 0; t < CONVERT_SPECIAL_COUNT; t++)
		if (v->special[t] >= 0 && special_keys[t] &&
		    (rc = gguf_writer_add_u32(w, special_keys[t], (uint32_t)v->special[t])))
			return rc;
	if ((v->add_bos >= 0 && (rc = gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", v->add_bos))) ||
	    (v->add_eos >= 0 && (rc = gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", v->add_eos))) ||
	    (v->add_sep >= 0 && (rc = gguf_writer_add_bool(w, "tokenizer.ggml.add_sep_token", v->add_sep))) ||
	    (v->add_space_prefix >= 0 &&
	     (rc = gguf_writer_add_bool(w, "tokenizer.ggml.add_space_prefix", v->add_space_prefix))))
		return rc;
	const char *names[64];
	size_t named = 0;
	for (size_t i = 0; i < v->template_count; i++) {
		const struct convert_template *t = &v->templates[i];
		char key[192];
		if (!t->name) {
			rc = gguf_writer_add_string(w, "tokenizer.chat_template", t->text);
		} else {
			snprintf(key, sizeof(key), "tokenizer.chat_template.%s", t->name);
			rc = gguf_writer_add_string(w, key, t->text);
			if (named < sizeof(names) / sizeof(names[0]))
				names[named++] = t->name;
		}
		if (rc)
			return rc;
	}
	if (named && (rc = gguf_writer_add_array_string(w, "tokenizer.chat_templates", names, NULL, named)))
		return rc;
	return 0;
}
