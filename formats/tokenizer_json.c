/* tokenizer.json, read strictly (see tokenizer_json.h).
 *
 * The text is checked whole first (UTF-8, then JSON with the scanner), then read in one
 * pass with the scanner: model.vocab (128k entries for Llama 3) and model.merges (280k)
 * never become a DOM. The small parts whose shape varies (normalizer, pre_tokenizer,
 * decoder, post_processor) are cut out as spans and read with cJSON. */
#include "tokenizer_json.h"
#include "json_keys.h"
#include "json_scan.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct span {
	size_t start, end; /* end 0: absent */
};

struct parser {
	struct json_scan s;
	struct tokenizer_json *t;
	struct fmt_error *err;
	struct span merges, normalizer, pre_tokenizer, decoder, post_processor;
	/* model.vocab before it is laid out by id */
	char **tokens;
	uint32_t *ids;
	size_t count, cap;
};

static int scan_failed(struct parser *p, const char *where)
{
	if (p->s.error && !strcmp(p->s.error, "out of memory"))
		return fmt_error_oom(p->err);
	return fmt_error_set(p->err, FMT_EINVALID, "%s: invalid JSON at offset %zu: %s", where,
			     p->s.error_pos, p->s.error ? p->s.error : "unexpected value");
}

static int oom(struct parser *p)
{
	return fmt_error_oom(p->err);
}

/* true/false (and null when null_ok, leaving *out alone). */
static int read_bool(struct parser *p, const char *what, int *out, int null_ok)
{
	int c = json_scan_peek(&p->s);
	size_t at = p->s.pos;
	if ((c == 't' || c == 'f' || (c == 'n' && null_ok)) && !json_scan_skip(&p->s)) {
		if (c != 'n')
			*out = c == 't';
		return 0;
	}
	return fmt_error_set(p->err, FMT_EINVALID, "%s must be true or false%s (offset %zu)", what,
			     null_ok ? " or null" : "", at);
}

/* A string, or null when null_ok (*out stays NULL). */
static int read_string(struct parser *p, const char *what, char **out, size_t *len, int null_ok)
{
	size_t n, at;
	int c = json_scan_peek(&p->s);
	at = p->s.pos;
	if (c == 'n' && null_ok)
		return json_scan_skip(&p->s) ? scan_failed(p, what) : 0;
	if (c != '"')
		return fmt_error_set(p->err, FMT_EINVALID, "%s must be a string (offset %zu)", what, at);
	free(*out);
	*out = NULL;
	if (json_scan_string(&p->s, out, &n))
		return scan_failed(p, what);
	if (len)
		*len = n;
	return 0;
}

/* Skips a value, remembering where it is (a null counts as absent). */
static int take_span(struct parser *p, struct span *sp, const char *what)
{
	if (sp->end)
		return fmt_error_set(p->err, FMT_EINVALID, "%s appears twice", what);
	int c = json_scan_peek(&p->s);
	size_t start = p->s.pos;
	if (json_scan_skip(&p->s))
		return scan_failed(p, what);
	if (c != 'n') {
		sp->start = start;
		sp->end = p->s.pos;
	} else {
		sp->start = sp->end = start + 1; /* seen, but null */
	}
	return 0;
}

/* Each known key of an object once: bit i of *seen for keys[i]. Returns the index, -1
 * for an unknown key, -2 (error set) for a repeated one. */
static int key_index(struct parser *p, const char *const *keys, unsigned *seen, const char *key,
		     const char *where)
{
	for (int i = 0; keys[i]; i++) {
		if (strcmp(keys[i], key))
			continue;
		if (*seen & (1u << i)) {
			fmt_error_set(p->err, FMT_EINVALID, "duplicate key \"%s\" in %s", key, where);
			return -2;
		}
		*seen |= 1u << i;
		return i;
	}
	return -1;
}

/* ---- model.vocab ------------------------------------------------------------------------ */

