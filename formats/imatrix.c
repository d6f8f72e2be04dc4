/* The importance-matrix reader (doc/gguf.md §7). Every length and count is checked
 * against the bytes left before anything is allocated for it: the values of all entries
 * together take at most as many bytes as the file holds. */
#include "imatrix.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"

#define U64(x) ((unsigned long long)(x))

/* A legacy entry takes at least a name length, one name byte, ncall, nval and one value. */
#define LEGACY_MIN_ENTRY_BYTES 17

static const char in_sum2_suffix[] = ".in_sum2";
static const char counts_suffix[] = ".counts";

static int read_gguf(struct imatrix *im, const void *data, size_t size, struct fmt_error *err);
static int read_legacy(struct imatrix *im, const unsigned char *data, size_t size, struct fmt_error *err);

int imatrix_read_file(struct imatrix **out, const char *path, struct fmt_error *err)
{
	struct fmt_map map;
	int rc;
	*out = NULL;
	if ((rc = fmt_map_open(&map, path, err)))
		return rc;
	rc = imatrix_read_memory(out, map.data, (size_t)map.size, err);
	fmt_map_close(&map);
	return rc;
}

int imatrix_read_memory(struct imatrix **out, const void *data, size_t size, struct fmt_error *err)
{
	struct imatrix *im = calloc(1, sizeof(*im));
	int rc;
	*out = NULL;
	if (!im)
		return fmt_error_oom(err);
	fmt_nameset_init(&im->names);
	/* The content decides: a legacy file starts with its entry count, and "GGUF" read as
	 * one would be over a billion entries, which no file of that size can hold. */
	if (size >= 4 && !memcmp(data, "GGUF", 4)) {
		im->format = IMATRIX_GGUF;
		rc = read_gguf(im, data, size, err);
	} else {
		im->format = IMATRIX_LEGACY;
		rc = read_legacy(im, data, size, err);
	}
	if (rc)
		imatrix_free(im);
	else
		*out = im;
	return rc;
}

const struct imatrix_entry *imatrix_find(const struct imatrix *im, const char *name)
{
	size_t i;
	return fmt_nameset_find(&im->names, name, strlen(name), &i) ? &im->entries[i] : NULL;
}

void imatrix_free(struct imatrix *im)
{
	if (!im)
		return;
	for (size_t i = 0; i < im->n_entries; i++) {
		free(im->entries[i].name);
		free(im->entries[i].values);
	}
	for (size_t i = 0; i < im->n_datasets; i++)
		free(im->datasets[i]);
	free(im->entries);
	free(im->datasets);
	fmt_nameset_free(&im->names);
	free(im);
}

/* ---- shared ------------------------------------------------------------------------- */

static float load_f32(const unsigned char *p)
{
	uint32_t bits = fmt_le32(p);
	float f;
	memcpy(&f, &bits, sizeof(f));
	return f;
}

/* Appends an entry with room for n_values, after checking its name. The message names
 * the entry; the caller adds where it is. */
static int add_entry(struct imatrix *im, const char *name, size_t len, uint64_t n_values,
		     struct fmt_error *err, struct imatrix_entry **out)
{
	struct imatrix_entry *e;
	size_t first;
	int rc;
	if (!len || len > IMATRIX_NAME_MAX)
		return fmt_error_set(err, FMT_EINVALID, "entry name of %zu bytes (1 to %d)", len,
				     IMATRIX_NAME_MAX);
	if (memchr(name, '\0', len))
		return fmt_error_set(err, FMT_EINVALID, "entry name '%s' contains a NUL byte", name);
	/* Doubling at powers of two: the array is full exactly then. */
	if (!(im->n_entries & (im->n_entries - 1))) {
		void *grown = realloc(im->entries, (im->n_entries ? 2 * im->n_entries : 1) * sizeof(*e));
		if (!grown)
			return fmt_error_oom(err);
		im->entries = grown;
	}
	e = &im->entries[im->n_entries];
	memset(e, 0, sizeof(*e));
	e->name = malloc(len + 1);
	e->values = malloc(n_values * sizeof(float));
	if (!e->name || !e->values) {
		free(e->name);
		free(e->values);
		return fmt_error_oom(err);
	}
	memcpy(e->name, name, len);
	e->name[len] = '\0';
	e->n_values = n_values;
	im->n_entries++;
	rc = fmt_nameset_add(&im->names, e->name, len, im->n_entries - 1, &first);
	if (rc < 0)
		return fmt_error_oom(err);
	if (rc == 0)
		return fmt_error_set(err, FMT_EINVALID, "duplicate entry '%s' (first as entry %zu)", e->name,
				     first);
	*out = e;
	return 0;
}

