/* Escaping of text from outside for a terminal (see escape.h). */
#include "escape.h"

#include <stdlib.h>
#include <string.h>

size_t escape_utf8_sequence(const unsigned char *s, size_t len, size_t *bad)
{
	unsigned c = s[0], lo = 0x80, hi = 0xBF;
	size_t n;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		lo = c == 0xE0 ? 0xA0 : 0x80;
		hi = c == 0xED ? 0x9F : 0xBF;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		lo = c == 0xF0 ? 0x90 : 0x80;
		hi = c == 0xF4 ? 0x8F : 0xBF;
	} else {
		*bad = 1;
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if (i >= len || s[i] < lo || s[i] > hi) {
			*bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xBF;
	}
	return n;
}

unsigned escape_code_point(const unsigned char *s, size_t n)
{
	static const unsigned lead_mask[] = { 0, 0x7F, 0x1F, 0x0F, 0x07 };
	unsigned cp = s[0] & lead_mask[n];
	for (size_t i = 1; i < n; i++)
		cp = cp << 6 | (s[i] & 0x3F);
	return cp;
}

int escape_is_hidden(unsigned cp)
{
	return (cp >= 0x80 && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

/* One character or bad byte at s: appended as it is or escaped; returns the bytes used. */
static size_t add_one(struct strbuf *sb, const unsigned char *s, size_t len, unsigned flags, int *rc)
{
	unsigned char c = s[0];
	size_t bad = 1, n;
	if ((c == '"' && (flags & ESCAPE_QUOTE)) || (c == '\\' && (flags & ESCAPE_BACKSLASH))) {
		*rc = strbuf_addf(sb, "\\%c", c);
		return 1;
	}
	if (c == '\n') {
		*rc = flags & ESCAPE_KEEP_LF ? strbuf_add(sb, "\n", 1) : strbuf_adds(sb, "\\n");
		return 1;
	}
	if (c == '\t') {
		*rc = strbuf_adds(sb, "\\t");
		return 1;
	}
	if (c < 0x20 || c == 0x7F) {
		*rc = strbuf_addf(sb, "\\x%02x", c);
		return 1;
	}
	if (!(n = escape_utf8_sequence(s, len, &bad))) {
		*rc = strbuf_addf(sb, "\\x%02x", c); /* byte by byte: the reader sees them all */
		return 1;
	}
	unsigned cp = escape_code_point(s, n);
	*rc = escape_is_hidden(cp) ? strbuf_addf(sb, "\\u%04x", cp) : strbuf_add(sb, s, n);
	return n;
}

int escape_add(struct strbuf *sb, const char *str, size_t len, size_t max, unsigned flags)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0;
	int rc = flags & ESCAPE_QUOTE ? strbuf_add(sb, "\"", 1) : 0;
	/* Plain ASCII is copied in runs: vocabularies have 100k strings. */
	while (!rc && i < len && i < max) {
		unsigned char c = s[i];
		if (c >= 0x20 && c < 0x7F && !(c == '"' && (flags & ESCAPE_QUOTE)) &&
		    !(c == '\\' && (flags & ESCAPE_BACKSLASH))) {
			i++;
			run++;
			continue;
		}
		if ((rc = strbuf_add(sb, s + i - run, run)))
			break;
		run = 0;
		i += add_one(sb, s + i, len - i, flags, &rc);
	}
	if (!rc)
		rc = strbuf_add(sb, s + i - run, run);
	if (!rc && (flags & ESCAPE_QUOTE))
		rc = strbuf_add(sb, "\"", 1);
	if (!rc && i < len)
		rc = strbuf_addf(sb, "... (%zu bytes)", len);
	return rc;
}

char *escape_dup(const char *s)
{
	struct strbuf sb = STRBUF_INIT;
	if (escape_add(&sb, s, strlen(s), (size_t)-1, 0)) {
		strbuf_free(&sb);
		return NULL;
	}
	char *out = strbuf_take(&sb);
	return out ? out : strdup("");
}

void escape_fputs(const char *s, unsigned flags, FILE *out)
{
	struct strbuf sb = STRBUF_INIT;
	size_t len = strlen(s);
	if (!escape_add(&sb, s, len, (size_t)-1, flags)) {
		fwrite(sb.buf ? sb.buf : "", 1, sb.len, out);
	} else {
		/* No memory for the copy: nothing but plain ASCII gets through. */
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)s[i];
			fputc((c >= 0x20 && c < 0x7F) || (c == '\n' && (flags & ESCAPE_KEEP_LF)) ? c : '?',
			      out);
		}
	}
	strbuf_free(&sb);
}

int escape_add_json_text(struct strbuf *sb, const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t len = strlen(text), i = 0, run = 0;
	int rc = 0;
	while (!rc && i < len) {
		size_t bad = 1, n = s[i] < 0x7F ? 1 : escape_utf8_sequence(s + i, len - i, &bad);
		unsigned cp = n ? escape_code_point(s + i, n) : 0;
		if (n && cp != 0x7F && !escape_is_hidden(cp)) {
			i += n;
			run += n;
			continue;
		}
		if ((rc = strbuf_add(sb, s + i - run, run)))
			break;
		run = 0;
		rc = n ? strbuf_addf(sb, "\\u%04x", cp) : strbuf_adds(sb, "\\ufffd");
		i += n ? n : bad;
	}
	return rc ? rc : strbuf_add(sb, s + i - run, run);
}

const char *escape_pool_str(struct escape_pool *pool, const char *s)
{
	if (!s)
		return NULL;
	char **grown = realloc(pool->items, (pool->count + 1) * sizeof(*pool->items));
	if (!grown)
		return "?";
	pool->items = grown;
	char *copy = escape_dup(s);
	if (!copy)
		return "?";
	pool->items[pool->count++] = copy;
	return copy;
}

void escape_pool_free(struct escape_pool *pool)
{
	for (size_t i = 0; i < pool->count; i++)
		free(pool->items[i]);
	free(pool->items);
	pool->items = NULL;
	pool->count = 0;
}
