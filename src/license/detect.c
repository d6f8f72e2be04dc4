#include "detect.h"
#include "../error.h"
#include "../strbuf.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Words per shingle. Five is long enough that shingles of unrelated texts rarely meet,
 * and short enough that one changed word costs only five of the ~1500 shingles of a
 * typical license: reflowing changes none, a version number changes a few dozen. */
#define SHINGLE 5
/* A known text is a candidate when at least this share of its required shingles is in
 * the file ("partly quoted" copies included). */
#define MIN_COVERAGE 0.5
/* Missing words at the head or tail of a known text up to this count (a title, a date)
 * do not make the copy incomplete. */
#define MISSING_SLACK 12
/* The words of a copyright statement marked soft after "Copyright (c)". */
#define COPYRIGHT_WORDS 12

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* ==== normalising: text → words ======================================================== */

struct tokenizer {
	const unsigned char *s;
	size_t len;
	struct license_tokens *out;
	size_t alloc;
	int soft_words;     /* words left in the current copyright statement */
	size_t soft_until;  /* words before this offset are soft (a path, a section number) */
	int failed;
};

/* The code point at s[i] (UTF-8) and its length; invalid bytes are U+FFFD, length 1. */
static unsigned decode_utf8(const unsigned char *s, size_t len, size_t i, size_t *n)
{
	unsigned c = s[i];
	size_t need = c >= 0xF0 && c < 0xF5 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
	*n = 1;
	if (c < 0x80)
		return c;
	if (!need || i + need > len)
		return 0xFFFD;
	unsigned cp = c & (need == 2 ? 0x1F : need == 3 ? 0x0F : 0x07);
	for (size_t k = 1; k < need; k++) {
		if ((s[i + k] & 0xC0) != 0x80)
			return 0xFFFD;
		cp = (cp << 6) | (s[i + k] & 0x3F);
	}
	*n = need;
	return cp;
}

/* Non-ASCII characters that separate words: spaces, quotes, dashes, bullets, symbols. */
static int cp_is_separator(unsigned cp)
{
	return cp == 0xFFFD || (cp >= 0x80 && cp <= 0xBF) || cp == 0xD7 || cp == 0xF7 ||
	       (cp >= 0x2000 && cp <= 0x2BFF) || (cp >= 0x3000 && cp <= 0x303F) ||
	       (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF01 && cp <= 0xFF0F) ||
	       (cp >= 0xFF1A && cp <= 0xFF20) || cp == 0xFEFF || (cp >= 0xE000 && cp <= 0xF8FF);
}

static int is_word_byte_at(const unsigned char *s, size_t len, size_t i, size_t *n)
{
	unsigned char c = s[i];
	*n = 1;
	if (c < 0x80)
		return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
	return !cp_is_separator(decode_utf8(s, len, i, n));
}

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static int starts_with_ci(const unsigned char *s, size_t i, size_t end, const char *prefix)
{
	size_t n = strlen(prefix);
	return i + n <= end && !strncasecmp((const char *)s + i, prefix, n);
}

static int emit(struct tokenizer *t, size_t start, size_t end, int soft)
{
	if (t->out->count == t->alloc) {
		size_t alloc = t->alloc ? t->alloc * 2 : 1024;
		struct license_token *items = realloc(t->out->items, alloc * sizeof(*items));
		if (!items) {
			t->failed = 1;
			return -1;
		}
		t->out->items = items;
		t->alloc = alloc;
	}
	/* FNV-1a of the lower-cased word; "licence" is spelt "license" (Qwen and others
	 * mix the spellings). */
	uint32_t h = 2166136261u;
	for (size_t i = start; i < end; i++) {
		unsigned char c = (unsigned char)tolower(t->s[i]);
		if (i == start + 5 && c == 'c' && end - start >= 7 && !strncasecmp((const char *)t->s + start, "licenc", 6))
			c = 's';
		h = (h ^ c) * 16777619u;
	}
	struct license_token *tok = &t->out->items[t->out->count++];
	tok->hash = h;
	tok->start = (uint32_t)start;
	tok->end = (uint32_t)end;
	tok->soft = soft || t->soft_words > 0 || start < t->soft_until;
	if (t->soft_words > 0) {
		t->soft_words--;
		if (end - start == 8 && !strncasecmp((const char *)t->s + start, "reserved", 8))
			t->soft_words = 0;
	}
	return 0;
}

/* "Copyright (c) 2023 X", "Copyright © X", "Copyright 2023 X", "Copyright [yyyy] X",
 * "© 2023 X": the statement whose holder and year legitimately differ between copies. */
static int copyright_at(const unsigned char *s, size_t i, size_t end)
{
	size_t n;
	if (starts_with_ci(s, i, end, "copyright")) {
		i += 9;
		while (i < end && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i >= end)
			return 0;
		return starts_with_ci(s, i, end, "(c)") || isdigit(s[i]) || s[i] == '[' || s[i] == '<' ||
		       starts_with_ci(s, i, end, "&copy;") ||
		       (s[i] >= 0x80 && decode_utf8(s, end, i, &n) == 0xA9);
	}
	/* A bare "(c)" is also a list item: only "(c) 2023" counts. */
	return (s[i] >= 0x80 && decode_utf8(s, end, i, &n) == 0xA9) ||
	       (starts_with_ci(s, i, end, "(c)") && i + 5 < end && is_space(s[i + 3]) && isdigit(s[i + 4]));
}

static const char *const top_level_domains[] = {
	"com", "org", "net", "ai", "io", "dev", "gov", "edu", "co", "uk", "cn", "fr", "de",
	"info", "eu", "us", "html", "htm", "md", "txt", NULL,
};

/* A bare domain with an optional path ("ai.meta.com/llama/use-policy") or an e-mail
 * address ("LlamaUseReport@meta.com"), checked on the chunk [i, end). */
static int bare_url(const unsigned char *s, size_t i, size_t end)
{
	while (end > i && strchr(".,;:!?", s[end - 1]))
		end--;
	const unsigned char *at = memchr(s + i, '@', end - i);
	if (at && memchr(at, '.', (size_t)(s + end - at)))
		return 1;
	size_t host_end = i;
	while (host_end < end && s[host_end] != '/')
		host_end++;
	size_t dot = host_end;
	while (dot > i && s[dot - 1] != '.')
		dot--;
	if (dot <= i + 1)
		return 0;
	for (size_t k = i; k < host_end; k++)
		if (!isalnum(s[k]) && s[k] != '-' && s[k] != '.')
			return 0;
	for (const char *const *tld = top_level_domains; *tld; tld++)
		if (host_end - dot == strlen(*tld) && !strncasecmp((const char *)s + dot, *tld, host_end - dot))
			return 1;
	return 0;
}

