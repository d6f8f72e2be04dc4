/* libFuzzer target: the safetensors header parser must refuse any malformed input
 * cleanly, and for whatever it accepts, every tensor view must lie inside the input and
 * every row of a BF16/F16/F32 tensor convert (as convert does, with dequant_row) without
 * reading outside it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/safetensors.h"
#include "quant/quant.h"

static void check(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct safetensors *st = NULL;
	struct fmt_error err;
	uint64_t converted = 0;
	if (safetensors_open_memory(&st, data, size, &err))
		return 0;
	for (size_t i = 0; i < safetensors_metadata_count(st, 0); i++) {
		const struct safetensors_metadata_entry *e = safetensors_metadata(st, 0, i);
		check(e && strlen(e->key) <= e->key_len);
	}
	for (size_t i = 0; i < safetensors_tensor_count(st); i++) {
		const struct safetensors_tensor *t = safetensors_tensor(st, i);
		const uint8_t *p = safetensors_tensor_data(st, i);
		check(safetensors_find(st, t->name) == (long)i);
		check(p >= data && t->end - t->begin <= size &&
		      (size_t)(p - data) <= size - (t->end - t->begin));
		uint32_t type = t->dtype == SAFETENSORS_F32    ? QUANT_F32
				: t->dtype == SAFETENSORS_F16  ? QUANT_F16
				: t->dtype == SAFETENSORS_BF16 ? QUANT_BF16
							       : UINT32_MAX;
		if (type == UINT32_MAX || !t->row_count || !t->row_length)
			continue;
		size_t row_bytes = t->row_length * (safetensors_dtype_bits(t->dtype) / 8);
		/* A row's bytes are in the input, so this allocation is bounded by its size. */
		float *row = malloc(t->row_length * sizeof(float));
		check(row != NULL);
		for (uint64_t r = 0; r < t->row_count && converted < (1u << 20);
		     r++, converted += t->row_length)
			dequant_row(type, p + r * row_bytes, row, (int64_t)t->row_length);
		free(row);
	}
	safetensors_close(st);
	return 0;
}
