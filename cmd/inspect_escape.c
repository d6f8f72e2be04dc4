/* Escaping for inspect's two outputs. File contents are untrusted bytes: JSON must stay
 * valid whatever they hold, and text must not drive the terminal (escape.h, shared with
 * every command). */
#include "util/escape.h"
#include "inspect_render.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int inspect_add_json_string(struct strbuf *sb, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0, bad = 1;
	int rc = strbuf_add(sb, "\"", 1);
	/* Copies runs of plain bytes at once: vocabularies have 100k strings. */
	while (!rc && i < len) {
		unsigned char c = s[i];
		size_t n =
			c >= 0x20 && c != '"' && c != '\\' ? escape_utf8_sequence(s + i, len - i, &bad) : 0;
		if (n) {
			i += n;
			run += n;
			continue;
		}
		rc = strbuf_add(sb, s + i - run, run);
		run = 0;
		if (rc)
			break;
		if (c == '"' || c == '\\') {
			rc = strbuf_addf(sb, "\\%c", c);
			i++;
		} else if (c < 0x20) {
			static const char short_forms[] = "btn\0fr";
			if (c >= 8 && c <= 13 && c != 11)
				rc = strbuf_addf(sb, "\\%c", short_forms[c - 8]);
			else
				rc = strbuf_addf(sb, "\\u%04x", c);
			i++;
		} else {
			rc = strbuf_adds(sb, "\xEF\xBF\xBD"); /* U+FFFD */
			i += bad;
		}
	}
	if (!rc)
		rc = strbuf_add(sb, s + i - run, run);
	return rc ? rc : strbuf_add(sb, "\"", 1);
}

cJSON *inspect_json_string(const char *s, size_t len)
{
	struct strbuf sb = STRBUF_INIT;
	cJSON *item = NULL;
	if (!inspect_add_json_string(&sb, s, len))
		item = cJSON_CreateRaw(sb.buf);
	strbuf_free(&sb);
	return item;
}

cJSON *inspect_json_u64(uint64_t v)
{
	char text[32];
	snprintf(text, sizeof(text), "%llu", (unsigned long long)v);
	return cJSON_CreateRaw(text);
}

cJSON *inspect_json_i64(int64_t v)
{
	char text[32];
	snprintf(text, sizeof(text), "%lld", (long long)v);
	return cJSON_CreateRaw(text);
}

cJSON *inspect_json_double(double v)
{
	char text[40];
	if (isnan(v))
		return cJSON_CreateString("NaN");
	if (isinf(v))
		return cJSON_CreateString(v > 0 ? "Infinity" : "-Infinity");
	if (v == floor(v) && fabs(v) < 9007199254740992.0) {
		snprintf(text, sizeof(text), "%.0f", v);
		if (!strcmp(text, "-0"))
			strcpy(text, "-0.0");
	} else {
		for (int precision = 1; precision <= 17; precision++) {
			snprintf(text, sizeof(text), "%.*g", precision, v);
			if (strtod(text, NULL) == v)
				break;
		}
	}
	return cJSON_CreateRaw(text);
}

char *inspect_utf8_clean(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	/* Each bad byte becomes at most 3 bytes. */
	char *out = malloc(len * 3 + 1), *p = out;
	size_t i = 0, bad = 1;
	if (!out)
		return NULL;
	while (i < len) {
		size_t n = escape_utf8_sequence(s + i, len - i, &bad);
		if (n) {
			memcpy(p, s + i, n);
			p += n;
			i += n;
		} else {
			memcpy(p, "\xEF\xBF\xBD", 3);
			p += 3;
			i += bad;
		}
	}
	*p = '\0';
	return out;
}

/* The shared terminal escaping (escape.h), with backslashes doubled: inspect prints
 * keys and values whose bytes are arbitrary, and a literal "\x1b" must not read as one. */
int inspect_add_text_string(struct strbuf *sb, const char *s, size_t len, size_t max)
{
	return escape_add(sb, s, len, max, ESCAPE_QUOTE | ESCAPE_BACKSLASH);
}

int inspect_text_width(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xC0) != 0x80; /* not a continuation byte */
	return n > 4096 ? 4096 : (int)n;
}

int inspect_add_text_name(struct strbuf *sb, const char *s, size_t len, int width)
{
	size_t start = sb->len;
	int rc = escape_add(sb, s, len, (size_t)-1, ESCAPE_BACKSLASH);
	for (int w = rc ? width : inspect_text_width(sb->buf + start, sb->len - start); !rc && w < width; w++)
		rc = strbuf_add(sb, " ", 1);
	return rc;
}

static int add_non_finite(struct strbuf *sb, double v)
{
	return strbuf_adds(sb, isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
}

int inspect_add_f32(struct strbuf *sb, float v)
{
	char text[40];
	if (!isfinite(v))
		return add_non_finite(sb, v);
	for (int precision = 1; precision <= 9; precision++) {
		snprintf(text, sizeof(text), "%.*g", precision, (double)v);
		if (strtof(text, NULL) == v)
			break;
	}
	return strbuf_adds(sb, text);
}

int inspect_add_f64(struct strbuf *sb, double v)
{
	char text[40];
	if (!isfinite(v))
		return add_non_finite(sb, v);
	for (int precision = 1; precision <= 17; precision++) {
		snprintf(text, sizeof(text), "%.*g", precision, v);
		if (strtod(text, NULL) == v)
			break;
	}
	return strbuf_adds(sb, text);
}

int inspect_add_shape(struct strbuf *sb, size_t n, const uint64_t *dims)
{
	int rc = strbuf_add(sb, "[", 1);
	for (size_t i = 0; !rc && i < n; i++)
		rc = strbuf_addf(sb, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
	return rc ? rc : strbuf_add(sb, "]", 1);
}