static int chunk_stop(const unsigned char *s, size_t len, size_t i)
{
	size_t n;
	unsigned char c = s[i];
	if (c < 0x80)
		return is_space(c) || c == '(' || c == ')' || c == '[' || c == ']' || c == '<' ||
		       c == '>' || c == '"' || c == '\'' || c == '`' || c == '*' || c == '|' ||
		       c == '{' || c == '}';
	return cp_is_separator(decode_utf8(s, len, i, &n));
}

/* At the start of a chunk: the end of a URL or address starting there, or 0. A chunk
 * with two slashes or more is a path: its words are soft (t->soft_until). */
static size_t skip_url(struct tokenizer *t, size_t i, size_t end)
{
	const unsigned char *s = t->s;
	size_t q = i, slashes = 0, dots = 0, at = 0, colon = 0;
	while (q < end && !chunk_stop(s, end, q)) {
		slashes += s[q] == '/';
		dots += s[q] == '.';
		at += s[q] == '@';
		colon += s[q] == ':';
		q++;
	}
	/* Most chunks are plain words: only those with the punctuation of an address are
	 * looked at closely. */
	if ((colon && (starts_with_ci(s, i, end, "http://") || starts_with_ci(s, i, end, "https://") ||
		       starts_with_ci(s, i, end, "ftp://") || starts_with_ci(s, i, end, "mailto:"))) ||
	    (dots && starts_with_ci(s, i, end, "www.")) || ((dots || at) && bare_url(s, i, q)))
		return q > i ? q : i + 1;
	if (slashes >= 2)
		t->soft_until = q;
	return 0;
}

/* <tag ...> and </tag> of HTML that Markdown files carry (<span style=...>, <br/>). */
static size_t skip_html_tag(const unsigned char *s, size_t i, size_t end)
{
	static const char *const tags[] = {
		"a", "b", "br", "blockquote", "center", "code", "dd", "del", "details", "div", "dl",
		"dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins",
		"li", "ol", "p", "pre", "small", "span", "strong", "sub", "summary", "sup", "table",
		"tbody", "td", "th", "thead", "tr", "u", "ul", NULL,
	};
	size_t k = i + 1;
	if (k < end && s[k] == '/')
		k++;
	size_t name = k;
	while (k < end && isalnum(s[k]))
		k++;
	if (k == name || (k < end && !is_space(s[k]) && s[k] != '>' && s[k] != '/'))
		return 0;
	int known = 0;
	for (const char *const *tag = tags; *tag && !known; tag++)
		known = strlen(*tag) == k - name && !strncasecmp((const char *)s + name, *tag, k - name);
	if (!known)
		return 0;
	while (k < end && s[k] != '>' && k - i < 400)
		k++;
	return k < end && s[k] == '>' ? k + 1 : 0;
}

/* &amp; &quot; &#8217; &#x2019; */
static size_t skip_entity(const unsigned char *s, size_t i, size_t end)
{
	size_t k = i + 1;
	if (k < end && s[k] == '#')
		k++;
	size_t start = k;
	while (k < end && isalnum(s[k]) && k - start < 8)
		k++;
	return k > start && k < end && s[k] == ';' ? k + 1 : 0;
}

static int is_roman(const unsigned char *s, size_t n)
{
	if (n == 0 || n > 4)
		return 0;
	for (size_t k = 0; k < n; k++)
		if (!strchr("ivxIVX", s[k]))
			return 0;
	return 1;
}

/* A list or section number in running text ("(a)", "iv)", "b. ", "(2)", "3. "): soft, as
 * are all single letters and short roman numerals, which carry no meaning of their own.
 * Numbers followed by ". " are soft only in list position (they may end a sentence,
 * "Llama 2."); other numbers ("700", "3.1") are ordinary words. */
static int list_number(const unsigned char *s, size_t line_start, size_t i, size_t j, size_t end)
{
	size_t n = j - i;
	int digits = n <= 2;
	for (size_t k = i; k < j && digits; k++)
		digits = isdigit(s[k]) != 0;
	if ((n == 1 && isalpha(s[i])) || is_roman(s + i, n))
		return 1;
	if (!digits)
		return 0;
	unsigned char prev = i > line_start ? s[i - 1] : ' ';
	size_t q = j;
	if (q < end && s[q] == '\\')
		q++;
	unsigned char next = q < end ? s[q] : ' ';
	unsigned char after = q + 1 < end ? s[q + 1] : ' ';
	int open = is_space(prev) || prev == '(' || prev == '*' || prev == '"' || prev == '>';
	return open && (next == ')' || (next == '.' && is_space(after)));
}

/* At the start of a line: a section number "1.", "1.1", "2.1.3.", "(a)", "iv.", "4)",
 * "2\." followed by white space. Returns the offset after it, or 0. Its words are soft: a
 * re-wrapped line may start with "3.1" of "Llama 3.1", and lists are numbered or not
 * depending on who rendered them. */
static size_t line_number(const unsigned char *s, size_t i, size_t end)
{
	size_t k = i;
	int punct = 0, parts = 0;
	if (k < end && s[k] == '(') {
		k++;
		punct = 1;
	}
	for (;;) {
		size_t start = k;
		while (k < end && isalnum(s[k]) && k - start < 4)
			k++;
		size_t n = k - start;
		int digits = n > 0 && n <= 3, ok;
		for (size_t m = start; m < k && digits; m++)
			digits = isdigit(s[m]) != 0;
		ok = digits || (n == 1 && isalpha(s[start])) || is_roman(s + start, n);
		if (!ok || (k < end && isalnum(s[k])))
			return 0;
		parts++;
		if (k < end && s[k] == '\\')
			k++;
		if (k < end && (s[k] == '.' || s[k] == ')')) {
			punct = 1;
			k++;
			if (k < end && isalnum(s[k]))
				continue;
		}
		break;
	}
	if (!punct && parts < 2)
		return 0;
	while (k < end && (s[k] == '*' || s[k] == '_'))
		k++;
	return k >= end || is_space(s[k]) ? k : 0;
}

