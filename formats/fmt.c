/* Error messages, UTF-8 validation, byte buffers and full writes for formats/. */
#include "fmt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fmt_error_set(struct fmt_error *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return code;
}

int fmt_error_oom(struct fmt_error *err)
{
	return fmt_error_set(err, FMT_ENOMEM, "out of memory");
}

void fmt_error_prefix(struct fmt_error *err, const char *fmt, ...)
{
	char prefix[256];
	va_list ap;
	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	/* The message moves right to make room; its end is cut when both do not fit. */
	size_t cap = sizeof(err->message) - 1, plen = strlen(prefix) + 2;
	size_t mlen = strnlen(err->message, cap);
	if (plen > cap)
		plen = cap;
	if (mlen > cap - plen)
		mlen = cap - plen;
	memmove(err->message + plen, err->message, mlen);
	memcpy(err->message, prefix, plen - 2);
	memcpy(err->message + plen - 2, ": ", 2);
	err->message[plen + mlen] = '\0';
}

/* The table of well-formed sequences (Unicode 15, table 3-7): the second byte's range
 * depends on the first, which rules out overlong forms, surrogates and > U+10FFFF. */
int fmt_utf8_check(const void *data, size_t len, size_t *bad)
{
	const unsigned char *s = data;
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		size_t n;
		unsigned lo = 0x80, hi = 0xBF;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			if (c == 0xE0)
				lo = 0xA0;
			else if (c == 0xED)
				hi = 0x9F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F;
		} else {
			goto fail;
		}
		if (len - i <= n)
			goto fail;
		if (s[i + 1] < lo || s[i + 1] > hi)
			goto fail;
		for (size_t k = 2; k <= n; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xBF)
				goto fail;
		i += n + 1;
	}
	return 0;
fail:
	if (bad)
		*bad = i;
	return -1;
}

static int buf_reserve(struct fmt_buf *b, size_t extra)
{
	if (extra <= b->cap - b->len)
		return 0;
	if (extra > SIZE_MAX / 2 - b->len)
		return FMT_ENOMEM;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len < extra)
		cap *= 2;
	unsigned char *p = realloc(b->data, cap);
	if (!p)
		return FMT_ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int fmt_buf_add(struct fmt_buf *b, const void *data, size_t len)
{
	if (!len)
		return 0;
	if (buf_reserve(b, len))
		return FMT_ENOMEM;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

int fmt_buf_add_le16(struct fmt_buf *b, uint16_t v)
{
	unsigned char p[2] = { (unsigned char)v, (unsigned char)(v >> 8) };
	return fmt_buf_add(b, p, 2);
}

int fmt_buf_add_le32(struct fmt_buf *b, uint32_t v)
{
	unsigned char p[4];
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
	return fmt_buf_add(b, p, 4);
}

int fmt_buf_add_le64(struct fmt_buf *b, uint64_t v)
{
	unsigned char p[8];
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
	return fmt_buf_add(b, p, 8);
}

int fmt_buf_add_zeros(struct fmt_buf *b, size_t n)
{
	if (!n)
		return 0;
	if (buf_reserve(b, n))
		return FMT_ENOMEM;
	memset(b->data + b->len, 0, n);
	b->len += n;
	return 0;
}

void fmt_buf_free(struct fmt_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int fmt_write_all(int fd, const void *data, size_t len, struct fmt_error *err)
{
	const unsigned char *p = data;
	while (len) {
		/* Linux writes at most about 2 GB per call; ask for less to stay portable. */
		size_t chunk = len < ((size_t)1 << 30) ? len : (size_t)1 << 30;
		ssize_t n = write(fd, p, chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fmt_error_set(err, FMT_EIO, "write failed: %s",
					     n < 0 ? strerror(errno) : "no progress");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
