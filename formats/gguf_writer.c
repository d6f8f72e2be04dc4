/* The streaming GGUF writer (see gguf.h). The header is assembled in memory (metadata
 * and tensor infos: kilobytes to a few megabytes), then tensor data passes through a
 * fixed output buffer on its way to the file, so that writing a 100 GB model needs
 * no more memory than the header and one chunk of the caller's data. */
#include "gguf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define U64(x) ((unsigned long long)(x))
#define OUT_CAP ((size_t)1 << 20)

struct pending_tensor {
	char *name;
	uint32_t type, n_dims;
	uint64_t ne[GGUF_DIMS_MAX];
	uint64_t size;
};

struct gguf_writer {
	int fd;
	struct fmt_error *err;
	int status; /* the first failure; every later call returns it */
	uint32_t alignment;
	struct fmt_buf kv;
	uint64_t kv_count;
	char **keys; /* copies, for the duplicate check */
	size_t keys_cap;
	struct fmt_nameset key_set;
	struct pending_tensor *tensors;
	size_t tensor_count, tensors_cap;
	struct fmt_nameset tensor_set;
	int header_written, finished;
	size_t current;        /* the tensor whose data comes next */
	uint64_t current_done; /* bytes of it already written */
	unsigned char *out;
	size_t out_len;
};

static int fail(struct gguf_writer *w, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct gguf_writer *w, int code, const char *fmt, ...)
{
	va_list ap;
	if (w->status)
		return w->status;
	if (w->err) {
		va_start(ap, fmt);
		vsnprintf(w->err->message, sizeof(w->err->message), fmt, ap);
		va_end(ap);
	}
	return w->status = code;
}

int gguf_writer_begin(struct gguf_writer **out, int fd, struct fmt_error *err)
{
	struct gguf_writer *w = calloc(1, sizeof(*w));
	*out = NULL;
	if (w)
		w->out = malloc(OUT_CAP);
	if (!w || !w->out) {
		free(w);
		return fmt_error_oom(err);
	}
	w->fd = fd;
	w->err = err;
	w->alignment = GGUF_ALIGNMENT_DEFAULT;
	fmt_nameset_init(&w->key_set);
	fmt_nameset_init(&w->tensor_set);
	*out = w;
	return 0;
}

void gguf_writer_free(struct gguf_writer *w)
{
	if (!w)
		return;
	for (uint64_t i = 0; i < w->kv_count; i++)
		free(w->keys[i]);
	free(w->keys);
	for (size_t i = 0; i < w->tensor_count; i++)
		free(w->tensors[i].name);
	free(w->tensors);
	fmt_nameset_free(&w->key_set);
	fmt_nameset_free(&w->tensor_set);
	fmt_buf_free(&w->kv);
	free(w->out);
	free(w);
}

/* ---- the types llama.cpp insists on ------------------------------------------------- */

/* "*." stands for one architecture segment ("llama.", "qwen2."). A rule with type ARRAY
 * fixes the element type; scalar rules marked per_layer also accept an integer array
 * (per-layer head counts, as gguf-py writes for OpenELM). */
struct key_rule {
	const char *pattern;
	enum gguf_value_type type, element_type;
	int per_layer;
};

