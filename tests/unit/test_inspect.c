/* src/inspect/: the report `modl inspect` prints (cmd/inspect_render.c lays it out; the
 * end-to-end tests in test_inspect.py check the text and the JSON). */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/error.h"
#include "inspect/inspect.h"

static void expect_total(const struct inspect_total *t, uint64_t tensors, uint64_t parameters, uint64_t bytes)
{
	assert_int_equal(t->tensors, tensors);
	assert_int_equal(t->parameters, parameters);
	assert_int_equal(t->bytes, bytes);
}

static void test_gguf_totals(void **state)
{
	(void)state;
	struct inspect_report *r;
	struct inspect_total by_type[GGUF_TENSOR_COUNT], all;
	assert_int_equal(inspect_open(&r, "tests/fuzz/corpus/gguf/llama-small.gguf"), 0);
	assert_non_null(r->gguf);
	assert_null(r->safetensors);
	inspect_gguf_totals(r->gguf, by_type, &all);
	expect_total(&all, 3, 48, 66);
	expect_total(&by_type[GGUF_TENSOR_F32], 1, 8, 32);
	expect_total(&by_type[GGUF_TENSOR_Q4_0], 1, 32, 18);
	expect_total(&by_type[GGUF_TENSOR_Q8_0], 0, 0, 0);
	inspect_close(r);
}

static void test_safetensors_totals(void **state)
{
	(void)state;
	struct inspect_report *r;
	struct inspect_total by_dtype[SAFETENSORS_DTYPE_COUNT], all;
	assert_int_equal(inspect_open(&r, "tests/fuzz/corpus/safetensors/bf16-f16.safetensors"), 0);
	assert_non_null(r->safetensors);
	assert_null(r->gguf);
	inspect_safetensors_totals(r->safetensors, by_dtype, &all);
	expect_total(&all, 3, 11, 24);
	expect_total(&by_dtype[SAFETENSORS_BF16], 1, 6, 12);
	expect_total(&by_dtype[SAFETENSORS_F16], 1, 4, 8);
	inspect_close(r);
}

/* A one-tensor safetensors file with this __metadata__ (a JSON object's members). */
static void write_shard(const char *dir, const char *name, const char *tensor, const char *metadata)
{
	char path[256], header[256];
	int n = snprintf(
		header, sizeof(header),
		"{\"__metadata__\":{%s},\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
		metadata, tensor);
	unsigned char size[8] = { (unsigned char)n };
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(size, 1, 8, f), 8);
	assert_int_equal(fwrite(header, 1, (size_t)n, f), (size_t)n);
	assert_int_equal(fwrite("\0\0\0\0", 1, 4, f), 4);
	assert_int_equal(fclose(f), 0);
}

static void test_metadata_common_to_every_shard(void **state)
{
	(void)state;
	char dir[] = "/tmp/modl-unit-inspect-XXXXXX", path[256];
	struct inspect_report *r;
	assert_non_null(mkdtemp(dir));
	write_shard(dir, "model-00001-of-00002.safetensors", "a", "\"format\":\"pt\",\"part\":\"1\"");
	write_shard(dir, "model-00002-of-00002.safetensors", "b", "\"part\":\"2\",\"format\":\"pt\"");
	assert_int_equal(inspect_open(&r, dir), 0);
	const struct safetensors *st = r->safetensors;
	assert_int_equal(safetensors_file_count(st), 2);
	assert_int_equal(safetensors_metadata_count(st, 0), 2);
	const struct safetensors_metadata_entry *format = safetensors_metadata(st, 0, 0);
	const struct safetensors_metadata_entry *part = safetensors_metadata(st, 0, 1);
	assert_memory_equal(format->key, "format", 6);
	assert_true(inspect_metadata_is_common(st, format)); /* in the other shard, elsewhere */
	assert_false(inspect_metadata_is_common(st, part));  /* the same key, another value */
	inspect_close(r);
	for (int i = 1; i <= 2; i++) {
		snprintf(path, sizeof(path), "%s/model-0000%d-of-00002.safetensors", dir, i);
		unlink(path);
	}
	rmdir(dir);
}

static void test_open_errors(void **state)
{
	(void)state;
	struct inspect_report *r = (struct inspect_report *)1;
	assert_int_equal(inspect_open(&r, "tests/unit/no-such-file.gguf"), MODL_ENOTFOUND);
	assert_null(r);
	assert_int_equal(inspect_open(&r, "tests/unit/unit.h"), MODL_EINVALID);
	assert_null(r);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gguf_totals),
		cmocka_unit_test(test_safetensors_totals),
		cmocka_unit_test(test_metadata_common_to_every_shard),
		cmocka_unit_test(test_open_errors),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
