/* libFuzzer target: the tokenizer.json reader must refuse any malformed input cleanly,
 * and what it accepts must keep its promises: every token of model.vocab found again by
 * its id, every merge "a b" with one space between two non-empty parts, added tokens with
 * distinct ids, and a pre-tokenizer signature that can always be printed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/tokenizer_json.h"

static void check(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tokenizer_json t;
	struct fmt_error err;
	char *sig = NULL;
	if (tokenizer_json_parse(&t, (const char *)data, size, &err))
		return 0;
	check(t.model_type != NULL);
	size_t count = 0;
	for (uint32_t i = 0; i < t.vocab_size; i++) {
		if (!t.vocab[i])
			continue;
		count++;
		check(t.vocab_len[i] > 0 && strlen(t.vocab[i]) == t.vocab_len[i]);
		check(tokenizer_json_find(&t, t.vocab[i], t.vocab_len[i]) == (long)i);
	}
	check(count == t.vocab_count);
	for (size_t i = 0; i < t.merge_count; i++) {
		const char *space = strchr(t.merges[i], ' ');
		check(space && space != t.merges[i] && space[1] && !strchr(space + 1, ' '));
	}
	for (size_t i = 0; i < t.added_count; i++) {
		check(t.added[i].len > 0 && t.added[i].id <= TOKENIZER_JSON_MAX_ID);
		for (size_t k = 0; k < i; k++)
			check(t.added[k].id != t.added[i].id);
	}
	check(t.pre_tokenizer.count <= TOKENIZER_JSON_MAX_COMPONENTS);
	if (tokenizer_json_pre_signature(&t, &sig) == 0)
		check(sig != NULL);
	free(sig);
	tokenizer_json_free(&t);
	return 0;
}
