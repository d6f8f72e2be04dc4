/* Text from outside — Hub answers and headers, model cards, file contents, paths — made
 * safe for a terminal, in one place. Printable UTF-8 (any script) is kept as it is; what
 * could drive the terminal or hide text is escaped: C0 controls and DEL as \xNN, C1
 * controls (U+0080-U+009F, which some terminals take as ESC [ and friends) and the
 * bidirectional controls U+202A-U+202E and U+2066-U+2069 as \uNNNN, and each byte that is
 * not part of well-formed UTF-8 as \xNN. */
#ifndef MODL_ESCAPE_H
#define MODL_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

#include "strbuf.h"

enum escape_flags {
	ESCAPE_QUOTE = 1,     /* in double quotes, with " as \" */
	ESCAPE_BACKSLASH = 2, /* \ as \\, so that an escape cannot be forged (inspect) */
	ESCAPE_KEEP_LF = 4,   /* line feeds kept (a multi-line report), else \n */
};

/* Appends s[0..len) escaped; cut after max bytes of s, with " ... (N bytes)" noted. \t
 * is written \t, \n \n (unless ESCAPE_KEEP_LF). */
int escape_add(struct strbuf *sb, const char *s, size_t len, size_t max, unsigned flags);

/* A malloc'd escaped copy of the NUL-terminated s (no flags); NULL when out of memory. */
char *escape_dup(const char *s);

/* Writes s escaped (flags as above) to out; when out of memory, each byte that would need
 * escaping is written as '?'. */
void escape_fputs(const char *s, unsigned flags, FILE *out);

/* Escaped copies (no flags) that live until escape_pool_free: for the arguments of a
 * printf that mixes outside text with the program's own. */
struct escape_pool {
	char **items;
	size_t count;
};
#define ESCAPE_POOL_INIT \
	{                \
		NULL, 0  \
	}
/* The escaped copy of s, owned by the pool; NULL for NULL; "?" when out of memory. */
const char *escape_pool_str(struct escape_pool *pool, const char *s);
void escape_pool_free(struct escape_pool *pool);

/* Length of the well-formed UTF-8 sequence at s (1 to 4), or 0 with the number of bytes
 * that make one replacement (the maximal subpart, per the WHATWG decoder) in *bad. */
size_t escape_utf8_sequence(const unsigned char *s, size_t len, size_t *bad);

/* The code point of a well-formed sequence of n bytes at s. */
unsigned escape_code_point(const unsigned char *s, size_t n);

/* True for the code points escaped even though they are valid UTF-8: C1 and bidi
 * controls. */
int escape_is_hidden(unsigned cp);

/* JSON text (cJSON_Print's output) with DEL, C1 and bidi controls written as \u escapes
 * and ill-formed UTF-8 replaced by U+FFFD: the same document for a JSON reader, and
 * nothing that drives a terminal. Only valid inside strings, where such bytes can be. */
int escape_add_json_text(struct strbuf *sb, const char *text);

#endif
