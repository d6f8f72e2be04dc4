/* inspect for safetensors (one file, a directory, or a sharded index): __metadata__,
 * totals per dtype, parameter count, and each tensor on request. */
#include "inspect_internal.h"

#include <string.h>

#define U64(x) ((unsigned long long)(x))

static void totals(const struct safetensors *st, struct inspect_total by_dtype[SAFETENSORS_DTYPE_COUNT],
		   struct inspect_total *all)
{
	memset(by_dtype, 0, SAFETENSORS_DTYPE_COUNT * sizeof(*by_dtype));
	memset(all, 0, sizeof(*all));
	for (size_t i = 0; i < safetensors_tensor_count(st); i++) {
		const struct safetensors_tensor *t = safetensors_tensor(st, i);
		struct inspect_total *k = &by_dtype[t->dtype];
		uint64_t bytes = t->end - t->begin;
		k->tensors++;
		k->bytes += bytes; /* the bytes are in the files, so the sums cannot overflow */
		k->parameters += t->n_elements;
		all->tensors++;
		all->bytes += bytes;
		all->parameters += t->n_elements;
	}
}

static const char *base_name(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;
	return slash ? slash + 1 : path ? path : "";
}

static int same_entry(const struct safetensors_metadata_entry *a,
		      const struct safetensors_metadata_entry *b)
{
	return a->key_len == b->key_len && a->value_len == b->value_len &&
	       !memcmp(a->key, b->key, a->key_len) && !memcmp(a->value, b->value, a->value_len);
}

/* An entry of file 0 that every other file has too (shards normally share theirs). */
static int common_entry(const struct safetensors *st, const struct safetensors_metadata_entry *e)
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

/* ---- JSON --------------------------------------------------------------------------- */

/* Built as raw JSON text: keys may hold characters (even NUL) a cJSON key cannot. */
static cJSON *metadata_json(const struct safetensors *st, size_t file, int common)
{
	struct strbuf sb = STRBUF_INIT;
	cJSON *item = NULL;
	int rc = 0, n = 0;
	if (!safetensors_file_has_metadata(st, file))
		return cJSON_CreateNull();
	rc = strbuf_adds(&sb, "{");
	for (size_t i = 0; !rc && i < safetensors_metadata_count(st, file); i++) {
		const struct safetensors_metadata_entry *e = safetensors_metadata(st, file, i);
		if (common && !common_entry(st, e))
			continue;
		if (n++)
			rc = strbuf_adds(&sb, ", ");
		if (!rc)
			rc = inspect_add_json_string(&sb, e->key, e->key_len);
		if (!rc)
			rc = strbuf_adds(&sb, ": ");
		if (!rc)
			rc = inspect_add_json_string(&sb, e->value, e->value_len);
	}
	if (!rc && !strbuf_adds(&sb, "}"))
		item = cJSON_CreateRaw(sb.buf);
	strbuf_free(&sb);
	return item;
}

static cJSON *file_json(const struct safetensors *st, size_t f)
{
	const char *path = safetensors_file_path(st, f);
	uint64_t tensors = 0;
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	for (size_t i = 0; i < safetensors_tensor_count(st); i++)
		tensors += safetensors_tensor(st, i)->file == f;
	cJSON_AddItemToObject(o, "path", path ? inspect_json_string(path, strlen(path)) : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "size", inspect_json_u64(safetensors_file_size(st, f)));
	cJSON_AddItemToObject(o, "header_size", inspect_json_u64(safetensors_file_header_size(st, f)));
	cJSON_AddItemToObject(o, "tensor_count", inspect_json_u64(tensors));
	cJSON_AddItemToObject(o, "metadata", metadata_json(st, f, 0));
	return o;
}

