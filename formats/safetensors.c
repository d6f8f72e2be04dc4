/* The safetensors reader's public face: opening a file, a directory or a sharded index,
 * the accessors, and the row-by-row conversion to F32. */
#include "safetensors_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct safetensors {
	struct safetensors_file *files;
	size_t file_count;
	struct safetensors_tensor_list tensors;
	struct fmt_nameset names;
	char *index_path;
	int has_total_size;
	uint64_t total_size;
};

/* ---- dtypes --------------------------------------------------------------------------- */

static const struct {
	const char *name;
	unsigned bits;
	/* clang-format off */
} dtypes[SAFETENSORS_DTYPE_COUNT] = {
	{ "BOOL", 8 }, { "F4", 4 }, { "F6_E2M3", 6 }, { "F6_E3M2", 6 }, { "U8", 8 },
	{ "I8", 8 }, { "F8_E5M2", 8 }, { "F8_E4M3", 8 }, { "F8_E8M0", 8 },
	{ "F8_E4M3FNUZ", 8 }, { "F8_E5M2FNUZ", 8 }, { "I16", 16 }, { "U16", 16 },
	{ "F16", 16 }, { "BF16", 16 }, { "I32", 32 }, { "U32", 32 }, { "F32", 32 },
	{ "C64", 64 }, { "F64", 64 }, { "I64", 64 }, { "U64", 64 },
};
/* clang-format on */

const char *safetensors_dtype_name(enum safetensors_dtype dtype)
{
	return (unsigned)dtype < SAFETENSORS_DTYPE_COUNT ? dtypes[dtype].name : "?";
}

unsigned safetensors_dtype_bits(enum safetensors_dtype dtype)
{
	return (unsigned)dtype < SAFETENSORS_DTYPE_COUNT ? dtypes[dtype].bits : 0;
}

int safetensors_dtype_from_name(const char *name, enum safetensors_dtype *out)
{
	for (int i = 0; i < SAFETENSORS_DTYPE_COUNT; i++)
		if (!strcmp(dtypes[i].name, name)) {
			*out = (enum safetensors_dtype)i;
			return 0;
		}
	return FMT_EINVALID;
}

/* ---- opening -------------------------------------------------------------------------- */

static int add_file(struct safetensors *st, struct safetensors_file **out, struct fmt_error *err)
{
	void *p = realloc(st->files, (st->file_count + 1) * sizeof(*st->files));
	if (!p)
		return fmt_error_oom(err);
	st->files = p;
	*out = memset(&st->files[st->file_count++], 0, sizeof(**out));
	return 0;
}

static char *join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = malloc(a + b + 2);
	if (p) {
		memcpy(p, dir, a);
		p[a] = '/';
		memcpy(p + a + 1, name, b + 1);
	}
	return p;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* Maps and parses one file; with several files, messages start with the file's name. */
static int load_file(struct safetensors *st, char *path, int label, struct fmt_error *err)
{
	struct safetensors_file *f;
	int rc = add_file(st, &f, err);
	if (rc) {
		free(path);
		return rc;
	}
	f->path = path;
	if (!(rc = fmt_map_open(&f->map, path, err))) {
		f->data = f->map.data;
		f->size = f->map.size;
		rc = safetensors_parse_header(f, st->file_count - 1, &st->tensors, err);
	}
	if (rc && label)
		fmt_error_prefix(err, "%s", base_name(path));
	return rc;
}

