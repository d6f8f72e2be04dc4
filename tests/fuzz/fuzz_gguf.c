/* libFuzzer target: the GGUF reader must refuse any malformed input cleanly (no crash,
 * no hang, no allocation beyond a small multiple of the input), and whatever it accepts
 * the writer must write again into a file that reads back with the same content. */
#define _GNU_SOURCE /* memfd_create */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "formats/gguf.h"

static void check(int ok)
{
	if (!ok)
		abort();
}

/* Every value is decoded (all bytes touched: out-of-bounds reads show under ASan). */
static void walk(const struct gguf_reader *r)
{
	union gguf_scalar v;
	volatile uint64_t sink = 0;
	for (size_t i = 0; i < gguf_read_kv_count(r); i++) {
		const struct gguf_kv *kv = gguf_read_kv(r, i);
		check(gguf_read_find_kv(r, kv->key) == kv);
		if (kv->type != GGUF_VALUE_ARRAY) {
			check(gguf_kv_scalar(kv, &v) == 0);
			if (kv->type == GGUF_VALUE_STRING && v.str.len)
				sink += (unsigned char)v.str.data[v.str.len - 1];
			continue;
		}
		for (uint64_t k = 0; k < kv->count; k++) {
			check(gguf_kv_element(kv, k, &v) == 0);
			if (kv->element_type == GGUF_VALUE_STRING && v.str.len)
				sink += (unsigned char)v.str.data[v.str.len - 1];
		}
	}
	for (size_t i = 0; i < gguf_read_tensor_count(r); i++) {
		const struct gguf_tensor_info *t = gguf_read_tensor(r, i);
		const unsigned char *data = gguf_read_tensor_data(r, i);
		if (t->size)
			sink += data[0] + data[t->size - 1];
	}
	(void)sink;
}

static void same_content(const struct gguf_reader *a, const struct gguf_reader *b)
{
	check(gguf_read_kv_count(a) == gguf_read_kv_count(b));
	check(gguf_read_tensor_count(a) == gguf_read_tensor_count(b));
	check(gguf_read_alignment(a) == gguf_read_alignment(b));
	check(gguf_read_data_offset(a) == gguf_read_data_offset(b));
	for (size_t i = 0; i < gguf_read_kv_count(a); i++) {
		const struct gguf_kv *x = gguf_read_kv(a, i), *y = gguf_read_kv(b, i);
		check(!strcmp(x->key, y->key) && x->type == y->type && x->count == y->count);
		check(x->value_size == y->value_size && !memcmp(x->value, y->value, x->value_size));
	}
	for (size_t i = 0; i < gguf_read_tensor_count(a); i++) {
		const struct gguf_tensor_info *x = gguf_read_tensor(a, i), *y = gguf_read_tensor(b, i);
		check(!strcmp(x->name, y->name) && x->type == y->type && x->n_dims == y->n_dims);
		check(!memcmp(x->ne, y->ne, sizeof(x->ne)) && x->offset == y->offset && x->size == y->size);
		check(!x->size || !memcmp(gguf_read_tensor_data(a, i), gguf_read_tensor_data(b, i), x->size));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct gguf_reader *r = NULL, *again = NULL;
	struct gguf_writer *w = NULL;
	struct fmt_error err;
	if (gguf_read_memory(&r, data, size, &err))
		return 0;
	walk(r);
	if (fd < 0)
		check((fd = memfd_create("fuzz_gguf", 0)) >= 0);
	check(ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0);
	check(gguf_writer_begin(&w, fd, &err) == 0);
	for (size_t i = 0; i < gguf_read_kv_count(r); i++)
		check(gguf_writer_copy_kv(w, gguf_read_kv(r, i)) == 0);
	for (size_t i = 0; i < gguf_read_tensor_count(r); i++) {
		const struct gguf_tensor_info *t = gguf_read_tensor(r, i);
		check(gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne) == 0);
	}
	for (size_t i = 0; i < gguf_read_tensor_count(r); i++)
		check(gguf_writer_write_tensor_data(w, gguf_read_tensor_data(r, i),
						    (size_t)gguf_read_tensor(r, i)->size) == 0);
	check(gguf_writer_finish(w) == 0);
	gguf_writer_free(w);
	off_t len = lseek(fd, 0, SEEK_END);
	check(len >= 0);
	unsigned char *copy = malloc((size_t)len + 1);
	check(copy && pread(fd, copy, (size_t)len, 0) == len);
	check(gguf_read_memory(&again, copy, (size_t)len, &err) == 0);
	same_content(r, again);
	gguf_read_close(again);
	free(copy);
	gguf_read_close(r);
	return 0;
}
