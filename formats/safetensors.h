/* safetensors: a strict reader of single files and sharded checkpoints (doc/gguf.md §1).
 *
 * Files are mapped read-only and validated as the reference implementation does
 * (huggingface/safetensors tensor.rs): header size limit, header inside the file, a
 * UTF-8 JSON object, offsets sorted, contiguous and covering the buffer, byte sizes equal
 * to shape x dtype size, no overflow. Tensor data stays in the mapping: a tensor is a
 * view, converted to F32 one row at a time on demand, never copied whole. */
#ifndef MODL_SAFETENSORS_H
#define MODL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "fmt.h"

#define SAFETENSORS_MAX_HEADER 100000000 /* MAX_HEADER_SIZE of the reference */
#define SAFETENSORS_MAX_DIMS 64          /* modl's own limit on a tensor's rank */
#define SAFETENSORS_MAX_INDEX (64 << 20) /* bytes of a model.safetensors.index.json */

/* The dtypes of tensor.rs, in its order (increasing alignment). */
enum safetensors_dtype {
	SAFETENSORS_BOOL,
	SAFETENSORS_F4,
	SAFETENSORS_F6_E2M3,
	SAFETENSORS_F6_E3M2,
	SAFETENSORS_U8,
	SAFETENSORS_I8,
	SAFETENSORS_F8_E5M2,
	SAFETENSORS_F8_E4M3,
	SAFETENSORS_F8_E8M0,
	SAFETENSORS_F8_E4M3FNUZ,
	SAFETENSORS_F8_E5M2FNUZ,
	SAFETENSORS_I16,
	SAFETENSORS_U16,
	SAFETENSORS_F16,
	SAFETENSORS_BF16,
	SAFETENSORS_I32,
	SAFETENSORS_U32,
	SAFETENSORS_F32,
	SAFETENSORS_C64,
	SAFETENSORS_F64,
	SAFETENSORS_I64,
	SAFETENSORS_U64,
	SAFETENSORS_DTYPE_COUNT
};

/* "BF16", "F8_E4M3", ... */
const char *safetensors_dtype_name(enum safetensors_dtype dtype);
/* Size of one element in bits (F4 is 4, F6_* 6). */
unsigned safetensors_dtype_bits(enum safetensors_dtype dtype);
/* FMT_EINVALID for a name that is not a dtype. */
int safetensors_dtype_from_name(const char *name, enum safetensors_dtype *out);

struct safetensors_tensor {
	const char *name;
	enum safetensors_dtype dtype;
	size_t n_dims;
	const uint64_t *shape; /* row-major, PyTorch order: shape[n_dims - 1] is a row */
	uint64_t n_elements;
	uint64_t begin, end;  /* data_offsets: relative to the file's byte buffer */
	uint64_t file_offset; /* absolute offset of the first byte in its file */
	size_t file;          /* which file of the checkpoint holds it */
	uint64_t row_length;  /* elements per row: the last dimension (1 for a scalar) */
	uint64_t row_count;   /* product of the other dimensions */
};

/* A __metadata__ entry (string to string; may hold any character, even NUL). */
struct safetensors_metadata_entry {
	const char *key, *value;
	size_t key_len, value_len;
};

struct safetensors;

/* path: a .safetensors file; a model.safetensors.index.json (or any *.json index); or a
 * directory holding an index, or model.safetensors, or model*.safetensors files. For an
 * index, every name in weight_map must be found in the shard it names and no shard may
 * hold another tensor. The message in err does not repeat path; a problem inside one
 * file of several starts with that file's name. */
int safetensors_open(struct safetensors **out, const char *path, struct fmt_error *err);
/* One file's bytes, which must outlive the reader (fuzzing, tests). */
int safetensors_open_memory(struct safetensors **out, const void *data, size_t size, struct fmt_error *err);
void safetensors_close(struct safetensors *st);

size_t safetensors_file_count(const struct safetensors *st);
/* The file's path (NULL when read from memory). */
const char *safetensors_file_path(const struct safetensors *st, size_t file);
uint64_t safetensors_file_size(const struct safetensors *st, size_t file);
/* N, the JSON header's length (the byte buffer starts at 8 + N). */
uint64_t safetensors_file_header_size(const struct safetensors *st, size_t file);
/* Whether the file has a __metadata__ object, and its entries in file order. */
int safetensors_file_has_metadata(const struct safetensors *st, size_t file);
size_t safetensors_metadata_count(const struct safetensors *st, size_t file);
const struct safetensors_metadata_entry *safetensors_metadata(const struct safetensors *st, size_t file,
							      size_t i);

/* The index file when the checkpoint is sharded (NULL otherwise), and its
 * metadata.total_size when present (informational: not checked). */
const char *safetensors_index_path(const struct safetensors *st);
int safetensors_index_total_size(const struct safetensors *st, uint64_t *total_size);

/* Tensors of all files: file by file, each in data order. */
size_t safetensors_tensor_count(const struct safetensors *st);
const struct safetensors_tensor *safetensors_tensor(const struct safetensors *st, size_t i);
/* Index of the tensor with this name, or -1. */
long safetensors_find(const struct safetensors *st, const char *name);
/* The tensor's bytes in the mapping, at whatever alignment the file gives them. */
const void *safetensors_tensor_data(const struct safetensors *st, size_t i);

#endif
