/* Growable byte strings, always NUL-terminated, used instead of ad-hoc buffers. */
#ifndef MODL_STRBUF_H
#define MODL_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	char *buf; /* never NULL after strbuf_init: "" when empty */
	size_t len;
	size_t alloc;
};

#define STRBUF_INIT        \
	{                  \
		NULL, 0, 0 \
	}

void strbuf_init(struct strbuf *sb);
void strbuf_free(struct strbuf *sb);
/* Hands the buffer to the caller (who frees it) and leaves sb empty. */
char *strbuf_take(struct strbuf *sb);
int strbuf_grow(struct strbuf *sb, size_t extra);
int strbuf_add(struct strbuf *sb, const void *data, size_t len);
int strbuf_adds(struct strbuf *sb, const char *s);
int strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void strbuf_reset(struct strbuf *sb);
/* Appends s percent-encoded for a URL; '/' is kept when keep_slash is set. */
int strbuf_add_urlencoded(struct strbuf *sb, const char *s, int keep_slash);
/* Appends a byte count in human units (1.5 GB, 312 kB: decimal, like hf). */
int strbuf_add_size(struct strbuf *sb, unsigned long long bytes);

#endif
