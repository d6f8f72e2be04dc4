#include "terms.h"
#include "embedded.h"
#include "util/error.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Read once, kept for the life of the process: every report points into it. */
static struct {
	pthread_once_t once;
	int rc;
	struct modl_error_saved error; /* the loading thread's failure, for every caller */
	cJSON *doc;
	struct license_info *items;
	size_t count;
} kb = { .once = PTHREAD_ONCE_INIT };

static void load(void);

int license_kb(const struct license_info **out, size_t *count)
{
	pthread_once(&kb.once, load);
	if (kb.rc)
		return modl_error_restore(&kb.error);
	*out = kb.items;
	*count = kb.count;
	return 0;
}

const struct license_info *license_kb_find(const char *name)
{
	const struct license_info *items = NULL;
	size_t n = 0;
	char key[128];
	if (!name || license_kb(&items, &n))
		return NULL;
	while (isspace((unsigned char)*name))
		name++;
	size_t len = strlen(name);
	while (len && isspace((unsigned char)name[len - 1]))
		len--;
	if (len == 0 || len >= sizeof(key))
		return NULL;
	memcpy(key, name, len);
	key[len] = '\0';
	for (size_t i = 0; i < n; i++)
		if (!strcasecmp(items[i].id, key))
			return &items[i];
	/* A Hub id or alias; versions sharing a Hub id were caught above by their own id. */
	for (size_t i = 0; i < n; i++) {
		const cJSON *lists[] = { items[i].hub_ids, items[i].aliases };
		for (size_t l = 0; l < 2; l++) {
			const cJSON *s;
			cJSON_ArrayForEach(s,
					   lists[l]) if (!strcasecmp(s->valuestring, key)) return &items[i];
		}
	}
	return NULL;
}

const struct license_info *license_kb_declared(const char *license, const char *license_name)
{
	if (license && *license && strcasecmp(license, "other") && strcasecmp(license, "unknown"))
		return license_kb_find(license);
	return license_name ? license_kb_find(license_name) : NULL;
}

static int in_list(const cJSON *list, const char *s)
{
	const cJSON *item;
	if (!s)
		return 0;
	cJSON_ArrayForEach(item, list) if (!strcasecmp(item->valuestring, s)) return 1;
	return 0;
}

int license_kb_agrees(const struct license_info *declared, const struct license_info *detected)
{
	if (declared == detected)
		return 1;
	if (declared->hub_id && detected->hub_id && !strcasecmp(declared->hub_id, detected->hub_id))
		return 1;
	return declared->kind == LICENSE_KIND_FAMILY && in_list(declared->members, detected->id);
}

int license_kb_policy_of(const struct license_info *policy, const struct license_info *license)
{
	return in_list(policy->applies_to, license->id) || in_list(policy->applies_to, license->hub_id);
}

const char *license_commercial_name(enum license_commercial c)
{
	static const char *const names[] = { "forbidden", "unknown", "conditional", "allowed" };
	return names[c];
}

const char *license_kind_name(enum license_kind k)
{
	static const char *const names[] = { "license", "policy", "family" };
	return names[k];
}

/* ---- reading terms.json -------------------------------------------------------------- */

#define KB_FAIL(...) return modl_error_set(MODL_EFAIL, "license knowledge base: " __VA_ARGS__)

static const char *opt_string(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* NULL when absent or null; the array when every item is a string; *bad otherwise. */
static const cJSON *opt_strings(const cJSON *obj, const char *key, int *bad)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key), *item;
	if (!v || cJSON_IsNull(v))
		return NULL;
	if (!cJSON_IsArray(v)) {
		*bad = 1;
		return NULL;
	}
	cJSON_ArrayForEach(item, v) if (!cJSON_IsString(item)) *bad = 1;
	return v;
}

static const struct license_embedded_text *embedded_text(const char *file)
{
	for (size_t i = 0; i < license_embedded_text_count; i++)
		if (!strcmp(license_embedded_texts[i].file, file))
			return &license_embedded_texts[i];
	return NULL;
}

