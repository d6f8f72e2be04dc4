/* The GGUF reader: validates a whole header (doc/gguf.md §2) over a read-only mapping and
 * keeps pointers into it. Every length and count is checked against the bytes that are
 * left in the file before anything is allocated for it, so a crafted header can make
 * the reader fail but never allocate more than a small multiple of the file's size. */
#include "gguf.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define U64(x) ((unsigned long long)(x))

/* The smallest encodings, for checking counts against the bytes left: a pair is a key
 * length, one key byte, a type and a one-byte value; a tensor info is an empty name
 * (refused later, but it bounds the count), n_dims = 0, a type and an offset. */
#define MIN_KV_BYTES 14
#define MIN_TENSOR_INFO_BYTES 24

struct gguf_reader {
	struct fmt_map map; /* empty when reading from memory */
	const unsigned char *data;
	uint64_t size;
	uint32_t version, alignment;
	uint64_t data_offset;
	struct gguf_kv *kvs;
	size_t kv_count;
	struct gguf_tensor_info *tensors;
	size_t tensor_count;
	struct fmt_nameset kv_names;
	struct fmt_nameset tensor_names;
};

struct cursor {
	const unsigned char *data;
	uint64_t size, pos;
	struct fmt_error *err;
};

static int parse(struct gguf_reader *r, struct fmt_error *err);

int gguf_read_open(struct gguf_reader **out, const char *path, struct fmt_error *err)
{
	struct gguf_reader *r = calloc(1, sizeof(*r));
	int rc;
	*out = NULL;
	if (!r)
		return fmt_error_oom(err);
	if ((rc = fmt_map_open(&r->map, path, err)))
		goto out;
	r->data = r->map.data;
	r->size = r->map.size;
	rc = parse(r, err);
out:
	if (rc)
		gguf_read_close(r);
	else
		*out = r;
	return rc;
}

int gguf_read_memory(struct gguf_reader **out, const void *data, size_t size, struct fmt_error *err)
{
	struct gguf_reader *r = calloc(1, sizeof(*r));
	int rc;
	*out = NULL;
	if (!r)
		return fmt_error_oom(err);
	r->data = data;
	r->size = size;
	rc = parse(r, err);
	if (rc)
		gguf_read_close(r);
	else
		*out = r;
	return rc;
}

void gguf_read_close(struct gguf_reader *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->kv_count; i++) {
		free((char *)r->kvs[i].key);
		free((uint64_t *)r->kvs[i].string_offsets);
	}
	for (size_t i = 0; i < r->tensor_count; i++)
		free((char *)r->tensors[i].name);
	free(r->kvs);
	free(r->tensors);
	fmt_nameset_free(&r->kv_names);
	fmt_nameset_free(&r->tensor_names);
	fmt_map_close(&r->map);
	free(r);
}

/* clang-format off */
uint32_t gguf_read_version(const struct gguf_reader *r) { return r->version; }
uint32_t gguf_read_alignment(const struct gguf_reader *r) { return r->alignment; }
uint64_t gguf_read_file_size(const struct gguf_reader *r) { return r->size; }
uint64_t gguf_read_data_offset(const struct gguf_reader *r) { return r->data_offset; }
size_t gguf_read_kv_count(const struct gguf_reader *r) { return r->kv_count; }
size_t gguf_read_tensor_count(const struct gguf_reader *r) { return r->tensor_count; }
/* clang-format on */

const struct gguf_kv *gguf_read_kv(const struct gguf_reader *r, size_t i)
{
	return i < r->kv_count ? &r->kvs[i] : NULL;
}

const struct gguf_kv *gguf_read_find_kv(const struct gguf_reader *r, const char *key)
{
	size_t i;
	return fmt_nameset_find(&r->kv_names, key, strlen(key), &i) ? &r->kvs[i] : NULL;
}

const struct gguf_tensor_info *gguf_read_tensor(const struct gguf_reader *r, size_t i)
{
	return i < r->tensor_count ? &r->tensors[i] : NULL;
}