static int parse_vocab(struct parser *p)
{
	struct tokenizer_json *t = p->t;
	int first = 1, more, rc = 0;
	char *key = NULL;
	size_t key_len;
	if (json_scan_peek(&p->s) == '[') /* Unigram: [[piece, score], ...], not read */
		return json_scan_skip(&p->s) ? scan_failed(p, "model.vocab") : 0;
	if (json_scan_peek(&p->s) != '{')
		return fmt_error_set(p->err, FMT_EINVALID, "model.vocab must be an object (offset %zu)",
				     p->s.pos);
	while ((more = json_scan_member(&p->s, &first, &key, &key_len)) == 1) {
		uint64_t id;
		size_t other;
		size_t at = p->s.pos;
		if (json_scan_peek(&p->s) < '0' || json_scan_peek(&p->s) > '9' || json_scan_u64(&p->s, &id) ||
		    id > TOKENIZER_JSON_MAX_ID) {
			rc = fmt_error_set(p->err, FMT_EINVALID,
					   "model.vocab[\"%s\"]: the id must be an integer "
					   "in [0, %u] (offset %zu)",
					   key, TOKENIZER_JSON_MAX_ID, at);
			break;
		}
		if (!key_len || strlen(key) != key_len) {
			rc = fmt_error_set(p->err, FMT_EINVALID, "model.vocab: %s token (offset %zu)",
					   key_len ? "a NUL in a" : "an empty", at);
			break;
		}
		if (p->count == p->cap) {
			size_t cap = p->cap ? p->cap * 2 : 4096;
			char **tk = realloc(p->tokens, cap * sizeof(*tk));
			if (tk)
				p->tokens = tk;
			uint32_t *ids = tk ? realloc(p->ids, cap * sizeof(*ids)) : NULL;
			if (!ids) {
				rc = oom(p);
				break;
			}
			p->ids = ids;
			p->cap = cap;
		}
		int added = fmt_nameset_add(&t->index, key, key_len, (size_t)id, &other);
		if (added <= 0) {
			rc = added < 0 ? oom(p)
				       : fmt_error_set(
						 p->err, FMT_EINVALID,
						 "model.vocab: token \"%s\" appears twice (ids %zu and %llu)",
						 key, other, (unsigned long long)id);
			break;
		}
		p->tokens[p->count] = key;
		p->ids[p->count++] = (uint32_t)id;
		key = NULL;
		if (id + 1 > t->vocab_size)
			t->vocab_size = (uint32_t)id + 1;
	}
	free(key);
	if (rc)
		return rc;
	if (more < 0)
		return scan_failed(p, "model.vocab");
	/* Laid out by id; the strings move from the temporary list. */
	t->vocab_count = p->count;
	if (t->vocab_size) {
		t->vocab = calloc(t->vocab_size, sizeof(*t->vocab));
		t->vocab_len = calloc(t->vocab_size, sizeof(*t->vocab_len));
		if (!t->vocab || !t->vocab_len)
			return oom(p);
	}
	for (size_t i = 0; i < p->count; i++) {
		uint32_t id = p->ids[i];
		if (t->vocab[id])
			return fmt_error_set(p->err, FMT_EINVALID,
					     "model.vocab: id %u is given to \"%s\" and \"%s\"", id,
					     t->vocab[id], p->tokens[i]);
		t->vocab[id] = p->tokens[i];
		t->vocab_len[id] = strlen(p->tokens[i]);
		p->tokens[i] = NULL;
	}
	return 0;
}

long tokenizer_json_find(const struct tokenizer_json *t, const char *token, size_t len)
{
	size_t id;
	return fmt_nameset_find(&t->index, token, len, &id) == 1 ? (long)id : -1;
}

/* ---- model.merges ----------------------------------------------------------------------- */

/* a and b must be tokens and so must a+b (the tokenizers library refuses the file
 * otherwise: MergeTokenOutOfVocabulary). */
static int check_merge(struct parser *p, size_t rank, const char *a, size_t alen, const char *b, size_t blen,
		       char **joined, size_t *cap)
{
	const struct tokenizer_json *t = p->t;
	if (tokenizer_json_find(t, a, alen) < 0 || tokenizer_json_find(t, b, blen) < 0)
		return fmt_error_set(p->err, FMT_EINVALID,
				     "model.merges[%zu] \"%.*s %.*s\": \"%.*s\" is not in "
				     "model.vocab",
				     rank, (int)alen, a, (int)blen, b,
				     (int)(tokenizer_json_find(t, a, alen) < 0 ? alen : blen),
				     tokenizer_json_find(t, a, alen) < 0 ? a : b);
	if (alen + blen + 1 > *cap) {
		size_t n = (alen + blen + 1) * 2;
		char *j = realloc(*joined, n);
		if (!j)
			return oom(p);
		*joined = j;
		*cap = n;
	}
	memcpy(*joined, a, alen);
	memcpy(*joined + alen, b, blen);
	if (tokenizer_json_find(t, *joined, alen + blen) < 0)
		return fmt_error_set(p->err, FMT_EINVALID,
				     "model.merges[%zu] \"%.*s %.*s\": the merged token "
				     "\"%.*s\" is not in model.vocab",
				     rank, (int)alen, a, (int)blen, b, (int)(alen + blen), *joined);
	return 0;
}