static int read_terms(const cJSON *terms, struct license_info *info)
{
	static const char *const commercial[] = { "forbidden", "unknown", "conditional", "allowed" };
	const char *c = opt_string(terms, "commercial_use");
	const cJSON *threshold = cJSON_GetObjectItemCaseSensitive(terms, "user_threshold");
	int bad = 0, found = 0;
	for (int i = 0; c && i < 4; i++)
		if (!strcmp(c, commercial[i])) {
			info->commercial = (enum license_commercial)i;
			found = 1;
		}
	if (!found)
		KB_FAIL("%s: commercial_use must be one of forbidden, unknown, conditional, allowed",
			info->id);
	if (cJSON_IsNumber(threshold) && threshold->valuedouble > 0)
		info->user_threshold = threshold->valuedouble;
	else if (threshold && !cJSON_IsNull(threshold))
		KB_FAIL("%s: user_threshold must be a positive number or null", info->id);
	info->commercial_note = opt_string(terms, "commercial_note");
	info->notice = opt_string(terms, "notice");
	info->acceptable_use_policy = opt_string(terms, "acceptable_use_policy");
	info->attribution = opt_strings(terms, "attribution", &bad);
	info->redistribution = opt_strings(terms, "redistribution", &bad);
	info->use_restrictions = opt_strings(terms, "use_restrictions", &bad);
	info->non_commercial = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(terms, "non_commercial"));
	info->research_only = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(terms, "research_only"));
	if (bad || !info->attribution || !info->redistribution || !info->use_restrictions)
		KB_FAIL("%s: attribution, redistribution and use_restrictions must be lists of strings",
			info->id);
	return 0;
}

static int read_entry(const cJSON *e, struct license_info *info, size_t index)
{
	static const char *const kinds[] = { "license", "policy", "family" };
	const char *kind = opt_string(e, "kind"), *file = opt_string(e, "file");
	int bad = 0, found = 0;
	info->index = index;
	info->id = opt_string(e, "id");
	info->name = opt_string(e, "name");
	if (!info->id || !info->name || !kind)
		KB_FAIL("entry %zu lacks id, name or kind", index);
	for (int i = 0; i < 3; i++)
		if (!strcmp(kind, kinds[i])) {
			info->kind = (enum license_kind)i;
			found = 1;
		}
	if (!found)
		KB_FAIL("%s: unknown kind '%s'", info->id, kind);
	if (file) {
		const struct license_embedded_text *t = embedded_text(file);
		if (!t)
			KB_FAIL("%s: %s is not embedded (run src/license/data/generate.py)", info->id, file);
		info->text = t->text;
		info->text_len = t->len;
	} else if (info->kind != LICENSE_KIND_FAMILY) {
		KB_FAIL("%s: only a family has no text", info->id);
	}
	info->url = opt_string(e, "url");
	info->version = opt_string(e, "version");
	info->optional_from = opt_string(e, "optional_from");
	info->optional_before = opt_string(e, "optional_before");
	info->derivatives_inherit = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "derivatives_inherit"));
	info->hub_ids = opt_strings(e, "hub_ids", &bad);
	info->aliases = opt_strings(e, "aliases", &bad);
	info->applies_to = opt_strings(e, "applies_to", &bad);
	info->members = opt_strings(e, "members", &bad);
	info->policies = opt_strings(e, "policies", &bad);
	if (bad)
		KB_FAIL("%s: hub_ids, aliases, applies_to, members and policies must be lists of strings",
			info->id);
	if (cJSON_GetArraySize(info->hub_ids) > 0)
		info->hub_id = cJSON_GetArrayItem(info->hub_ids, 0)->valuestring;
	const cJSON *terms = cJSON_GetObjectItemCaseSensitive(e, "terms");
	if (!cJSON_IsObject(terms))
		KB_FAIL("%s: no terms", info->id);
	return read_terms(terms, info);
}

static int load_doc(void)
{
	kb.doc = cJSON_ParseWithLength(license_embedded_terms, license_embedded_terms_len);
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(kb.doc, "licenses");
	if (!cJSON_IsArray(list))
		KB_FAIL("terms.json is not valid JSON with a \"licenses\" list");
	size_t n = (size_t)cJSON_GetArraySize(list);
	kb.items = calloc(n ? n : 1, sizeof(*kb.items));
	if (!kb.items)
		KB_FAIL("out of memory");
	const cJSON *e;
	cJSON_ArrayForEach(e, list)
	{
		int rc = read_entry(e, &kb.items[kb.count], kb.count);
		if (rc)
			return rc;
		for (size_t i = 0; i < kb.count; i++)
			if (!strcasecmp(kb.items[i].id, kb.items[kb.count].id))
				KB_FAIL("%s: listed twice", kb.items[i].id);
		kb.count++;
	}
	return 0;
}

static void load(void)
{
	kb.rc = load_doc();
	if (kb.rc) {
		modl_error_save(&kb.error);
		kb.error.code = kb.rc;
	}
}