static cJSON *tensor_json(const struct safetensors *st, const struct safetensors_tensor *t)
{
	const char *path = safetensors_file_path(st, t->file);
	cJSON *o = cJSON_CreateObject(), *a;
	if (!o)
		return NULL;
	cJSON_AddItemToObject(o, "name", inspect_json_string(t->name, strlen(t->name)));
	cJSON_AddStringToObject(o, "dtype", safetensors_dtype_name(t->dtype));
	if ((a = cJSON_AddArrayToObject(o, "shape")))
		for (size_t j = 0; j < t->n_dims; j++)
			cJSON_AddItemToArray(a, inspect_json_u64(t->shape[j]));
	cJSON_AddItemToObject(o, "parameters", inspect_json_u64(t->n_elements));
	if ((a = cJSON_AddArrayToObject(o, "data_offsets"))) {
		cJSON_AddItemToArray(a, inspect_json_u64(t->begin));
		cJSON_AddItemToArray(a, inspect_json_u64(t->end));
	}
	cJSON_AddItemToObject(o, "offset", inspect_json_u64(t->file_offset));
	cJSON_AddItemToObject(o, "size", inspect_json_u64(t->end - t->begin));
	cJSON_AddItemToObject(o, "file", path ? inspect_json_string(path, strlen(path)) : cJSON_CreateNull());
	return o;
}