/* One part of a [a, b] merge in GGUF's form: a space becomes U+0120 ("Ġ"). */
static size_t encode_part(char *dst, const char *src, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (src[i] == ' ') {
			dst[n++] = (char)0xC4;
			dst[n++] = (char)0xA0;
		} else {
			dst[n++] = src[i];
		}
	}
	return n;
}

static int merge_from_pair(struct parser *p, size_t rank, char **out, char **joined, size_t *cap)
{
	char *part[2] = { NULL, NULL };
	size_t len[2] = { 0, 0 }, at = p->s.pos;
	int first = 1, n = 0, more, rc = 0;
	while ((more = json_scan_element(&p->s, &first)) == 1) {
		if (n == 2) {
			rc = fmt_error_set(p->err, FMT_EINVALID,
					   "model.merges[%zu] has more than two parts "
					   "(offset %zu)",
					   rank, at);
			goto out;
		}
		if ((rc = read_string(p, "model.merges[] part", &part[n], &len[n], 0)))
			goto out;
		n++;
	}
	if (more < 0) {
		rc = scan_failed(p, "model.merges");
		goto out;
	}
	if (n != 2 || !len[0] || !len[1]) {
		rc = fmt_error_set(p->err, FMT_EINVALID,
				   "model.merges[%zu] must be two non-empty strings "
				   "(offset %zu)",
				   rank, at);
		goto out;
	}
	if ((rc = check_merge(p, rank, part[0], len[0], part[1], len[1], joined, cap)))
		goto out;
	char *m = malloc(2 * (len[0] + len[1]) + 2);
	if (!m) {
		rc = oom(p);
		goto out;
	}
	size_t k = encode_part(m, part[0], len[0]);
	m[k++] = ' ';
	k += encode_part(m + k, part[1], len[1]);
	m[k] = '\0';
	*out = m;
out:
	free(part[0]);
	free(part[1]);
	return rc;
}

/* "a b": exactly one space (the tokenizers library splits on ' ' and wants two parts). */
static int merge_from_string(struct parser *p, size_t rank, char **out, char **joined, size_t *cap)
{
	char *s = NULL;
	size_t len = 0, at = p->s.pos;
	int rc = read_string(p, "model.merges[]", &s, &len, 0);
	if (rc)
		return rc;
	char *space = memchr(s, ' ', len);
	if (!space || space == s || space == s + len - 1 ||
	    memchr(space + 1, ' ', len - (size_t)(space - s) - 1)) {
		rc = fmt_error_set(p->err, FMT_EINVALID,
				   "model.merges[%zu] \"%s\" is not two tokens separated "
				   "by one space (offset %zu)",
				   rank, s, at);
	} else {
		size_t alen = (size_t)(space - s);
		rc = check_merge(p, rank, s, alen, space + 1, len - alen - 1, joined, cap);
	}
	if (rc)
		free(s);
	else
		*out = s;
	return rc;
}

static int parse_merges(struct parser *p)
{
	struct tokenizer_json *t = p->t;
	size_t cap = 0, joined_cap = 0;
	char *joined = NULL;
	int first = 1, more, rc = 0;
	json_scan_init(&p->s, p->s.text, p->merges.end);
	p->s.pos = p->merges.start;
	if (json_scan_peek(&p->s) != '[')
		return fmt_error_set(p->err, FMT_EINVALID, "model.merges must be an array (offset %zu)",
				     p->s.pos);
	while ((more = json_scan_element(&p->s, &first)) == 1) {
		int c = json_scan_peek(&p->s);
		char *m = NULL;
		if (t->merge_count && (c == '[') != t->merges_as_pairs) {
			rc = fmt_error_set(p->err, FMT_EINVALID,
					   "model.merges mixes strings and pairs (offset %zu)", p->s.pos);
			break;
		}
		t->merges_as_pairs = c == '[';
		if (t->merge_count == cap) {
			cap = cap ? cap * 2 : 4096;
			char **mm = realloc(t->merges, cap * sizeof(*mm));
			if (!mm) {
				rc = oom(p);
				break;
			}
			t->merges = mm;
		}
		if (c == '[')
			rc = merge_from_pair(p, t->merge_count, &m, &joined, &joined_cap);
		else if (c == '"')
			rc = merge_from_string(p, t->merge_count, &m, &joined, &joined_cap);
		else
			rc = fmt_error_set(p->err, FMT_EINVALID,
					   "model.merges[%zu] must be a string or a pair of "
					   "strings (offset %zu)",
					   t->merge_count, p->s.pos);
		if (rc)
			break;
		t->merges[t->merge_count++] = m;
	}
	free(joined);
	if (!rc && more < 0)
		rc = scan_failed(p, "model.merges");
	return rc;
}

