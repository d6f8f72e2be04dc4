#include "unit.h"

#include <string.h>

#include "util/error.h"
#include "hub/repo_info.h"

/* Trimmed from shared/data/hub-samples (a real answer for a gated Llama repo). */
static const char llama[] =
	"{\"id\":\"meta-llama/Llama-3.1-8B-Instruct\",\"private\":false,\"pipeline_tag\":\"text-generation\","
	"\"library_name\":\"transformers\",\"tags\":[\"transformers\",\"license:llama3.1\"],"
	"\"sha\":\"0e9e39f249a16976918f6564b8830bc894c89659\",\"lastModified\":\"2024-09-25T17:00:57.000Z\","
	"\"gated\":\"manual\",\"cardData\":{\"license\":\"llama3.1\"},"
	"\"siblings\":[{\"rfilename\":\"config.json\",\"size\":855},"
	"{\"rfilename\":\"model-00001-of-00004.safetensors\",\"size\":4976698672},"
	"{\"rfilename\":\"original/consolidated.00.pth\",\"size\":16060617592}]}";

static void test_summary(void **state)
{
	(void)state;
	cJSON *info = cJSON_Parse(llama);
	struct repo_summary s;
	assert_int_equal(repo_summary_from_info(info, &s), 0);
	assert_string_equal(s.id, "meta-llama/Llama-3.1-8B-Instruct");
	assert_string_equal(s.sha, "0e9e39f249a16976918f6564b8830bc894c89659");
	assert_string_equal(s.gated, "manual");
	assert_false(s.is_private);
	assert_string_equal(s.license_card, "llama3.1");
	assert_string_equal(s.license_tag, "llama3.1");
	assert_int_equal(s.files, 3);
	assert_true(s.sizes_known);
	assert_int_equal(s.total_size, 855ULL + 4976698672ULL + 16060617592ULL);
	assert_true(s.has_safetensors);
	assert_true(s.has_pytorch);
	assert_false(s.has_gguf);
	cJSON_Delete(info);
}

static void test_sizes_unknown_without_blobs(void **state)
{
	(void)state;
	cJSON *info = cJSON_Parse("{\"id\":\"gpt2\",\"sha\":\"607a30d783dfa663caf39e06633721c8d4cfcd7e\","
				  "\"gated\":false,\"siblings\":[{\"rfilename\":\"model.gguf\"}]}");
	struct repo_summary s;
	assert_int_equal(repo_summary_from_info(info, &s), 0);
	assert_false(s.sizes_known);
	assert_true(s.has_gguf);
	assert_string_equal(s.gated, "false");
	cJSON_Delete(info);
}

static void test_invalid(void **state)
{
	(void)state;
	/* clang-format off */
	const char *bad[] = {
		"{\"id\":\"x\"}",
		"{\"id\":\"x\",\"sha\":\"zz\"}",
		"{\"sha\":\"607a30d783dfa663caf39e06633721c8d4cfcd7e\"}",
		"{\"id\":\"x\",\"sha\":\"607a30d783dfa663caf39e06633721c8d4cfcd7e\",\"siblings\":[{\"size\":1}]}",
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *info = cJSON_Parse(bad[i]);
		struct repo_summary s;
		assert_int_equal(repo_summary_from_info(info, &s), MODL_EINVALID);
		cJSON_Delete(info);
	}
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_sizes_unknown_without_blobs),
		cmocka_unit_test(test_invalid),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
