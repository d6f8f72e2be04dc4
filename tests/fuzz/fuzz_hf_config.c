/* libFuzzer target: the config.json parser must refuse any malformed input cleanly, and
 * what it accepts must respect the ranges it promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/hf_config.h"

static void check(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hf_config c;
	struct fmt_error err;
	if (hf_config_parse(&c, (const char *)data, size, &err))
		return 0;
	check(c.architecture_count <= HF_CONFIG_MAX_ARCHITECTURES);
	check(!c.hidden_size.present || (c.hidden_size.value >= 1 && c.hidden_size.value <= (1u << 20)));
	check(!c.rms_norm_eps.present || (c.rms_norm_eps.value > 0 && c.rms_norm_eps.value <= 0.5));
	check(c.bos_token_id.count <= HF_CONFIG_MAX_TOKEN_IDS &&
	      c.eos_token_id.count <= HF_CONFIG_MAX_TOKEN_IDS);
	check(!c.num_key_value_heads.present || !c.num_attention_heads.present ||
	      c.num_attention_heads.value % c.num_key_value_heads.value == 0);
	if (!strcmp(c.rope_scaling.rope_type, "llama3"))
		check(c.rope_scaling.high_freq_factor.value > c.rope_scaling.low_freq_factor.value);
	return 0;
}