/* clang-format off */
static const struct key_rule key_rules[] = {
	{ "general.alignment", GGUF_VALUE_UINT32, 0, 0 },
	{ "general.file_type", GGUF_VALUE_UINT32, 0, 0 },
	{ "general.quantization_version", GGUF_VALUE_UINT32, 0, 0 },
	{ "general.architecture", GGUF_VALUE_STRING, 0, 0 },
	{ "general.type", GGUF_VALUE_STRING, 0, 0 },
	{ "general.name", GGUF_VALUE_STRING, 0, 0 },
	{ "general.basename", GGUF_VALUE_STRING, 0, 0 },
	{ "general.finetune", GGUF_VALUE_STRING, 0, 0 },
	{ "general.size_label", GGUF_VALUE_STRING, 0, 0 },
	{ "general.license", GGUF_VALUE_STRING, 0, 0 },
	{ "*.context_length", GGUF_VALUE_UINT32, 0, 0 },
	{ "*.embedding_length", GGUF_VALUE_UINT32, 0, 0 },
	{ "*.block_count", GGUF_VALUE_UINT32, 0, 0 },
	{ "*.feed_forward_length", GGUF_VALUE_UINT32, 0, 1 },
	{ "*.vocab_size", GGUF_VALUE_UINT32, 0, 0 },
	{ "*.expert_count", GGUF_VALUE_UINT32, 0, 0 },
	{ "*.expert_used_count", GGUF_VALUE_UINT32, 0, 0 },
	{ "*.attention.head_count", GGUF_VALUE_UINT32, 0, 1 },
	{ "*.attention.head_count_kv", GGUF_VALUE_UINT32, 0, 1 },
	{ "*.attention.key_length", GGUF_VALUE_UINT32, 0, 0 },
	{ "*.attention.value_length", GGUF_VALUE_UINT32, 0, 0 },
	{ "*.attention.layer_norm_rms_epsilon", GGUF_VALUE_FLOAT32, 0, 0 },
	{ "*.attention.layer_norm_epsilon", GGUF_VALUE_FLOAT32, 0, 0 },
	{ "*.rope.dimension_count", GGUF_VALUE_UINT32, 0, 0 },
	{ "*.rope.freq_base", GGUF_VALUE_FLOAT32, 0, 0 },
	{ "*.rope.scaling.type", GGUF_VALUE_STRING, 0, 0 },
	{ "*.rope.scaling.factor", GGUF_VALUE_FLOAT32, 0, 0 },
	{ "*.rope.scaling.original_context_length", GGUF_VALUE_UINT32, 0, 0 },
	{ "tokenizer.ggml.model", GGUF_VALUE_STRING, 0, 0 },
	{ "tokenizer.ggml.pre", GGUF_VALUE_STRING, 0, 0 },
	{ "tokenizer.ggml.tokens", GGUF_VALUE_ARRAY, GGUF_VALUE_STRING, 0 },
	{ "tokenizer.ggml.scores", GGUF_VALUE_ARRAY, GGUF_VALUE_FLOAT32, 0 },
	{ "tokenizer.ggml.token_type", GGUF_VALUE_ARRAY, GGUF_VALUE_INT32, 0 },
	{ "tokenizer.ggml.merges", GGUF_VALUE_ARRAY, GGUF_VALUE_STRING, 0 },
	{ "tokenizer.ggml.add_bos_token", GGUF_VALUE_BOOL, 0, 0 },
	{ "tokenizer.ggml.add_eos_token", GGUF_VALUE_BOOL, 0, 0 },
	{ "tokenizer.ggml.add_space_prefix", GGUF_VALUE_BOOL, 0, 0 },
	{ "tokenizer.chat_template", GGUF_VALUE_STRING, 0, 0 },
	{ "split.no", GGUF_VALUE_UINT16, 0, 0 },
	{ "split.count", GGUF_VALUE_UINT16, 0, 0 },
	{ "split.tensors.count", GGUF_VALUE_INT32, 0, 0 },
	{ "quantize.imatrix.file", GGUF_VALUE_STRING, 0, 0 },
	{ "quantize.imatrix.dataset", GGUF_VALUE_STRING, 0, 0 },
	{ "quantize.imatrix.entries_count", GGUF_VALUE_INT32, 0, 0 },
	{ "quantize.imatrix.chunks_count", GGUF_VALUE_INT32, 0, 0 },
	/* every special token id: bos, eos, unknown, padding, eot, ... */
	{ "tokenizer.ggml.*_token_id", GGUF_VALUE_UINT32, 0, 0 },
};
/* clang-format on */

static int rule_matches(const char *pattern, const char *key)
{
	const char *star = strchr(pattern, '*');
	if (!star)
		return !strcmp(pattern, key);
	size_t head = (size_t)(star - pattern), tail = strlen(star + 1), len = strlen(key);
	if (len < head + tail + 1 || strncmp(key, pattern, head) || strcmp(key + len - tail, star + 1))
		return 0;
	/* "*" stands for a non-empty run without dots. */
	for (const char *p = key + head; p < key + len - tail; p++)
		if (*p == '.')
			return 0;
	return 1;
}