/* ---- model ------------------------------------------------------------------------------ */

static int parse_model(struct parser *p)
{
	static const char *const keys[] = { "type",
					    "vocab",
					    "merges",
					    "byte_fallback",
					    "ignore_merges",
					    "fuse_unk",
					    "unk_token",
					    "continuing_subword_prefix",
					    "end_of_word_suffix",
					    NULL };
	struct tokenizer_json *t = p->t;
	unsigned seen = 0;
	int first = 1, more, rc = 0;
	char *key = NULL;
	size_t key_len;
	if (json_scan_peek(&p->s) != '{')
		return fmt_error_set(p->err, FMT_EINVALID, "model must be an object (offset %zu)", p->s.pos);
	while (!rc && (more = json_scan_member(&p->s, &first, &key, &key_len)) == 1) {
		char *affix = NULL;
		switch (key_index(p, keys, &seen, key, "model")) {
		case 0: rc = read_string(p, "model.type", &t->model_type, NULL, 0); break;
		case 1: rc = parse_vocab(p); break;
		case 2: rc = take_span(p, &p->merges, "model.merges"); break;
		case 3: rc = read_bool(p, "model.byte_fallback", &t->byte_fallback, 1); break;
		case 4: rc = read_bool(p, "model.ignore_merges", &t->ignore_merges, 1); break;
		case 5: rc = read_bool(p, "model.fuse_unk", &t->fuse_unk, 1); break;
		case 6: rc = read_string(p, "model.unk_token", &t->unk_token, NULL, 1); break;
		case 7:
		case 8:
			rc = read_string(p, key, &affix, NULL, 1);
			t->has_subword_affixes |= affix != NULL;
			free(affix);
			break;
		case -2: rc = FMT_EINVALID; break;
		default: rc = json_scan_skip(&p->s) ? scan_failed(p, "model") : 0; break;
		}
		free(key);
		key = NULL;
	}
	if (rc)
		return rc;
	if (more < 0)
		return scan_failed(p, "model");
	if (!t->model_type) {
		/* The tokenizers library guesses BPE from the fields it finds (an untagged enum). */
		if (!(seen & 2) || !(seen & 4))
			return fmt_error_set(p->err, FMT_EINVALID,
					     "model has no type (and no vocab and merges)");
		if (!(t->model_type = strdup("BPE")))
			return oom(p);
	}
	return 0;
}

/* ---- added_tokens ----------------------------------------------------------------------- */

static int parse_added_token(struct parser *p, struct tokenizer_json_added_token *a, size_t i)
{
	static const char *const keys[] = { "id",          "content", "special", "normalized",
					    "single_word", "lstrip",  "rstrip",  NULL };
	unsigned seen = 0;
	int first = 1, more, rc = 0, ignored;
	char *key = NULL;
	size_t key_len;
	size_t at = p->s.pos;
	a->normalized = -1;
	if (json_scan_peek(&p->s) != '{')
		return fmt_error_set(p->err, FMT_EINVALID, "added_tokens[%zu] must be an object (offset %zu)",
				     i, at);
	while (!rc && (more = json_scan_member(&p->s, &first, &key, &key_len)) == 1) {
		uint64_t id;
		switch (key_index(p, keys, &seen, key, "added_tokens[]")) {
		case 0:
			if (json_scan_peek(&p->s) < '0' || json_scan_peek(&p->s) > '9' ||
			    json_scan_u64(&p->s, &id) || id > TOKENIZER_JSON_MAX_ID)
				rc = fmt_error_set(p->err, FMT_EINVALID,
						   "added_tokens[%zu].id must be an integer in "
						   "[0, %u]",
						   i, TOKENIZER_JSON_MAX_ID);
			else
				a->id = (uint32_t)id;
			break;
		case 1: rc = read_string(p, "added_tokens[].content", &a->content, &a->len, 0); break;
		case 2: rc = read_bool(p, "added_tokens[].special", &a->special, 0); break;
		case 3: rc = read_bool(p, "added_tokens[].normalized", &a->normalized, 0); break;
		case 4:
		case 5:
		case 6: rc = read_bool(p, key, &ignored, 0); break;
		case -2: rc = FMT_EINVALID; break;
		default: rc = json_scan_skip(&p->s) ? scan_failed(p, "added_tokens") : 0; break;
		}
		free(key);
		key = NULL;
	}
	if (rc)
		return rc;
	if (more < 0)
		return scan_failed(p, "added_tokens");
	if (!(seen & 1) || !(seen & 2))
		return fmt_error_set(p->err, FMT_EINVALID,
				     "added_tokens[%zu] needs an id and a content (offset %zu)", i, at);
	if (!a->len || strlen(a->content) != a->len)
		return fmt_error_set(p->err, FMT_EINVALID,
				     "added_tokens[%zu] has an empty content or a NUL in it", i);
	return 0;
}