const void *gguf_read_tensor_data(const struct gguf_reader *r, size_t i)
{
	if (i >= r->tensor_count || !r->data)
		return NULL;
	return r->data + r->data_offset + r->tensors[i].offset;
}

/* ---- values ------------------------------------------------------------------------- */

static void decode(enum gguf_value_type type, const unsigned char *p, union gguf_scalar *v)
{
	uint32_t u32;
	uint64_t u64;
	switch (type) {
	case GGUF_VALUE_UINT8: v->u8 = p[0]; break;
	case GGUF_VALUE_INT8: v->i8 = (int8_t)p[0]; break;
	case GGUF_VALUE_UINT16: v->u16 = fmt_le16(p); break;
	case GGUF_VALUE_INT16: v->i16 = (int16_t)fmt_le16(p); break;
	case GGUF_VALUE_UINT32: v->u32 = fmt_le32(p); break;
	case GGUF_VALUE_INT32: v->i32 = (int32_t)fmt_le32(p); break;
	case GGUF_VALUE_FLOAT32:
		u32 = fmt_le32(p);
		memcpy(&v->f32, &u32, 4);
		break;
	case GGUF_VALUE_BOOL: v->b = p[0]; break;
	case GGUF_VALUE_STRING:
		v->str.len = fmt_le64(p);
		v->str.data = (const char *)p + 8;
		break;
	case GGUF_VALUE_UINT64: v->u64 = fmt_le64(p); break;
	case GGUF_VALUE_INT64: v->i64 = (int64_t)fmt_le64(p); break;
	case GGUF_VALUE_FLOAT64:
		u64 = fmt_le64(p);
		memcpy(&v->f64, &u64, 8);
		break;
	default: break;
	}
}

int gguf_kv_scalar(const struct gguf_kv *kv, union gguf_scalar *out)
{
	if (kv->type == GGUF_VALUE_ARRAY)
		return FMT_EINVALID;
	decode(kv->type, kv->value, out);
	return 0;
}

int gguf_kv_element(const struct gguf_kv *kv, uint64_t i, union gguf_scalar *out)
{
	if (kv->type != GGUF_VALUE_ARRAY || i >= kv->count)
		return FMT_EINVALID;
	if (kv->element_type == GGUF_VALUE_STRING)
		decode(GGUF_VALUE_STRING, kv->value + kv->string_offsets[i], out);
	else
		decode(kv->element_type, kv->value + i * gguf_value_type_size(kv->element_type), out);
	return 0;
}

static int want_type(const struct gguf_kv *kv, enum gguf_value_type type, struct fmt_error *err)
{
	if (kv->type == type)
		return 0;
	return fmt_error_set(err, FMT_EINVALID, "key '%s' has type %s, expected %s", kv->key,
			     gguf_value_type_name(kv->type), gguf_value_type_name(type));
}

int gguf_kv_get_u32(const struct gguf_kv *kv, uint32_t *out, struct fmt_error *err)
{
	union gguf_scalar v;
	int rc = want_type(kv, GGUF_VALUE_UINT32, err);
	if (!rc) {
		decode(kv->type, kv->value, &v);
		*out = v.u32;
	}
	return rc;
}

int gguf_kv_get_f32(const struct gguf_kv *kv, float *out, struct fmt_error *err)
{
	union gguf_scalar v;
	int rc = want_type(kv, GGUF_VALUE_FLOAT32, err);
	if (!rc) {
		decode(kv->type, kv->value, &v);
		*out = v.f32;
	}
	return rc;
}

int gguf_kv_get_string(const struct gguf_kv *kv, struct gguf_string *out, struct fmt_error *err)
{
	union gguf_scalar v;
	int rc = want_type(kv, GGUF_VALUE_STRING, err);
	if (!rc) {
		decode(kv->type, kv->value, &v);
		*out = v.str;
	}
	return rc;
}

/* ---- parsing ------------------------------------------------------------------------ */

