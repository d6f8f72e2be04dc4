/* GGUF (v2 and v3, little-endian): a strict reader over a read-only mapping and a
 * streaming writer. The byte layout and the limits are those of doc/gguf.md §2 (ggml's
 * gguf.cpp, the reader llama.cpp uses): whatever gguf_read_* accepts, llama.cpp's
 * reader accepts too, and whatever it accepts the writer can reproduce byte for byte. */
#ifndef MODL_GGUF_H
#define MODL_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "fmt.h"

#define GGUF_ALIGNMENT_DEFAULT 32
#define GGUF_DIMS_MAX 4
#define GGUF_NAME_MAX 63                    /* tensor name bytes (GGML_MAX_NAME - 1) */
#define GGUF_KEY_MAX 65535                  /* spec: keys at most 65535 bytes */
#define GGUF_STRING_MAX ((uint64_t)1 << 30) /* GGUF_MAX_STRING_LENGTH in gguf.cpp */
#define GGUF_ARRAY_MAX ((uint64_t)1 << 30)  /* elements per array */

/* Metadata value types (ggml's enum gguf_type; own names so that a test may include
 * ggml's headers next to this one). */
enum gguf_value_type {
	GGUF_VALUE_UINT8 = 0,
	GGUF_VALUE_INT8 = 1,
	GGUF_VALUE_UINT16 = 2,
	GGUF_VALUE_INT16 = 3,
	GGUF_VALUE_UINT32 = 4,
	GGUF_VALUE_INT32 = 5,
	GGUF_VALUE_FLOAT32 = 6,
	GGUF_VALUE_BOOL = 7,
	GGUF_VALUE_STRING = 8,
	GGUF_VALUE_ARRAY = 9,
	GGUF_VALUE_UINT64 = 10,
	GGUF_VALUE_INT64 = 11,
	GGUF_VALUE_FLOAT64 = 12,
	GGUF_VALUE_COUNT
};

/* Tensor types (ggml's enum ggml_type, same ids); the ids removed from GGUF are invalid. */
enum gguf_tensor_type {
	GGUF_TENSOR_F32 = 0,
	GGUF_TENSOR_F16 = 1,
	GGUF_TENSOR_Q4_0 = 2,
	GGUF_TENSOR_Q4_1 = 3,
	GGUF_TENSOR_Q5_0 = 6,
	GGUF_TENSOR_Q5_1 = 7,
	GGUF_TENSOR_Q8_0 = 8,
	GGUF_TENSOR_Q8_1 = 9,
	GGUF_TENSOR_Q2_K = 10,
	GGUF_TENSOR_Q3_K = 11,
	GGUF_TENSOR_Q4_K = 12,
	GGUF_TENSOR_Q5_K = 13,
	GGUF_TENSOR_Q6_K = 14,
	GGUF_TENSOR_Q8_K = 15,
	GGUF_TENSOR_IQ2_XXS = 16,
	GGUF_TENSOR_IQ2_XS = 17,
	GGUF_TENSOR_IQ3_XXS = 18,
	GGUF_TENSOR_IQ1_S = 19,
	GGUF_TENSOR_IQ4_NL = 20,
	GGUF_TENSOR_IQ3_S = 21,
	GGUF_TENSOR_IQ2_S = 22,
	GGUF_TENSOR_IQ4_XS = 23,
	GGUF_TENSOR_I8 = 24,
	GGUF_TENSOR_I16 = 25,
	GGUF_TENSOR_I32 = 26,
	GGUF_TENSOR_I64 = 27,
	GGUF_TENSOR_F64 = 28,
	GGUF_TENSOR_IQ1_M = 29,
	GGUF_TENSOR_BF16 = 30,
	GGUF_TENSOR_TQ1_0 = 34,
	GGUF_TENSOR_TQ2_0 = 35,
	GGUF_TENSOR_MXFP4 = 39,
	GGUF_TENSOR_NVFP4 = 40,
	GGUF_TENSOR_Q1_0 = 41,
	GGUF_TENSOR_Q2_0 = 42,
	GGUF_TENSOR_COUNT = 43
};