static int parse_added_tokens(struct parser *p)
{
	struct tokenizer_json *t = p->t;
	size_t cap = 0;
	int first = 1, more, rc = 0;
	if (json_scan_peek(&p->s) != '[')
		return fmt_error_set(p->err, FMT_EINVALID, "added_tokens must be an array (offset %zu)",
				     p->s.pos);
	while ((more = json_scan_element(&p->s, &first)) == 1) {
		if (t->added_count == cap) {
			cap = cap ? cap * 2 : 64;
			struct tokenizer_json_added_token *a = realloc(t->added, cap * sizeof(*a));
			if (!a)
				return oom(p);
			t->added = a;
		}
		struct tokenizer_json_added_token *a = &t->added[t->added_count++];
		memset(a, 0, sizeof(*a));
		if ((rc = parse_added_token(p, a, t->added_count - 1)))
			return rc;
	}
	return more < 0 ? scan_failed(p, "added_tokens") : 0;
}

/* ---- the top level ---------------------------------------------------------------------- */

static int parse_top(struct parser *p)
{
	static const char *const keys[] = { "model",   "added_tokens",   "normalizer", "pre_tokenizer",
					    "decoder", "post_processor", NULL };
	unsigned seen = 0;
	int first = 1, more, rc = 0;
	char *key = NULL;
	size_t key_len;
	if (json_scan_peek(&p->s) != '{')
		return fmt_error_set(p->err, FMT_EINVALID, "not a JSON object");
	while (!rc && (more = json_scan_member(&p->s, &first, &key, &key_len)) == 1) {
		switch (key_index(p, keys, &seen, key, "the top level")) {
		case 0: rc = parse_model(p); break;
		case 1: rc = parse_added_tokens(p); break;
		case 2: rc = take_span(p, &p->normalizer, "normalizer"); break;
		case 3: rc = take_span(p, &p->pre_tokenizer, "pre_tokenizer"); break;
		case 4: rc = take_span(p, &p->decoder, "decoder"); break;
		case 5: rc = take_span(p, &p->post_processor, "post_processor"); break;
		case -2: rc = FMT_EINVALID; break;
		default: rc = json_scan_skip(&p->s) ? scan_failed(p, "tokenizer.json") : 0; break;
		}
		free(key);
		key = NULL;
	}
	if (rc)
		return rc;
	if (more < 0)
		return scan_failed(p, "tokenizer.json");
	if (!(seen & 1))
		return fmt_error_set(p->err, FMT_EINVALID, "no model (not a tokenizer.json)");
	return 0;
}

/* ---- the small parts, with cJSON ---------------------------------------------------------- */

static const char *json_kind(const cJSON *v)
{
	return cJSON_IsString(v)   ? "a string"
	       : cJSON_IsNumber(v) ? "a number"
	       : cJSON_IsBool(v)   ? "a boolean"
	       : cJSON_IsArray(v)  ? "an array"
	       : cJSON_IsObject(v) ? "an object"
				   : "null";
}

/* No key twice in any object of the tree (cJSON would keep both). */
static int check_unique_keys(const cJSON *node, const char *where, struct fmt_error *err)
{
	const cJSON *object = NULL;
	const char *key = NULL;
	int rc = json_duplicate_key(node, &object, &key);
	if (rc == 1)
		return fmt_error_set(err, FMT_EINVALID, "%s: duplicate key \"%s\"", where, key);
	return rc ? fmt_error_oom(err) : 0;
}

static int get_flag(const cJSON *node, const char *key, int *out, const char *where, struct fmt_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(node, key);
	*out = -1;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v))
		return fmt_error_set(err, FMT_EINVALID, "%s.%s must be true or false, found %s", where, key,
				     json_kind(v));
	*out = cJSON_IsTrue(v);
	return 0;
}