/* Indentation, Markdown markers (#, >, *, -, +, |, =), quotes, bullets. */
static size_t skip_line_prefix(const unsigned char *s, size_t i, size_t end)
{
	while (i < end) {
		size_t n;
		if (s[i] < 0x80 && (is_space(s[i]) || (ispunct(s[i]) && !strchr("(<&", s[i]))))
			i++;
		else if (s[i] >= 0x80 && cp_is_separator(decode_utf8(s, end, i, &n)) &&
			 decode_utf8(s, end, i, &n) != 0xA9)
			i += n;
		else
			break;
	}
	return i;
}

static void tokenize_line(struct tokenizer *t, size_t ls, size_t le)
{
	const unsigned char *s = t->s;
	size_t i = skip_line_prefix(s, ls, le);
	if (i < le && copyright_at(s, i, le)) {
		t->soft_words = COPYRIGHT_WORDS;
	} else {
		size_t k = line_number(s, i, le);
		if (k > t->soft_until)
			t->soft_until = k;
	}
	int chunk_start = 1;
	while (i < le && !t->failed) {
		size_t n;
		unsigned char c = s[i];
		if (is_word_byte_at(s, le, i, &n)) {
			if (chunk_start) {
				size_t skip = skip_url(t, i, le);
				if (skip) {
					i = skip;
					continue;
				}
			}
			if ((c == 'c' || c == 'C') && copyright_at(s, i, le))
				t->soft_words = COPYRIGHT_WORDS + 1;
			size_t j = i;
			while (j < le && is_word_byte_at(s, le, j, &n))
				j += n;
			emit(t, i, j, list_number(s, ls, i, j, le));
			i = j;
			chunk_start = 0;
			continue;
		}
		if (c == '<') {
			size_t skip = skip_html_tag(s, i, le);
			if (skip) {
				i = skip;
				chunk_start = 1;
				continue;
			}
		} else if (c == '&') {
			size_t skip = skip_entity(s, i, le);
			if (skip) {
				if (starts_with_ci(s, i, le, "&copy;"))
					t->soft_words = COPYRIGHT_WORDS;
				i = skip;
				chunk_start = 1;
				continue;
			}
		} else if (c >= 0x80 && decode_utf8(s, le, i, &n) == 0xA9) {
			t->soft_words = COPYRIGHT_WORDS;
		}
		/* Inside a URL-like chunk ("a.b/c") only separators that stop a chunk start a
		 * new one. */
		chunk_start = chunk_stop(s, le, i);
		i += c >= 0x80 ? n : 1;
	}
}

/* HTML tags may span lines once a text is re-wrapped ("<span\nstyle=...>"): they are
 * blanked in a copy (newlines kept, so offsets and line numbers stay those of text). */
static unsigned char *blank_html_tags(const char *text, size_t len)
{
	unsigned char *copy = malloc(len ? len : 1);
	if (!copy)
		return NULL;
	memcpy(copy, text, len);
	for (size_t i = 0; i < len; i++) {
		if (copy[i] != '<')
			continue;
		size_t end = skip_html_tag(copy, i, len);
		for (size_t k = i; k < end; k++)
			if (copy[k] != '\n')
				copy[k] = ' ';
		if (end)
			i = end - 1;
	}
	return copy;
}

int license_tokenize(const char *text, size_t len, struct license_tokens *out)
{
	struct tokenizer t = { NULL, len, out, 0, 0, 0, 0 };
	out->items = NULL;
	out->count = 0;
	if (len > UINT32_MAX)
		return modl_error_set(MODL_EINVALID, "text too large to compare (%zu bytes)", len);
	unsigned char *copy = blank_html_tags(text, len);
	if (!copy)
		return modl_error_set(MODL_EFAIL, "out of memory");
	t.s = copy;
	for (size_t i = 0; i < len && !t.failed;) {
		size_t end = i;
		while (end < len && copy[end] != '\n')
			end++;
		tokenize_line(&t, i, end);
		t.soft_words = 0;
		i = end + 1;
	}
	free(copy);
	if (t.failed) {
		license_tokens_free(out);
		return modl_error_set(MODL_EFAIL, "out of memory");
	}
	return 0;
}

void license_tokens_free(struct license_tokens *tokens)
{
	free(tokens->items);
	tokens->items = NULL;
	tokens->count = 0;
}

/* ==== shingle sets ======================================================================= */

struct shingles {
	uint64_t *v;   /* sorted, unique */
	size_t n;
};

/* LSD radix sort, a byte per pass: the knowledge base is ~60,000 shingles sorted at
 * every start, where qsort's comparisons were most of the time. */
static int sort_u64(uint64_t *v, size_t n)
{
	uint64_t *tmp = malloc((n ? n : 1) * sizeof(*tmp)), *src = v, *dst = tmp;
	if (!tmp)
		return -1;
	for (unsigned shift = 0; shift < 64; shift += 8) {
		size_t count[257] = { 0 };
		for (size_t i = 0; i < n; i++)
			count[((src[i] >> shift) & 0xFF) + 1]++;
		for (size_t b = 0; b < 256; b++)
			count[b + 1] += count[b];
		for (size_t i = 0; i < n; i++)
			dst[count[(src[i] >> shift) & 0xFF]++] = src[i];
		uint64_t *swap = src;
		src = dst;
		dst = swap;
	}
	/* Eight passes: the sorted data is back in v. */
	free(tmp);
	return 0;
}

/* The shingles of the words [lo, hi) that are not soft (a single one when there are
 * fewer words): soft words (list numbers, copyright holders, paths) differ between
 * faithful copies and say nothing about which text it is. */
