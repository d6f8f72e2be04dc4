/* One safetensors file's header: the 8-byte length, the JSON object, and the checks of
 * the reference reader (tensor.rs read_metadata and Metadata::validate), in its order. */
#include "safetensors_internal.h"
#include "json_scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define U64(x) ((unsigned long long)(x))

void safetensors_tensor_list_free(struct safetensors_tensor_list *list)
{
	for (size_t i = 0; i < list->count; i++) {
		free((char *)list->items[i].name);
		free((uint64_t *)list->items[i].shape);
	}
	free(list->items);
	list->items = NULL;
	list->count = list->cap = 0;
}

void safetensors_file_clear(struct safetensors_file *f)
{
	for (size_t i = 0; i < f->metadata_count; i++) {
		free((char *)f->metadata[i].key);
		free((char *)f->metadata[i].value);
	}
	free(f->metadata);
	f->metadata = NULL;
	f->metadata_count = 0;
	fmt_map_close(&f->map);
	free(f->path);
	f->path = NULL;
}

/* Where a JSON error is, as an absolute file offset: the header starts at byte 8. */
static int json_error(struct fmt_error *err, const struct json_scan *s, const char *tensor)
{
	if (tensor)
		return fmt_error_set(err, FMT_EINVALID,
				     "tensor '%s': invalid header JSON at file offset %llu: %s", tensor,
				     U64(8 + s->error_pos), s->error);
	return fmt_error_set(err, FMT_EINVALID, "invalid header JSON at file offset %llu: %s",
			     U64(8 + s->error_pos), s->error);
}