static int get_text(const cJSON *node, const char *key, char **out, size_t *len, const char *where,
		    struct fmt_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(node, key);
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return fmt_error_set(err, FMT_EINVALID, "%s.%s must be a string, found %s", where, key,
				     json_kind(v));
	if (!(*out = strdup(v->valuestring)))
		return fmt_error_oom(err);
	if (len)
		*len = strlen(*out);
	return 0;
}

static int add_component(const cJSON *node, struct tokenizer_json_stage *st, const char *where,
			 unsigned depth, struct fmt_error *err)
{
	static const char *const children[] = { "pretokenizers", "normalizers", "decoders" };
	int rc;
	if (!cJSON_IsObject(node))
		return fmt_error_set(err, FMT_EINVALID, "%s must be an object, found %s", where,
				     json_kind(node));
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(node, "type");
	if (!cJSON_IsString(type))
		return fmt_error_set(err, FMT_EINVALID, "%s has no type", where);
	if (!strcmp(type->valuestring, "Sequence")) {
		const cJSON *list = NULL;
		for (size_t i = 0; i < 3 && !list; i++)
			list = cJSON_GetObjectItemCaseSensitive(node, children[i]);
		if (!cJSON_IsArray(list))
			return fmt_error_set(err, FMT_EINVALID, "%s: a Sequence without its list", where);
		if (depth > 8)
			return fmt_error_set(err, FMT_EINVALID, "%s: Sequences nested too deeply", where);
		for (const cJSON *c = list->child; c; c = c->next)
			if ((rc = add_component(c, st, where, depth + 1, err)))
				return rc;
		return 0;
	}
	if (st->count == TOKENIZER_JSON_MAX_COMPONENTS)
		return fmt_error_set(err, FMT_EINVALID, "%s has more than %d parts", where,
				     TOKENIZER_JSON_MAX_COMPONENTS);
	struct tokenizer_json_component *c = &st->items[st->count++];
	if (!(c->type = strdup(type->valuestring)))
		return fmt_error_oom(err);
	const cJSON *pattern = cJSON_GetObjectItemCaseSensitive(node, "pattern");
	if (pattern && !cJSON_IsNull(pattern)) {
		const cJSON *regex = cJSON_GetObjectItemCaseSensitive(pattern, "Regex");
		const cJSON *str = cJSON_GetObjectItemCaseSensitive(pattern, "String");
		const cJSON *v = regex ? regex : str;
		if (!cJSON_IsObject(pattern) || !cJSON_IsString(v) || (regex && str))
			return fmt_error_set(err, FMT_EINVALID,
					     "%s: pattern must be {\"Regex\": ...} or "
					     "{\"String\": ...}",
					     where);
		if (!(c->pattern = strdup(v->valuestring)))
			return fmt_error_oom(err);
		c->pattern_len = strlen(c->pattern);
		c->pattern_is_regex = regex != NULL;
	}
	const char *content_key = !strcmp(c->type, "Prepend")     ? "prepend"
				  : !strcmp(c->type, "Metaspace") ? "replacement"
								  : "content";
	if ((rc = get_text(node, content_key, &c->content, &c->content_len, where, err)) ||
	    (rc = get_text(node, "behavior", &c->behavior, NULL, where, err)) ||
	    (rc = get_text(node, "prepend_scheme", &c->prepend_scheme, NULL, where, err)) ||
	    (rc = get_flag(node, "invert", &c->invert, where, err)) ||
	    (rc = get_flag(node, "add_prefix_space", &c->add_prefix_space, where, err)) ||
	    (rc = get_flag(node, "trim_offsets", &c->trim_offsets, where, err)) ||
	    (rc = get_flag(node, "use_regex", &c->use_regex, where, err)) ||
	    (rc = get_flag(node, "individual_digits", &c->individual_digits, where, err)) ||
	    (rc = get_flag(node, "split", &c->split, where, err)))
		return rc;
	return 0;
}

static int parse_span(struct parser *p, const struct span *sp, const char *where, cJSON **out)
{
	*out = NULL;
	if (!sp->end || sp->start == sp->end)
		return 0;
	if (!(*out = cJSON_ParseWithLength((const char *)p->s.text + sp->start, sp->end - sp->start)))
		return oom(p);
	return check_unique_keys(*out, where, p->err);
}

static int read_stage(struct parser *p, const struct span *sp, const char *where,
		      struct tokenizer_json_stage *st)
{
	cJSON *doc;
	int rc = parse_span(p, sp, where, &doc);
	if (!rc && doc) {
		st->present = 1;
		rc = add_component(doc, st, where, 0, p->err);
	}
	cJSON_Delete(doc);
	return rc;
}