static int shingles_make(const struct license_tokens *t, size_t lo, size_t hi, struct shingles *out)
{
	uint32_t *words = malloc((hi > lo ? hi - lo : 1) * sizeof(*words));
	size_t count = 0;
	out->n = 0;
	out->v = NULL;
	if (!words)
		return modl_error_set(MODL_EFAIL, "out of memory");
	for (size_t i = lo; i < hi; i++)
		if (!t->items[i].soft)
			words[count++] = t->items[i].hash;
	size_t n = count >= SHINGLE ? count - SHINGLE + 1 : count > 0;
	out->v = malloc((n ? n : 1) * sizeof(*out->v));
	if (!out->v) {
		free(words);
		return modl_error_set(MODL_EFAIL, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t h = 0x9E3779B97F4A7C15ull;
		for (size_t k = 0; k < SHINGLE && i + k < count; k++) {
			h = (h ^ words[i + k]) * 0x100000001B3ull;
			h ^= h >> 29;
		}
		out->v[i] = h;
	}
	free(words);
	if (sort_u64(out->v, n)) {
		free(out->v);
		out->v = NULL;
		return modl_error_set(MODL_EFAIL, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		if (out->n == 0 || out->v[out->n - 1] != out->v[i])
			out->v[out->n++] = out->v[i];
	return 0;
}

static void shingles_free(struct shingles *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static size_t shingles_common(const struct shingles *a, const struct shingles *b)
{
	size_t i = 0, j = 0, n = 0;
	while (i < a->n && j < b->n) {
		if (a->v[i] < b->v[j])
			i++;
		else if (a->v[i] > b->v[j])
			j++;
		else {
			n++;
			i++;
			j++;
		}
	}
	return n;
}

static int shingles_has(const struct shingles *s, uint64_t h)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->v[mid] < h)
			lo = mid + 1;
		else if (s->v[mid] > h)
			hi = mid;
		else
			return 1;
	}
	return 0;
}

/* How many shingles of a are in b but not in c. */
static size_t shingles_in_only(const struct shingles *a, const struct shingles *b,
			       const struct shingles *c)
{
	size_t n = 0;
	for (size_t i = 0; i < a->n; i++)
		n += shingles_has(b, a->v[i]) && !shingles_has(c, a->v[i]);
	return n;
}

/* ==== the known texts ===================================================================== */

struct known {
	const struct license_info *info;
	struct license_tokens tokens;
	size_t req_lo, req_hi;     /* the words that a complete copy must have */
	struct shingles all, req;
};

static struct {
	pthread_once_t once;
	int rc;
	struct modl_error_saved error; /* the loading thread's failure, for every caller */
	struct known *items;
	size_t count;
} corpus = { .once = PTHREAD_ONCE_INIT };

/* The first position of phrase's words in t, or (size_t)-1. */
static size_t find_words(const struct license_tokens *t, const char *phrase)
{
	struct license_tokens p;
	size_t found = (size_t)-1;
	if (license_tokenize(phrase, strlen(phrase), &p))
		return found;
	for (size_t i = 0; p.count && i + p.count <= t->count && found == (size_t)-1; i++) {
		size_t k = 0;
		while (k < p.count && t->items[i + k].hash == p.items[k].hash)
			k++;
		if (k == p.count)
			found = i;
	}
	license_tokens_free(&p);
	return found;
}

static int corpus_add(const struct license_info *info, struct known *k)
{
	k->info = info;
	int rc = license_tokenize(info->text, info->text_len, &k->tokens);
	if (rc)
		return rc;
	k->req_lo = 0;
	k->req_hi = k->tokens.count;
	if (info->optional_from) {
		size_t at = find_words(&k->tokens, info->optional_from);
		if (at == (size_t)-1)
			return modl_error_set(MODL_EFAIL, "license knowledge base: %s: optional_from "
					      "phrase not in the text", info->id);
		k->req_hi = at;
	}
	if (info->optional_before) {
		size_t at = find_words(&k->tokens, info->optional_before);
		if (at == (size_t)-1 || at >= k->req_hi)
			return modl_error_set(MODL_EFAIL, "license knowledge base: %s: optional_before "
					      "phrase not in the text", info->id);
		k->req_lo = at;
	}
	if ((rc = shingles_make(&k->tokens, 0, k->tokens.count, &k->all)))
		return rc;
	return shingles_make(&k->tokens, k->req_lo, k->req_hi, &k->req);
}

static void corpus_load(void)
{
	const struct license_info *kb = NULL;
	size_t n = 0;
	int rc = license_kb(&kb, &n);
	if (!rc && !(corpus.items = calloc(n ? n : 1, sizeof(*corpus.items))))
		rc = modl_error_set(MODL_EFAIL, "out of memory");
	for (size_t i = 0; !rc && i < n; i++)
		if (kb[i].text)
			rc = corpus_add(&kb[i], &corpus.items[corpus.count++]);
	if (rc) {
		corpus.rc = rc;
		modl_error_save(&corpus.error);
		corpus.error.code = rc;
	}
}

static int corpus_get(void)
{
	pthread_once(&corpus.once, corpus_load);
	return corpus.rc ? modl_error_restore(&corpus.error) : 0;
}

/* ==== alignment (patience diff over words) =============================================== */

struct aligner {
	const struct license_token *a, *b;
	size_t *ia, *ib;     /* matched pairs, increasing in both */
	size_t n, alloc;
	int failed;
};

static void pair_add(struct aligner *al, size_t i, size_t j)
{
	if (al->n == al->alloc) {
		size_t alloc = al->alloc ? al->alloc * 2 : 1024;
		size_t *ia = realloc(al->ia, alloc * sizeof(*ia));
		if (ia)
			al->ia = ia;
		size_t *ib = ia ? realloc(al->ib, alloc * sizeof(*ib)) : NULL;
		if (!ia || !ib) {
			al->failed = 1;
			return;
		}
		al->ib = ib;
		al->alloc = alloc;
	}
	al->ia[al->n] = i;
	al->ib[al->n] = j;
	al->n++;
}

/* Small gaps: the longest common subsequence, exactly. */
static void align_lcs(struct aligner *al, size_t alo, size_t ahi, size_t blo, size_t bhi)
{
	size_t na = ahi - alo, nb = bhi - blo, w = nb + 1;
	uint16_t *L = calloc((na + 1) * w, sizeof(*L));
	if (!L) {
		al->failed = 1;
		return;
	}
	for (size_t i = na; i-- > 0;)
		for (size_t j = nb; j-- > 0;)
			L[i * w + j] = al->a[alo + i].hash == al->b[blo + j].hash
					       ? (uint16_t)(L[(i + 1) * w + j + 1] + 1)
				       : L[(i + 1) * w + j] >= L[i * w + j + 1] ? L[(i + 1) * w + j]
									  : L[i * w + j + 1];
	for (size_t i = 0, j = 0; i < na && j < nb;) {
		if (al->a[alo + i].hash == al->b[blo + j].hash) {
			pair_add(al, alo + i, blo + j);
			i++;
			j++;
		} else if (L[(i + 1) * w + j] >= L[i * w + j + 1]) {
			i++;
		} else {
			j++;
		}
	}
	free(L);
}

struct slot {
	uint32_t hash;
	uint32_t ca, cb;
	size_t ia, ib;
	int used;
};

static struct slot *slot_find(struct slot *table, size_t mask, uint32_t hash)
{
	size_t k = (hash * 2654435761u) & mask;
	while (table[k].used && table[k].hash != hash)
		k = (k + 1) & mask;
	return &table[k];
}

static void align_range(struct aligner *al, size_t alo, size_t ahi, size_t blo, size_t bhi, int depth);

/* Anchors are words that occur exactly once on each side; their longest increasing run
 * (by position in the known text) is matched, and the gaps between are aligned in turn.
 * Returns 0 when there is no anchor. */
static int align_patience(struct aligner *al, size_t alo, size_t ahi, size_t blo, size_t bhi,
			  int depth)
{
	size_t na = ahi - alo, nb = bhi - blo, size = 16;
	while (size < 2 * (na + nb))
		size *= 2;
	struct slot *table = calloc(size, sizeof(*table));
	size_t *ai = malloc((na + 1) * sizeof(*ai)), *bj = malloc((na + 1) * sizeof(*bj));
	size_t *tails = malloc((na + 1) * sizeof(*tails)), *prev = malloc((na + 1) * sizeof(*prev));
	size_t anchors = 0, best = 0;
	int found = 0;
	if (!table || !ai || !bj || !tails || !prev) {
		al->failed = 1;
		goto out;
	}
	for (size_t j = blo; j < bhi; j++) {
		struct slot *s = slot_find(table, size - 1, al->b[j].hash);
		s->used = 1;
		s->hash = al->b[j].hash;
		s->cb++;
		s->ib = j;
	}
	for (size_t i = alo; i < ahi; i++) {
		struct slot *s = slot_find(table, size - 1, al->a[i].hash);
		if (!s->used)
			continue;
		s->ca++;
		s->ia = i;
	}
	for (size_t i = alo; i < ahi; i++) {
		struct slot *s = slot_find(table, size - 1, al->a[i].hash);
		if (s->used && s->ca == 1 && s->cb == 1) {
			ai[anchors] = i;
			bj[anchors] = s->ib;
			anchors++;
		}
	}
	if (anchors == 0)
		goto out;
	/* Longest increasing subsequence of bj (patience sorting with back links). */
	for (size_t k = 0; k < anchors; k++) {
		size_t lo = 0, hi = best;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (bj[tails[mid]] < bj[k])
				lo = mid + 1;
			else
				hi = mid;
		}
		prev[k] = lo > 0 ? tails[lo - 1] : (size_t)-1;
		tails[lo] = k;
		if (lo == best)
			best++;
	}
	/* Walk the chain back into tails[] (reused as the chain, in order). */
	size_t *chain = tails, k = tails[best - 1];
	for (size_t m = best; m-- > 0;) {
		chain[m] = k;
		k = prev[k];
	}
	found = 1;
	size_t pa = alo, pb = blo;
	for (size_t m = 0; m < best && !al->failed; m++) {
		size_t i = ai[chain[m]], j = bj[chain[m]];
		align_range(al, pa, i, pb, j, depth + 1);
		pair_add(al, i, j);
		pa = i + 1;
		pb = j + 1;
	}
	align_range(al, pa, ahi, pb, bhi, depth + 1);
out:
	free(table);
	free(ai);
	free(bj);
	free(tails);
	free(prev);
	return found;
}