/* "UINT32", "ARRAY", ...; NULL for an invalid id. */
const char *gguf_value_type_name(uint32_t type);
/* Bytes of one value of a fixed-size type; 0 for STRING, ARRAY and invalid ids. */
uint32_t gguf_value_type_size(uint32_t type);
/* "Q4_K", "F16", ...; NULL for an invalid or removed id. */
const char *gguf_tensor_type_name(uint32_t type);
/* Elements per block and bytes per block; FMT_EINVALID for an invalid or removed id. */
int gguf_tensor_type_traits(uint32_t type, uint32_t *block_size, uint32_t *type_size);
/* Bytes of a tensor: ne[0]/block * type_size * ne[1] * ... (ne[0] must be a multiple of
 * the block size). FMT_EINVALID on an invalid type, a bad ne[0] or an overflow. */
int gguf_tensor_nbytes(uint32_t type, uint32_t n_dims, const uint64_t *ne, uint64_t *nbytes);

/* ---- reader ------------------------------------------------------------------------- */

/* A byte string inside the file: not NUL-terminated, may hold any byte. */
struct gguf_string {
	const char *data;
	uint64_t len;
};

/* One decoded scalar; the member that is valid follows the type. BOOL keeps the raw
 * byte (the reader, like gguf.cpp, takes any nonzero byte as true). */
union gguf_scalar {
	uint8_t u8;
	int8_t i8;
	uint16_t u16;
	int16_t i16;
	uint32_t u32;
	int32_t i32;
	float f32;
	uint8_t b;
	uint64_t u64;
	int64_t i64;
	double f64;
	struct gguf_string str;
};

/* One key-value pair. Strings and element bytes point into the mapping. */
struct gguf_kv {
	const char *key; /* NUL-terminated copy (keys hold no NUL) */
	uint64_t key_len;
	uint64_t offset; /* file offset of the key's length field, for messages */
	enum gguf_value_type type;
	enum gguf_value_type element_type; /* arrays: type of the elements */
	uint64_t count;                    /* arrays: number of elements; scalars: 1 */
	const unsigned char *value;        /* scalars: the value; arrays: the first element */
	uint64_t value_size;               /* bytes from value (arrays: the elements only) */
	const uint64_t *string_offsets;    /* STRING arrays: each element's offset from value */
};

struct gguf_tensor_info {
	const char *name; /* NUL-terminated copy */
	uint32_t n_dims;
	uint64_t ne[GGUF_DIMS_MAX]; /* ne[0] is the contiguous dimension; unused ones are 1 */
	uint32_t type;              /* enum gguf_tensor_type */
	uint64_t offset;            /* from the start of the data section */
	uint64_t size;              /* bytes */
	uint64_t n_elements;
};

struct gguf_reader;

/* Maps and validates path. The message in err does not repeat the path. */
int gguf_read_open(struct gguf_reader **out, const char *path, struct fmt_error *err);
/* Validates size bytes at data, which must outlive the reader (fuzzing, tests). */
int gguf_read_memory(struct gguf_reader **out, const void *data, size_t size, struct fmt_error *err);
void gguf_read_close(struct gguf_reader *r);

uint32_t gguf_read_version(const struct gguf_reader *r);
uint32_t gguf_read_alignment(const struct gguf_reader *r);
uint64_t gguf_read_file_size(const struct gguf_reader *r);
/* Absolute offset of the data section (may lie past the end of a file with no tensors). */
uint64_t gguf_read_data_offset(const struct gguf_reader *r);

size_t gguf_read_kv_count(const struct gguf_reader *r);
const struct gguf_kv *gguf_read_kv(const struct gguf_reader *r, size_t i);
/* The pair with this key, or NULL. */
const struct gguf_kv *gguf_read_find_kv(const struct gguf_reader *r, const char *key);

size_t gguf_read_tensor_count(const struct gguf_reader *r);
const struct gguf_tensor_info *gguf_read_tensor(const struct gguf_reader *r, size_t i);
/* The tensor's bytes inside the mapping (any alignment the file has; size bytes). */
const void *gguf_read_tensor_data(const struct gguf_reader *r, size_t i);

/* Value of a scalar pair, or element i of an array (FMT_EINVALID when out of range or
 * when kv is not of that shape). */
int gguf_kv_scalar(const struct gguf_kv *kv, union gguf_scalar *out);
int gguf_kv_element(const struct gguf_kv *kv, uint64_t i, union gguf_scalar *out);
/* Typed getters: FMT_EINVALID, with the key and both types in err, on any other type
 * (llama.cpp does not widen either). */
int gguf_kv_get_u32(const struct gguf_kv *kv, uint32_t *out, struct fmt_error *err);
int gguf_kv_get_f32(const struct gguf_kv *kv, float *out, struct fmt_error *err);
int gguf_kv_get_string(const struct gguf_kv *kv, struct gguf_string *out, struct fmt_error *err);

