/* inspect for GGUF: version, alignment, every metadata pair with its type and value,
 * tensor totals per type, and each tensor on request. */
#include "inspect_internal.h"

#include <stdlib.h>
#include <string.h>

#define U64(x) ((unsigned long long)(x))
#define TEXT_ARRAY_ITEMS 8     /* elements of an array shown in text mode */
#define TEXT_STRING_BYTES 120  /* bytes of a string shown in text mode */
#define TEXT_ELEMENT_BYTES 40  /* bytes of each string element shown */

static void totals(const struct gguf_reader *g, struct inspect_total by_type[GGUF_TENSOR_COUNT],
		   struct inspect_total *all)
{
	memset(by_type, 0, GGUF_TENSOR_COUNT * sizeof(*by_type));
	memset(all, 0, sizeof(*all));
	for (size_t i = 0; i < gguf_read_tensor_count(g); i++) {
		const struct gguf_tensor_info *t = gguf_read_tensor(g, i);
		struct inspect_total *k = &by_type[t->type];
		k->tensors++;
		k->bytes += t->size;
		k->parameters += t->n_elements;
		all->tensors++;
		all->bytes += t->size; /* the reader has checked that the data fits in the file */
		all->parameters += t->n_elements;
	}
}

/* ---- JSON --------------------------------------------------------------------------- */

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

static cJSON *tensor_json(const struct gguf_tensor_info *t)
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

cJSON *inspect_gguf_json(const struct inspect_report *r, int tensors)
{
	const struct gguf_reader *g = r->gguf;
	struct inspect_total by_type[GGUF_TENSOR_COUNT], all;
	cJSON *doc = cJSON_CreateObject(), *meta, *types, *list;
	int ok = doc != NULL;
	if (!ok)
		return NULL;
	totals(g, by_type, &all);
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
				cJSON_AddItemToObject(types, gguf_tensor_type_name(t), inspect_total_json(&by_type[t]));
	if (ok && tensors && (ok = (list = cJSON_AddArrayToObject(doc, "tensors")) != NULL))
		for (size_t i = 0; ok && i < gguf_read_tensor_count(g); i++) {
			cJSON *t = tensor_json(gguf_read_tensor(g, i));
			ok = t && cJSON_AddItemToArray(list, t);
		}
	if (!ok) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

/* ---- text --------------------------------------------------------------------------- */

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

static int tensors_text(struct strbuf *sb, const struct gguf_reader *g)
{
	struct strbuf shape = STRBUF_INIT;
	int width = 4, rc = 0;
	for (size_t i = 0; i < gguf_read_tensor_count(g); i++) {
		const char *name = gguf_read_tensor(g, i)->name;
		int n = inspect_text_width(name, strlen(name));
		width = n > width ? n : width;
	}
	rc = strbuf_addf(sb, "  %-*s %-8s %-24s %14s %14s\n", width, "NAME", "TYPE", "SHAPE",
			 "OFFSET", "SIZE");
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

int inspect_gguf_text(const struct inspect_report *r, int tensors, struct strbuf *sb)
{
	const struct gguf_reader *g = r->gguf;
	struct inspect_total by_type[GGUF_TENSOR_COUNT], all;
	int width = 0, rc;
	totals(g, by_type, &all);
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
		rc = strbuf_addf(sb, "\nformat      GGUF v%u, little-endian\n"
				 "size        %llu bytes\nalignment   %u\nmetadata    %zu keys\n",
				 gguf_read_version(g), U64(gguf_read_file_size(g)),
				 gguf_read_alignment(g), gguf_read_kv_count(g));
	for (size_t i = 0; !rc && i < gguf_read_kv_count(g); i++)
		rc = kv_text(sb, gguf_read_kv(g, i), width);
	if (!rc)
		rc = strbuf_addf(sb, "tensors     %llu, %llu parameters, %llu bytes",
				 U64(all.tensors), U64(all.parameters), U64(all.bytes));
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
		rc = tensors_text(sb, g);
	return rc;
}