static void align_range(struct aligner *al, size_t alo, size_t ahi, size_t blo, size_t bhi, int depth)
{
	while (alo < ahi && blo < bhi && al->a[alo].hash == al->b[blo].hash && !al->failed)
		pair_add(al, alo++, blo++);
	size_t suffix = 0;
	while (ahi - suffix > alo && bhi - suffix > blo &&
	       al->a[ahi - 1 - suffix].hash == al->b[bhi - 1 - suffix].hash)
		suffix++;
	size_t amid = ahi - suffix, bmid = bhi - suffix;
	if (alo < amid && blo < bmid && !al->failed) {
		size_t cells = (amid - alo) * (bmid - blo);
		if (cells <= 2500)
			align_lcs(al, alo, amid, blo, bmid);
		else if ((depth > 64 || !align_patience(al, alo, amid, blo, bmid, depth)) &&
			 cells <= (1u << 20) && !al->failed)
			align_lcs(al, alo, amid, blo, bmid);
	}
	for (size_t k = 0; k < suffix && !al->failed; k++)
		pair_add(al, amid + k, bmid + k);
}

/* ==== regions ================================================================================ */

static int sentence_break(const char *t, size_t len, size_t i)
{
	/* A break lies before t[i] when a sentence or a paragraph ended there; "i." "b." and
	 * "2." are list numbers, not sentence ends. */
	if (i == 0 || i >= len)
		return 1;
	if (t[i - 1] == '\n' && i >= 2 && t[i - 2] == '\n')
		return 1;
	if (!is_space((unsigned char)t[i - 1]) || i < 2 || !strchr(".;:!?", t[i - 2]))
		return 0;
	size_t w = i - 2;
	while (w > 0 && isalnum((unsigned char)t[w - 1]))
		w--;
	return !(t[i - 2] == '.' && i - 2 - w >= 1 && list_number((const unsigned char *)t, 0, w, i - 2, len));
}

/* Appends bytes with white space collapsed, control bytes dropped and invalid UTF-8
 * replaced, so that the snippet prints and serialises safely. */
static int add_clean(struct strbuf *sb, const char *t, size_t n)
{
	const unsigned char *s = (const unsigned char *)t;
	int space = 0, rc = 0;
	for (size_t i = 0; i < n && !rc;) {
		size_t len;
		unsigned cp = decode_utf8(s, n, i, &len);
		if (is_space(s[i]) || (s[i] < 0x20) || s[i] == 0x7f) {
			space = sb->len > 0;
			i++;
			continue;
		}
		if (space)
			rc = strbuf_adds(sb, " ");
		space = 0;
		if (!rc)
			rc = cp == 0xFFFD && len == 1 ? strbuf_adds(sb, "?") : strbuf_add(sb, s + i, len);
		i += len;
	}
	return rc;
}

