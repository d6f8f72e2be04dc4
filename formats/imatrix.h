/* A strict reader of importance-matrix files (doc/gguf.md §7): llama.cpp's GGUF imatrix
 * (§7.1) and the legacy .dat format (§7.2), told apart by content (the GGUF magic), never
 * by the file name.
 *
 * The result is what llama-quantize hands to the quantizer: per entry (a weight tensor's
 * name) the per-column importances, expert after expert, computed with the same float
 * arithmetic as its load_imatrix (tools/quantize/quantize.cpp):
 *   GGUF:   values = in_sum2 / (float)lround(counts[expert]); an expert whose rounded count
 *           is 0 (it never fired) gets 1 for each of its columns;
 *   legacy: values = stored / (float)ncall; with ncall 0 the stored values as they are.
 * Where llama.cpp is lenient with a malformed file (it truncates names at a NUL, lets a
 * later duplicate replace an earlier one, ignores a short trailer, asserts on a wrong key
 * type) this reader refuses it with FMT_EINVALID, naming what is wrong and where. */
#ifndef MODL_IMATRIX_H
#define MODL_IMATRIX_H

#include <stddef.h>
#include <stdint.h>

#include "fmt.h"

#define IMATRIX_NAME_MAX 63 /* a model tensor name (GGML_MAX_NAME - 1 bytes) */

enum imatrix_format {
	IMATRIX_GGUF = 1,
	IMATRIX_LEGACY = 2,
};

struct imatrix_entry {
	char *name;           /* NUL-terminated, 1..IMATRIX_NAME_MAX bytes, no NUL inside */
	float *values;        /* n_values importances, every one finite */
	uint64_t n_values;    /* row length x experts: the quantizer matches it against ne[0] * ne[2] */
	uint64_t n_mat;       /* GGUF: matrices (experts) in the file; legacy: 1 (the format does not say) */
	uint64_t n_mat_empty; /* GGUF: experts whose count rounds to 0, their values all 1; legacy: 0 */
};

struct imatrix {
	enum imatrix_format format;
	struct imatrix_entry *entries; /* in file order; names unique */
	size_t n_entries;              /* at least 1 */
	char **datasets;               /* NUL-terminated, no NUL inside; llama-quantize records the first */
	size_t n_datasets;
	int32_t chunk_count; /* chunks the matrix was computed on; 0 when the file does not say */
	int32_t chunk_size;  /* tokens per chunk (GGUF only; legacy: 0) */
	struct fmt_nameset names;
};

/* Reads the file at path. FMT_ENOTFOUND, FMT_EIO, FMT_ENOMEM, FMT_EINVALID, or
 * FMT_EUNSUPPORTED for a GGUF this reader does not take (v1, big-endian); the message does
 * not repeat the path. */
int imatrix_read_file(struct imatrix **out, const char *path, struct fmt_error *err);
/* Reads size bytes at data (copied out: data need not outlive the result). */
int imatrix_read_memory(struct imatrix **out, const void *data, size_t size, struct fmt_error *err);
/* The entry for a tensor name, or NULL. */
const struct imatrix_entry *imatrix_find(const struct imatrix *im, const char *name);
void imatrix_free(struct imatrix *im);

#endif
