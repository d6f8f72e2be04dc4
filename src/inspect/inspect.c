/* modl inspect: recognises the input, opens it with the strict readers of formats/ and
 * turns their status into modl's error codes (every bad input exits 8 with the file's
 * name and what is wrong where); and sums the tensors up per type for the report. */
#include "inspect.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

static const char lfs_spec[] = "version https://git-lfs.github.com/spec/";

static int has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !strcmp(s + a - b, suffix);
}

/* A Git LFS pointer stands where the weights should be when a repository was cloned
 * without LFS: say so instead of "bad header". The size is on the pointer's last line. */
static int lfs_pointer(const char *path, const char *head, size_t n)
{
	if (n < sizeof(lfs_spec) - 1 || memcmp(head, lfs_spec, sizeof(lfs_spec) - 1))
		return 0;
	unsigned long long bytes = 0;
	for (size_t i = 0; i + 6 < n; i++)
		if (!memcmp(head + i, "\nsize ", 6)) {
			char digits[24] = "";
			size_t k = 0;
			while (k + 1 < sizeof(digits) && i + 6 + k < n && head[i + 6 + k] >= '0' &&
			       head[i + 6 + k] <= '9') {
				digits[k] = head[i + 6 + k];
				k++;
			}
			bytes = strtoull(digits, NULL, 10);
			break;
		}
	return modl_error_set(
		MODL_EINVALID,
		"%s: a Git LFS pointer, not the file's content (%llu bytes); fetch it with 'git lfs pull' or 'modl pull'",
		path, bytes);
}

int inspect_open(struct inspect_report **out, const char *path)
{
	struct inspect_report *r = calloc(1, sizeof(*r));
	struct fmt_error err = { "" };
	char head[256];
	ssize_t n = 0;
	struct stat st;
	int rc = 0, fd = -1;
	*out = NULL;
	if (!r || !(r->path = strdup(path))) {
		rc = modl_error_oom();
		goto out;
	}
	if (stat(path, &st)) {
		rc = modl_error_errno(errno == ENOENT ? MODL_ENOTFOUND : MODL_EFAIL, errno, "%s", path);
		goto out;
	}
	/* A pipe or a device would block or have no size: only files and directories. */
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		rc = modl_error_set(MODL_EINVALID, "%s: not a regular file or a directory", path);
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || (n = read(fd, head, sizeof(head))) < 0) {
			rc = modl_error_errno(MODL_EFAIL, errno, "%s", path);
			goto out;
		}
		if ((rc = lfs_pointer(path, head, (size_t)n)))
			goto out;
	}
	/* GGUF by its magic or its name (a bad magic in a .gguf is then reported as such);
	 * anything else is safetensors: a file, a directory or an index. */
	if (!S_ISDIR(st.st_mode) && ((n >= 4 && !memcmp(head, "GGUF", 4)) || has_suffix(path, ".gguf")))
		rc = gguf_read_open(&r->gguf, path, &err);
	else
		rc = safetensors_open(&r->safetensors, path, &err);
	if (rc)
		rc = modl_error_from_fmt(rc, path, err.message);
out:
	if (fd >= 0)
		close(fd);
	if (rc)
		inspect_close(r);
	else
		*out = r;
	return rc;
}

void inspect_close(struct inspect_report *r)
{
	if (!r)
		return;
	gguf_read_close(r->gguf);
	safetensors_close(r->safetensors);
	free(r->path);
	free(r);
}

/* Both readers have checked that every tensor's data fits in its file: the sums cannot
 * overflow. */
static void count_tensor(struct inspect_total *k, struct inspect_total *all, uint64_t bytes,
			 uint64_t parameters)
{
	k->tensors++;
	k->bytes += bytes;
	k->parameters += parameters;
	all->tensors++;
	all->bytes += bytes;
	all->parameters += parameters;
}

void inspect_gguf_totals(const struct gguf_reader *g, struct inspect_total *by_type,
			 struct inspect_total *all)
{
	memset(by_type, 0, GGUF_TENSOR_COUNT * sizeof(*by_type));
	memset(all, 0, sizeof(*all));
	for (size_t i = 0; i < gguf_read_tensor_count(g); i++) {
		const struct gguf_tensor_info *t = gguf_read_tensor(g, i);
		count_tensor(&by_type[t->type], all, t->size, t->n_elements);
	}
}

void inspect_safetensors_totals(const struct safetensors *st, struct inspect_total *by_dtype,
				struct inspect_total *all)
{
	memset(by_dtype, 0, SAFETENSORS_DTYPE_COUNT * sizeof(*by_dtype));
	memset(all, 0, sizeof(*all));
	for (size_t i = 0; i < safetensors_tensor_count(st); i++) {
		const struct safetensors_tensor *t = safetensors_tensor(st, i);
		count_tensor(&by_dtype[t->dtype], all, t->end - t->begin, t->n_elements);
	}
}

static int same_entry(const struct safetensors_metadata_entry *a, const struct safetensors_metadata_entry *b)
{
	return a->key_len == b->key_len && a->value_len == b->value_len &&
	       !memcmp(a->key, b->key, a->key_len) && !memcmp(a->value, b->value, a->value_len);
}

int inspect_metadata_is_common(const struct safetensors *st, const struct safetensors_metadata_entry *e)
{
	for (size_t f = 1; f < safetensors_file_count(st); f++) {
		int found = 0;
		for (size_t i = 0; !found && i < safetensors_metadata_count(st, f); i++)
			found = same_entry(e, safetensors_metadata(st, f, i));
		if (!found)
			return 0;
	}
	return 1;
}