/* The sentence(s) of t around bytes [start, end), at most about 480 bytes. */
static char *snippet(const char *t, size_t len, size_t start, size_t end)
{
	size_t s = start, e = end, limit = start > 240 ? start - 240 : 0;
	while (s > limit && !sentence_break(t, len, s))
		s--;
	size_t elimit = min_size(len, end + 240);
	while (e < elimit && !(e > end && sentence_break(t, len, e)))
		e++;
	while (e < len && (e - start) < 480 && (t[e] & 0xC0) == 0x80)
		e++;
	struct strbuf sb = STRBUF_INIT;
	int rc = 0;
	if (s > 0 && !sentence_break(t, len, s))
		rc = strbuf_adds(&sb, "...");
	if (!rc)
		rc = add_clean(&sb, t + s, e - s);
	if (!rc && e < len && !sentence_break(t, len, e))
		rc = strbuf_adds(&sb, "...");
	if (!rc && !sb.buf)
		rc = strbuf_adds(&sb, "");
	if (rc) {
		strbuf_free(&sb);
		return NULL;
	}
	while (sb.len && sb.buf[sb.len - 1] == ' ')
		sb.buf[--sb.len] = '\0';
	return strbuf_take(&sb);
}

/* Bytes [start, end) of t, white space collapsed, at most about 240 bytes. */
static char *words_between(const char *t, size_t start, size_t end)
{
	struct strbuf sb = STRBUF_INIT;
	size_t n = end > start ? end - start : 0;
	int cut = n > 240;
	if (cut)
		for (n = 240; n < end - start && ((unsigned char)t[start + n] & 0xC0) == 0x80; n++)
			;
	if (add_clean(&sb, t + start, n) || (cut && strbuf_adds(&sb, "...")) || (!sb.buf && strbuf_adds(&sb, ""))) {
		strbuf_free(&sb);
		return NULL;
	}
	return strbuf_take(&sb);
}

static unsigned line_of(const char *t, size_t off)
{
	unsigned line = 1;
	for (size_t i = 0; i < off; i++)
		line += t[i] == '\n';
	return line;
}

static void region_free(struct license_region *r)
{
	free(r->known);
	free(r->shipped);
	free(r->known_diff);
	free(r->shipped_diff);
}

struct gap {
	size_t a0, a1, b0, b1;  /* file words [a0, a1), known words [b0, b1) */
	int trivial;
};

static int all_soft(const struct license_token *t, size_t lo, size_t hi)
{
	for (size_t i = lo; i < hi; i++)
		if (!t[i].soft)
			return 0;
	return 1;
}

static int region_make(struct license_region *r, const struct gap *g, const char *file,
		       size_t file_len, const struct license_tokens *ta, const struct known *k)
{
	const struct license_token *a = ta->items, *b = k->tokens.items;
	r->kind = g->a1 == g->a0 ? LICENSE_REGION_REMOVED : g->b1 == g->b0 ? LICENSE_REGION_ADDED
									  : LICENSE_REGION_CHANGED;
	r->known_words = g->b1 - g->b0;
	r->shipped_words = g->a1 - g->a0;
	/* An empty side is shown by the words on both sides of where the difference is. */
	size_t ks = b[g->b0 > 0 && g->b1 == g->b0 ? g->b0 - 1 : g->b0].start;
	size_t ke = b[g->b1 < k->tokens.count && g->b1 == g->b0 ? g->b1 : g->b1 - 1].end;
	size_t fs = a[g->a0 > 0 && g->a1 == g->a0 ? g->a0 - 1 : g->a0].start;
	size_t fe = a[g->a1 < ta->count && g->a1 == g->a0 ? g->a1 : g->a1 - 1].end;
	r->known = snippet(k->info->text, k->info->text_len, ks, ke);
	r->shipped = snippet(file, file_len, fs, fe);
	r->known_diff = words_between(k->info->text, g->b0 < g->b1 ? b[g->b0].start : 0,
				      g->b0 < g->b1 ? b[g->b1 - 1].end : 0);
	r->shipped_diff = words_between(file, g->a0 < g->a1 ? a[g->a0].start : 0,
					g->a0 < g->a1 ? a[g->a1 - 1].end : 0);
	r->known_line = line_of(k->info->text, ks);
	r->shipped_line = line_of(file, fs);
	return r->known && r->shipped && r->known_diff && r->shipped_diff
		       ? 0 : modl_error_set(MODL_EFAIL, "out of memory");
}

/* The exact alignment of a large gap also pairs stray common words ("the", "license")
 * of unrelated text with words far away in the known text: a short run of matched
 * words next to a long gap is such an accident, and is dropped (until none is left,
 * since dropping one can leave its neighbour stranded). */
static void drop_weak_runs(struct aligner *al)
{
	for (size_t before_pass = (size_t)-1; before_pass != al->n;) {
		before_pass = al->n;
		size_t out = 0;
		for (size_t p = 0; p < al->n;) {
			size_t q = p + 1;
			while (q < al->n && al->ia[q] == al->ia[q - 1] + 1 && al->ib[q] == al->ib[q - 1] + 1)
				q++;
			size_t run = q - p, before = 0, after = 0;
			if (p > 0) {
				size_t ga = al->ia[p] - al->ia[p - 1] - 1, gb = al->ib[p] - al->ib[p - 1] - 1;
				before = ga > gb ? ga : gb;
			}
			if (q < al->n) {
				size_t ga = al->ia[q] - al->ia[q - 1] - 1, gb = al->ib[q] - al->ib[q - 1] - 1;
				after = ga > gb ? ga : gb;
			}
			/* A run at either end of the alignment has only one neighbour to judge by. */
			int edge = p == 0 || q == al->n;
			size_t gap = before > after ? before : after;
			int weak = run < 4 && gap > (edge ? run + 3 : 2 * run + 6);
			for (size_t m = p; m < q && !weak; m++) {
				al->ia[out] = al->ia[m];
				al->ib[out] = al->ib[m];
				out++;
			}
			p = q;
		}
		al->n = out;
	}
}

/* Words matched outside the first and last runs of four or more, fewer than four in all,
 * are text around the license that happens to share a word or two with the part of the
 * license it does not quote ("...the license go to..."): not matched. */
