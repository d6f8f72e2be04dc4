#include "repo_info.h"
#include "util/error.h"
#include "hub.h"

#include <string.h>

static const char *string_item(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);
	return ls >= lx && !strcmp(s + ls - lx, suffix);
}

static void classify_weights(struct repo_summary *s, const char *name)
{
	if (ends_with(name, ".safetensors") || ends_with(name, ".safetensors.index.json"))
		s->has_safetensors = 1;
	else if (ends_with(name, ".gguf"))
		s->has_gguf = 1;
	else if (ends_with(name, ".bin") || ends_with(name, ".pth") || ends_with(name, ".pt") ||
		 ends_with(name, ".bin.index.json"))
		s->has_pytorch = 1;
}

int repo_summary_from_info(const cJSON *info, struct repo_summary *s)
{
	memset(s, 0, sizeof(*s));
	s->id = string_item(info, "id");
	const char *sha = string_item(info, "sha");
	if (!s->id || !sha || !hub_is_commit(sha))
		return modl_error_set(MODL_EINVALID, "the Hub's repo info has no valid id and commit sha");
	memcpy(s->sha, sha, 41);
	s->last_modified = string_item(info, "lastModified");
	const cJSON *gated = cJSON_GetObjectItemCaseSensitive(info, "gated");
	s->gated = cJSON_IsString(gated) ? gated->valuestring : cJSON_IsTrue(gated) ? "true" : "false";
	s->is_private = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(info, "private"));
	s->pipeline_tag = string_item(info, "pipeline_tag");
	s->library_name = string_item(info, "library_name");

	const cJSON *card = cJSON_GetObjectItemCaseSensitive(info, "cardData");
	s->license_card = string_item(card, "license");
	s->license_name = string_item(card, "license_name");
	s->license_link = string_item(card, "license_link");
	const cJSON *tag;
	cJSON_ArrayForEach(tag, cJSON_GetObjectItemCaseSensitive(info, "tags"))
	{
		if (cJSON_IsString(tag) && !strncmp(tag->valuestring, "license:", 8))
			s->license_tag = tag->valuestring + 8;
	}

	const cJSON *siblings = cJSON_GetObjectItemCaseSensitive(info, "siblings");
	const cJSON *sib;
	s->sizes_known = cJSON_IsArray(siblings);
	cJSON_ArrayForEach(sib, siblings)
	{
		const char *name = string_item(sib, "rfilename");
		if (!name)
			return modl_error_set(MODL_EINVALID,
					      "the Hub's repo info lists a file without a name");
		s->files++;
		classify_weights(s, name);
		const cJSON *size = cJSON_GetObjectItemCaseSensitive(sib, "size");
		if (cJSON_IsNumber(size) && size->valuedouble >= 0 && size->valuedouble < 9.0e15)
			s->total_size += (unsigned long long)size->valuedouble;
		else
			s->sizes_known = 0;
	}
	return 0;
}
