/* The config.json parser (see hf_config.h). */
#include "hf_config.h"
#include "json_keys.h"
#include "json_scan.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

struct u32_field {
	const char *name;
	size_t offset;
	uint32_t min, max;
};

#define U32_FIELD(name, min, max)                                 \
	{                                                         \
#name, offsetof(struct hf_config, name), min, max \
	}

/* Generous bounds: an order of magnitude above the largest published models. */
/* clang-format off */
static const struct u32_field u32_fields[] = {
	U32_FIELD(hidden_size, 1, 1 << 20),
	U32_FIELD(intermediate_size, 1, 1 << 22),
	U32_FIELD(num_hidden_layers, 1, 1 << 12),
	U32_FIELD(num_attention_heads, 1, 1 << 12),
	U32_FIELD(num_key_value_heads, 1, 1 << 12),
	U32_FIELD(head_dim, 1, 1 << 16),
	U32_FIELD(max_position_embeddings, 1, 1u << 30),
	U32_FIELD(vocab_size, 1, 1 << 24),
};
/* clang-format on */

static const char *const rope_types[] = { "default", "linear", "dynamic", "yarn", "longrope", "llama3" };
static const char *const dtypes[] = { "float32", "float16",       "bfloat16",
				      "float64", "float8_e4m3fn", "float8_e5m2" };

static int in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, list[i]))
			return 1;
	return 0;
}

/* cJSON keeps duplicate keys as separate members: none in any object of the tree (the
 * scanner has bounded its depth already). */
static int check_duplicates(const cJSON *node, const char *where, struct fmt_error *err)
{
	const cJSON *object = NULL;
	const char *key = NULL;
	int rc = json_duplicate_key(node, &object, &key);
	if (rc == 1)
		return fmt_error_set(err, FMT_EINVALID, "duplicate key \"%s\" in %s", key,
				     object->string ? object->string : where);
	return rc ? fmt_error_oom(err) : 0;
}

static const char *json_type(const cJSON *v)
{
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsObject(v))
		return "an object";
	return "null";
}

static int is_integer(const cJSON *v)
{
	return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble == floor(v->valuedouble);
}

static int read_u32(const cJSON *v, const char *name, uint32_t min, uint32_t max, struct hf_config_u32 *out,
		    struct fmt_error *err)
{
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!is_integer(v) || v->valuedouble < min || v->valuedouble > max)
		return fmt_error_set(err, FMT_EINVALID, "%s must be an integer in [%u, %u], found %s", name,
				     min, max, cJSON_IsNumber(v) ? "an out-of-range number" : json_type(v));
	out->present = 1;
	out->value = (uint32_t)v->valuedouble;
	return 0;
}

/* A finite number in (min, max]; min itself is excluded (epsilons and factors are > 0). */
static int read_f64(const cJSON *v, const char *name, double min, double max, struct hf_config_f64 *out,
		    struct fmt_error *err)
{
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble <= min || v->valuedouble > max)
		return fmt_error_set(err, FMT_EINVALID, "%s must be a number in (%g, %g], found %s", name,
				     min, max, cJSON_IsNumber(v) ? "an out-of-range number" : json_type(v));
	out->present = 1;
	out->value = v->valuedouble;
	return 0;
}

static int read_name(const cJSON *v, const char *name, char out[HF_CONFIG_NAME_SIZE], struct fmt_error *err)
{
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return fmt_error_set(err, FMT_EINVALID, "%s must be a string, found %s", name, json_type(v));
	size_t len = strlen(v->valuestring);
	if (!len || len >= HF_CONFIG_NAME_SIZE)
		return fmt_error_set(err, FMT_EINVALID, "%s must be 1 to %d bytes long", name,
				     HF_CONFIG_NAME_SIZE - 1);
	memcpy(out, v->valuestring, len + 1);
	return 0;
}

static int read_token_ids(const cJSON *v, const char *name, struct hf_token_ids *out, struct fmt_error *err)
{
	struct hf_config_u32 id;
	int rc;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (cJSON_IsArray(v)) {
		int n = cJSON_GetArraySize(v);
		if (n < 1 || n > HF_CONFIG_MAX_TOKEN_IDS)
			return fmt_error_set(err, FMT_EINVALID, "%s must list 1 to %d token ids", name,
					     HF_CONFIG_MAX_TOKEN_IDS);
		out->is_list = 1;
		for (const cJSON *e = v->child; e; e = e->next) {
			id.present = 0;
			if ((rc = read_u32(e, name, 0, INT32_MAX, &id, err)))
				return rc;
			if (!id.present)
				return fmt_error_set(err, FMT_EINVALID, "%s must list integers, found null",
						     name);
			out->ids[out->count++] = id.value;
		}
	} else {
		if ((rc = read_u32(v, name, 0, INT32_MAX, &id, err)))
			return rc;
		out->ids[out->count++] = id.value;
	}
	out->present = 1;
	return 0;
}