static void trim_edges(struct aligner *al)
{
	size_t first = al->n, last = 0, run = 1;
	for (size_t p = 1; p <= al->n; p++) {
		if (p < al->n && al->ia[p] == al->ia[p - 1] + 1 && al->ib[p] == al->ib[p - 1] + 1) {
			run++;
			continue;
		}
		if (run >= 4) {
			if (first == al->n)
				first = p - run;
			last = p;
		}
		run = 1;
	}
	if (first == al->n)
		return;
	if (first > 0 && first < 4) {
		memmove(al->ia, al->ia + first, (al->n - first) * sizeof(*al->ia));
		memmove(al->ib, al->ib + first, (al->n - first) * sizeof(*al->ib));
		al->n -= first;
		last -= first;
	}
	if (al->n - last < 4)
		al->n = last;
}

/* Aligns the file with the known text and fills coverage, completeness and regions. */
static int compare_with(struct license_match *m, const struct known *k, const char *file,
			size_t file_len, const struct license_tokens *ta)
{
	struct aligner al = { ta->items, k->tokens.items, NULL, NULL, 0, 0, 0 };
	struct gap *gaps = NULL;
	size_t ngaps = 0;
	int rc = 0;
	align_range(&al, 0, ta->count, 0, k->tokens.count, 0);
	if (al.failed) {
		rc = modl_error_set(MODL_EFAIL, "out of memory");
		goto out;
	}
	drop_weak_runs(&al);
	trim_edges(&al);
	/* Coverage counts the words that carry meaning: a filled-in copyright holder or a
	 * renumbered list does not make a copy less complete. */
	size_t req = 0, matched = 0;
	for (size_t j = k->req_lo; j < k->req_hi; j++)
		req += !k->tokens.items[j].soft;
	for (size_t p = 0; p < al.n; p++)
		matched += al.ib[p] >= k->req_lo && al.ib[p] < k->req_hi && !k->tokens.items[al.ib[p]].soft;
	m->coverage = req ? (double)matched / (double)req : 0;
	if (al.n == 0)
		goto out;
	size_t first = al.ib[0], last = al.ib[al.n - 1];
	size_t head = first > k->req_lo ? first - k->req_lo : 0;
	size_t tail = last + 1 < k->req_hi ? k->req_hi - last - 1 : 0;
	m->missing_words = (head > MISSING_SLACK ? head : 0) + (tail > MISSING_SLACK ? tail : 0);
	m->incomplete = m->missing_words > 0;
	m->extra_words = al.ia[0] + (ta->count - 1 - al.ia[al.n - 1]);
	if (!(gaps = malloc((al.n + 1) * sizeof(*gaps)))) {
		rc = modl_error_set(MODL_EFAIL, "out of memory");
		goto out;
	}
	/* Gaps between consecutive matched pairs; gaps separated by fewer than three matched
	 * words are one region. */
	for (size_t p = 1; p < al.n; p++) {
		if (al.ia[p] == al.ia[p - 1] + 1 && al.ib[p] == al.ib[p - 1] + 1)
			continue;
		struct gap g = { al.ia[p - 1] + 1, al.ia[p], al.ib[p - 1] + 1, al.ib[p], 0 };
		g.trivial = all_soft(ta->items, g.a0, g.a1) && all_soft(k->tokens.items, g.b0, g.b1);
		if (ngaps && g.a0 - gaps[ngaps - 1].a1 < 3 && g.b0 - gaps[ngaps - 1].b1 < 3) {
			gaps[ngaps - 1].a1 = g.a1;
			gaps[ngaps - 1].b1 = g.b1;
			gaps[ngaps - 1].trivial &= g.trivial;
		} else {
			gaps[ngaps++] = g;
		}
	}
	for (size_t g = 0; g < ngaps && !rc; g++) {
		if (gaps[g].trivial)
			continue;
		m->altered = 1;
		if (m->region_count < LICENSE_MAX_REGIONS)
			rc = region_make(&m->regions[m->region_count], &gaps[g], file, file_len, ta, k);
		m->region_count++;
	}
out:
	free(gaps);
	free(al.ia);
	free(al.ib);
	return rc;
}

/* ==== identification ======================================================================= */

struct candidate {
	size_t k;
	double coverage, score;
};

/* How well the file's shingles tell best apart from rival: 1 when only best's own
 * shingles are there, 0 when only the rival's, 0.5 when neither. Only required text
 * speaks for a candidate: the policy that llama3.txt carries as an optional tail must not
 * make a file holding Llama 3.2 and its own policy look like Llama 3. */
static double sharpness(const struct shingles *a, const struct known *best, const struct known *rival)
{
	size_t ub = shingles_in_only(a, &best->req, &rival->all);
	size_t ur = shingles_in_only(a, &rival->req, &best->all);
	return ub + ur ? (double)ub / (double)(ub + ur) : 0.5;
}

/* Related texts: versions of one another, or a license and the policy it embeds. */
static int related(const struct known *x, const struct known *y)
{
	size_t common = shingles_common(&x->all, &y->all);
	size_t smaller = min_size(x->all.n, y->all.n);
	return smaller && (double)common / (double)smaller >= 0.3;
}

/* One round: the best known text among those not taken yet; -1 when none qualifies.
 * The text found most completely wins: a file holding Llama 3.2 and its policy must not
 * be taken for Llama 3, whose known text also ends with a policy. Texts found about as
 * completely (versions of one license) are ranked by the Jaccard-like score, which
 * counts what each explains of the file. */
static long best_candidate(const struct shingles *a, const int *taken, struct candidate *out)
{
	struct candidate *c = malloc((corpus.count + 1) * sizeof(*c));
	size_t n = 0;
	double top = 0;
	long best = -1;
	if (!c)
		return -1;
	for (size_t k = 0; k < corpus.count; k++) {
		const struct known *kn = &corpus.items[k];
		if (taken[k] || kn->req.n == 0)
			continue;
		size_t inter_req = shingles_common(a, &kn->req);
		double coverage = (double)inter_req / (double)kn->req.n;
		if (coverage < MIN_COVERAGE || inter_req < min_size(20, kn->req.n))
			continue;
		size_t inter_all = shingles_common(a, &kn->all);
		c[n].k = k;
		c[n].coverage = coverage;
		c[n].score = (double)inter_all / (double)(a->n + kn->req.n - inter_req);
		if (coverage > top)
			top = coverage;
		n++;
	}
	for (size_t i = 0; i < n; i++)
		if (c[i].coverage >= top - 0.03 && (best < 0 || c[i].score > out->score)) {
			best = (long)c[i].k;
			*out = c[i];
		}
	free(c);
	return best;
}