/* Takes n bytes at the cursor, or says which field does not fit. */
static int take(struct cursor *c, uint64_t n, const char *what, const unsigned char **out)
{
	if (n > c->size - c->pos)
		return fmt_error_set(c->err, FMT_EINVALID,
				     "truncated: %s at offset %llu needs %llu bytes, the file ends at %llu",
				     what, U64(c->pos), U64(n), U64(c->size));
	if (out)
		*out = c->data + c->pos;
	c->pos += n;
	return 0;
}

static int take_u32(struct cursor *c, const char *what, uint32_t *v)
{
	const unsigned char *p = NULL;
	int rc = take(c, 4, what, &p);
	if (!rc)
		*v = fmt_le32(p);
	return rc;
}

static int take_u64(struct cursor *c, const char *what, uint64_t *v)
{
	const unsigned char *p = NULL;
	int rc = take(c, 8, what, &p);
	if (!rc)
		*v = fmt_le64(p);
	return rc;
}

/* A length-prefixed string, bounded by limit and by the bytes left. */
static int take_string(struct cursor *c, const char *what, uint64_t limit, struct gguf_string *s)
{
	uint64_t at = c->pos, len;
	const unsigned char *p = NULL;
	int rc = take_u64(c, what, &len);
	if (rc)
		return rc;
	if (len > limit)
		return fmt_error_set(c->err, FMT_EINVALID,
				     "%s at offset %llu is %llu bytes long (limit %llu)", what, U64(at),
				     U64(len), U64(limit));
	if (len > c->size - c->pos)
		return fmt_error_set(
			c->err, FMT_EINVALID,
			"%s at offset %llu is %llu bytes long, past the end of the file (%llu bytes left)",
			what, U64(at), U64(len), U64(c->size - c->pos));
	take(c, len, what, &p);
	s->data = (const char *)p;
	s->len = len;
	return 0;
}

static char *copy_name(const struct gguf_string *s)
{
	char *copy = malloc(s->len + 1);
	if (copy) {
		memcpy(copy, s->data, s->len);
		copy[s->len] = '\0';
	}
	return copy;
}

/* The bytes of an array's elements; STRING arrays get an index of element offsets. */
static int take_array(struct cursor *c, struct gguf_kv *kv)
{
	uint32_t elem;
	uint64_t at, count;
	int rc;
	if ((rc = take_u32(c, "array element type", &elem)))
		return rc;
	if (elem == GGUF_VALUE_ARRAY)
		return fmt_error_set(
			c->err, FMT_EINVALID,
			"key '%s': nested arrays are not supported (element type ARRAY at offset %llu)",
			kv->key, U64(c->pos - 4));
	if (!gguf_value_type_name(elem))
		return fmt_error_set(c->err, FMT_EINVALID,
				     "key '%s': invalid array element type %u at offset %llu", kv->key, elem,
				     U64(c->pos - 4));
	at = c->pos;
	if ((rc = take_u64(c, "array length", &count)))
		return rc;
	if (count > GGUF_ARRAY_MAX)
		return fmt_error_set(
			c->err, FMT_EINVALID,
			"key '%s': array length %llu at offset %llu is over the limit of %llu elements",
			kv->key, U64(count), U64(at), U64(GGUF_ARRAY_MAX));
	kv->element_type = elem;
	kv->count = count;
	kv->value = c->data + c->pos;
	uint32_t size = elem == GGUF_VALUE_STRING ? 8 : gguf_value_type_size(elem);
	/* count <= 2^30 and size <= 8: the product cannot overflow. */
	if (count * size > c->size - c->pos)
		return fmt_error_set(
			c->err, FMT_EINVALID,
			"key '%s': array of %llu %s at offset %llu needs at least %llu bytes, only %llu left",
			kv->key, U64(count), gguf_value_type_name(elem), U64(at), U64(count * size),
			U64(c->size - c->pos));
	if (elem != GGUF_VALUE_STRING) {
		kv->value_size = count * size;
		return take(c, kv->value_size, "array elements", NULL);
	}
	uint64_t *offsets = malloc((count ? count : 1) * sizeof(*offsets));
	if (!offsets)
		return fmt_error_oom(c->err);
	kv->string_offsets = offsets;
	for (uint64_t i = 0; i < count; i++) {
		struct gguf_string s;
		offsets[i] = (uint64_t)(c->data + c->pos - kv->value);
		if ((rc = take_string(c, "array string", GGUF_STRING_MAX, &s)))
			return rc;
	}
	kv->value_size = (uint64_t)(c->data + c->pos - kv->value);
	return 0;
}