static int check_rule(struct gguf_writer *w, const char *key, enum gguf_value_type type,
		      enum gguf_value_type element_type)
{
	for (size_t i = 0; i < sizeof(key_rules) / sizeof(key_rules[0]); i++) {
		const struct key_rule *r = &key_rules[i];
		if (!rule_matches(r->pattern, key))
			continue;
		if (type == r->type && (type != GGUF_VALUE_ARRAY || element_type == r->element_type))
			return 0;
		if (type == GGUF_VALUE_ARRAY && r->per_layer &&
		    (element_type == GGUF_VALUE_UINT32 || element_type == GGUF_VALUE_INT32))
			return 0;
		if (r->type == GGUF_VALUE_ARRAY)
			return fail(w, FMT_EINVALID,
				    "key '%s' must be an ARRAY of %s (llama.cpp reads it so)", key,
				    gguf_value_type_name(r->element_type));
		return fail(w, FMT_EINVALID,
			    "key '%s' must be %s (llama.cpp checks the exact type), not %s%s%s", key,
			    gguf_value_type_name(r->type), gguf_value_type_name(type),
			    type == GGUF_VALUE_ARRAY ? " of " : "",
			    type == GGUF_VALUE_ARRAY ? gguf_value_type_name(element_type) : "");
	}
	return 0;
}

/* ---- metadata ----------------------------------------------------------------------- */

/* Validates the key, then appends it and the type. The caller appends the value. Typed
 * additions are held to the key rules; copies keep whatever type their file has (the
 * reader accepts any, like gguf.cpp, and a copy must reproduce it). */
static int begin_kv_checked(struct gguf_writer *w, const char *key, enum gguf_value_type type,
			    enum gguf_value_type element_type, int check_type)
{
	size_t len;
	int rc;
	if (w->status)
		return w->status;
	if (w->header_written)
		return fail(w, FMT_EINVALID, "key '%s': metadata cannot be added after tensor data",
			    key ? key : "");
	if (!key || !(len = strlen(key)))
		return fail(w, FMT_EINVALID, "metadata key is empty");
	if (len > GGUF_KEY_MAX)
		return fail(w, FMT_EINVALID, "metadata key of %zu bytes is over the limit of %d", len,
			    GGUF_KEY_MAX);
	if (check_type && (rc = check_rule(w, key, type, element_type)))
		return rc;
	if (w->kv_count == w->keys_cap) {
		size_t cap = w->keys_cap ? w->keys_cap * 2 : 32;
		char **keys = realloc(w->keys, cap * sizeof(*keys));
		if (!keys)
			return fail(w, FMT_ENOMEM, "out of memory");
		w->keys = keys;
		w->keys_cap = cap;
	}
	char *copy = strdup(key);
	if (!copy)
		return fail(w, FMT_ENOMEM, "out of memory");
	rc = fmt_nameset_add(&w->key_set, copy, len, w->kv_count, NULL);
	if (rc <= 0) {
		free(copy);
		return rc < 0 ? fail(w, FMT_ENOMEM, "out of memory")
			      : fail(w, FMT_EINVALID, "duplicate metadata key '%s'", key);
	}
	w->keys[w->kv_count++] = copy;
	if (fmt_buf_add_le64(&w->kv, len) || fmt_buf_add(&w->kv, key, len) || fmt_buf_add_le32(&w->kv, type))
		return fail(w, FMT_ENOMEM, "out of memory");
	return 0;
}

static int begin_kv(struct gguf_writer *w, const char *key, enum gguf_value_type type,
		    enum gguf_value_type element_type)
{
	return begin_kv_checked(w, key, type, element_type, 1);
}

static int end_kv(struct gguf_writer *w, int buf_rc)
{
	return buf_rc ? fail(w, FMT_ENOMEM, "out of memory") : 0;
}

