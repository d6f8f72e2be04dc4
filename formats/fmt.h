/* What every reader and writer in formats/ shares: status codes, a one-line error
 * message, read-only file mappings, little-endian loads, UTF-8 validation, a byte
 * buffer and a name set.
 *
 * formats/ includes no src/ header (data flows cmd -> src -> formats), so it has its own
 * small status enum; src/ maps it onto MODL_E* codes. Every message names where the
 * problem is (offset, key, tensor) so that "modl: FILE: <message>" is enough to act on. */
#ifndef MODL_FMT_H
#define MODL_FMT_H

#include <stddef.h>
#include <stdint.h>

enum fmt_status {
	FMT_OK = 0,
	FMT_EIO = -1,          /* the operating system failed us: open, mmap, write */
	FMT_ENOMEM = -2,       /* out of memory (never caused by a length field alone) */
	FMT_ENOTFOUND = -4,    /* a file the input names does not exist */
	FMT_EINVALID = -8,     /* the bytes break the format */
	FMT_EUNSUPPORTED = -9, /* well-formed, but something this code does not handle */
};

struct fmt_error {
	char message[512];
};

/* Writes the message (when err is not NULL) and returns code. */
int fmt_error_set(struct fmt_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The one out-of-memory failure of formats/: FMT_ENOMEM, "out of memory". */
int fmt_error_oom(struct fmt_error *err);
/* Prefixes the message already in err with "prefix: ". */
void fmt_error_prefix(struct fmt_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A whole file mapped read-only. Pages are only read when touched, so opening a
 * 100 GB file and parsing its header reads the header and nothing else. */
struct fmt_map {
	const unsigned char *data; /* NULL for an empty file */
	uint64_t size;
};

/* Maps a regular file. FMT_ENOTFOUND when it does not exist, FMT_EIO otherwise. The
 * message does not repeat the path (the caller adds it). */
int fmt_map_open(struct fmt_map *map, const char *path, struct fmt_error *err);
void fmt_map_close(struct fmt_map *map);

/* Little-endian loads that work at any alignment and on any host. */
static inline uint16_t fmt_le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t fmt_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t fmt_le64(const unsigned char *p)
{
	return (uint64_t)fmt_le32(p) | (uint64_t)fmt_le32(p + 4) << 32;
}

/* 0 when data[0..len) is well-formed UTF-8 (no overlong forms, no surrogates, nothing
 * above U+10FFFF); otherwise -1 with the offset of the first bad byte in *bad. */
int fmt_utf8_check(const void *data, size_t len, size_t *bad);

/* A growable byte buffer for the writers. */
struct fmt_buf {
	unsigned char *data;
	size_t len, cap;
};

int fmt_buf_add(struct fmt_buf *b, const void *data, size_t len);
int fmt_buf_add_le16(struct fmt_buf *b, uint16_t v);
int fmt_buf_add_le32(struct fmt_buf *b, uint32_t v);
int fmt_buf_add_le64(struct fmt_buf *b, uint64_t v);
int fmt_buf_add_zeros(struct fmt_buf *b, size_t n);
void fmt_buf_free(struct fmt_buf *b);

/* A set of byte-string names (not NUL-terminated, may contain any byte) mapping each to a
 * size_t value: duplicate detection and lookup by name for keys and tensor names. The
 * names are not copied: they must outlive the set. */
struct fmt_nameset {
	struct fmt_nameset_slot *slots;
	size_t cap, count;
};

void fmt_nameset_init(struct fmt_nameset *set);
/* Adds name -> value. Returns 1 when added, 0 when the name was already there (its value
 * goes to *existing when not NULL), FMT_ENOMEM. */
int fmt_nameset_add(struct fmt_nameset *set, const char *name, size_t len, size_t value, size_t *existing);
/* 1 and the value in *value when present, else 0. */
int fmt_nameset_find(const struct fmt_nameset *set, const char *name, size_t len, size_t *value);
void fmt_nameset_free(struct fmt_nameset *set);

/* Writes all of data to fd (retrying short writes and EINTR). 0 or FMT_EIO. */
int fmt_write_all(int fd, const void *data, size_t len, struct fmt_error *err);

#endif
