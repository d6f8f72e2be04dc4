/* libFuzzer target: the importance-matrix reader (GGUF and legacy .dat) must refuse any
 * malformed input cleanly (no crash, no hang, no allocation driven by an unchecked
 * length), and what it accepts must keep its promises: at least one entry, names
 * non-empty, bounded, NUL-free and unique, every importance finite, the chunk numbers
 * not negative. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/imatrix.h"

static void check(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imatrix *im = NULL;
	struct fmt_error err;
	if (imatrix_read_memory(&im, data, size, &err)) {
		check(im == NULL && err.message[0]);
		return 0;
	}
	check(im->n_entries >= 1 && im->chunk_count >= 0 && im->chunk_size >= 0);
	check(im->format == IMATRIX_GGUF || im->format == IMATRIX_LEGACY);
	for (size_t i = 0; i < im->n_entries; i++) {
		const struct imatrix_entry *e = &im->entries[i];
		size_t len = strlen(e->name);
		check(len >= 1 && len <= IMATRIX_NAME_MAX && imatrix_find(im, e->name) == e);
		check(e->n_values >= 1 && e->n_mat >= 1 && e->n_values % e->n_mat == 0);
		check(e->n_mat_empty <= e->n_mat);
		/* Together the values never take more than the file: 4 bytes each in it. */
		check(e->n_values <= size / 4);
		for (uint64_t k = 0; k < e->n_values; k++)
			check(isfinite(e->values[k]));
	}
	for (size_t i = 0; i < im->n_datasets; i++)
		check(im->datasets[i] != NULL);
	imatrix_free(im);
	return 0;
}