/* Names are unique across all files of a checkpoint. */
static int index_names(struct safetensors *st, struct fmt_error *err)
{
	for (size_t i = 0; i < st->tensors.count; i++) {
		const struct safetensors_tensor *t = &st->tensors.items[i];
		size_t first;
		int added = fmt_nameset_add(&st->names, t->name, strlen(t->name), i, &first);
		if (added < 0)
			return fmt_error_oom(err);
		if (!added)
			return fmt_error_set(err, FMT_EINVALID, "tensor '%s' is in both %s and %s", t->name,
					     base_name(st->files[st->tensors.items[first].file].path),
					     base_name(st->files[t->file].path));
	}
	return 0;
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every weight_map entry is found in the shard it names, and nothing else is there. */
static int check_weight_map(struct safetensors *st, const struct safetensors_index *index,
			    struct fmt_error *err)
{
	for (size_t i = 0; i < index->count; i++) {
		size_t at;
		if (!fmt_nameset_find(&st->names, index->names[i], strlen(index->names[i]), &at))
			return fmt_error_set(err, FMT_EINVALID,
					     "weight_map lists tensor '%s' in %s, which does not hold it",
					     index->names[i], index->shards[i]);
		const char *holder = base_name(st->files[st->tensors.items[at].file].path);
		if (strcmp(holder, index->shards[i]))
			return fmt_error_set(err, FMT_EINVALID,
					     "tensor '%s' is in %s but weight_map puts it in %s",
					     index->names[i], holder, index->shards[i]);
	}
	if (st->tensors.count != index->count) {
		struct fmt_nameset listed;
		int rc = 0;
		fmt_nameset_init(&listed);
		for (size_t i = 0; i < index->count && !rc; i++)
			if (fmt_nameset_add(&listed, index->names[i], strlen(index->names[i]), i, NULL) < 0)
				rc = fmt_error_oom(err);
		for (size_t i = 0; i < st->tensors.count && !rc; i++) {
			const struct safetensors_tensor *t = &st->tensors.items[i];
			if (!fmt_nameset_find(&listed, t->name, strlen(t->name), NULL))
				rc = fmt_error_set(err, FMT_EINVALID,
						   "tensor '%s' in %s is not listed in weight_map", t->name,
						   base_name(st->files[t->file].path));
		}
		fmt_nameset_free(&listed);
		return rc;
	}
	return 0;
}

static int open_index(struct safetensors *st, const char *path, struct fmt_error *err)
{
	struct safetensors_index index = { 0 };
	struct fmt_map map = { 0 };
	char *dir = NULL, **shards = NULL;
	int rc;
	if ((rc = fmt_map_open(&map, path, err)))
		goto out;
	if (map.size > SAFETENSORS_MAX_INDEX) {
		rc = fmt_error_set(err, FMT_EINVALID, "index is %llu bytes, over the limit of %d",
				   (unsigned long long)map.size, SAFETENSORS_MAX_INDEX);
		goto out;
	}
	if ((rc = safetensors_index_parse(&index, (const char *)map.data, (size_t)map.size, err)))
		goto out;
	st->index_path = strdup(path);
	dir = strdup(path);
	shards = malloc((index.count ? index.count : 1) * sizeof(*shards));
	if (!st->index_path || !dir || !shards) {
		rc = fmt_error_oom(err);
		goto out;
	}
	st->has_total_size = index.has_total_size;
	st->total_size = index.total_size;
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	/* The shards: the sorted unique values of weight_map (as transformers does). */
	memcpy(shards, index.shards, index.count * sizeof(*shards));
	qsort(shards, index.count, sizeof(*shards), by_string);
	for (size_t i = 0; i < index.count; i++) {
		if (i && !strcmp(shards[i], shards[i - 1]))
			continue;
		char *shard = join(dir, shards[i]);
		if (!shard) {
			rc = fmt_error_oom(err);
			goto out;
		}
		if ((rc = load_file(st, shard, 1, err))) {
			/* A shard that is not there is a broken checkpoint, not a missing input. */
			if (rc == FMT_ENOTFOUND)
				rc = FMT_EINVALID;
			goto out;
		}
	}
	if (!(rc = index_names(st, err)))
		rc = check_weight_map(st, &index, err);
out:
	free(shards);
	free(dir);
	safetensors_index_free(&index);
	fmt_map_close(&map);
	return rc;
}

static int is_regular(const char *path)
{
	struct stat s;
	return !stat(path, &s) && S_ISREG(s.st_mode);
}

static int has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !strcmp(s + a - b, suffix);
}

/* A directory: its index, else model.safetensors, else model*.safetensors (sorted), the
 * order in which llama.cpp's converter looks. */
static int open_directory(struct safetensors *st, const char *path, struct fmt_error *err)
{
	char *candidate = join(path, "model.safetensors.index.json"), **names = NULL;
	size_t count = 0, cap = 0;
	DIR *d = NULL;
	int rc = 0;
	if (!candidate)
		return fmt_error_oom(err);
	if (is_regular(candidate)) {
		rc = open_index(st, candidate, err);
		goto out;
	}
	free(candidate);
	if (!(candidate = join(path, "model.safetensors")))
		return fmt_error_oom(err);
	if (is_regular(candidate)) {
		rc = load_file(st, candidate, 1, err);
		candidate = NULL;
		if (!rc)
			rc = index_names(st, err);
		goto out;
	}
	if (!(d = opendir(path))) {
		rc = fmt_error_set(err, FMT_EIO, "cannot read the directory: %s", strerror(errno));
		goto out;
	}
	for (struct dirent *e; (e = readdir(d));) {
		if (strncmp(e->d_name, "model", 5) || !has_suffix(e->d_name, ".safetensors"))
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			void *p = realloc(names, cap * sizeof(*names));
			if (!p) {
				rc = fmt_error_oom(err);
				goto out;
			}
			names = p;
		}
		if (!(names[count] = strdup(e->d_name))) {
			rc = fmt_error_oom(err);
			goto out;
		}
		count++;
	}
	if (!count) {
		rc = fmt_error_set(
			err, FMT_ENOTFOUND,
			"no model.safetensors.index.json, model.safetensors or model*.safetensors in the directory");
		goto out;
	}
	qsort(names, count, sizeof(*names), by_string);
	for (size_t i = 0; i < count && !rc; i++) {
		char *file = join(path, names[i]);
		rc = file ? load_file(st, file, 1, err) : fmt_error_oom(err);
	}
	if (!rc)
		rc = index_names(st, err);
