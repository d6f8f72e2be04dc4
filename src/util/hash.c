#include "hash.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HASH_READ_CHUNK (1u << 20)

struct hasher {
	EVP_MD_CTX *ctx;
	enum hash_kind kind;
};

int hasher_new(struct hasher **out, enum hash_kind kind, unsigned long long content_len)
{
	struct hasher *h = calloc(1, sizeof(*h));
	if (!h || !(h->ctx = EVP_MD_CTX_new())) {
		free(h);
		return modl_error_oom();
	}
	h->kind = kind;
	const EVP_MD *md = kind == HASH_SHA256 ? EVP_sha256() : EVP_sha1();
	if (EVP_DigestInit_ex(h->ctx, md, NULL) != 1) {
		hasher_free(h);
		return modl_error_set(MODL_EFAIL, "cannot initialise a hash");
	}
	if (kind == HASH_GIT_SHA1) {
		char header[32];
		int n = snprintf(header, sizeof(header), "blob %llu", content_len);
		/* the header includes its terminating NUL */
		if (EVP_DigestUpdate(h->ctx, header, (size_t)n + 1) != 1) {
			hasher_free(h);
			return modl_error_set(MODL_EFAIL, "hash update failed");
		}
	}
	*out = h;
	return 0;
}

int hasher_update(struct hasher *h, const void *data, size_t len)
{
	if (EVP_DigestUpdate(h->ctx, data, len) != 1)
		return modl_error_set(MODL_EFAIL, "hash update failed");
	return 0;
}

int hasher_finish(struct hasher *h, char hex[HASH_HEX_BUF])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	int ok = EVP_DigestFinal_ex(h->ctx, md, &len) == 1;
	hasher_free(h);
	if (!ok)
		return modl_error_set(MODL_EFAIL, "hash finalisation failed");
	for (unsigned int i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[2 * len] = '\0';
	return 0;
}

void hasher_free(struct hasher *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

int hash_kind_of(const char *hex)
{
	size_t n = 0;
	for (; hex[n]; n++)
		if (!((hex[n] >= '0' && hex[n] <= '9') || (hex[n] >= 'a' && hex[n] <= 'f')))
			return -1;
	return n == HASH_SHA256_HEX ? HASH_SHA256 : n == HASH_SHA1_HEX ? HASH_GIT_SHA1 : -1;
}

int hash_fd(int fd, unsigned long long size, enum hash_kind kind, char hex[HASH_HEX_BUF])
{
	struct hasher *h;
	int rc = hasher_new(&h, kind, size);
	if (rc)
		return rc;
	char *buf = malloc(HASH_READ_CHUNK);
	if (!buf) {
		hasher_free(h);
		return modl_error_oom();
	}
	unsigned long long off = 0;
	while (off < size) {
		size_t want = size - off < HASH_READ_CHUNK ? (size_t)(size - off) : HASH_READ_CHUNK;
		ssize_t n = pread(fd, buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? modl_error_errno(MODL_EFAIL, errno, "read failed")
				   : modl_error_set(MODL_EINTEGRITY, "file shorter than expected");
			break;
		}
		if ((rc = hasher_update(h, buf, (size_t)n)))
			break;
		off += (unsigned long long)n;
	}
	free(buf);
	if (rc) {
		hasher_free(h);
		return rc;
	}
	return hasher_finish(h, hex);
}

int hash_file(const char *path, enum hash_kind kind, char hex[HASH_HEX_BUF], unsigned long long *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return modl_error_errno(errno == ENOENT ? MODL_ENOTFOUND : MODL_EFAIL, errno,
					"cannot open %s", path);
	struct stat st;
	int rc = fstat(fd, &st) == 0 ? 0 : modl_error_errno(MODL_EFAIL, errno, "cannot stat %s", path);
	if (!rc) {
		rc = hash_fd(fd, (unsigned long long)st.st_size, kind, hex);
		if (rc)
			modl_error_prefix("%s", path);
	}
	if (!rc && size)
		*size = (unsigned long long)st.st_size;
	close(fd);
	return rc;
}