static const char *special_token_id(const cJSON *item)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(item, "SpecialToken"), "id");
	return cJSON_IsString(id) ? id->valuestring : NULL;
}

static int read_template(struct parser *p, const cJSON *proc)
{
	struct tokenizer_json *t = p->t;
	const cJSON *single = cJSON_GetObjectItemCaseSensitive(proc, "single");
	if (!cJSON_IsArray(single))
		return fmt_error_set(p->err, FMT_EINVALID,
				     "post_processor: TemplateProcessing without a single template");
	t->has_template = 1;
	t->template_length = cJSON_GetArraySize(single);
	if (t->template_length < 2)
		return 0; /* gguf-py reads nothing from a one-item template */
	const char *first = special_token_id(cJSON_GetArrayItem(single, 0));
	const char *last = special_token_id(cJSON_GetArrayItem(single, t->template_length - 1));
	if ((first && !(t->template_first = strdup(first))) || (last && !(t->template_last = strdup(last))))
		return oom(p);
	return 0;
}

static int read_post_processor(struct parser *p)
{
	struct tokenizer_json *t = p->t;
	cJSON *doc;
	int rc = parse_span(p, &p->post_processor, "post_processor", &doc);
	if (rc || !doc)
		goto out;
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(doc, "type");
	if (!cJSON_IsString(type)) {
		rc = fmt_error_set(p->err, FMT_EINVALID, "post_processor has no type");
		goto out;
	}
	if (!(t->post_processor_type = strdup(type->valuestring))) {
		rc = oom(p);
		goto out;
	}
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "processors");
	const cJSON *one = doc;
	for (const cJSON *c = cJSON_IsArray(list) ? list->child : one; c && !rc;
	     c = cJSON_IsArray(list) ? c->next : NULL) {
		const cJSON *ct = cJSON_GetObjectItemCaseSensitive(c, "type");
		if (!cJSON_IsString(ct))
			continue;
		if (!strcmp(ct->valuestring, "RobertaProcessing"))
			t->roberta_processing = 1;
		else if (!strcmp(ct->valuestring, "TemplateProcessing") && !t->has_template)
			rc = read_template(p, c);
	}
out:
	cJSON_Delete(doc);
	return rc;
}

/* ---- entry points ------------------------------------------------------------------------- */

int tokenizer_json_parse(struct tokenizer_json *out, const char *text, size_t len, struct fmt_error *err)
{
	struct parser p = { .t = out, .err = err };
	size_t bad;
	int rc;
	memset(out, 0, sizeof(*out));
	fmt_nameset_init(&out->index);
	if (fmt_utf8_check(text, len, &bad))
		return fmt_error_set(err, FMT_EINVALID, "not valid UTF-8 (offset %zu)", bad);
	json_scan_init(&p.s, text, len);
	if (json_scan_validate(&p.s))
		return fmt_error_set(err, FMT_EINVALID, "invalid JSON at offset %zu: %s", p.s.error_pos,
				     p.s.error);
	json_scan_init(&p.s, text, len);
	if ((rc = parse_top(&p)))
		goto out;
	if (p.merges.end && p.merges.start != p.merges.end && (rc = parse_merges(&p)))
		goto out;
	if ((rc = read_stage(&p, &p.normalizer, "normalizer", &out->normalizer)) ||
	    (rc = read_stage(&p, &p.pre_tokenizer, "pre_tokenizer", &out->pre_tokenizer)) ||
	    (rc = read_stage(&p, &p.decoder, "decoder", &out->decoder)) || (rc = read_post_processor(&p)))
		goto out;
	for (size_t i = 0; i < out->added_count; i++) {
		const struct tokenizer_json_added_token *a = &out->added[i];
		long id = tokenizer_json_find(out, a->content, a->len);
		if (id >= 0 && (uint32_t)id != a->id) {
			rc = fmt_error_set(err, FMT_EINVALID,
					   "added_tokens[%zu] \"%s\" has id %u but model.vocab "
					   "gives it %ld",
					   i, a->content, a->id, id);
			goto out;
		}
		for (size_t k = 0; k < i; k++)
			if (out->added[k].id == a->id) {
				rc = fmt_error_set(err, FMT_EINVALID,
						   "added_tokens[%zu] and [%zu] share id %u", k, i, a->id);
				goto out;
			}
	}
out:
	for (size_t i = 0; i < p.count; i++)
		free(p.tokens[i]);
	free(p.tokens);
	free(p.ids);
	if (rc)
		tokenizer_json_free(out);
	return rc;
}