/* llama-quantize refuses an imatrix with a non-finite importance ("imatrix contains
 * non-finite value"); here the file is refused at once. */
static int check_finite(const struct imatrix_entry *e, struct fmt_error *err)
{
	for (uint64_t k = 0; k < e->n_values; k++)
		if (!isfinite(e->values[k]))
			return fmt_error_set(err, FMT_EINVALID,
					     "entry '%s': importance %llu is %g (not finite)", e->name,
					     U64(k), (double)e->values[k]);
	return 0;
}

static int add_dataset(struct imatrix *im, const char *name, size_t len, struct fmt_error *err)
{
	char **grown, *copy;
	if (memchr(name, '\0', len))
		return fmt_error_set(err, FMT_EINVALID, "dataset name %zu contains a NUL byte",
				     im->n_datasets);
	if (!(grown = realloc(im->datasets, (im->n_datasets + 1) * sizeof(*grown))))
		return fmt_error_oom(err);
	im->datasets = grown;
	if (!(copy = malloc(len + 1)))
		return fmt_error_oom(err);
	memcpy(copy, name, len);
	copy[len] = '\0';
	im->datasets[im->n_datasets++] = copy;
	return 0;
}

/* ---- legacy .dat -------------------------------------------------------------------- */

struct cursor {
	const unsigned char *data;
	size_t size, pos;
	struct fmt_error *err;
};

static int take(struct cursor *c, size_t n, const char *what, const unsigned char **p)
{
	if (c->size - c->pos < n)
		return fmt_error_set(c->err, FMT_EINVALID,
				     "truncated: %s at offset %zu needs %zu bytes, only %zu left", what,
				     c->pos, n, c->size - c->pos);
	*p = c->data + c->pos;
	c->pos += n;
	return 0;
}

static int take_i32(struct cursor *c, const char *what, int32_t *v)
{
	const unsigned char *p = NULL;
	int rc = take(c, 4, what, &p);
	if (!rc)
		*v = (int32_t)fmt_le32(p);
	return rc;
}

/* i32 name length, name, i32 ncall, i32 nval, nval f32 (importance x ncall). */
static int read_legacy_entry(struct imatrix *im, struct cursor *c, int32_t index)
{
	const unsigned char *name = NULL, *sums = NULL;
	struct imatrix_entry *e;
	int32_t len, ncall, nval;
	size_t at = c->pos;
	int rc;
	if ((rc = take_i32(c, "entry name length", &len)))
		return rc;
	if (len < 1 || len > IMATRIX_NAME_MAX)
		return fmt_error_set(c->err, FMT_EINVALID, "entry %d at offset %zu: name length %d (1 to %d)",
				     index, at, len, IMATRIX_NAME_MAX);
	if ((rc = take(c, (size_t)len, "entry name", &name)) || (rc = take_i32(c, "call count", &ncall)) ||
	    (rc = take_i32(c, "value count", &nval)))
		return rc;
	if (ncall < 0)
		return fmt_error_set(c->err, FMT_EINVALID, "entry %d at offset %zu: negative call count %d",
				     index, at, ncall);
	if (nval < 1)
		return fmt_error_set(c->err, FMT_EINVALID,
				     "entry %d at offset %zu: value count %d (at least 1)", index, at, nval);
	if ((rc = take(c, (size_t)nval * 4, "entry values", &sums)))
		return rc;
	if ((rc = add_entry(im, (const char *)name, (size_t)len, (uint64_t)nval, c->err, &e))) {
		fmt_error_prefix(c->err, "entry %d at offset %zu", index, at);
		return rc;
	}
	e->n_mat = 1;
	/* quantize.cpp: sums / ncall, ncall an integer converted to float (so rounded above
	 * 2^24); with ncall 0 the stored values as they are. */
	for (int32_t k = 0; k < nval; k++) {
		float sum = load_f32(sums + 4 * (size_t)k);
		e->values[k] = ncall > 0 ? sum / (float)ncall : sum;
	}
	return check_finite(e, c->err);
}

