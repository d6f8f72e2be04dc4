/* modl inspect: recognises the input, opens it with the strict readers of formats/ and
 * turns their status into modl's error codes (every bad input exits 8 with the file's
 * name and what is wrong where). */
#include "inspect_internal.h"

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
	return modl_error_set(MODL_EINVALID,
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

cJSON *inspect_to_json(const struct inspect_report *r, int tensors)
{
	return r->gguf ? inspect_gguf_json(r, tensors) : inspect_safetensors_json(r, tensors);
}

int inspect_to_text(const struct inspect_report *r, int tensors, struct strbuf *out)
{
	int rc = r->gguf ? inspect_gguf_text(r, tensors, out) : inspect_safetensors_text(r, tensors, out);
	return rc ? modl_error_oom() : 0;
}

cJSON *inspect_total_json(const struct inspect_total *k)
{
	cJSON *o = cJSON_CreateObject();
	if (o) {
		cJSON_AddItemToObject(o, "tensors", inspect_json_u64(k->tensors));
		cJSON_AddItemToObject(o, "parameters", inspect_json_u64(k->parameters));
		cJSON_AddItemToObject(o, "bytes", inspect_json_u64(k->bytes));
	}
	return o;
}
