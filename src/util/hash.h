/* Streaming content hashes on OpenSSL EVP: sha256 (LFS files, blob names of 64 hex) and
 * the git blob sha1, sha1("blob <len>\0" + content) (other files, names of 40 hex). */
#ifndef MODL_HASH_H
#define MODL_HASH_H

#include <stddef.h>

enum hash_kind { HASH_SHA256, HASH_GIT_SHA1 };

/* Hex digits of each hash, and buffer sizes with the terminating NUL: HASH_HEX_BUF holds
 * either hash (a blob's name), HASH_COMMIT_BUF a git commit or object id. */
#define HASH_SHA256_HEX 64
#define HASH_SHA1_HEX 40
#define HASH_HEX_BUF (HASH_SHA256_HEX + 1)
#define HASH_COMMIT_BUF (HASH_SHA1_HEX + 1)

struct hasher;

/* content_len is needed up front by the git blob header. */
int hasher_new(struct hasher **out, enum hash_kind kind, unsigned long long content_len);
int hasher_update(struct hasher *h, const void *data, size_t len);
/* Writes the lowercase hex digest (65 bytes with NUL) and frees the hasher. */
int hasher_finish(struct hasher *h, char hex[HASH_HEX_BUF]);
void hasher_free(struct hasher *h);

/* The kind a blob name or etag stands for: 64 hex → sha256, 40 hex → git sha1;
 * -1 when it is neither. */
int hash_kind_of(const char *hex);

/* Hashes size bytes of an open file from offset 0 with pread (no seek: safe to share). */
int hash_fd(int fd, unsigned long long size, enum hash_kind kind, char hex[HASH_HEX_BUF]);

/* Hashes a file by path. */
int hash_file(const char *path, enum hash_kind kind, char hex[HASH_HEX_BUF], unsigned long long *size);

#endif