static int add_fixed(struct gguf_writer *w, const char *key, enum gguf_value_type type, uint64_t bits)
{
	int rc = begin_kv(w, key, type, 0);
	if (rc)
		return rc;
	switch (gguf_value_type_size(type)) {
	case 1: rc = fmt_buf_add(&w->kv, &(unsigned char){ (unsigned char)bits }, 1); break;
	case 2: rc = fmt_buf_add_le16(&w->kv, (uint16_t)bits); break;
	case 4: rc = fmt_buf_add_le32(&w->kv, (uint32_t)bits); break;
	default: rc = fmt_buf_add_le64(&w->kv, bits); break;
	}
	return end_kv(w, rc);
}

static uint32_t f32_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static uint64_t f64_bits(double f)
{
	uint64_t u;
	memcpy(&u, &f, 8);
	return u;
}

int gguf_writer_add_u8(struct gguf_writer *w, const char *key, uint8_t v)
{
	return add_fixed(w, key, GGUF_VALUE_UINT8, v);
}

int gguf_writer_add_i8(struct gguf_writer *w, const char *key, int8_t v)
{
	return add_fixed(w, key, GGUF_VALUE_INT8, (uint8_t)v);
}

int gguf_writer_add_u16(struct gguf_writer *w, const char *key, uint16_t v)
{
	return add_fixed(w, key, GGUF_VALUE_UINT16, v);
}

int gguf_writer_add_i16(struct gguf_writer *w, const char *key, int16_t v)
{
	return add_fixed(w, key, GGUF_VALUE_INT16, (uint16_t)v);
}

int gguf_writer_add_u32(struct gguf_writer *w, const char *key, uint32_t v)
{
	int rc;
	if (key && !strcmp(key, "general.alignment") && !w->status) {
		if (!v || (v & (v - 1)))
			return fail(w, FMT_EINVALID, "general.alignment %u is not a power of two", v);
		if ((rc = add_fixed(w, key, GGUF_VALUE_UINT32, v)))
			return rc;
		w->alignment = v;
		return 0;
	}
	return add_fixed(w, key, GGUF_VALUE_UINT32, v);
}

int gguf_writer_add_i32(struct gguf_writer *w, const char *key, int32_t v)
{
	return add_fixed(w, key, GGUF_VALUE_INT32, (uint32_t)v);
}

int gguf_writer_add_f32(struct gguf_writer *w, const char *key, float v)
{
	return add_fixed(w, key, GGUF_VALUE_FLOAT32, f32_bits(v));
}

int gguf_writer_add_bool(struct gguf_writer *w, const char *key, int v)
{
	return add_fixed(w, key, GGUF_VALUE_BOOL, v ? 1 : 0);
}

int gguf_writer_add_u64(struct gguf_writer *w, const char *key, uint64_t v)
{
	return add_fixed(w, key, GGUF_VALUE_UINT64, v);
}

int gguf_writer_add_i64(struct gguf_writer *w, const char *key, int64_t v)
{
	return add_fixed(w, key, GGUF_VALUE_INT64, (uint64_t)v);
}

int gguf_writer_add_f64(struct gguf_writer *w, const char *key, double v)
{
	return add_fixed(w, key, GGUF_VALUE_FLOAT64, f64_bits(v));
}

static int add_string_bytes(struct gguf_writer *w, const char *s, size_t len)
{
	if ((uint64_t)len > GGUF_STRING_MAX)
		return fail(w, FMT_EINVALID, "string of %zu bytes is over the limit of %llu", len,
			    U64(GGUF_STRING_MAX));
	return end_kv(w, fmt_buf_add_le64(&w->kv, len) || fmt_buf_add(&w->kv, s, len));
}

int gguf_writer_add_string(struct gguf_writer *w, const char *key, const char *v)
{
	return gguf_writer_add_string_n(w, key, v ? v : "", v ? strlen(v) : 0);
}

int gguf_writer_add_string_n(struct gguf_writer *w, const char *key, const char *v, size_t len)
{
	int rc = begin_kv(w, key, GGUF_VALUE_STRING, 0);
	return rc ? rc : add_string_bytes(w, v, len);
}

static int begin_array_checked(struct gguf_writer *w, const char *key, enum gguf_value_type element, size_t n,
			       int check_type)
{
	int rc = begin_kv_checked(w, key, GGUF_VALUE_ARRAY, element, check_type);
	if (rc)
		return rc;
	if ((uint64_t)n > GGUF_ARRAY_MAX)
		return fail(w, FMT_EINVALID, "key '%s': %zu elements is over the limit of %llu", key, n,
			    U64(GGUF_ARRAY_MAX));
	return end_kv(w, fmt_buf_add_le32(&w->kv, element) || fmt_buf_add_le64(&w->kv, n));
}