cJSON *inspect_safetensors_json(const struct inspect_report *r, int tensors)
{
	const struct safetensors *st = r->safetensors;
	struct inspect_total by_dtype[SAFETENSORS_DTYPE_COUNT], all;
	const char *index = safetensors_index_path(st);
	uint64_t total_size;
	cJSON *doc = cJSON_CreateObject(), *files, *dtypes, *list, *meta;
	int ok = doc != NULL;
	if (!ok)
		return NULL;
	totals(st, by_dtype, &all);
	cJSON_AddItemToObject(doc, "file", inspect_json_string(r->path, strlen(r->path)));
	cJSON_AddStringToObject(doc, "format", "safetensors");
	cJSON_AddItemToObject(doc, "index", index ? inspect_json_string(index, strlen(index)) : cJSON_CreateNull());
	if (index && safetensors_index_total_size(st, &total_size))
		cJSON_AddItemToObject(doc, "index_total_size", inspect_json_u64(total_size));
	ok = (meta = metadata_json(st, 0, 1)) && cJSON_AddItemToObject(doc, "metadata", meta);
	if (ok && (ok = (files = cJSON_AddArrayToObject(doc, "files")) != NULL))
		for (size_t f = 0; ok && f < safetensors_file_count(st); f++) {
			cJSON *item = file_json(st, f);
			ok = item && cJSON_AddItemToArray(files, item);
		}
	cJSON_AddItemToObject(doc, "tensor_count", inspect_json_u64(all.tensors));
	cJSON_AddItemToObject(doc, "parameter_count", inspect_json_u64(all.parameters));
	cJSON_AddItemToObject(doc, "tensor_bytes", inspect_json_u64(all.bytes));
	if (ok && (ok = (dtypes = cJSON_AddObjectToObject(doc, "dtypes")) != NULL))
		for (int d = 0; d < SAFETENSORS_DTYPE_COUNT; d++)
			if (by_dtype[d].tensors)
				cJSON_AddItemToObject(dtypes, safetensors_dtype_name(d), inspect_total_json(&by_dtype[d]));
	if (ok && tensors && (ok = (list = cJSON_AddArrayToObject(doc, "tensors")) != NULL))
		for (size_t i = 0; ok && i < safetensors_tensor_count(st); i++) {
			cJSON *t = tensor_json(st, safetensors_tensor(st, i));
			ok = t && cJSON_AddItemToArray(list, t);
		}
	if (!ok) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

/* ---- text --------------------------------------------------------------------------- */

static int metadata_text(struct strbuf *sb, const struct safetensors *st, size_t file, int common)
{
	int rc = 0, n = 0;
	if (!safetensors_file_has_metadata(st, file))
		return strbuf_adds(sb, "none");
	for (size_t i = 0; !rc && i < safetensors_metadata_count(st, file); i++) {
		const struct safetensors_metadata_entry *e = safetensors_metadata(st, file, i);
		if (common && !common_entry(st, e))
			continue;
		if (n++)
			rc = strbuf_adds(sb, ", ");
		if (!rc)
			rc = inspect_add_text_name(sb, e->key, e->key_len, 0);
		if (!rc)
			rc = strbuf_adds(sb, "=");
		if (!rc)
			rc = inspect_add_text_string(sb, e->value, e->value_len, 120);
	}
	return rc || n ? rc : strbuf_adds(sb, "{}");
}

static int tensors_text(struct strbuf *sb, const struct safetensors *st)
{
	struct strbuf shape = STRBUF_INIT;
	int width = 4, rc, several = safetensors_file_count(st) > 1;
	for (size_t i = 0; i < safetensors_tensor_count(st); i++) {
		const char *name = safetensors_tensor(st, i)->name;
		int n = inspect_text_width(name, strlen(name));
		width = n > width ? n : width;
	}
	rc = strbuf_addf(sb, "  %-*s %-12s %-24s %14s %14s%s\n", width, "NAME", "DTYPE", "SHAPE",
			 "OFFSET", "SIZE", several ? "  FILE" : "");
	for (size_t i = 0; !rc && i < safetensors_tensor_count(st); i++) {
		const struct safetensors_tensor *t = safetensors_tensor(st, i);
		strbuf_reset(&shape);
		rc = inspect_add_shape(&shape, t->n_dims, t->shape);
		if (!rc)
			rc = strbuf_adds(sb, "  ");
		if (!rc)
			rc = inspect_add_text_name(sb, t->name, strlen(t->name), width);
		if (!rc)
			rc = strbuf_addf(sb, " %-12s %-24s %14llu %14llu", safetensors_dtype_name(t->dtype),
					 shape.buf, U64(t->file_offset), U64(t->end - t->begin));
		if (!rc && several) {
			const char *name = base_name(safetensors_file_path(st, t->file));
			rc = strbuf_adds(sb, "  ");
			if (!rc)
				rc = inspect_add_text_name(sb, name, strlen(name), 0);
		}
		if (!rc)
			rc = strbuf_adds(sb, "\n");
	}
	strbuf_free(&shape);
	return rc;
}

int inspect_safetensors_text(const struct inspect_report *r, int tensors, struct strbuf *sb)
{
	const struct safetensors *st = r->safetensors;
	struct inspect_total by_dtype[SAFETENSORS_DTYPE_COUNT], all;
	const char *index = safetensors_index_path(st);
	size_t files = safetensors_file_count(st);
	uint64_t total_size;
	int rc;
	totals(st, by_dtype, &all);
	rc = strbuf_adds(sb, "file        ");
	if (!rc)
		rc = inspect_add_text_name(sb, r->path, strlen(r->path), 0);
	if (!rc)
		rc = strbuf_addf(sb, "\nformat      safetensors, %zu file%s\n", files, files == 1 ? "" : "s");
	if (!rc && index) {
		rc = strbuf_adds(sb, "index       ");
		if (!rc)
			rc = inspect_add_text_name(sb, base_name(index), strlen(base_name(index)), 0);
		if (!rc && safetensors_index_total_size(st, &total_size))
			rc = strbuf_addf(sb, " (total_size %llu)", U64(total_size));
		if (!rc)
			rc = strbuf_adds(sb, "\n");
	}
	for (size_t f = 0; !rc && files > 1 && f < files; f++) {
		const char *name = base_name(safetensors_file_path(st, f));
		rc = strbuf_adds(sb, "  ");
		if (!rc)
			rc = inspect_add_text_name(sb, name, strlen(name), 0);
		if (!rc)
			rc = strbuf_addf(sb, "  %llu bytes, header %llu bytes, metadata ",
					 U64(safetensors_file_size(st, f)), U64(safetensors_file_header_size(st, f)));
		if (!rc)
			rc = metadata_text(sb, st, f, 0);
		if (!rc)
			rc = strbuf_adds(sb, "\n");
	}
	if (!rc && files == 1)
		rc = strbuf_addf(sb, "size        %llu bytes, header %llu bytes\n",
				 U64(safetensors_file_size(st, 0)), U64(safetensors_file_header_size(st, 0)));
	if (!rc)
		rc = strbuf_adds(sb, files > 1 ? "metadata    (common) " : "metadata    ");
	if (!rc)
		rc = metadata_text(sb, st, 0, 1);
	if (!rc)
		rc = strbuf_addf(sb, "\ntensors     %llu, %llu parameters, %llu bytes\n", U64(all.tensors),
				 U64(all.parameters), U64(all.bytes));
	for (int d = 0; !rc && d < SAFETENSORS_DTYPE_COUNT; d++)
		if (by_dtype[d].tensors)
			rc = strbuf_addf(sb, "  %-12s %8llu tensors %14llu parameters %14llu bytes\n",
					 safetensors_dtype_name(d), U64(by_dtype[d].tensors),
					 U64(by_dtype[d].parameters), U64(by_dtype[d].bytes));
	if (!rc && tensors && all.tensors)
		rc = tensors_text(sb, st);
	return rc;
}
