/* How `modl inspect` prints what src/inspect/ read. GGUF: version, alignment, every
 * metadata pair with its type and value, tensor totals per type, and each tensor on
 * request. safetensors (one file, a directory, or a sharded index): __metadata__, totals
 * per dtype, parameter count, and each tensor on request. */
#include "inspect_render.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#define U64(x) ((unsigned long long)(x))
#define TEXT_ARRAY_ITEMS 8    /* elements of a GGUF array shown in text mode */
#define TEXT_STRING_BYTES 120 /* bytes of a string shown in text mode */
#define TEXT_ELEMENT_BYTES 40 /* bytes of each string element shown */

/* One for each format, below. */
static cJSON *gguf_json(const struct inspect_report *r, int tensors);
static int gguf_text(const struct inspect_report *r, int tensors, struct strbuf *sb);
static cJSON *st_json(const struct inspect_report *r, int tensors);
static int st_text(const struct inspect_report *r, int tensors, struct strbuf *sb);

cJSON *inspect_to_json(const struct inspect_report *r, int tensors)
{
	return r->gguf ? gguf_json(r, tensors) : st_json(r, tensors);
}

int inspect_to_text(const struct inspect_report *r, int tensors, struct strbuf *out)
{
	int rc = r->gguf ? gguf_text(r, tensors, out) : st_text(r, tensors, out);
	return rc ? modl_error_oom() : 0;
}

static cJSON *total_json(const struct inspect_total *k)
{
	cJSON *o = cJSON_CreateObject();
	if (o) {
		cJSON_AddItemToObject(o, "tensors", inspect_json_u64(k->tensors));
		cJSON_AddItemToObject(o, "parameters", inspect_json_u64(k->parameters));
		cJSON_AddItemToObject(o, "bytes", inspect_json_u64(k->bytes));
	}
	return o;
}

/* ---- GGUF as JSON ---------------------------------------------------------------------- */

static cJSON *scalar_json(enum gguf_value_type type, const union gguf_scalar *v)
{
	switch (type) {
	case GGUF_VALUE_UINT8: return inspect_json_u64(v->u8);
	case GGUF_VALUE_INT8: return inspect_json_i64(v->i8);
	case GGUF_VALUE_UINT16: return inspect_json_u64(v->u16);
	case GGUF_VALUE_INT16: return inspect_json_i64(v->i16);
	case GGUF_VALUE_UINT32: return inspect_json_u64(v->u32);
	case GGUF_VALUE_INT32: return inspect_json_i64(v->i32);
	case GGUF_VALUE_FLOAT32: return inspect_json_double(v->f32);
	case GGUF_VALUE_BOOL: return cJSON_CreateBool(v->b != 0);
	case GGUF_VALUE_STRING: return inspect_json_string(v->str.data, (size_t)v->str.len);
	case GGUF_VALUE_UINT64: return inspect_json_u64(v->u64);
	case GGUF_VALUE_INT64: return inspect_json_i64(v->i64);
	case GGUF_VALUE_FLOAT64: return inspect_json_double(v->f64);
	default: return NULL;
	}
}