out:
	if (d)
		closedir(d);
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	free(candidate);
	return rc;
}

int safetensors_open(struct safetensors **out, const char *path, struct fmt_error *err)
{
	struct safetensors *st = calloc(1, sizeof(*st));
	struct stat s;
	int rc;
	*out = NULL;
	if (!st)
		return fmt_error_oom(err);
	fmt_nameset_init(&st->names);
	if (stat(path, &s)) {
		rc = fmt_error_set(err, errno == ENOENT ? FMT_ENOTFOUND : FMT_EIO, "cannot open: %s",
				   strerror(errno));
	} else if (S_ISDIR(s.st_mode)) {
		rc = open_directory(st, path, err);
	} else if (has_suffix(path, ".json")) {
		rc = open_index(st, path, err);
	} else {
		char *copy = strdup(path);
		rc = copy ? load_file(st, copy, 0, err) : fmt_error_oom(err);
		if (!rc)
			rc = index_names(st, err);
	}
	if (rc)
		safetensors_close(st);
	else
		*out = st;
	return rc;
}

int safetensors_open_memory(struct safetensors **out, const void *data, size_t size, struct fmt_error *err)
{
	struct safetensors *st = calloc(1, sizeof(*st));
	struct safetensors_file *f;
	int rc;
	*out = NULL;
	if (!st)
		return fmt_error_oom(err);
	fmt_nameset_init(&st->names);
	if (!(rc = add_file(st, &f, err))) {
		f->data = data;
		f->size = size;
		rc = safetensors_parse_header(f, 0, &st->tensors, err);
	}
	if (!rc)
		rc = index_names(st, err);
	if (rc)
		safetensors_close(st);
	else
		*out = st;
	return rc;
}

void safetensors_close(struct safetensors *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->file_count; i++)
		safetensors_file_clear(&st->files[i]);
	free(st->files);
	safetensors_tensor_list_free(&st->tensors);
	fmt_nameset_free(&st->names);
	free(st->index_path);
	free(st);
}

/* ---- accessors ------------------------------------------------------------------------ */

size_t safetensors_file_count(const struct safetensors *st)
{
	return st->file_count;
}

const char *safetensors_file_path(const struct safetensors *st, size_t file)
{
	return file < st->file_count ? st->files[file].path : NULL;
}

uint64_t safetensors_file_size(const struct safetensors *st, size_t file)
{
	return file < st->file_count ? st->files[file].size : 0;
}

uint64_t safetensors_file_header_size(const struct safetensors *st, size_t file)
{
	return file < st->file_count ? st->files[file].header_size : 0;
}

int safetensors_file_has_metadata(const struct safetensors *st, size_t file)
{
	return file < st->file_count && st->files[file].has_metadata;
}

size_t safetensors_metadata_count(const struct safetensors *st, size_t file)
{
	return file < st->file_count ? st->files[file].metadata_count : 0;
}

const struct safetensors_metadata_entry *safetensors_metadata(const struct safetensors *st, size_t file,
							      size_t i)
{
	if (file >= st->file_count || i >= st->files[file].metadata_count)
		return NULL;
	return &st->files[file].metadata[i];
}

const char *safetensors_index_path(const struct safetensors *st)
{
	return st->index_path;
}

int safetensors_index_total_size(const struct safetensors *st, uint64_t *total_size)
{
	if (st->has_total_size)
		*total_size = st->total_size;
	return st->has_total_size;
}

size_t safetensors_tensor_count(const struct safetensors *st)
{
	return st->tensors.count;
}

const struct safetensors_tensor *safetensors_tensor(const struct safetensors *st, size_t i)
{
	return i < st->tensors.count ? &st->tensors.items[i] : NULL;
}

long safetensors_find(const struct safetensors *st, const char *name)
{
	size_t i;
	return fmt_nameset_find(&st->names, name, strlen(name), &i) ? (long)i : -1;
}

const void *safetensors_tensor_data(const struct safetensors *st, size_t i)
{
	if (i >= st->tensors.count)
		return NULL;
	const struct safetensors_tensor *t = &st->tensors.items[i];
	const struct safetensors_file *f = &st->files[t->file];
	return f->data ? f->data + t->file_offset : NULL;
}