static void free_stage(struct tokenizer_json_stage *st)
{
	for (size_t i = 0; i < st->count; i++) {
		struct tokenizer_json_component *c = &st->items[i];
		free(c->type);
		free(c->pattern);
		free(c->content);
		free(c->behavior);
		free(c->prepend_scheme);
	}
	st->count = 0;
}

void tokenizer_json_free(struct tokenizer_json *t)
{
	for (uint32_t i = 0; t->vocab && i < t->vocab_size; i++)
		free(t->vocab[i]);
	free(t->vocab);
	free(t->vocab_len);
	for (size_t i = 0; i < t->merge_count; i++)
		free(t->merges[i]);
	free(t->merges);
	for (size_t i = 0; i < t->added_count; i++)
		free(t->added[i].content);
	free(t->added);
	free_stage(&t->normalizer);
	free_stage(&t->pre_tokenizer);
	free_stage(&t->decoder);
	free(t->model_type);
	free(t->unk_token);
	free(t->post_processor_type);
	free(t->template_first);
	free(t->template_last);
	fmt_nameset_free(&t->index);
	memset(t, 0, sizeof(*t));
}

/* ---- the pre-tokenizer signature ----------------------------------------------------------- */

static int flag(int v, int dflt)
{
	return v < 0 ? dflt : v;
}

static int describe(struct fmt_buf *b, const struct tokenizer_json_component *c)
{
	char tmp[160];
	int rc = fmt_buf_add(b, c->type, strlen(c->type));
	if (!strcmp(c->type, "Split") || !strcmp(c->type, "Replace")) {
		rc = rc || fmt_buf_add(b, c->pattern_is_regex ? "(Regex \"" : "(String \"",
				       c->pattern_is_regex ? 8 : 9);
		rc = rc || fmt_buf_add(b, c->pattern ? c->pattern : "", c->pattern_len);
		if (!strcmp(c->type, "Split"))
			snprintf(tmp, sizeof(tmp), "\", %s, invert=%d)", c->behavior ? c->behavior : "?",
				 flag(c->invert, 0));
		else
			snprintf(tmp, sizeof(tmp), "\" -> \"");
		rc = rc || fmt_buf_add(b, tmp, strlen(tmp));
		if (!strcmp(c->type, "Replace"))
			rc = rc || fmt_buf_add(b, c->content ? c->content : "", c->content_len) ||
			     fmt_buf_add(b, "\")", 2);
		return rc;
	}
	if (!strcmp(c->type, "ByteLevel"))
		snprintf(tmp, sizeof(tmp), "(prefix=%d, regex=%d)", flag(c->add_prefix_space, 1),
			 flag(c->use_regex, 1));
	else if (!strcmp(c->type, "Digits"))
		snprintf(tmp, sizeof(tmp), "(individual=%d)", flag(c->individual_digits, 0));
	else if (!strcmp(c->type, "Metaspace"))
		snprintf(tmp, sizeof(tmp), "(\"%.16s\", %s, split=%d)", c->content ? c->content : "",
			 c->prepend_scheme ? c->prepend_scheme : "always", flag(c->split, 1));
	else if (!strcmp(c->type, "Prepend"))
		snprintf(tmp, sizeof(tmp), "(\"%.16s\")", c->content ? c->content : "");
	else
		tmp[0] = '\0';
	return rc || fmt_buf_add(b, tmp, strlen(tmp));
}

static int describe_stage(struct fmt_buf *b, const char *label, const struct tokenizer_json_stage *st)
{
	int rc = fmt_buf_add(b, label, strlen(label));
	if (!st->present || !st->count)
		return rc || fmt_buf_add(b, "none", 4);
	for (size_t i = 0; i < st->count && !rc; i++)
		rc = (i && fmt_buf_add(b, "+", 1)) || describe(b, &st->items[i]);
	return rc;
}

int tokenizer_json_pre_signature(const struct tokenizer_json *t, char **out)
{
	struct fmt_buf b = { 0 };
	*out = NULL;
	if (describe_stage(&b, "normalizer=", &t->normalizer) ||
	    describe_stage(&b, " pre=", &t->pre_tokenizer) || fmt_buf_add(&b, "", 1)) {
		fmt_buf_free(&b);
		return FMT_ENOMEM;
	}
	*out = (char *)b.data;
	return 0;
}
