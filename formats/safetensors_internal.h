/* What safetensors.c, safetensors_header.c and safetensors_index.c share; not for use
 * outside formats/. */
#ifndef MODL_SAFETENSORS_INTERNAL_H
#define MODL_SAFETENSORS_INTERNAL_H

#include "safetensors.h"

struct safetensors_file {
	char *path; /* NULL when read from memory */
	struct fmt_map map;
	const unsigned char *data;
	uint64_t size, header_size;
	int has_metadata;
	struct safetensors_metadata_entry *metadata;
	size_t metadata_count;
};

/* A growable list of tensors; names and shapes are owned by the list. */
struct safetensors_tensor_list {
	struct safetensors_tensor *items;
	size_t count, cap;
};

void safetensors_tensor_list_free(struct safetensors_tensor_list *list);

/* Validates the header of f (f->data, f->size), fills its metadata and appends its
 * tensors, sorted by data offsets, to list. */
int safetensors_parse_header(struct safetensors_file *f, size_t file_index,
			     struct safetensors_tensor_list *list, struct fmt_error *err);

void safetensors_file_clear(struct safetensors_file *f);

/* A model.safetensors.index.json: weight_map as parallel arrays, in file order. */
struct safetensors_index {
	char **names;
	char **shards;
	size_t count;
	int has_total_size;
	uint64_t total_size;
};

int safetensors_index_parse(struct safetensors_index *index, const char *text, size_t len,
			    struct fmt_error *err);
void safetensors_index_free(struct safetensors_index *index);

#endif
