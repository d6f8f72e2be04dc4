/* The normaliser, text → words. The shipped file and every known text go through this one
 * code, so that whatever must not count as a difference (layout, Markdown and HTML, URLs,
 * list numbering, a copyright holder) is decided in a single place; detect.h says what a
 * word is and which words are soft. */
#include "detect_internal.h"
#include "util/error.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The words of a copyright statement marked soft after "Copyright (c)". */
#define COPYRIGHT_WORDS 12

struct tokenizer {
	const unsigned char *s;
	size_t len;
	struct license_tokens *out;
	size_t alloc;
	int soft_words;    /* words left in the current copyright statement */
	size_t soft_until; /* words before this offset are soft (a path, a section number) */
	int failed;
};

/* The code point at s[i] (UTF-8) and its length; invalid bytes are U+FFFD, length 1. */
unsigned detect_decode_utf8(const unsigned char *s, size_t len, size_t i, size_t *n)
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
	return !cp_is_separator(detect_decode_utf8(s, len, i, n));
}

int detect_is_space(unsigned char c)
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
		if (i == start + 5 && c == 'c' && end - start >= 7 &&
		    !strncasecmp((const char *)t->s + start, "licenc", 6))
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
		       (s[i] >= 0x80 && detect_decode_utf8(s, end, i, &n) == 0xA9);
	}
	/* A bare "(c)" is also a list item: only "(c) 2023" counts. */
	return (s[i] >= 0x80 && detect_decode_utf8(s, end, i, &n) == 0xA9) ||
	       (starts_with_ci(s, i, end, "(c)") && i + 5 < end && detect_is_space(s[i + 3]) &&
		isdigit(s[i + 4]));
}

/* clang-format off */
static const char *const top_level_domains[] = {
	"com", "org", "net", "ai", "io", "dev", "gov", "edu", "co", "uk", "cn", "fr", "de",
	"info", "eu", "us", "html", "htm", "md", "txt", NULL,
};
/* clang-format on */

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
		if (host_end - dot == strlen(*tld) &&
		    !strncasecmp((const char *)s + dot, *tld, host_end - dot))
			return 1;
	return 0;
}

static int chunk_stop(const unsigned char *s, size_t len, size_t i)
{
	size_t n;
	unsigned char c = s[i];
	if (c < 0x80)
		return detect_is_space(c) || c == '(' || c == ')' || c == '[' || c == ']' || c == '<' ||
		       c == '>' || c == '"' || c == '\'' || c == '`' || c == '*' || c == '|' || c == '{' ||
		       c == '}';
	return cp_is_separator(detect_decode_utf8(s, len, i, &n));
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
	/* clang-format off */
	static const char *const tags[] = {
		"a", "b", "br", "blockquote", "center", "code", "dd", "del", "details", "div", "dl",
		"dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins",
		"li", "ol", "p", "pre", "small", "span", "strong", "sub", "summary", "sup", "table",
		"tbody", "td", "th", "thead", "tr", "u", "ul", NULL,
	};
	/* clang-format on */
	size_t k = i + 1;
	if (k < end && s[k] == '/')
		k++;
	size_t name = k;
	while (k < end && isalnum(s[k]))
		k++;
	if (k == name || (k < end && !detect_is_space(s[k]) && s[k] != '>' && s[k] != '/'))
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
int detect_list_number(const unsigned char *s, size_t line_start, size_t i, size_t j, size_t end)
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
	int open = detect_is_space(prev) || prev == '(' || prev == '*' || prev == '"' || prev == '>';
	return open && (next == ')' || (next == '.' && detect_is_space(after)));
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
	return k >= end || detect_is_space(s[k]) ? k : 0;
}

/* Indentation, Markdown markers (#, >, *, -, +, |, =), quotes, bullets. */
static size_t skip_line_prefix(const unsigned char *s, size_t i, size_t end)
{
	while (i < end) {
		size_t n;
		if (s[i] < 0x80 && (detect_is_space(s[i]) || (ispunct(s[i]) && !strchr("(<&", s[i]))))
			i++;
		else if (s[i] >= 0x80 && cp_is_separator(detect_decode_utf8(s, end, i, &n)) &&
			 detect_decode_utf8(s, end, i, &n) != 0xA9)
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
			emit(t, i, j, detect_list_number(s, ls, i, j, le));
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
		} else if (c >= 0x80 && detect_decode_utf8(s, le, i, &n) == 0xA9) {
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
		return modl_error_oom();
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
		return modl_error_oom();
	}
	return 0;
}

void license_tokens_free(struct license_tokens *tokens)
{
	free(tokens->items);
	tokens->items = NULL;
	tokens->count = 0;
}