static int begin_array(struct gguf_writer *w, const char *key, enum gguf_value_type element, size_t n)
{
	return begin_array_checked(w, key, element, n, 1);
}

/* Numeric arrays: each element stored little-endian whatever the host. */
#define ADD_ARRAY(fn, ctype, element, add_one)                                   \
	int fn(struct gguf_writer *w, const char *key, const ctype *v, size_t n) \
	{                                                                        \
		int rc = begin_array(w, key, element, n);                        \
		for (size_t i = 0; !rc && i < n; i++)                            \
			rc = end_kv(w, add_one);                                 \
		return rc;                                                       \
	}

ADD_ARRAY(gguf_writer_add_array_u8, uint8_t, GGUF_VALUE_UINT8, fmt_buf_add(&w->kv, &v[i], 1))
ADD_ARRAY(gguf_writer_add_array_i8, int8_t, GGUF_VALUE_INT8, fmt_buf_add(&w->kv, &v[i], 1))
ADD_ARRAY(gguf_writer_add_array_u16, uint16_t, GGUF_VALUE_UINT16, fmt_buf_add_le16(&w->kv, v[i]))
ADD_ARRAY(gguf_writer_add_array_i16, int16_t, GGUF_VALUE_INT16, fmt_buf_add_le16(&w->kv, (uint16_t)v[i]))
ADD_ARRAY(gguf_writer_add_array_u32, uint32_t, GGUF_VALUE_UINT32, fmt_buf_add_le32(&w->kv, v[i]))
ADD_ARRAY(gguf_writer_add_array_i32, int32_t, GGUF_VALUE_INT32, fmt_buf_add_le32(&w->kv, (uint32_t)v[i]))
ADD_ARRAY(gguf_writer_add_array_f32, float, GGUF_VALUE_FLOAT32, fmt_buf_add_le32(&w->kv, f32_bits(v[i])))
ADD_ARRAY(gguf_writer_add_array_bool, uint8_t, GGUF_VALUE_BOOL,
	  fmt_buf_add(&w->kv, &(unsigned char){ v[i] ? 1 : 0 }, 1))
ADD_ARRAY(gguf_writer_add_array_u64, uint64_t, GGUF_VALUE_UINT64, fmt_buf_add_le64(&w->kv, v[i]))
ADD_ARRAY(gguf_writer_add_array_i64, int64_t, GGUF_VALUE_INT64, fmt_buf_add_le64(&w->kv, (uint64_t)v[i]))
ADD_ARRAY(gguf_writer_add_array_f64, double, GGUF_VALUE_FLOAT64, fmt_buf_add_le64(&w->kv, f64_bits(v[i])))

int gguf_writer_add_array_string(struct gguf_writer *w, const char *key, const char *const *strings,
				 const size_t *lengths, size_t n)
{
	int rc = begin_array(w, key, GGUF_VALUE_STRING, n);
	for (size_t i = 0; !rc && i < n; i++)
		rc = add_string_bytes(w, strings[i], lengths ? lengths[i] : strlen(strings[i]));
	return rc;
}

int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_kv *kv)
{
	int rc;
	/* general.alignment also sets the layout; its checks live in add_u32. */
	if (kv->type == GGUF_VALUE_UINT32 && !strcmp(kv->key, "general.alignment")) {
		union gguf_scalar v;
		gguf_kv_scalar(kv, &v);
		return gguf_writer_add_u32(w, kv->key, v.u32);
	}
	if (kv->type == GGUF_VALUE_ARRAY)
		rc = begin_array_checked(w, kv->key, kv->element_type, (size_t)kv->count, 0);
	else
		rc = begin_kv_checked(w, kv->key, kv->type, 0, 0);
	if (rc)
		return rc;
	/* The bytes are already in the file's encoding (little-endian, length-prefixed). */
	return end_kv(w, fmt_buf_add(&w->kv, kv->value, (size_t)kv->value_size));
}