/* ---- writer ------------------------------------------------------------------------- */

/* The writer streams: metadata and tensor infos are collected first (their sizes are
 * known in advance), written when the first tensor data arrives, then tensor data goes
 * to the file in the order the tensors were added, with the padding between them. Memory
 * stays bounded by the metadata plus one output buffer, whatever the tensor sizes.
 *
 * Values go in through one function per GGUF type, and the keys whose type llama.cpp
 * checks (doc/gguf.md §3, pitfall 1: UINT32 counts, FLOAT32 epsilons, ...) are refused with
 * any other type, so that a wrong type cannot be written by accident.
 *
 * The first failure is kept in err and every later call returns it again. */
struct gguf_writer;

/* Writes GGUF v3 to fd (which the caller opens, syncs, closes and renames). */
int gguf_writer_begin(struct gguf_writer **out, int fd, struct fmt_error *err);

int gguf_writer_add_u8(struct gguf_writer *w, const char *key, uint8_t value);
int gguf_writer_add_i8(struct gguf_writer *w, const char *key, int8_t value);
int gguf_writer_add_u16(struct gguf_writer *w, const char *key, uint16_t value);
int gguf_writer_add_i16(struct gguf_writer *w, const char *key, int16_t value);
int gguf_writer_add_u32(struct gguf_writer *w, const char *key, uint32_t value);
int gguf_writer_add_i32(struct gguf_writer *w, const char *key, int32_t value);
int gguf_writer_add_f32(struct gguf_writer *w, const char *key, float value);
int gguf_writer_add_bool(struct gguf_writer *w, const char *key, int value);
int gguf_writer_add_u64(struct gguf_writer *w, const char *key, uint64_t value);
int gguf_writer_add_i64(struct gguf_writer *w, const char *key, int64_t value);
int gguf_writer_add_f64(struct gguf_writer *w, const char *key, double value);
int gguf_writer_add_string(struct gguf_writer *w, const char *key, const char *value);
int gguf_writer_add_string_n(struct gguf_writer *w, const char *key, const char *value, size_t len);

int gguf_writer_add_array_u8(struct gguf_writer *w, const char *key, const uint8_t *v, size_t n);
int gguf_writer_add_array_i8(struct gguf_writer *w, const char *key, const int8_t *v, size_t n);
int gguf_writer_add_array_u16(struct gguf_writer *w, const char *key, const uint16_t *v, size_t n);
int gguf_writer_add_array_i16(struct gguf_writer *w, const char *key, const int16_t *v, size_t n);
int gguf_writer_add_array_u32(struct gguf_writer *w, const char *key, const uint32_t *v, size_t n);
int gguf_writer_add_array_i32(struct gguf_writer *w, const char *key, const int32_t *v, size_t n);
int gguf_writer_add_array_f32(struct gguf_writer *w, const char *key, const float *v, size_t n);
/* values are 0 or 1 (anything nonzero is written as 1). */
int gguf_writer_add_array_bool(struct gguf_writer *w, const char *key, const uint8_t *v, size_t n);
int gguf_writer_add_array_u64(struct gguf_writer *w, const char *key, const uint64_t *v, size_t n);
int gguf_writer_add_array_i64(struct gguf_writer *w, const char *key, const int64_t *v, size_t n);
int gguf_writer_add_array_f64(struct gguf_writer *w, const char *key, const double *v, size_t n);
/* lengths may be NULL when every string is NUL-terminated. */
int gguf_writer_add_array_string(struct gguf_writer *w, const char *key, const char *const *strings,
				 const size_t *lengths, size_t n);

/* Copies a pair read from another file exactly (type and bytes), e.g. for quantize:
 * the key rules above do not apply, a copy keeps the type its file has. */
int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_kv *kv);

/* Declares the next tensor. ne has n_dims (0..4) entries, ne[0] first. The data size
 * follows from type and ne and must then be given in full. */
int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
			   const uint64_t *ne);

/* Appends len bytes of the current tensor's data; call as often as convenient (one row,
 * one chunk), tensors in the order they were added. The first call writes the header. */
int gguf_writer_write_tensor_data(struct gguf_writer *w, const void *data, size_t len);

/* Writes the header if no data was written, checks that every tensor got all its bytes
 * and flushes. The caller then fsyncs and closes the file. */
int gguf_writer_finish(struct gguf_writer *w);

/* Frees the writer (after finish, or to abandon a failed file). */
void gguf_writer_free(struct gguf_writer *w);

#endif
