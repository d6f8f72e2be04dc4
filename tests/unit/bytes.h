/* A growing byte buffer for the unit tests that write files by hand (GGUF, imatrix):
 * little-endian integers, appended in order. */
#ifndef MODL_TEST_BYTES_H
#define MODL_TEST_BYTES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

struct bytes {
	unsigned char *data;
	size_t len;
};

static inline void put(struct bytes *b, const void *p, size_t n)
{
	b->data = realloc(b->data, b->len + n + 1);
	assert_non_null(b->data);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

static inline void put_u8(struct bytes *b, uint8_t v)
{
	put(b, &v, 1);
}

static inline void put_u32(struct bytes *b, uint32_t v)
{
	unsigned char p[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 24) };
	put(b, p, 4);
}

static inline void put_u64(struct bytes *b, uint64_t v)
{
	put_u32(b, (uint32_t)v);
	put_u32(b, (uint32_t)(v >> 32));
}

#endif