/* ---- tensors ------------------------------------------------------------------------ */

int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
			   const uint64_t *ne)
{
	struct pending_tensor t = { 0 };
	uint32_t block;
	size_t len;
	int rc;
	if (w->status)
		return w->status;
	if (!name || !(len = strlen(name)))
		return fail(w, FMT_EINVALID, "tensor name is empty");
	if (w->header_written)
		return fail(w, FMT_EINVALID, "tensor '%s': tensors cannot be added after tensor data", name);
	if (len > GGUF_NAME_MAX)
		return fail(w, FMT_EINVALID, "tensor name '%s' is %zu bytes long (limit %d)", name, len,
			    GGUF_NAME_MAX);
	if (gguf_tensor_type_traits(type, &block, NULL))
		return fail(w, FMT_EINVALID, "tensor '%s': invalid tensor type %u", name, type);
	if (n_dims > GGUF_DIMS_MAX)
		return fail(w, FMT_EINVALID, "tensor '%s': %u dimensions (limit %d)", name, n_dims,
			    GGUF_DIMS_MAX);
	uint64_t elements = 1;
	for (uint32_t j = 0; j < GGUF_DIMS_MAX; j++) {
		t.ne[j] = j < n_dims ? ne[j] : 1;
		if (t.ne[j] > INT64_MAX || __builtin_mul_overflow(elements, t.ne[j], &elements) ||
		    elements > INT64_MAX)
			return fail(w, FMT_EINVALID, "tensor '%s': the element count overflows", name);
	}
	if (t.ne[0] % block)
		return fail(w, FMT_EINVALID,
			    "tensor '%s': ne[0] = %llu is not a multiple of the %s block size %u", name,
			    U64(t.ne[0]), gguf_tensor_type_name(type), block);
	if (gguf_tensor_nbytes(type, n_dims, t.ne, &t.size))
		return fail(w, FMT_EINVALID, "tensor '%s': its size in bytes overflows", name);
	t.type = type;
	t.n_dims = n_dims;
	if (w->tensor_count == w->tensors_cap) {
		size_t cap = w->tensors_cap ? w->tensors_cap * 2 : 64;
		struct pending_tensor *p = realloc(w->tensors, cap * sizeof(*p));
		if (!p)
			return fail(w, FMT_ENOMEM, "out of memory");
		w->tensors = p;
		w->tensors_cap = cap;
	}
	if (!(t.name = strdup(name)))
		return fail(w, FMT_ENOMEM, "out of memory");
	rc = fmt_nameset_add(&w->tensor_set, t.name, len, w->tensor_count, NULL);
	if (rc <= 0) {
		free(t.name);
		return rc < 0 ? fail(w, FMT_ENOMEM, "out of memory")
			      : fail(w, FMT_EINVALID, "duplicate tensor name '%s'", name);
	}
	w->tensors[w->tensor_count++] = t;
	return 0;
}

/* ---- output ------------------------------------------------------------------------- */

/* fmt_write_all has written the message already: only the status is left to keep. */
static int write_failed(struct gguf_writer *w, int rc)
{
	if (!w->status)
		w->status = rc;
	return w->status;
}

static int out_flush(struct gguf_writer *w)
{
	int rc = fmt_write_all(w->fd, w->out, w->out_len, w->err);
	w->out_len = 0;
	return rc ? write_failed(w, rc) : 0;
}

static int out_write(struct gguf_writer *w, const void *data, size_t len)
{
	if (!len)
		return 0;
	if (len <= OUT_CAP - w->out_len) {
		memcpy(w->out + w->out_len, data, len);
		w->out_len += len;
		return 0;
	}
	if (out_flush(w))
		return w->status;
	if (len < OUT_CAP) {
		memcpy(w->out, data, len);
		w->out_len = len;
		return 0;
	}
	/* Big chunks go straight to the file: no copy, no extra memory. */
	int rc = fmt_write_all(w->fd, data, len, w->err);
	return rc ? write_failed(w, rc) : 0;
}