/* After the entries: nothing (the oldest files), an i32 chunk count alone (older ones),
 * or the chunk count, an i32 length and the dataset name (what llama-imatrix writes). */
static int read_legacy_trailer(struct imatrix *im, struct cursor *c)
{
	const unsigned char *name = NULL;
	int32_t chunks, len;
	size_t at = c->pos;
	int rc;
	if (c->pos == c->size)
		return 0;
	if ((rc = take_i32(c, "chunk count", &chunks)))
		return rc;
	if (chunks < 0)
		return fmt_error_set(c->err, FMT_EINVALID, "negative chunk count %d at offset %zu", chunks,
				     at);
	im->chunk_count = chunks;
	if (c->pos == c->size)
		return 0;
	at = c->pos;
	if ((rc = take_i32(c, "dataset name length", &len)))
		return rc;
	if (len < 0)
		return fmt_error_set(c->err, FMT_EINVALID, "negative dataset name length %d at offset %zu",
				     len, at);
	if ((rc = take(c, (size_t)len, "dataset name", &name)))
		return rc;
	if (len && (rc = add_dataset(im, (const char *)name, (size_t)len, c->err)))
		return rc;
	if (c->pos != c->size)
		return fmt_error_set(c->err, FMT_EINVALID,
				     "%zu unexpected bytes after the dataset name at offset %zu",
				     c->size - c->pos, c->pos);
	return 0;
}

static int read_legacy(struct imatrix *im, const unsigned char *data, size_t size, struct fmt_error *err)
{
	struct cursor c = { data, size, 0, err };
	int32_t n;
	int rc;
	if ((rc = take_i32(&c, "entry count", &n)))
		return rc;
	if (n < 1)
		return fmt_error_set(err, FMT_EINVALID, "entry count %d at offset 0 (at least 1)", n);
	if ((size_t)n > (size - 4) / LEGACY_MIN_ENTRY_BYTES)
		return fmt_error_set(err, FMT_EINVALID,
				     "entry count %d at offset 0 cannot fit in the %zu bytes left", n,
				     size - 4);
	for (int32_t i = 0; i < n; i++)
		if ((rc = read_legacy_entry(im, &c, i)))
			return rc;
	return read_legacy_trailer(im, &c);
}

/* ---- GGUF --------------------------------------------------------------------------- */

/* general.type, if there, says "imatrix"; the three imatrix keys are there with their
 * types (llama-quantize refuses a file without them: "missing imatrix metadata"). */