static int take_kv(struct gguf_reader *r, struct cursor *c, size_t index)
{
	struct gguf_kv *kv = &r->kvs[index];
	struct gguf_string key;
	uint32_t type;
	size_t first;
	int rc;
	kv->offset = c->pos;
	if ((rc = take_string(c, "metadata key", GGUF_KEY_MAX, &key)))
		return rc;
	if (!key.len)
		return fmt_error_set(c->err, FMT_EINVALID,
				     "metadata pair %zu at offset %llu has an empty key", index,
				     U64(kv->offset));
	if (memchr(key.data, '\0', key.len))
		return fmt_error_set(c->err, FMT_EINVALID, "key at offset %llu contains a NUL byte",
				     U64(kv->offset));
	if (!(kv->key = copy_name(&key)))
		return fmt_error_oom(c->err);
	kv->key_len = key.len;
	rc = fmt_nameset_add(&r->kv_names, kv->key, key.len, index, &first);
	if (rc < 0)
		return fmt_error_oom(c->err);
	if (rc == 0)
		return fmt_error_set(c->err, FMT_EINVALID,
				     "duplicate key '%s' at offset %llu (first at offset %llu)", kv->key,
				     U64(kv->offset), U64(r->kvs[first].offset));
	if ((rc = take_u32(c, "value type", &type)))
		return rc;
	if (!gguf_value_type_name(type))
		return fmt_error_set(c->err, FMT_EINVALID, "key '%s': invalid value type %u at offset %llu",
				     kv->key, type, U64(c->pos - 4));
	kv->type = type;
	kv->count = 1;
	kv->value = c->data + c->pos;
	if (type == GGUF_VALUE_ARRAY)
		return take_array(c, kv);
	if (type == GGUF_VALUE_STRING) {
		struct gguf_string s;
		if ((rc = take_string(c, "string value", GGUF_STRING_MAX, &s)))
			return rc;
		kv->value_size = 8 + s.len;
		return 0;
	}
	kv->value_size = gguf_value_type_size(type);
	return take(c, kv->value_size, "value", NULL);
}