static const char *shape_text(char *buf, size_t cap, size_t n, const uint64_t *shape)
{
	size_t len = 0;
	len += (size_t)snprintf(buf, cap, "[");
	for (size_t i = 0; i < n && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%llu", i ? ", " : "", U64(shape[i]));
	if (len < cap)
		snprintf(buf + len, cap - len, "]");
	return buf;
}

/* __metadata__: null, or an object of strings (HashMap<String, String> in the reference). */
static int parse_metadata(struct safetensors_file *f, struct json_scan *s, struct fmt_error *err)
{
	struct fmt_nameset keys;
	char *key = NULL, *value = NULL;
	size_t key_len, value_len, cap = 0;
	int first = 1, more, rc = 0;
	fmt_nameset_init(&keys);
	if (json_scan_peek(s) == 'n') {
		if (json_scan_skip(s))
			rc = json_error(err, s, NULL);
		goto out;
	}
	if (json_scan_peek(s) != '{') {
		rc = fmt_error_set(err, FMT_EINVALID,
				   "__metadata__ at file offset %llu must be an object of strings",
				   U64(8 + s->pos));
		goto out;
	}
	f->has_metadata = 1;
	while ((more = json_scan_member(s, &first, &key, &key_len)) == 1) {
		if (json_scan_peek(s) != '"') {
			rc = fmt_error_set(err, FMT_EINVALID,
					   "__metadata__ value of '%s' at file offset %llu must be a string",
					   key, U64(8 + s->pos));
			goto out;
		}
		if (json_scan_string(s, &value, &value_len)) {
			rc = json_error(err, s, NULL);
			goto out;
		}
		if (f->metadata_count == cap) {
			size_t n = cap ? cap * 2 : 8;
			void *p = realloc(f->metadata, n * sizeof(*f->metadata));
			if (!p) {
				rc = fmt_error_oom(err);
				goto out;
			}
			f->metadata = p;
			cap = n;
		}
		f->metadata[f->metadata_count++] =
			(struct safetensors_metadata_entry){ key, value, key_len, value_len };
		const char *stored = key;
		key = value = NULL;
		int added = fmt_nameset_add(&keys, stored, key_len, 0, NULL);
		if (added <= 0) {
			rc = added < 0
				     ? fmt_error_oom(err)
				     : fmt_error_set(
					       err, FMT_EINVALID,
					       "duplicate key '%s' in __metadata__ (before file offset %llu)",
					       stored, U64(8 + s->pos));
			goto out;
		}
	}
	if (more < 0)
		rc = json_error(err, s, NULL);
out:
	free(key);
	free(value);
	fmt_nameset_free(&keys);
	return rc;
}

static int parse_offsets(struct json_scan *s, struct safetensors_tensor *t, struct fmt_error *err)
{
	int first = 1, more;
	size_t n = 0;
	uint64_t v[2];
	size_t at = s->pos;
	while ((more = json_scan_element(s, &first)) == 1) {
		uint64_t x;
		if (json_scan_u64(s, &x))
			return json_error(err, s, t->name);
		if (n < 2)
			v[n] = x;
		n++;
	}
	if (more < 0)
		return json_error(err, s, t->name);
	if (n != 2)
		return fmt_error_set(
			err, FMT_EINVALID,
			"tensor '%s': data_offsets at file offset %llu has %zu entries, expected 2 [begin, end]",
			t->name, U64(8 + at), n);
	t->begin = v[0];
	t->end = v[1];
	return 0;
}

/* Parsed on the stack, then stored at its exact size: the allocation follows the
 * dimensions the text holds, never more. */
static int parse_shape(struct json_scan *s, struct safetensors_tensor *t, struct fmt_error *err)
{
	uint64_t dims[SAFETENSORS_MAX_DIMS], *shape;
	int first = 1, more;
	size_t n = 0, at = s->pos;
	while ((more = json_scan_element(s, &first)) == 1) {
		if (n == SAFETENSORS_MAX_DIMS)
			return fmt_error_set(
				err, FMT_EUNSUPPORTED,
				"tensor '%s': shape at file offset %llu has more than %d dimensions", t->name,
				U64(8 + at), SAFETENSORS_MAX_DIMS);
		if (json_scan_u64(s, &dims[n++]))
			return json_error(err, s, t->name);
	}
	if (more < 0)
		return json_error(err, s, t->name);
	if (!(shape = malloc(n ? n * sizeof(*shape) : 1)))
		return fmt_error_oom(err);
	if (n)
		memcpy(shape, dims, n * sizeof(*shape));
	t->shape = shape;
	t->n_dims = n;
	return 0;
}

/* {"dtype": "...", "shape": [...], "data_offsets": [b, e]}; other fields are ignored,
 * as serde ignores unknown fields of TensorInfo. */
static int parse_tensor(struct json_scan *s, struct safetensors_tensor *t, struct fmt_error *err)
{
	int first = 1, more, rc = 0, seen_dtype = 0, seen_shape = 0, seen_offsets = 0;
	char *field = NULL, *dtype = NULL;
	size_t len;
	if (json_scan_peek(s) != '{')
		return fmt_error_set(
			err, FMT_EINVALID,
			"tensor '%s' at file offset %llu: expected an object with dtype, shape and data_offsets",
			t->name, U64(8 + s->pos));
	while ((more = json_scan_member(s, &first, &field, &len)) == 1) {
		int *seen = !strcmp(field, "dtype")          ? &seen_dtype
			    : !strcmp(field, "shape")        ? &seen_shape
			    : !strcmp(field, "data_offsets") ? &seen_offsets
							     : NULL;
		if (seen && *seen) {
			rc = fmt_error_set(err, FMT_EINVALID,
					   "tensor '%s': duplicate field \"%s\" at file offset %llu", t->name,
					   field, U64(8 + s->pos));
			goto out;
		}
		if (seen)
			*seen = 1;
		if (seen == &seen_dtype) {
			size_t at = s->pos;
			if (json_scan_peek(s) != '"') {
				rc = fmt_error_set(err, FMT_EINVALID,
						   "tensor '%s': dtype at file offset %llu must be a string",
						   t->name, U64(8 + s->pos));
				goto out;
			}
			if (json_scan_string(s, &dtype, &len)) {
				rc = json_error(err, s, t->name);
				goto out;
			}
			if (strlen(dtype) != len || safetensors_dtype_from_name(dtype, &t->dtype)) {
				rc = fmt_error_set(err, FMT_EINVALID,
						   "tensor '%s': unknown dtype \"%.40s\" at file offset %llu",
						   t->name, dtype, U64(8 + at));
				goto out;
			}
		} else if (seen == &seen_shape) {
			if ((rc = parse_shape(s, t, err)))
				goto out;
		} else if (seen == &seen_offsets) {
			if ((rc = parse_offsets(s, t, err)))
				goto out;
		} else if (json_scan_skip(s)) {
			rc = json_error(err, s, t->name);
			goto out;
		}
		free(field);
		field = NULL;
	}
	if (more < 0) {
		rc = json_error(err, s, t->name);
		goto out;
	}
	if (!seen_dtype || !seen_shape || !seen_offsets)
		rc = fmt_error_set(err, FMT_EINVALID, "tensor '%s': missing \"%s\" (before file offset %llu)",
				   t->name,
				   !seen_dtype   ? "dtype"
				   : !seen_shape ? "shape"
						 : "data_offsets",
				   U64(8 + s->pos));
out:
	free(field);
	free(dtype);
	return rc;
}

static int append(struct safetensors_tensor_list *list, char *name, struct fmt_error *err)
{
	if (list->count == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 64;
		void *p = realloc(list->items, cap * sizeof(*list->items));
		if (!p) {
			free(name);
			return fmt_error_oom(err);
		}
		list->items = p;
		list->cap = cap;
	}
	list->items[list->count++] = (struct safetensors_tensor){ .name = name };
	return 0;
}

/* The top-level object: __metadata__ and one member per tensor, no duplicate keys. */
static int parse_object(struct safetensors_file *f, struct json_scan *s, struct safetensors_tensor_list *list,
			struct fmt_error *err)
{
	struct fmt_nameset keys;
	char *key = NULL;
	size_t key_len;
	int first = 1, more, rc = 0;
	fmt_nameset_init(&keys);
	while ((more = json_scan_member(s, &first, &key, &key_len)) == 1) {
		size_t at = s->pos;
		int is_metadata = key_len == 12 && !memcmp(key, "__metadata__", 12);
		/* The set points at the names it holds: tensor names live on in list, and the
		 * metadata key is freed now, so a constant stands for it. */
		int added = fmt_nameset_add(&keys, is_metadata ? "__metadata__" : key, key_len, 0, NULL);
		if (added <= 0) {
			rc = added < 0 ? fmt_error_oom(err)
				       : fmt_error_set(err, FMT_EINVALID,
						       "duplicate key '%s' in the header (file offset %llu)",
						       key, U64(8 + at));
			goto out;
		}
		if (is_metadata) {
			free(key);
			key = NULL;
			if ((rc = parse_metadata(f, s, err)))
				goto out;
			continue;
		}
		if (memchr(key, '\0', key_len)) {
			rc = fmt_error_set(err, FMT_EINVALID,
					   "tensor name before file offset %llu contains a NUL character",
					   U64(8 + at));
			goto out;
		}
		rc = append(list, key, err);
		key = NULL; /* list owns it now (append frees it when it fails) */
		if (rc || (rc = parse_tensor(s, &list->items[list->count - 1], err)))
			goto out;
	}
	if (more < 0)
		rc = json_error(err, s, NULL);
	else if (json_scan_end(s))
		rc = json_error(err, s, NULL);
out:
	free(key);
	fmt_nameset_free(&keys);
	return rc;
}

static int by_offsets(const void *a, const void *b)
{
	const struct safetensors_tensor *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Metadata::validate: sorted by offsets, each beginning where the previous ended, sizes
 * from shape and dtype with checked products; then the buffer must be covered exactly. */
static int validate(struct safetensors_file *f, size_t file_index, struct safetensors_tensor *t, size_t n,
		    struct fmt_error *err)
{
	uint64_t start = 0, buffer = f->size - 8 - f->header_size;
	char text[160];
	if (n)
		qsort(t, n, sizeof(*t), by_offsets);
	for (size_t i = 0; i < n; i++, t++) {
		uint64_t elements = 1, bits;
		if (t->begin != start || t->end < t->begin)
			return fmt_error_set(
				err, FMT_EINVALID,
				"tensor '%s': data_offsets [%llu, %llu] should begin at %llu (offsets must start at 0, be contiguous, without gaps or overlaps)",
				t->name, U64(t->begin), U64(t->end), U64(start));
		start = t->end;
		for (size_t j = 0; j < t->n_dims; j++)
			if (__builtin_mul_overflow(elements, t->shape[j], &elements))
				return fmt_error_set(err, FMT_EINVALID,
						     "tensor '%s': the element count of shape %s overflows",
						     t->name,
						     shape_text(text, sizeof(text), t->n_dims, t->shape));
		if (__builtin_mul_overflow(elements, (uint64_t)safetensors_dtype_bits(t->dtype), &bits))
			return fmt_error_set(err, FMT_EINVALID,
					     "tensor '%s': the bit size of shape %s overflows", t->name,
					     shape_text(text, sizeof(text), t->n_dims, t->shape));
		if (bits % 8)
			return fmt_error_set(
				err, FMT_EINVALID,
				"tensor '%s': %llu elements of %s are not a whole number of bytes", t->name,
				U64(elements), safetensors_dtype_name(t->dtype));
		if (t->end - t->begin != bits / 8)
			return fmt_error_set(
				err, FMT_EINVALID,
				"tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but shape %s of %s needs %llu",
				t->name, U64(t->begin), U64(t->end), U64(t->end - t->begin),
				shape_text(text, sizeof(text), t->n_dims, t->shape),
				safetensors_dtype_name(t->dtype), U64(bits / 8));
		t->n_elements = elements;
		t->file_offset = 8 + f->header_size + t->begin;
		t->file = file_index;
		t->row_length = t->n_dims ? t->shape[t->n_dims - 1] : 1;
		t->row_count = 1;
		for (size_t j = 0; j + 1 < t->n_dims; j++)
			t->row_count *= t->shape[j]; /* a prefix of a product that did not overflow */
	}
	if (start != buffer)
		return fmt_error_set(
			err, FMT_EINVALID,
			"tensor data ends at file offset %llu but the file has %llu bytes (the data must cover the rest of the file exactly)",
			U64(8 + f->header_size + start), U64(f->size));
	return 0;
}

int safetensors_parse_header(struct safetensors_file *f, size_t file_index,
			     struct safetensors_tensor_list *list, struct fmt_error *err)
{
	struct json_scan s;
	size_t first = list->count, bad;
	int rc;
	if (f->size < 8)
		return fmt_error_set(err, FMT_EINVALID,
				     "file is %llu bytes, too small for the 8-byte header length",
				     U64(f->size));
	uint64_t n = fmt_le64(f->data);
	if (n > SAFETENSORS_MAX_HEADER)
		return fmt_error_set(err, FMT_EINVALID,
				     "header length %llu (file offset 0) is over the limit of %d bytes",
				     U64(n), SAFETENSORS_MAX_HEADER);
	if (n > f->size - 8)
		return fmt_error_set(
			err, FMT_EINVALID,
			"header length %llu (file offset 0) goes past the end of the file (%llu bytes)",
			U64(n), U64(f->size));
	f->header_size = n;
	const unsigned char *header = f->data + 8;
	if (fmt_utf8_check(header, (size_t)n, &bad))
		return fmt_error_set(err, FMT_EINVALID, "header is not valid UTF-8 (file offset %llu)",
				     U64(8 + bad));
	if (!n || header[0] != '{')
		return fmt_error_set(err, FMT_EINVALID, "header does not start with '{' (file offset 8)");
	json_scan_init(&s, header, (size_t)n);
	if ((rc = parse_object(f, &s, list, err)))
		return rc;
	/* (No tensors: items may still be NULL, which takes no offset.) */
	return validate(f, file_index, list->count ? list->items + first : NULL, list->count - first, err);
}