static int read_gguf_metadata(struct imatrix *im, const struct gguf_reader *r, struct fmt_error *err)
{
	static const char *const required[] = { "imatrix.datasets", "imatrix.chunk_count",
						"imatrix.chunk_size" };
	const struct gguf_kv *kv = gguf_read_find_kv(r, "general.type");
	struct gguf_string s;
	uint32_t count, chunk_size;
	int rc;
	if (kv) {
		if ((rc = gguf_kv_get_string(kv, &s, err)))
			return rc;
		if (s.len != 7 || memcmp(s.data, "imatrix", 7))
			return fmt_error_set(err, FMT_EINVALID, "not an imatrix: general.type is '%.*s'",
					     (int)(s.len > 64 ? 64 : s.len), s.data);
	}
	for (size_t i = 0; i < 3; i++)
		if (!gguf_read_find_kv(r, required[i]))
			return fmt_error_set(err, FMT_EINVALID, "not an imatrix: key '%s' is missing",
					     required[i]);
	kv = gguf_read_find_kv(r, "imatrix.datasets");
	if (kv->type != GGUF_VALUE_ARRAY || kv->element_type != GGUF_VALUE_STRING)
		return fmt_error_set(err, FMT_EINVALID,
				     "key 'imatrix.datasets' at offset %llu must be an ARRAY of STRING",
				     U64(kv->offset));
	for (uint64_t i = 0; i < kv->count; i++) {
		union gguf_scalar v;
		if ((rc = gguf_kv_element(kv, i, &v)) ||
		    (rc = add_dataset(im, v.str.data, (size_t)v.str.len, err)))
			return rc;
	}
	if ((rc = gguf_kv_get_u32(gguf_read_find_kv(r, "imatrix.chunk_count"), &count, err)) ||
	    (rc = gguf_kv_get_u32(gguf_read_find_kv(r, "imatrix.chunk_size"), &chunk_size, err)))
		return rc;
	/* llama.cpp keeps both in an int32_t. */
	if (count > INT32_MAX || chunk_size > INT32_MAX)
		return fmt_error_set(err, FMT_EINVALID,
				     "imatrix.chunk_count %u or imatrix.chunk_size %u is over %d", count,
				     chunk_size, INT32_MAX);
	im->chunk_count = (int32_t)count;
	im->chunk_size = (int32_t)chunk_size;
	return 0;
}

/* The values of one expert: in_sum2 / count, count as llama.cpp rounds it (lround, then
 * back to float); 1 for every column of an expert that never fired. */
static int fill_expert(struct imatrix_entry *e, uint64_t j, uint64_t ne0, const unsigned char *sums,
		       const unsigned char *counts, struct fmt_error *err)
{
	float c = load_f32(counts + 4 * j);
	if (!isfinite(c) || c < 0 || c >= 0x1p63f)
		return fmt_error_set(err, FMT_EINVALID, "entry '%s': count %llu is %g (finite, 0 or more)",
				     e->name, U64(j), (double)c);
	float count = (float)llroundf(c);
	if (count > 0.0f) {
		for (uint64_t i = 0; i < ne0; i++)
			e->values[j * ne0 + i] = load_f32(sums + 4 * (j * ne0 + i)) / count;
		return 0;
	}
	for (uint64_t i = 0; i < ne0; i++)
		e->values[j * ne0 + i] = 1.0f;
	e->n_mat_empty++;
	return 0;
}

static int check_f32(const struct gguf_tensor_info *t, struct fmt_error *err)
{
	if (t->type != GGUF_TENSOR_F32)
		return fmt_error_set(err, FMT_EINVALID, "tensor '%s' has type %s, must be F32", t->name,
				     gguf_tensor_type_name(t->type));
	return 0;
}

/* One entry from <name>.in_sum2 (F32, ne = [row length, experts]) and <name>.counts (F32,
 * one count per expert, written as ne = [1, experts]). */
static int read_gguf_entry(struct imatrix *im, const struct gguf_reader *r, size_t sums_index,
			   size_t counts_index, size_t base_len, struct fmt_error *err)
{
	const struct gguf_tensor_info *sums = gguf_read_tensor(r, sums_index);
	const struct gguf_tensor_info *counts = gguf_read_tensor(r, counts_index);
	const unsigned char *sums_data = gguf_read_tensor_data(r, sums_index);
	const unsigned char *counts_data = gguf_read_tensor_data(r, counts_index);
	uint64_t rows = sums->ne[1] * sums->ne[2] * sums->ne[3];
	struct imatrix_entry *e;
	int rc;
	if ((rc = check_f32(sums, err)) || (rc = check_f32(counts, err)))
		return rc;
	if (!sums->n_elements)
		return fmt_error_set(err, FMT_EINVALID, "tensor '%s' is empty", sums->name);
	if (counts->n_elements != rows)
		return fmt_error_set(
			err, FMT_EINVALID,
			"tensor '%s' has %llu elements, '%s' has %llu rows: one count per row (expert) expected",
			counts->name, U64(counts->n_elements), sums->name, U64(rows));
	if ((rc = add_entry(im, sums->name, base_len, sums->n_elements, err, &e))) {
		fmt_error_prefix(err, "tensor '%s'", sums->name);
		return rc;
	}
	e->n_mat = rows;
	for (uint64_t j = 0; j < rows; j++)
		if ((rc = fill_expert(e, j, sums->ne[0], sums_data, counts_data, err)))
			return rc;
	return check_finite(e, err);
}