static int take_tensor_info(struct gguf_reader *r, struct cursor *c, size_t index)
{
	struct gguf_tensor_info *t = &r->tensors[index];
	struct gguf_string name;
	uint64_t at = c->pos;
	uint32_t block;
	size_t first;
	int rc;
	if ((rc = take_string(c, "tensor name", GGUF_STRING_MAX, &name)))
		return rc;
	if (!name.len)
		return fmt_error_set(c->err, FMT_EINVALID, "tensor %zu at offset %llu has an empty name",
				     index, U64(at));
	if (name.len > GGUF_NAME_MAX)
		return fmt_error_set(c->err, FMT_EINVALID,
				     "tensor name at offset %llu is %llu bytes long (limit %d): '%.40s...'",
				     U64(at), U64(name.len), GGUF_NAME_MAX, name.data);
	if (memchr(name.data, '\0', name.len))
		return fmt_error_set(c->err, FMT_EINVALID, "tensor name at offset %llu contains a NUL byte",
				     U64(at));
	if (!(t->name = copy_name(&name)))
		return fmt_error_oom(c->err);
	rc = fmt_nameset_add(&r->tensor_names, t->name, name.len, index, &first);
	if (rc < 0)
		return fmt_error_oom(c->err);
	if (rc == 0)
		return fmt_error_set(c->err, FMT_EINVALID,
				     "duplicate tensor name '%s' at offset %llu (tensors %zu and %zu)",
				     t->name, U64(at), first, index);
	if ((rc = take_u32(c, "tensor dimension count", &t->n_dims)))
		return rc;
	if (t->n_dims > GGUF_DIMS_MAX)
		return fmt_error_set(c->err, FMT_EINVALID,
				     "tensor '%s': %u dimensions at offset %llu (limit %d)", t->name,
				     t->n_dims, U64(c->pos - 4), GGUF_DIMS_MAX);
	uint64_t elements = 1;
	for (uint32_t j = 0; j < GGUF_DIMS_MAX; j++) {
		t->ne[j] = 1;
		if (j >= t->n_dims)
			continue;
		if ((rc = take_u64(c, "tensor dimension", &t->ne[j])))
			return rc;
		/* gguf.cpp reads ne as int64_t and keeps the element count below INT64_MAX. */
		if (t->ne[j] > INT64_MAX || __builtin_mul_overflow(elements, t->ne[j], &elements) ||
		    elements > INT64_MAX)
			return fmt_error_set(
				c->err, FMT_EINVALID,
				"tensor '%s': ne[%u] = %llu at offset %llu makes the element count overflow",
				t->name, j, U64(t->ne[j]), U64(c->pos - 8));
	}
	t->n_elements = elements;
	if ((rc = take_u32(c, "tensor type", &t->type)))
		return rc;
	if (gguf_tensor_type_traits(t->type, &block, NULL))
		return fmt_error_set(c->err, FMT_EINVALID,
				     "tensor '%s': invalid tensor type %u at offset %llu", t->name, t->type,
				     U64(c->pos - 4));
	if (t->ne[0] % block)
		return fmt_error_set(c->err, FMT_EINVALID,
				     "tensor '%s': ne[0] = %llu is not a multiple of the %s block size %u",
				     t->name, U64(t->ne[0]), gguf_tensor_type_name(t->type), block);
	if (gguf_tensor_nbytes(t->type, t->n_dims, t->ne, &t->size))
		return fmt_error_set(c->err, FMT_EINVALID, "tensor '%s': its size in bytes overflows",
				     t->name);
	return take_u64(c, "tensor data offset", &t->offset);
}

static int take_header(struct gguf_reader *r, struct cursor *c, uint64_t *n_tensors, uint64_t *n_kv)
{
	const unsigned char *p = NULL;
	int rc;
	if (c->size < 4 || memcmp(c->data, "GGUF", 4))
		return fmt_error_set(c->err, FMT_EINVALID,
				     "not a GGUF file: the first 4 bytes are not the magic 'GGUF'");
	take(c, 4, "magic", NULL);
	if ((rc = take(c, 4, "version", &p)))
		return rc;
	r->version = fmt_le32(p);
	/* Files are little-endian; a big-endian v3 file stores 00 00 00 03, which reads as
	 * a version with its low 16 bits zero (the test gguf.cpp and gguf-py use). */
	if (r->version && !(r->version & 0xFFFF))
		return fmt_error_set(
			c->err, FMT_EUNSUPPORTED,
			"big-endian GGUF (version bytes %02x %02x %02x %02x at offset 4): only little-endian files are supported",
			p[0], p[1], p[2], p[3]);
	if (r->version == 0)
		return fmt_error_set(c->err, FMT_EINVALID, "invalid GGUF version 0 at offset 4");
	if (r->version == 1)
		return fmt_error_set(c->err, FMT_EUNSUPPORTED,
				     "GGUF v1 is no longer supported (offset 4; v2 and v3 are)");
	if (r->version > 3)
		return fmt_error_set(c->err, FMT_EUNSUPPORTED,
				     "GGUF version %u at offset 4 is newer than this reader (v2 and v3)",
				     r->version);
	if ((rc = take_u64(c, "tensor count", n_tensors)) || (rc = take_u64(c, "metadata count", n_kv)))
		return rc;
	/* Every pair and every tensor info takes some bytes: counts that cannot fit in the
	 * rest of the file are refused before anything is allocated for them. */
	uint64_t left = c->size - c->pos, kv_bytes, info_bytes;
	if (*n_kv > INT64_MAX || __builtin_mul_overflow(*n_kv, MIN_KV_BYTES, &kv_bytes) || kv_bytes > left)
		return fmt_error_set(c->err, FMT_EINVALID,
				     "metadata count %llu at offset 16 cannot fit in the %llu bytes left",
				     U64(*n_kv), U64(left));
	if (*n_tensors > INT64_MAX ||
	    __builtin_mul_overflow(*n_tensors, MIN_TENSOR_INFO_BYTES, &info_bytes) ||
	    info_bytes > left - kv_bytes)
		return fmt_error_set(c->err, FMT_EINVALID,
				     "tensor count %llu at offset 8 cannot fit in the %llu bytes left",
				     U64(*n_tensors), U64(left));
	return 0;
}

