/* modl inspect: what the header of a GGUF or safetensors input says, read without
 * touching the tensor data (the time taken does not depend on the file's size). The
 * report is the opened reader and a few facts summed over it; cmd/inspect_render.c
 * prints it as text or JSON. */
#ifndef MODL_INSPECT_H
#define MODL_INSPECT_H

#include <stdint.h>

#include "formats/gguf.h"
#include "formats/safetensors.h"

/* Read-only for callers: everything the header says is reached through the reader. */
struct inspect_report {
	char *path;               /* as asked for */
	struct gguf_reader *gguf; /* one of these two */
	struct safetensors *safetensors;
};

/* Opens path: a GGUF file; a safetensors file, a directory with one or more, or a
 * model.safetensors.index.json. A malformed input is MODL_EINVALID with the message
 * "PATH: <what is wrong, where>"; a missing one MODL_ENOTFOUND. */
int inspect_open(struct inspect_report **out, const char *path);
void inspect_close(struct inspect_report *report);

/* Tensor count, parameters and bytes of one tensor type (or of all), for both formats. */
struct inspect_total {
	uint64_t tensors, bytes, parameters;
};

/* The totals per tensor type (by_type has GGUF_TENSOR_COUNT entries) and over all. */
void inspect_gguf_totals(const struct gguf_reader *g, struct inspect_total *by_type,
			 struct inspect_total *all);
/* The totals per dtype (by_dtype has SAFETENSORS_DTYPE_COUNT entries) and over all, every
 * file of a sharded model together. */
void inspect_safetensors_totals(const struct safetensors *st, struct inspect_total *by_dtype,
				struct inspect_total *all);

/* Whether e, a __metadata__ entry of the first file, is in every other file too (shards
 * normally share theirs): what a sharded model's "common" metadata shows. */
int inspect_metadata_is_common(const struct safetensors *st, const struct safetensors_metadata_entry *e);

#endif