static int has_suffix(const char *name, size_t len, const char *suffix, size_t suffix_len)
{
	return len >= suffix_len && !memcmp(name + len - suffix_len, suffix, suffix_len);
}

/* The index of the tensor called base + suffix, or -1. */
static int find_partner(const struct fmt_nameset *names, const char *base, size_t base_len,
			const char *suffix, size_t *index)
{
	char name[GGUF_NAME_MAX + 1];
	size_t suffix_len = strlen(suffix);
	if (base_len + suffix_len > GGUF_NAME_MAX)
		return -1;
	memcpy(name, base, base_len);
	memcpy(name + base_len, suffix, suffix_len);
	return fmt_nameset_find(names, name, base_len + suffix_len, index) ? 0 : -1;
}

/* Pairs every <name>.in_sum2 with its <name>.counts (either alone is an error, as in
 * llama.cpp); other tensors are skipped, as llama.cpp skips them. */
static int read_gguf_entries(struct imatrix *im, const struct gguf_reader *r, struct fmt_error *err)
{
	const size_t n_sums = sizeof(in_sum2_suffix) - 1, n_counts = sizeof(counts_suffix) - 1;
	struct fmt_nameset names;
	size_t partner;
	int rc = 0;
	fmt_nameset_init(&names);
	for (size_t i = 0; i < gguf_read_tensor_count(r); i++) {
		const char *name = gguf_read_tensor(r, i)->name;
		if (fmt_nameset_add(&names, name, strlen(name), i, NULL) < 0) {
			rc = fmt_error_oom(err);
			goto out;
		}
	}
	for (size_t i = 0; i < gguf_read_tensor_count(r) && !rc; i++) {
		const char *name = gguf_read_tensor(r, i)->name;
		size_t len = strlen(name);
		if (has_suffix(name, len, in_sum2_suffix, n_sums)) {
			if (find_partner(&names, name, len - n_sums, counts_suffix, &partner))
				rc = fmt_error_set(err, FMT_EINVALID, "tensor '%s' has no '%.*s%s'", name,
						   (int)(len - n_sums), name, counts_suffix);
			else
				rc = read_gguf_entry(im, r, i, partner, len - n_sums, err);
		} else if (has_suffix(name, len, counts_suffix, n_counts) &&
			   find_partner(&names, name, len - n_counts, in_sum2_suffix, &partner)) {
			rc = fmt_error_set(err, FMT_EINVALID, "tensor '%s' has no '%.*s%s'", name,
					   (int)(len - n_counts), name, in_sum2_suffix);
		}
	}
	if (!rc && !im->n_entries)
		rc = fmt_error_set(err, FMT_EINVALID, "no entries: no '<name>.in_sum2' tensor");
out:
	fmt_nameset_free(&names);
	return rc;
}

static int read_gguf(struct imatrix *im, const void *data, size_t size, struct fmt_error *err)
{
	struct gguf_reader *r = NULL;
	int rc;
	if ((rc = gguf_read_memory(&r, data, size, err)))
		return rc;
	if (!(rc = read_gguf_metadata(im, r, err)))
		rc = read_gguf_entries(im, r, err);
	gguf_read_close(r);
	return rc;
}