static int read_rope_scaling(const cJSON *v, const char *name, struct hf_rope_scaling *r,
			     struct fmt_error *err)
{
	char type[HF_CONFIG_NAME_SIZE] = "", legacy[HF_CONFIG_NAME_SIZE] = "";
	int rc;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsObject(v))
		return fmt_error_set(err, FMT_EINVALID, "%s must be an object, found %s", name, json_type(v));
#define GET(key) cJSON_GetObjectItemCaseSensitive(v, key)
	if ((rc = read_name(GET("rope_type"), "rope_scaling.rope_type", type, err)) ||
	    (rc = read_name(GET("type"), "rope_scaling.type", legacy, err)))
		return rc;
	/* "type" is the older spelling of "rope_type"; both may be present and must agree. */
	if (type[0] && legacy[0] && strcmp(type, legacy))
		return fmt_error_set(err, FMT_EINVALID, "%s: rope_type \"%s\" and type \"%s\" disagree", name,
				     type, legacy);
	if (!type[0])
		memcpy(type, legacy, sizeof(type));
	if (!type[0])
		return fmt_error_set(err, FMT_EINVALID, "%s has no rope_type", name);
	if (!in_list(type, rope_types, sizeof(rope_types) / sizeof(rope_types[0])))
		return fmt_error_set(err, FMT_EINVALID, "%s: unknown rope_type \"%s\"", name, type);
	memcpy(r->rope_type, type, sizeof(type));
	if ((rc = read_f64(GET("factor"), "rope_scaling.factor", 0, 1e6, &r->factor, err)) ||
	    (rc = read_f64(GET("low_freq_factor"), "rope_scaling.low_freq_factor", 0, 1e6,
			   &r->low_freq_factor, err)) ||
	    (rc = read_f64(GET("high_freq_factor"), "rope_scaling.high_freq_factor", 0, 1e6,
			   &r->high_freq_factor, err)) ||
	    (rc = read_f64(GET("beta_fast"), "rope_scaling.beta_fast", 0, 1e6, &r->beta_fast, err)) ||
	    (rc = read_f64(GET("beta_slow"), "rope_scaling.beta_slow", 0, 1e6, &r->beta_slow, err)) ||
	    (rc = read_f64(GET("attention_factor"), "rope_scaling.attention_factor", 0, 1e6,
			   &r->attention_factor, err)) ||
	    (rc = read_f64(GET("mscale"), "rope_scaling.mscale", -1e6, 1e6, &r->mscale, err)) ||
	    (rc = read_f64(GET("mscale_all_dim"), "rope_scaling.mscale_all_dim", -1e6, 1e6,
			   &r->mscale_all_dim, err)) ||
	    (rc = read_u32(GET("original_max_position_embeddings"),
			   "rope_scaling.original_max_position_embeddings", 1, 1u << 30,
			   &r->original_max_position_embeddings, err)))
		return rc;
#undef GET
	if (strcmp(type, "default") && !r->factor.present)
		return fmt_error_set(err, FMT_EINVALID, "%s: rope_type \"%s\" needs a factor", name, type);
	/* The llama3 frequency ramp divides by (high - low). */
	if (!strcmp(type, "llama3") && (!r->low_freq_factor.present || !r->high_freq_factor.present ||
					r->high_freq_factor.value <= r->low_freq_factor.value))
		return fmt_error_set(err, FMT_EINVALID, "%s: llama3 needs low_freq_factor < high_freq_factor",
				     name);
	r->present = 1;
	return 0;
}

static int read_architectures(const cJSON *v, struct hf_config *c, struct fmt_error *err)
{
	int rc;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsArray(v))
		return fmt_error_set(err, FMT_EINVALID, "architectures must be an array of strings, found %s",
				     json_type(v));
	if (cJSON_GetArraySize(v) > HF_CONFIG_MAX_ARCHITECTURES)
		return fmt_error_set(err, FMT_EINVALID, "architectures lists more than %d names",
				     HF_CONFIG_MAX_ARCHITECTURES);
	for (const cJSON *e = v->child; e; e = e->next) {
		if (!cJSON_IsString(e))
			return fmt_error_set(err, FMT_EINVALID,
					     "architectures must be an array of strings, found %s in it",
					     json_type(e));
		if ((rc = read_name(e, "architectures[]", c->architectures[c->architecture_count], err)))
			return rc;
		c->architecture_count++;
	}
	return 0;
}

