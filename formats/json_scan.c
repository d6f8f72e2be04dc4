/* The strict JSON scanner (see json_scan.h). */
#include "json_scan.h"

#include <stdlib.h>
#include <string.h>

void json_scan_init(struct json_scan *s, const void *text, size_t len)
{
	s->text = text;
	s->len = len;
	s->pos = 0;
	s->depth = 0;
	s->error = NULL;
	s->error_pos = 0;
}

int json_scan_fail(struct json_scan *s, const char *what)
{
	if (!s->error) {
		s->error = what;
		s->error_pos = s->pos;
	}
	return -1;
}

int json_scan_peek(struct json_scan *s)
{
	while (s->pos < s->len) {
		unsigned char c = s->text[s->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			return c;
		s->pos++;
	}
	return -1;
}

static int expect(struct json_scan *s, char c, const char *what)
{
	if (json_scan_peek(s) != (unsigned char)c)
		return json_scan_fail(s, what);
	s->pos++;
	return 0;
}

static int hex4(struct json_scan *s, unsigned *out)
{
	unsigned v = 0;
	if (s->len - s->pos < 4)
		return json_scan_fail(s, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		unsigned char c = s->text[s->pos + i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return json_scan_fail(s, "invalid \\u escape");
	}
	s->pos += 4;
	*out = v;
	return 0;
}

static size_t put_utf8(unsigned char *p, unsigned cp)
{
	if (cp < 0x80) {
		p[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		p[0] = (unsigned char)(0xC0 | cp >> 6);
		p[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		p[0] = (unsigned char)(0xE0 | cp >> 12);
		p[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		p[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	p[0] = (unsigned char)(0xF0 | cp >> 18);
	p[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	p[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	p[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/* An escape after the backslash; a surrogate pair must come as two escapes. */
static int escape(struct json_scan *s, unsigned char *dst, size_t *n)
{
	unsigned cp, low;
	if (s->pos >= s->len)
		return json_scan_fail(s, "unterminated string");
	unsigned char c = s->text[s->pos++];
	const char *simple = strchr("\"\\/bfnrt", c);
	if (c && simple) {
		static const char decoded[] = "\"\\/\b\f\n\r\t";
		*n = put_utf8(dst, (unsigned char)decoded[simple - "\"\\/bfnrt"]);
		return 0;
	}
	if (c != 'u') {
		s->pos--;
		return json_scan_fail(s, "invalid escape in string");
	}
	if (hex4(s, &cp))
		return -1;
	if (cp >= 0xDC00 && cp <= 0xDFFF)
		return json_scan_fail(s, "lone low surrogate escape in string");
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		if (s->len - s->pos < 2 || s->text[s->pos] != '\\' || s->text[s->pos + 1] != 'u')
			return json_scan_fail(s, "high surrogate escape without its low half");
		s->pos += 2;
		if (hex4(s, &low))
			return -1;
		if (low < 0xDC00 || low > 0xDFFF)
			return json_scan_fail(s, "high surrogate escape without its low half");
		cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
	}
	*n = put_utf8(dst, cp);
	return 0;
}

/* The body of a string after its opening quote, up to and including the closing one;
 * decoded into buf when not NULL. */
static int string_body(struct json_scan *s, unsigned char *buf, size_t *len)
{
	size_t n = 0;
	for (;;) {
		if (s->pos >= s->len)
			return json_scan_fail(s, "unterminated string");
		unsigned char c = s->text[s->pos];
		if (c == '"')
			break;
		if (c < 0x20)
			return json_scan_fail(s, "control character in string (must be escaped)");
		s->pos++;
		if (c == '\\') {
			unsigned char tmp[4];
			size_t k;
			if (escape(s, tmp, &k))
				return -1;
			if (buf)
				memcpy(buf + n, tmp, k);
			n += k;
		} else {
			if (buf)
				buf[n] = c;
			n++;
		}
	}
	s->pos++;
	*len = n;
	return 0;
}

/* Scans a string; with out, decodes it in a second pass into a buffer as long as the
 * source (every escape is at least as long as its UTF-8), so that the allocation is
 * bounded by the text itself. */
static int string(struct json_scan *s, char **out, size_t *out_len)
{
	size_t start, n;
	if (expect(s, '"', "expected a string"))
		return -1;
	start = s->pos;
	if (string_body(s, NULL, &n))
		return -1;
	if (!out)
		return 0;
	unsigned char *buf = malloc(s->pos - start);
	if (!buf)
		return json_scan_fail(s, "out of memory");
	s->pos = start;
	string_body(s, buf, &n);
	buf[n] = '\0';
	*out = (char *)buf;
	*out_len = n;
	return 0;
}

int json_scan_string(struct json_scan *s, char **out, size_t *out_len)
{
	return string(s, out, out_len);
}

int json_scan_member(struct json_scan *s, int *first, char **key, size_t *key_len)
{
	int c;
	if (*first) {
		if (expect(s, '{', "expected an object"))
			return -1;
		*first = 0;
		if (json_scan_peek(s) == '}') {
			s->pos++;
			return 0;
		}
	} else {
		c = json_scan_peek(s);
		if (c == '}') {
			s->pos++;
			return 0;
		}
		if (c != ',')
			return json_scan_fail(s, "expected ',' or '}' in object");
		s->pos++;
	}
	if (json_scan_peek(s) != '"')
		return json_scan_fail(s, "expected a string key in object");
	if (string(s, key, key_len))
		return -1;
	if (expect(s, ':', "expected ':' after object key")) {
		if (key) {
			free(*key);
			*key = NULL;
		}
		return -1;
	}
	return 1;
}

int json_scan_element(struct json_scan *s, int *first)
{
	int c;
	if (*first) {
		if (expect(s, '[', "expected an array"))
			return -1;
		*first = 0;
		if (json_scan_peek(s) == ']') {
			s->pos++;
			return 0;
		}
		return 1;
	}
	c = json_scan_peek(s);
	if (c == ']') {
		s->pos++;
		return 0;
	}
	if (c != ',')
		return json_scan_fail(s, "expected ',' or ']' in array");
	s->pos++;
	return 1;
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int number(struct json_scan *s)
{
	size_t p = s->pos;
	const unsigned char *t = s->text;
	if (p < s->len && t[p] == '-')
		p++;
	if (p >= s->len || !is_digit(t[p])) {
		s->pos = p;
		return json_scan_fail(s, "invalid number");
	}
	if (t[p] == '0')
		p++;
	else
		while (p < s->len && is_digit(t[p]))
			p++;
	if (p < s->len && t[p] == '.') {
		p++;
		if (p >= s->len || !is_digit(t[p])) {
			s->pos = p;
			return json_scan_fail(s, "invalid number: no digit after '.'");
		}
		while (p < s->len && is_digit(t[p]))
			p++;
	}
	if (p < s->len && (t[p] == 'e' || t[p] == 'E')) {
		p++;
		if (p < s->len && (t[p] == '+' || t[p] == '-'))
			p++;
		if (p >= s->len || !is_digit(t[p])) {
			s->pos = p;
			return json_scan_fail(s, "invalid number: no digit in the exponent");
		}
		while (p < s->len && is_digit(t[p]))
			p++;
	}
	s->pos = p;
	return 0;
}

int json_scan_u64(struct json_scan *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t start;
	int c = json_scan_peek(s);
	if (!is_digit(c))
		return json_scan_fail(s, "expected a non-negative integer");
	start = s->pos;
	if (number(s))
		return -1;
	for (size_t p = start; p < s->pos; p++) {
		if (!is_digit(s->text[p])) {
			s->pos = start;
			return json_scan_fail(s, "expected an integer, found a fraction or an exponent");
		}
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s->text[p] - '0', &v)) {
			s->pos = start;
			return json_scan_fail(s, "integer does not fit in 64 bits");
		}
	}
	*out = v;
	return 0;
}

static int literal(struct json_scan *s, const char *word)
{
	size_t n = strlen(word);
	if (s->len - s->pos < n || memcmp(s->text + s->pos, word, n))
		return json_scan_fail(s, "invalid literal");
	s->pos += n;
	return 0;
}

int json_scan_skip(struct json_scan *s)
{
	int c = json_scan_peek(s), first = 1, more;
	if (c == '{' || c == '[') {
		if (s->depth >= JSON_SCAN_MAX_DEPTH)
			return json_scan_fail(s, "nested too deeply");
		s->depth++;
		if (c == '{') {
			while ((more = json_scan_member(s, &first, NULL, NULL)) == 1)
				if (json_scan_skip(s))
					return -1;
		} else {
			while ((more = json_scan_element(s, &first)) == 1)
				if (json_scan_skip(s))
					return -1;
		}
		s->depth--;
		return more;
	}
	switch (c) {
	case '"': return string(s, NULL, NULL);
	case 't': return literal(s, "true");
	case 'f': return literal(s, "false");
	case 'n': return literal(s, "null");
	case -1: return json_scan_fail(s, "unexpected end of text, expected a value");
	default: return number(s);
	}
}

int json_scan_end(struct json_scan *s)
{
	return json_scan_peek(s) == -1 ? 0 : json_scan_fail(s, "unexpected text after the value");
}

int json_scan_validate(struct json_scan *s)
{
	return json_scan_skip(s) ? -1 : json_scan_end(s);
}