static int out_zeros(struct gguf_writer *w, uint64_t n)
{
	static const unsigned char zeros[256];
	while (n) {
		size_t k = n < sizeof(zeros) ? (size_t)n : sizeof(zeros);
		if (out_write(w, zeros, k))
			return w->status;
		n -= k;
	}
	return 0;
}

static uint64_t padding(uint64_t offset, uint64_t alignment)
{
	return (alignment - offset % alignment) % alignment;
}

static int write_header(struct gguf_writer *w)
{
	struct fmt_buf head = { 0 };
	uint64_t offset = 0;
	int rc = 0;
	if (fmt_buf_add(&head, "GGUF", 4) || fmt_buf_add_le32(&head, 3) ||
	    fmt_buf_add_le64(&head, w->tensor_count) || fmt_buf_add_le64(&head, w->kv_count))
		goto oom;
	if ((rc = out_write(w, head.data, head.len)) || (rc = out_write(w, w->kv.data, w->kv.len)))
		goto out;
	uint64_t written = head.len + w->kv.len;
	head.len = 0;
	for (size_t i = 0; i < w->tensor_count; i++) {
		const struct pending_tensor *t = &w->tensors[i];
		size_t len = strlen(t->name);
		if (fmt_buf_add_le64(&head, len) || fmt_buf_add(&head, t->name, len) ||
		    fmt_buf_add_le32(&head, t->n_dims))
			goto oom;
		for (uint32_t j = 0; j < t->n_dims; j++)
			if (fmt_buf_add_le64(&head, t->ne[j]))
				goto oom;
		if (fmt_buf_add_le32(&head, t->type) || fmt_buf_add_le64(&head, offset))
			goto oom;
		uint64_t padded;
		if (__builtin_add_overflow(t->size, padding(t->size, w->alignment), &padded) ||
		    __builtin_add_overflow(offset, padded, &offset)) {
			rc = fail(w, FMT_EINVALID, "the data section is larger than 2^64 bytes");
			goto out;
		}
	}
	written += head.len;
	if ((rc = out_write(w, head.data, head.len)))
		goto out;
	/* The data section starts aligned. Files without tensors have no data section and
	 * end right after the metadata (as llama.cpp's vocabulary files do). */
	if (w->tensor_count)
		rc = out_zeros(w, padding(written, w->alignment));
	w->header_written = 1;
	goto out;
oom:
	rc = fail(w, FMT_ENOMEM, "out of memory");
out:
	fmt_buf_free(&head);
	return rc;
}

/* Moves past finished tensors (zero-size ones finish at once), padding each. */
static int advance(struct gguf_writer *w)
{
	while (w->current < w->tensor_count && w->current_done == w->tensors[w->current].size) {
		const struct pending_tensor *t = &w->tensors[w->current];
		if (out_zeros(w, padding(t->size, w->alignment)))
			return w->status;
		w->current++;
		w->current_done = 0;
	}
	return 0;
}

int gguf_writer_write_tensor_data(struct gguf_writer *w, const void *data, size_t len)
{
	const unsigned char *p = data;
	if (w->status)
		return w->status;
	if (w->finished)
		return fail(w, FMT_EINVALID, "tensor data after gguf_writer_finish");
	if (!w->header_written && write_header(w))
		return w->status;
	while (len) {
		if (advance(w))
			return w->status;
		if (w->current == w->tensor_count)
			return fail(w, FMT_EINVALID, "%zu bytes of tensor data beyond the last tensor", len);
		const struct pending_tensor *t = &w->tensors[w->current];
		uint64_t room = t->size - w->current_done;
		size_t n = room < len ? (size_t)room : len;
		if (out_write(w, p, n))
			return w->status;
		w->current_done += n;
		p += n;
		len -= n;
	}
	return advance(w);
}

int gguf_writer_finish(struct gguf_writer *w)
{
	if (w->status)
		return w->status;
	if (!w->header_written && write_header(w))
		return w->status;
	if (advance(w))
		return w->status;
	if (w->current < w->tensor_count) {
		const struct pending_tensor *t = &w->tensors[w->current];
		return fail(w, FMT_EINVALID, "tensor '%s': %llu of its %llu bytes were written", t->name,
			    U64(w->current_done), U64(t->size));
	}
	w->finished = 1;
	return out_flush(w);
}
