/* Interop: an imatrix GGUF written by ggml's own GGUF writer (the libggml-base.so that
 * node-llama-cpp ships, loaded with dlopen) in llama-imatrix's layout (doc/gguf.md §7.1:
 * general.type, imatrix.datasets, imatrix.chunk_count, imatrix.chunk_size; per entry the
 * F32 tensors <name>.in_sum2, ne = [row, n_mat], and <name>.counts, ne = [1, n_mat]), read
 * back with formats/imatrix and compared with llama-quantize's arithmetic: in_sum2 divided
 * by the rounded count, 1 for a matrix whose count rounds to 0. Prints
 *   entry name=blk.0.attn_q.weight values=64 n_mat=1 empty=0 mismatches=0
 *   summary entries=3 chunks=17 chunk_size=512 datasets=2 mismatches=0
 * Usage: imatrix_ggml LIBGGML_BASE_SO OUT.gguf */
#include <dlfcn.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/imatrix.h"

/* ggml.h and gguf.h, the few declarations used (ggml's ABI; GGML_TYPE_F32 is 0). */
struct ggml_init_params {
	size_t mem_size;
	void *mem_buffer;
	bool no_alloc;
};

static struct {
	void *(*ggml_init)(struct ggml_init_params);
	void (*ggml_free)(void *);
	void *(*ggml_new_tensor_2d)(void *, int, int64_t, int64_t);
	void *(*ggml_set_name)(void *, const char *);
	void *(*ggml_get_data)(const void *);
	void *(*gguf_init_empty)(void);
	void (*gguf_free)(void *);
	void (*gguf_set_val_str)(void *, const char *, const char *);
	void (*gguf_set_val_u32)(void *, const char *, uint32_t);
	void (*gguf_set_arr_str)(void *, const char *, const char **, size_t);
	void (*gguf_add_tensor)(void *, const void *);
	bool (*gguf_write_to_file)(const void *, const char *, bool);
} g;

struct entry {
	const char *name;
	int64_t row, n_mat;
	float counts[4];
};

/* A dense matrix, an MoE one with an expert that never fired and a count llama.cpp rounds
 * (2.5 -> 3), and one whose only count rounds to 0. */
static const struct entry entries[] = {
	{ "blk.0.attn_q.weight", 64, 1, { 512 } },
	{ "blk.0.ffn_down_exps.weight", 32, 4, { 100, 0, 2.5f, 7 } },
	{ "output.weight", 16, 1, { 0.4f } },
};
#define N_ENTRIES (sizeof(entries) / sizeof(entries[0]))

static float sum_at(size_t e, int64_t k)
{
	return (float)(e + 1) * 0.37f + (float)k * 1.25f;
}

static int load(const char *lib)
{
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return -1;
	}
#define SYM(name)                                                      \
	do {                                                           \
		if (!(*(void **)&g.name = dlsym(h, #name))) {          \
			fprintf(stderr, "missing symbol %s\n", #name); \
			return -1;                                     \
		}                                                      \
	} while (0)
	SYM(ggml_init);
	SYM(ggml_free);
	SYM(ggml_new_tensor_2d);
	SYM(ggml_set_name);
	SYM(ggml_get_data);
	SYM(gguf_init_empty);
	SYM(gguf_free);
	SYM(gguf_set_val_str);
	SYM(gguf_set_val_u32);
	SYM(gguf_set_arr_str);
	SYM(gguf_add_tensor);
	SYM(gguf_write_to_file);
#undef SYM
	return 0;
}

/* What llama-imatrix's save_imatrix writes, through ggml's writer. */
static int write_with_ggml(const char *path)
{
	const char *datasets[] = { "calibration.txt", "wiki.train.raw" };
	struct ggml_init_params params = { 1 << 20, NULL, false };
	void *ctx = g.ggml_init(params), *gguf = g.gguf_init_empty();
	char name[128];
	g.gguf_set_val_str(gguf, "general.type", "imatrix");
	g.gguf_set_arr_str(gguf, "imatrix.datasets", datasets, 2);
	g.gguf_set_val_u32(gguf, "imatrix.chunk_count", 17);
	g.gguf_set_val_u32(gguf, "imatrix.chunk_size", 512);
	for (size_t e = 0; e < N_ENTRIES; e++) {
		void *sums = g.ggml_new_tensor_2d(ctx, 0, entries[e].row, entries[e].n_mat);
		void *counts = g.ggml_new_tensor_2d(ctx, 0, 1, entries[e].n_mat);
		snprintf(name, sizeof(name), "%s.in_sum2", entries[e].name);
		g.ggml_set_name(sums, name);
		snprintf(name, sizeof(name), "%s.counts", entries[e].name);
		g.ggml_set_name(counts, name);
		for (int64_t k = 0; k < entries[e].row * entries[e].n_mat; k++)
			((float *)g.ggml_get_data(sums))[k] = sum_at(e, k);
		memcpy(g.ggml_get_data(counts), entries[e].counts, (size_t)entries[e].n_mat * sizeof(float));
		g.gguf_add_tensor(gguf, sums);
		g.gguf_add_tensor(gguf, counts);
	}
	int ok = g.gguf_write_to_file(gguf, path, false);
	g.gguf_free(gguf);
	g.ggml_free(ctx);
	return ok ? 0 : -1;
}

static size_t compare(const struct imatrix *im, size_t e)
{
	const struct imatrix_entry *got = imatrix_find(im, entries[e].name);
	size_t mismatches = 0, empty = 0;
	if (!got || got->n_values != (uint64_t)(entries[e].row * entries[e].n_mat) ||
	    got->n_mat != (uint64_t)entries[e].n_mat) {
		printf("entry name=%s missing-or-wrong-shape mismatches=1\n", entries[e].name);
		return 1;
	}
	for (int64_t j = 0; j < entries[e].n_mat; j++) {
		float count = roundf(entries[e].counts[j]);
		empty += count == 0;
		for (int64_t i = 0; i < entries[e].row; i++) {
			int64_t k = j * entries[e].row + i;
			float want = count > 0 ? sum_at(e, k) / count : 1.0f;
			mismatches += memcmp(&want, &got->values[k], sizeof(float)) != 0;
		}
	}
	mismatches += got->n_mat_empty != empty;
	printf("entry name=%s values=%llu n_mat=%llu empty=%llu mismatches=%zu\n", got->name,
	       (unsigned long long)got->n_values, (unsigned long long)got->n_mat,
	       (unsigned long long)got->n_mat_empty, mismatches);
	return mismatches;
}

int main(int argc, char **argv)
{
	struct imatrix *im = NULL;
	struct fmt_error err;
	size_t mismatches = 0;
	if (argc != 3 || load(argv[1]) || write_with_ggml(argv[2]))
		return 2;
	if (imatrix_read_file(&im, argv[2], &err)) {
		fprintf(stderr, "modl refused ggml's file: %s\n", err.message);
		return 1;
	}
	for (size_t e = 0; e < N_ENTRIES; e++)
		mismatches += compare(im, e);
	mismatches += im->format != IMATRIX_GGUF || im->n_entries != N_ENTRIES || im->n_datasets != 2 ||
		      strcmp(im->datasets[0], "calibration.txt") || strcmp(im->datasets[1], "wiki.train.raw");
	printf("summary entries=%zu chunks=%d chunk_size=%d datasets=%zu mismatches=%zu\n", im->n_entries,
	       im->chunk_count, im->chunk_size, im->n_datasets, mismatches);
	imatrix_free(im);
	return mismatches ? 1 : 0;
}