/* The coverage of rival's required shingles in the file, when rival competes with best
 * for the same words (related, not taken yet, mostly there); -1 otherwise. */
static double rival_coverage(const struct shingles *a, const int *taken, size_t best, size_t rival)
{
	const struct known *r = &corpus.items[rival];
	if (rival == best || taken[rival] || r->req.n == 0 || !related(&corpus.items[best], r))
		return -1;
	double coverage = (double)shingles_common(a, &r->req) / (double)r->req.n;
	return coverage >= MIN_COVERAGE ? coverage : -1;
}

static int detect_round(struct license_detection *d, const char *text, size_t len,
			const struct license_tokens *ta, const struct shingles *a, int *taken,
			size_t *chosen)
{
	struct candidate c = { 0, 0, 0 };
	if (best_candidate(a, taken, &c) < 0)
		return 0;
	/* The words that tell close texts apart overrule the ranking: a rival whose own
	 * shingles are better represented than the leader's is the text (the middle of
	 * llama3.txt, which holds a variant of the Llama 3 policy, is Llama 3). */
	size_t b = c.k;
	for (int round = 0; round < 4; round++) {
		double worst = 0.5;
		long swap = -1;
		for (size_t k = 0; k < corpus.count; k++) {
			if (rival_coverage(a, taken, b, k) < 0)
				continue;
			double s = sharpness(a, &corpus.items[b], &corpus.items[k]);
			if (s < worst) {
				worst = s;
				swap = (long)k;
			}
		}
		if (swap < 0)
			break;
		b = (size_t)swap;
	}
	const struct known *best = &corpus.items[b];
	struct license_match *m = &d->matches[d->count];
	memset(m, 0, sizeof(*m));
	m->info = best->info;
	double sharp = 1.0;
	for (size_t k = 0; k < corpus.count; k++) {
		if (rival_coverage(a, taken, b, k) < 0)
			continue;
		double s = sharpness(a, best, &corpus.items[k]);
		if (s < sharp)
			sharp = s;
		if (s < 0.9 && m->alternative_count < LICENSE_MAX_ALTERNATIVES)
			m->alternatives[m->alternative_count++] = corpus.items[k].info;
	}
	taken[b] = 1;
	*chosen = b;
	int rc = compare_with(m, best, text, len, ta);
	if (rc)
		return rc;
	m->confidence = m->coverage * (0.5 + 0.5 * sharp);
	if (m->confidence < LICENSE_MIN_CONFIDENCE) {
		/* Not enough to name it: the file stays unknown as far as this text goes. */
		for (size_t r = 0; r < LICENSE_MAX_REGIONS; r++)
			region_free(&m->regions[r]);
		memset(m, 0, sizeof(*m));
		return 0;
	}
	d->count++;
	return 1;
}

int license_detect(const char *text, size_t len, struct license_detection *out)
{
	struct license_tokens ta = { 0 };
	struct shingles a = { 0 };
	int *taken = NULL;
	memset(out, 0, sizeof(*out));
	int rc = corpus_get();
	if (!rc)
		rc = license_tokenize(text, len, &ta);
	if (!rc)
		rc = shingles_make(&ta, 0, ta.count, &a);
	if (!rc && !(taken = calloc(corpus.count + 1, sizeof(*taken))))
		rc = modl_error_set(MODL_EFAIL, "out of memory");
	if (rc)
		goto out;
	out->words = ta.count;
	size_t total = a.n;
	while (out->count < LICENSE_MAX_MATCHES && a.n >= 1) {
		size_t chosen;
		int found = detect_round(out, text, len, &ta, &a, taken, &chosen);
		if (found < 0 || found == 0) {
			rc = found < 0 ? found : 0;
			break;
		}
		/* What the text just found does not explain may hold another one (a license
		 * followed by its acceptable-use policy). */
		size_t left = 0;
		for (size_t i = 0; i < a.n; i++)
			if (!shingles_has(&corpus.items[chosen].all, a.v[i]))
				a.v[left++] = a.v[i];
		a.n = left;
		if (left < 40 || (double)left < 0.2 * (double)total)
			break;
	}
out:
	if (rc)
		license_detection_free(out);
	free(taken);
	shingles_free(&a);
	license_tokens_free(&ta);
	return rc;
}

void license_detection_free(struct license_detection *d)
{
	for (size_t m = 0; m < LICENSE_MAX_MATCHES; m++)
		for (size_t r = 0; r < LICENSE_MAX_REGIONS; r++)
			region_free(&d->matches[m].regions[r]);
	memset(d, 0, sizeof(*d));
}

static int contains_words(const struct license_tokens *t, const struct license_tokens *n)
{
	for (size_t i = 0; n->count && i + n->count <= t->count; i++) {
		size_t k = 0;
		while (k < n->count && t->items[i + k].hash == n->items[k].hash)
			k++;
		if (k == n->count)
			return 1;
	}
	return 0;
}

int license_text_contains(const char *text, size_t len, const char *needle)
{
	struct license_tokens t, n;
	int found = 0;
	if (license_tokenize(text, len, &t))
		return 0;
	if (!license_tokenize(needle, strlen(needle), &n)) {
		found = contains_words(&t, &n);
		license_tokens_free(&n);
	}
	license_tokens_free(&t);
	return found;
}

int license_find_notices(const char *text, size_t len, const struct license_info **found, size_t max)
{
	const struct license_info *kb = NULL;
	struct license_tokens t;
	size_t n = 0, count = 0;
	int rc = license_kb(&kb, &n);
	if (rc || (rc = license_tokenize(text, len, &t)))
		return rc;
	for (size_t i = 0; i < n && count < max; i++) {
		struct license_tokens words;
		if (!kb[i].notice || license_tokenize(kb[i].notice, strlen(kb[i].notice), &words))
			continue;
		if (contains_words(&t, &words))
			found[count++] = &kb[i];
		license_tokens_free(&words);
	}
	license_tokens_free(&t);
	return (int)count;
}
