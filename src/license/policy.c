#include "policy.h"
#include "util/error.h"
#include "util/fs.h"

#include <ctype.h>
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* A policy is a few hundred bytes; a megabyte is a mistake, not a policy. */
#define POLICY_MAX_BYTES (1u << 20)

int license_policy_load(const char *path, struct license_policy *out)
{
	char *text = NULL;
	size_t len = 0;
	memset(out, 0, sizeof(*out));
	int rc = fs_read_file(path, POLICY_MAX_BYTES, &text, &len);
	if (rc == MODL_ENOTFOUND)
		return modl_error_set(MODL_ENOTFOUND, "%s: no such policy file", path);
	if (rc == MODL_EINVALID)
		return modl_error_set(MODL_EINVALID, "%s: not a policy (larger than %u bytes)", path,
				      POLICY_MAX_BYTES);
	if (rc)
		return rc;
	rc = license_policy_parse(text, len, path, out);
	free(text);
	return rc;
}

static int add_patterns(const cJSON *v, const char *source, const char *key, char ***items, size_t *count)
{
	const cJSON *item;
	if (!cJSON_IsArray(v))
		return modl_error_set(MODL_EINVALID, "%s: \"%s\" must be a list of license ids", source, key);
	cJSON_ArrayForEach(item, v)
	{
		if (!cJSON_IsString(item) || !item->valuestring[0])
			return modl_error_set(MODL_EINVALID,
					      "%s: \"%s\" must be a list of license ids "
					      "(non-empty strings)",
					      source, key);
		char **grown = realloc(*items, (*count + 1) * sizeof(**items));
		if (!grown)
			return modl_error_oom();
		*items = grown;
		if (!((*items)[*count] = strdup(item->valuestring)))
			return modl_error_oom();
		for (char *c = (*items)[*count]; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		(*count)++;
	}
	return 0;
}

static int read_key(const cJSON *v, const char *source, struct license_policy *p)
{
	const char *key = v->string;
	if (!strcmp(key, "allow")) {
		p->has_allow = 1;
		return add_patterns(v, source, key, &p->allow, &p->allow_count);
	}
	if (!strcmp(key, "deny"))
		return add_patterns(v, source, key, &p->deny, &p->deny_count);
	if (!strcmp(key, "require_commercial_use") || !strcmp(key, "require_license_file")) {
		if (!cJSON_IsBool(v))
			return modl_error_set(MODL_EINVALID, "%s: \"%s\" must be true or false", source, key);
		if (!strcmp(key, "require_commercial_use"))
			p->require_commercial_use = cJSON_IsTrue(v);
		else
			p->require_license_file = cJSON_IsTrue(v);
		return 0;
	}
	if (!strcmp(key, "max_unknown")) {
		if (cJSON_IsNull(v)) {
			p->max_unknown = -1;
			return 0;
		}
		if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e9 ||
		    floor(v->valuedouble) != v->valuedouble)
			return modl_error_set(MODL_EINVALID,
					      "%s: \"max_unknown\" must be a whole number "
					      "of 0 or more",
					      source);
		p->max_unknown = (long)v->valuedouble;
		return 0;
	}
	return modl_error_set(MODL_EINVALID,
			      "%s: unknown key \"%s\" (a policy has allow, deny, "
			      "require_commercial_use, max_unknown, require_license_file)",
			      source, key);
}

int license_policy_parse(const char *text, size_t len, const char *source, struct license_policy *out)
{
	memset(out, 0, sizeof(*out));
	out->max_unknown = -1;
	const char *end = NULL;
	cJSON *doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	int rc = 0;
	if (!doc) {
		size_t at = end && end >= text ? (size_t)(end - text) : 0;
		unsigned line = 1;
		for (size_t i = 0; i < at && i < len; i++)
			line += text[i] == '\n';
		return modl_error_set(MODL_EINVALID, "%s: not valid JSON (near line %u)", source, line);
	}
	if (!cJSON_IsObject(doc)) {
		rc = modl_error_set(MODL_EINVALID,
				    "%s: a policy is a JSON object, e.g. "
				    "{\"deny\": [\"cc-by-nc-*\"]}",
				    source);
		goto out;
	}
	const cJSON *v;
	cJSON_ArrayForEach(v, doc) if ((rc = read_key(v, source, out))) goto out;
	if (!(out->source = strdup(source)))
		rc = modl_error_oom();
out:
	cJSON_Delete(doc);
	if (rc)
		license_policy_free(out);
	return rc;
}

void license_policy_free(struct license_policy *p)
{
	for (size_t i = 0; i < p->allow_count; i++)
		free(p->allow[i]);
	for (size_t i = 0; i < p->deny_count; i++)
		free(p->deny[i]);
	free(p->allow);
	free(p->deny);
	free(p->source);
	memset(p, 0, sizeof(*p));
	p->max_unknown = -1;
}

static int glob_matches(const char *pattern, const char *name)
{
	char lower[256];
	size_t n = strlen(name);
	if (n >= sizeof(lower))
		return 0;
	for (size_t i = 0; i <= n; i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	return fnmatch(pattern, lower, 0) == 0;
}

int license_policy_matches(char *const *patterns, size_t count, const struct license_info *info,
			   const char *name)
{
	for (size_t i = 0; i < count; i++) {
		const char *p = patterns[i];
		if (info && (glob_matches(p, info->id) || (info->hub_id && glob_matches(p, info->hub_id)) ||
			     license_kb_find(p) == info))
			return 1;
		if (name && glob_matches(p, name))
			return 1;
	}
	return 0;
}