/* Relations the converter relies on (doc/gguf.md §3: GQA groups, head size). */
static int check_shape(const struct hf_config *c, struct fmt_error *err)
{
	if (c->num_attention_heads.present && c->num_key_value_heads.present &&
	    c->num_attention_heads.value % c->num_key_value_heads.value)
		return fmt_error_set(err, FMT_EINVALID,
				     "num_attention_heads %u is not a multiple of num_key_value_heads %u",
				     c->num_attention_heads.value, c->num_key_value_heads.value);
	if (!c->head_dim.present && c->hidden_size.present && c->num_attention_heads.present &&
	    c->hidden_size.value % c->num_attention_heads.value)
		return fmt_error_set(
			err, FMT_EINVALID,
			"hidden_size %u is not a multiple of num_attention_heads %u and head_dim is absent",
			c->hidden_size.value, c->num_attention_heads.value);
	return 0;
}

static int read_fields(const cJSON *doc, struct hf_config *c, struct fmt_error *err)
{
	int rc;
#define GET(key) cJSON_GetObjectItemCaseSensitive(doc, key)
	for (size_t i = 0; i < sizeof(u32_fields) / sizeof(u32_fields[0]); i++) {
		const struct u32_field *f = &u32_fields[i];
		struct hf_config_u32 *out = (struct hf_config_u32 *)((char *)c + f->offset);
		if ((rc = read_u32(GET(f->name), f->name, f->min, f->max, out, err)))
			return rc;
	}
	if ((rc = read_architectures(GET("architectures"), c, err)) ||
	    (rc = read_name(GET("model_type"), "model_type", c->model_type, err)) ||
	    (rc = read_f64(GET("rms_norm_eps"), "rms_norm_eps", 0, 0.5, &c->rms_norm_eps, err)) ||
	    (rc = read_f64(GET("rope_theta"), "rope_theta", 0, 1e12, &c->rope_theta, err)) ||
	    (rc = read_rope_scaling(GET("rope_scaling"), "rope_scaling", &c->rope_scaling, err)) ||
	    (rc = read_token_ids(GET("bos_token_id"), "bos_token_id", &c->bos_token_id, err)) ||
	    (rc = read_token_ids(GET("eos_token_id"), "eos_token_id", &c->eos_token_id, err)) ||
	    (rc = read_name(GET("torch_dtype"), "torch_dtype", c->torch_dtype, err)))
		return rc;
	/* transformers 5 names it dtype and moves rope_theta into rope_parameters. */
	const cJSON *params = GET("rope_parameters");
	if (params && !cJSON_IsNull(params)) {
		if (!cJSON_IsObject(params))
			return fmt_error_set(err, FMT_EINVALID, "rope_parameters must be an object, found %s",
					     json_type(params));
		if (!c->rope_theta.present &&
		    (rc = read_f64(cJSON_GetObjectItemCaseSensitive(params, "rope_theta"),
				   "rope_parameters.rope_theta", 0, 1e12, &c->rope_theta, err)))
			return rc;
		if (!c->rope_scaling.present &&
		    (rc = read_rope_scaling(params, "rope_parameters", &c->rope_scaling, err)))
			return rc;
	}
	if (!c->torch_dtype[0] && (rc = read_name(GET("dtype"), "dtype", c->torch_dtype, err)))
		return rc;
	if (c->torch_dtype[0] && !in_list(c->torch_dtype, dtypes, sizeof(dtypes) / sizeof(dtypes[0])))
		return fmt_error_set(err, FMT_EINVALID, "torch_dtype \"%s\" is not a known dtype",
				     c->torch_dtype);
	const cJSON *tie = GET("tie_word_embeddings");
	if (tie && !cJSON_IsNull(tie)) {
		if (!cJSON_IsBool(tie))
			return fmt_error_set(err, FMT_EINVALID,
					     "tie_word_embeddings must be true or false, found %s",
					     json_type(tie));
		c->has_tie_word_embeddings = 1;
		c->tie_word_embeddings = cJSON_IsTrue(tie);
	}
#undef GET
	return check_shape(c, err);
}

int hf_config_parse(struct hf_config *out, const char *json, size_t len, struct fmt_error *err)
{
	struct json_scan s;
	cJSON *doc = NULL;
	size_t bad;
	int rc;
	memset(out, 0, sizeof(*out));
	if (fmt_utf8_check(json, len, &bad))
		return fmt_error_set(err, FMT_EINVALID, "not valid UTF-8 (offset %zu)", bad);
	json_scan_init(&s, json, len);
	if (json_scan_validate(&s))
		return fmt_error_set(err, FMT_EINVALID, "invalid JSON at offset %zu: %s", s.error_pos,
				     s.error);
	if (!(doc = cJSON_ParseWithLength(json, len)))
		return fmt_error_oom(err);
	if (!cJSON_IsObject(doc))
		rc = fmt_error_set(err, FMT_EINVALID, "not a JSON object");
	else if (!(rc = check_duplicates(doc, "the top level", err)))
		rc = read_fields(doc, out, err);
	cJSON_Delete(doc);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}