static int check_alignment(struct gguf_reader *r, struct fmt_error *err)
{
	const struct gguf_kv *kv = gguf_read_find_kv(r, "general.alignment");
	union gguf_scalar v;
	r->alignment = GGUF_ALIGNMENT_DEFAULT;
	if (!kv)
		return 0;
	if (kv->type != GGUF_VALUE_UINT32)
		return fmt_error_set(err, FMT_EINVALID,
				     "key 'general.alignment' at offset %llu has type %s, must be UINT32",
				     U64(kv->offset), gguf_value_type_name(kv->type));
	decode(kv->type, kv->value, &v);
	if (!v.u32 || (v.u32 & (v.u32 - 1)))
		return fmt_error_set(err, FMT_EINVALID,
				     "key 'general.alignment' at offset %llu: %u is not a power of two",
				     U64(kv->offset), v.u32);
	r->alignment = v.u32;
	return 0;
}

/* Offsets must be exactly contiguous in tensor-info order, each tensor padded to the
 * alignment (gguf.cpp recomputes them the same way), and the data inside the file. */
static int check_offsets(struct gguf_reader *r, struct fmt_error *err)
{
	uint64_t expected = 0, a = r->alignment;
	for (size_t i = 0; i < r->tensor_count; i++) {
		const struct gguf_tensor_info *t = &r->tensors[i];
		uint64_t end, padded;
		if (t->offset != expected)
			return fmt_error_set(
				err, FMT_EINVALID,
				"tensor '%s' has data offset %llu, expected %llu (contiguous, each padded to %llu bytes)",
				t->name, U64(t->offset), U64(expected), U64(a));
		if (__builtin_add_overflow(t->offset, t->size, &end) || r->data_offset > r->size ||
		    end > r->size - r->data_offset)
			return fmt_error_set(
				err, FMT_EINVALID,
				"tensor '%s': data at file offset %llu, %llu bytes, goes past the end of the file (%llu bytes)",
				t->name, U64(r->data_offset + t->offset), U64(t->size), U64(r->size));
		padded = end + (a - end % a) % a;
		if (padded < end)
			return fmt_error_set(err, FMT_EINVALID, "tensor '%s': offset overflow", t->name);
		expected = padded;
	}
	return 0;
}

static int parse(struct gguf_reader *r, struct fmt_error *err)
{
	struct cursor c = { r->data, r->size, 0, err };
	uint64_t n_tensors, n_kv;
	int rc;
	fmt_nameset_init(&r->kv_names);
	fmt_nameset_init(&r->tensor_names);
	if ((rc = take_header(r, &c, &n_tensors, &n_kv)))
		return rc;
	r->kvs = calloc(n_kv ? n_kv : 1, sizeof(*r->kvs));
	r->tensors = calloc(n_tensors ? n_tensors : 1, sizeof(*r->tensors));
	if (!r->kvs || !r->tensors)
		return fmt_error_oom(err);
	/* Counted as they are filled, so that close frees exactly what was allocated. */
	for (; r->kv_count < n_kv; r->kv_count++)
		if ((rc = take_kv(r, &c, r->kv_count))) {
			r->kv_count++;
			return rc;
		}
	if ((rc = check_alignment(r, err)))
		return rc;
	for (; r->tensor_count < n_tensors; r->tensor_count++)
		if ((rc = take_tensor_info(r, &c, r->tensor_count))) {
			r->tensor_count++;
			return rc;
		}
	r->data_offset = c.pos + (r->alignment - c.pos % r->alignment) % r->alignment;
	return check_offsets(r, err);
}