static cJSON *kv_json(const struct gguf_kv *kv)
{
	cJSON *o = cJSON_CreateObject(), *value = NULL;
	union gguf_scalar v;
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "type", gguf_value_type_name(kv->type));
	if (kv->type == GGUF_VALUE_ARRAY) {
		cJSON_AddStringToObject(o, "element_type", gguf_value_type_name(kv->element_type));
		cJSON_AddItemToObject(o, "count", inspect_json_u64(kv->count));
		if ((value = cJSON_CreateArray()))
			for (uint64_t i = 0; i < kv->count; i++) {
				gguf_kv_element(kv, i, &v);
				cJSON *e = scalar_json(kv->element_type, &v);
				if (!e || !cJSON_AddItemToArray(value, e)) {
					cJSON_Delete(e);
					cJSON_Delete(value);
					value = NULL;
					break;
				}
			}
	} else {
		gguf_kv_scalar(kv, &v);
		value = scalar_json(kv->type, &v);
	}
	if (!value || !cJSON_AddItemToObject(o, "value", value)) {
		cJSON_Delete(value);
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static cJSON *gguf_tensor_json(const struct gguf_tensor_info *t)
{
	cJSON *o = cJSON_CreateObject(), *shape;
	if (!o)
		return NULL;
	cJSON_AddItemToObject(o, "name", inspect_json_string(t->name, strlen(t->name)));
	cJSON_AddStringToObject(o, "type", gguf_tensor_type_name(t->type));
	cJSON_AddNumberToObject(o, "type_id", t->type);
	if ((shape = cJSON_AddArrayToObject(o, "shape")))
		for (uint32_t j = 0; j < t->n_dims; j++)
			cJSON_AddItemToArray(shape, inspect_json_u64(t->ne[j]));
	cJSON_AddItemToObject(o, "parameters", inspect_json_u64(t->n_elements));
	cJSON_AddItemToObject(o, "offset", inspect_json_u64(t->offset));
	cJSON_AddItemToObject(o, "size", inspect_json_u64(t->size));
	return o;
}

static cJSON *gguf_json(const struct inspect_report *r, int tensors)
{
	const struct gguf_reader *g = r->gguf;
	struct inspect_total by_type[GGUF_TENSOR_COUNT], all;
	cJSON *doc = cJSON_CreateObject(), *meta, *types, *list;
	int ok = doc != NULL;
	if (!ok)
		return NULL;
	inspect_gguf_totals(g, by_type, &all);
	cJSON_AddItemToObject(doc, "file", inspect_json_string(r->path, strlen(r->path)));
	cJSON_AddStringToObject(doc, "format", "gguf");
	cJSON_AddNumberToObject(doc, "version", gguf_read_version(g));
	cJSON_AddStringToObject(doc, "byte_order", "little-endian");
	cJSON_AddNumberToObject(doc, "alignment", gguf_read_alignment(g));
	cJSON_AddItemToObject(doc, "file_size", inspect_json_u64(gguf_read_file_size(g)));
	cJSON_AddItemToObject(doc, "data_offset", inspect_json_u64(gguf_read_data_offset(g)));
	cJSON_AddItemToObject(doc, "metadata_count", inspect_json_u64(gguf_read_kv_count(g)));
	ok = (meta = cJSON_AddObjectToObject(doc, "metadata")) != NULL;
	for (size_t i = 0; ok && i < gguf_read_kv_count(g); i++) {
		const struct gguf_kv *kv = gguf_read_kv(g, i);
		char *key = inspect_utf8_clean(kv->key, (size_t)kv->key_len);
		cJSON *item = key ? kv_json(kv) : NULL;
		ok = item && cJSON_AddItemToObject(meta, key, item);
		if (!ok)
			cJSON_Delete(item);
		free(key);
	}
	cJSON_AddItemToObject(doc, "tensor_count", inspect_json_u64(all.tensors));
	cJSON_AddItemToObject(doc, "parameter_count", inspect_json_u64(all.parameters));
	cJSON_AddItemToObject(doc, "tensor_bytes", inspect_json_u64(all.bytes));
	if (ok && (ok = (types = cJSON_AddObjectToObject(doc, "tensor_types")) != NULL))
		for (uint32_t t = 0; t < GGUF_TENSOR_COUNT; t++)
			if (by_type[t].tensors)
				cJSON_AddItemToObject(types, gguf_tensor_type_name(t),
						      total_json(&by_type[t]));
	if (ok && tensors && (ok = (list = cJSON_AddArrayToObject(doc, "tensors")) != NULL))
		for (size_t i = 0; ok && i < gguf_read_tensor_count(g); i++) {
			cJSON *t = gguf_tensor_json(gguf_read_tensor(g, i));
			ok = t && cJSON_AddItemToArray(list, t);
		}
	if (!ok) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

/* ---- GGUF as text ---------------------------------------------------------------------- */

static int scalar_text(struct strbuf *sb, enum gguf_value_type type, const union gguf_scalar *v,
		       size_t max_string)
{
	switch (type) {
	case GGUF_VALUE_UINT8: return strbuf_addf(sb, "%u", v->u8);
	case GGUF_VALUE_INT8: return strbuf_addf(sb, "%d", v->i8);
	case GGUF_VALUE_UINT16: return strbuf_addf(sb, "%u", v->u16);
	case GGUF_VALUE_INT16: return strbuf_addf(sb, "%d", v->i16);
	case GGUF_VALUE_UINT32: return strbuf_addf(sb, "%u", v->u32);
	case GGUF_VALUE_INT32: return strbuf_addf(sb, "%d", v->i32);
	case GGUF_VALUE_FLOAT32: return inspect_add_f32(sb, v->f32);
	case GGUF_VALUE_BOOL: return strbuf_adds(sb, v->b ? "true" : "false");
	case GGUF_VALUE_STRING:
		return inspect_add_text_string(sb, v->str.data, (size_t)v->str.len, max_string);
	case GGUF_VALUE_UINT64: return strbuf_addf(sb, "%llu", U64(v->u64));
	case GGUF_VALUE_INT64: return strbuf_addf(sb, "%lld", (long long)v->i64);
	case GGUF_VALUE_FLOAT64: return inspect_add_f64(sb, v->f64);
	default: return 0;
	}
}

static int kv_text(struct strbuf *sb, const struct gguf_kv *kv, int key_width)
{
	struct strbuf type = STRBUF_INIT;
	union gguf_scalar v;
	int rc;
	if (kv->type == GGUF_VALUE_ARRAY)
		rc = strbuf_addf(&type, "ARRAY[%s]", gguf_value_type_name(kv->element_type));
	else
		rc = strbuf_adds(&type, gguf_value_type_name(kv->type));
	if (!rc)
		rc = strbuf_adds(sb, "  ");
	if (!rc)
		rc = inspect_add_text_name(sb, kv->key, (size_t)kv->key_len, key_width);
	if (!rc)
		rc = strbuf_addf(sb, " %-14s ", type.buf);
	if (!rc && kv->type == GGUF_VALUE_ARRAY) {
		uint64_t shown = kv->count < TEXT_ARRAY_ITEMS ? kv->count : TEXT_ARRAY_ITEMS;
		rc = strbuf_addf(sb, "%llu: [", U64(kv->count));
		for (uint64_t i = 0; !rc && i < shown; i++) {
			gguf_kv_element(kv, i, &v);
			if (i)
				rc = strbuf_adds(sb, ", ");
			if (!rc)
				rc = scalar_text(sb, kv->element_type, &v, TEXT_ELEMENT_BYTES);
		}
		if (!rc && shown < kv->count)
			rc = strbuf_addf(sb, ", ... %llu more", U64(kv->count - shown));
		if (!rc)
			rc = strbuf_adds(sb, "]");
	} else if (!rc) {
		gguf_kv_scalar(kv, &v);
		rc = scalar_text(sb, kv->type, &v, TEXT_STRING_BYTES);
	}
	if (!rc)
		rc = strbuf_adds(sb, "\n");
	strbuf_free(&type);
	return rc;
}

static int gguf_tensors_text(struct strbuf *sb, const struct gguf_reader *g)
{
	struct strbuf shape = STRBUF_INIT;
	int width = 4, rc = 0;
	for (size_t i = 0; i < gguf_read_tensor_count(g); i++) {
		const char *name = gguf_read_tensor(g, i)->name;
		int n = inspect_text_width(name, strlen(name));
		width = n > width ? n : width;
	}
	rc = strbuf_addf(sb, "  %-*s %-8s %-24s %14s %14s\n", width, "NAME", "TYPE", "SHAPE", "OFFSET",
			 "SIZE");
	for (size_t i = 0; !rc && i < gguf_read_tensor_count(g); i++) {
		const struct gguf_tensor_info *t = gguf_read_tensor(g, i);
		strbuf_reset(&shape);
		rc = inspect_add_shape(&shape, t->n_dims, t->ne);
		if (!rc)
			rc = strbuf_adds(sb, "  ");
		if (!rc)
			rc = inspect_add_text_name(sb, t->name, strlen(t->name), width);
		if (!rc)
			rc = strbuf_addf(sb, " %-8s %-24s %14llu %14llu\n", gguf_tensor_type_name(t->type),
					 shape.buf, U64(t->offset), U64(t->size));
	}
	strbuf_free(&shape);
	return rc;
}

static int gguf_text(const struct inspect_report *r, int tensors, struct strbuf *sb)
{
	const struct gguf_reader *g = r->gguf;
	struct inspect_total by_type[GGUF_TENSOR_COUNT], all;
	int width = 0, rc;
	inspect_gguf_totals(g, by_type, &all);
	for (size_t i = 0; i < gguf_read_kv_count(g); i++) {
		const struct gguf_kv *kv = gguf_read_kv(g, i);
		int n = inspect_text_width(kv->key, (size_t)kv->key_len);
		width = n > width ? n : width;
	}
	width = width > 48 ? 48 : width;
	rc = strbuf_adds(sb, "file        ");
	if (!rc)
		rc = inspect_add_text_name(sb, r->path, strlen(r->path), 0);
	if (!rc)
		rc = strbuf_addf(sb,
				 "\nformat      GGUF v%u, little-endian\n"
				 "size        %llu bytes\nalignment   %u\nmetadata    %zu keys\n",
				 gguf_read_version(g), U64(gguf_read_file_size(g)), gguf_read_alignment(g),
				 gguf_read_kv_count(g));
	for (size_t i = 0; !rc && i < gguf_read_kv_count(g); i++)
		rc = kv_text(sb, gguf_read_kv(g, i), width);
	if (!rc)
		rc = strbuf_addf(sb, "tensors     %llu, %llu parameters, %llu bytes", U64(all.tensors),
				 U64(all.parameters), U64(all.bytes));
	if (!rc && all.tensors)
		rc = strbuf_addf(sb, " from offset %llu", U64(gguf_read_data_offset(g)));
	if (!rc)
		rc = strbuf_adds(sb, "\n");
	for (uint32_t t = 0; !rc && t < GGUF_TENSOR_COUNT; t++)
		if (by_type[t].tensors)
			rc = strbuf_addf(sb, "  %-8s %8llu tensors %14llu parameters %14llu bytes\n",
					 gguf_tensor_type_name(t), U64(by_type[t].tensors),
					 U64(by_type[t].parameters), U64(by_type[t].bytes));
	if (!rc && tensors && all.tensors)
		rc = gguf_tensors_text(sb, g);
	return rc;
}

/* ---- safetensors as JSON --------------------------------------------------------------- */

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
		if (common && !inspect_metadata_is_common(st, e))
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

static cJSON *st_tensor_json(const struct safetensors *st, const struct safetensors_tensor *t)
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

static cJSON *st_json(const struct inspect_report *r, int tensors)
{
	const struct safetensors *st = r->safetensors;
	struct inspect_total by_dtype[SAFETENSORS_DTYPE_COUNT], all;
	const char *index = safetensors_index_path(st);
	uint64_t total_size;
	cJSON *doc = cJSON_CreateObject(), *files, *dtypes, *list, *meta;
	int ok = doc != NULL;
	if (!ok)
		return NULL;
	inspect_safetensors_totals(st, by_dtype, &all);
	cJSON_AddItemToObject(doc, "file", inspect_json_string(r->path, strlen(r->path)));
	cJSON_AddStringToObject(doc, "format", "safetensors");
	cJSON_AddItemToObject(doc, "index",
			      index ? inspect_json_string(index, strlen(index)) : cJSON_CreateNull());
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
				cJSON_AddItemToObject(dtypes, safetensors_dtype_name(d),
						      total_json(&by_dtype[d]));
	if (ok && tensors && (ok = (list = cJSON_AddArrayToObject(doc, "tensors")) != NULL))
		for (size_t i = 0; ok && i < safetensors_tensor_count(st); i++) {
			cJSON *t = st_tensor_json(st, safetensors_tensor(st, i));
			ok = t && cJSON_AddItemToArray(list, t);
		}
	if (!ok) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

/* ---- safetensors as text --------------------------------------------------------------- */

static const char *base_name(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;
	return slash ? slash + 1 : path ? path : "";
}

static int metadata_text(struct strbuf *sb, const struct safetensors *st, size_t file, int common)
{
	int rc = 0, n = 0;
	if (!safetensors_file_has_metadata(st, file))
		return strbuf_adds(sb, "none");
	for (size_t i = 0; !rc && i < safetensors_metadata_count(st, file); i++) {
		const struct safetensors_metadata_entry *e = safetensors_metadata(st, file, i);
		if (common && !inspect_metadata_is_common(st, e))
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

static int st_tensors_text(struct strbuf *sb, const struct safetensors *st)
{
	struct strbuf shape = STRBUF_INIT;
	int width = 4, rc, several = safetensors_file_count(st) > 1;
	for (size_t i = 0; i < safetensors_tensor_count(st); i++) {
		const char *name = safetensors_tensor(st, i)->name;
		int n = inspect_text_width(name, strlen(name));
		width = n > width ? n : width;
	}
	rc = strbuf_addf(sb, "  %-*s %-12s %-24s %14s %14s%s\n", width, "NAME", "DTYPE", "SHAPE", "OFFSET",
			 "SIZE", several ? "  FILE" : "");
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

static int st_text(const struct inspect_report *r, int tensors, struct strbuf *sb)
{
	const struct safetensors *st = r->safetensors;
	struct inspect_total by_dtype[SAFETENSORS_DTYPE_COUNT], all;
	const char *index = safetensors_index_path(st);
	size_t files = safetensors_file_count(st);
	uint64_t total_size;
	int rc;
	inspect_safetensors_totals(st, by_dtype, &all);
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
					 U64(safetensors_file_size(st, f)),
					 U64(safetensors_file_header_size(st, f)));
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
		rc = st_tensors_text(sb, st);
	return rc;
}
