/* The GGUF type tables: value type names, and per tensor type the name, elements per
 * block and bytes per block (doc/gguf.md §2, from ggml.c type_traits). */
#include "gguf.h"

#include <stddef.h>

/* clang-format off */
static const char *const value_type_names[GGUF_VALUE_COUNT] = {
	"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
	"BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
};
/* clang-format on */

const char *gguf_value_type_name(uint32_t type)
{
	return type < GGUF_VALUE_COUNT ? value_type_names[type] : NULL;
}

uint32_t gguf_value_type_size(uint32_t type)
{
	static const unsigned char sizes[GGUF_VALUE_COUNT] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };
	return type < GGUF_VALUE_COUNT ? sizes[type] : 0;
}

struct tensor_type {
	const char *name; /* NULL: the id was removed from GGUF (or never used) */
	uint32_t block_size, type_size;
};

/* clang-format off */
static const struct tensor_type tensor_types[GGUF_TENSOR_COUNT] = {
	[GGUF_TENSOR_F32] = { "F32", 1, 4 },
	[GGUF_TENSOR_F16] = { "F16", 1, 2 },
	[GGUF_TENSOR_Q4_0] = { "Q4_0", 32, 18 },
	[GGUF_TENSOR_Q4_1] = { "Q4_1", 32, 20 },
	[GGUF_TENSOR_Q5_0] = { "Q5_0", 32, 22 },
	[GGUF_TENSOR_Q5_1] = { "Q5_1", 32, 24 },
	[GGUF_TENSOR_Q8_0] = { "Q8_0", 32, 34 },
	[GGUF_TENSOR_Q8_1] = { "Q8_1", 32, 36 },
	[GGUF_TENSOR_Q2_K] = { "Q2_K", 256, 84 },
	[GGUF_TENSOR_Q3_K] = { "Q3_K", 256, 110 },
	[GGUF_TENSOR_Q4_K] = { "Q4_K", 256, 144 },
	[GGUF_TENSOR_Q5_K] = { "Q5_K", 256, 176 },
	[GGUF_TENSOR_Q6_K] = { "Q6_K", 256, 210 },
	[GGUF_TENSOR_Q8_K] = { "Q8_K", 256, 292 },
	[GGUF_TENSOR_IQ2_XXS] = { "IQ2_XXS", 256, 66 },
	[GGUF_TENSOR_IQ2_XS] = { "IQ2_XS", 256, 74 },
	[GGUF_TENSOR_IQ3_XXS] = { "IQ3_XXS", 256, 98 },
	[GGUF_TENSOR_IQ1_S] = { "IQ1_S", 256, 50 },
	[GGUF_TENSOR_IQ4_NL] = { "IQ4_NL", 32, 18 },
	[GGUF_TENSOR_IQ3_S] = { "IQ3_S", 256, 110 },
	[GGUF_TENSOR_IQ2_S] = { "IQ2_S", 256, 82 },
	[GGUF_TENSOR_IQ4_XS] = { "IQ4_XS", 256, 136 },
	[GGUF_TENSOR_I8] = { "I8", 1, 1 },
	[GGUF_TENSOR_I16] = { "I16", 1, 2 },
	[GGUF_TENSOR_I32] = { "I32", 1, 4 },
	[GGUF_TENSOR_I64] = { "I64", 1, 8 },
	[GGUF_TENSOR_F64] = { "F64", 1, 8 },
	[GGUF_TENSOR_IQ1_M] = { "IQ1_M", 256, 56 },
	[GGUF_TENSOR_BF16] = { "BF16", 1, 2 },
	[GGUF_TENSOR_TQ1_0] = { "TQ1_0", 256, 54 },
	[GGUF_TENSOR_TQ2_0] = { "TQ2_0", 256, 66 },
	[GGUF_TENSOR_MXFP4] = { "MXFP4", 32, 17 },
	[GGUF_TENSOR_NVFP4] = { "NVFP4", 64, 36 },
	[GGUF_TENSOR_Q1_0] = { "Q1_0", 128, 18 },
	[GGUF_TENSOR_Q2_0] = { "Q2_0", 64, 18 },
};
/* clang-format on */

const char *gguf_tensor_type_name(uint32_t type)
{
	return type < GGUF_TENSOR_COUNT ? tensor_types[type].name : NULL;
}

int gguf_tensor_type_traits(uint32_t type, uint32_t *block_size, uint32_t *type_size)
{
	if (!gguf_tensor_type_name(type))
		return FMT_EINVALID;
	if (block_size)
		*block_size = tensor_types[type].block_size;
	if (type_size)
		*type_size = tensor_types[type].type_size;
	return 0;
}

int gguf_tensor_nbytes(uint32_t type, uint32_t n_dims, const uint64_t *ne, uint64_t *nbytes)
{
	uint32_t block, size;
	if (gguf_tensor_type_traits(type, &block, &size) || n_dims > GGUF_DIMS_MAX)
		return FMT_EINVALID;
	uint64_t row = n_dims ? ne[0] : 1;
	if (row % block)
		return FMT_EINVALID;
	uint64_t total = row / block;
	if (__builtin_mul_overflow(total, (uint64_t)size, &total))
		return FMT_EINVALID;
	for (uint32_t i = 1; i < n_dims; i++)
		if (__builtin_mul_overflow(total, ne[i], &total))
			return FMT_EINVALID;
	*nbytes = total;
	return 0;
}
