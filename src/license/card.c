#include "card.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

/* ---- the front matter ------------------------------------------------------------------- */

/* A line that is exactly "---" (trailing blanks and CR allowed). */
static int is_fence(const char *line, size_t n)
{
	while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
		n--;
	return n == 3 && !memcmp(line, "---", 3);
}

/* Finds the YAML between a first line "---" and the next "---" line, as the Hub does.
 * *found is 0 when the card has none; *first_line is the line the YAML starts on. */
static void front_matter(const char *text, size_t len, const char **yaml, size_t *yaml_len, int *found,
			 int *unclosed, unsigned *first_line)
{
	size_t i = 0;
	*found = *unclosed = 0;
	*first_line = 2;
	if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3))
		i = 3;
	const char *nl = memchr(text + i, '\n', len - i);
	if (!nl || !is_fence(text + i, (size_t)(nl - text) - i))
		return;
	size_t start = (size_t)(nl - text) + 1;
	for (size_t pos = start; pos < len;) {
		const char *end = memchr(text + pos, '\n', len - pos);
		size_t line_len = end ? (size_t)(end - text) - pos : len - pos;
		if (is_fence(text + pos, line_len)) {
			*yaml = text + start;
			*yaml_len = pos - start;
			*found = 1;
			return;
		}
		if (!end)
			break;
		pos += line_len + 1;
	}
	*unclosed = 1;
}

/* ---- events ------------------------------------------------------------------------------ */

struct reader {
	yaml_parser_t parser;
	const char *source;
	unsigned line_offset; /* lines of the card before the YAML */
	int rc;
};

static int parse_error(struct reader *r)
{
	const yaml_parser_t *p = &r->parser;
	const char *problem = p->problem ? p->problem : "invalid YAML";
	if (p->context)
		return modl_error_set(MODL_EINVALID, "%s: front matter: %s %s (line %zu, column %zu)",
				      r->source, p->context, problem,
				      (size_t)p->problem_mark.line + r->line_offset,
				      (size_t)p->problem_mark.column + 1);
	return modl_error_set(MODL_EINVALID, "%s: front matter: %s (line %zu, column %zu)", r->source,
			      problem, (size_t)p->problem_mark.line + r->line_offset,
			      (size_t)p->problem_mark.column + 1);
}

static int next_event(struct reader *r, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&r->parser, ev))
		return parse_error(r);
	return 0;
}

static int field_error(struct reader *r, const yaml_event_t *ev, const char *key, const char *want)
{
	return modl_error_set(MODL_EINVALID, "%s: front matter: %s: expected %s (line %zu)", r->source, key,
			      want, (size_t)ev->start_mark.line + r->line_offset);
}

/* Skips the rest of a node whose start event was ev (a scalar or an alias is whole). */
static int skip_node(struct reader *r, const yaml_event_t *ev)
{
	if (ev->type != YAML_SEQUENCE_START_EVENT && ev->type != YAML_MAPPING_START_EVENT)
		return 0;
	for (size_t depth = 1; depth > 0;) {
		yaml_event_t e;
		int rc = next_event(r, &e);
		if (rc)
			return rc;
		if (e.type == YAML_SEQUENCE_START_EVENT || e.type == YAML_MAPPING_START_EVENT)
			depth++;
		else if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT)
			depth--;
		else if (e.type == YAML_STREAM_END_EVENT)
			depth = 0;
		yaml_event_delete(&e);
	}
	return 0;
}

/* A plain ~, null or empty scalar is YAML's null. */
static int scalar_is_null(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (n == 0 || (n == 1 && v[0] == '~') || (n == 4 && !strncasecmp(v, "null", 4)));
}

static int scalar_dup(struct reader *r, const yaml_event_t *ev, const char *key, char **out)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	if (memchr(v, '\0', n))
		return field_error(r, ev, key, "text without NUL characters");
	if (!(*out = strndup(v, n)))
		return modl_error_oom();
	return 0;
}

static int list_add(char ***items, size_t *count, char *s)
{
	char **grown = realloc(*items, (*count + 1) * sizeof(**items));
	if (!grown) {
		free(s);
		return modl_error_oom();
	}
	*items = grown;
	(*items)[(*count)++] = s;
	return 0;
}

/* A string field: a scalar or null. The first occurrence of a key wins. */
static int read_string(struct reader *r, const yaml_event_t *ev, const char *key, char **out)
{
	if (ev->type != YAML_SCALAR_EVENT) {
		int rc = field_error(r, ev, key, "a string");
		return rc;
	}
	if (*out || scalar_is_null(ev))
		return 0;
	return scalar_dup(r, ev, key, out);
}

/* A string or a list of strings. */
static int read_strings(struct reader *r, const yaml_event_t *ev, const char *key, char ***items,
			size_t *count)
{
	int first = *count == 0;
	if (ev->type == YAML_SCALAR_EVENT) {
		char *s = NULL;
		if (!first || scalar_is_null(ev))
			return 0;
		int rc = scalar_dup(r, ev, key, &s);
		return rc ? rc : list_add(items, count, s);
	}
	if (ev->type != YAML_SEQUENCE_START_EVENT)
		return field_error(r, ev, key, "a string or a list of strings");
	for (;;) {
		yaml_event_t e;
		int rc = next_event(r, &e);
		if (rc)
			return rc;
		if (e.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&e);
			return 0;
		}
		if (e.type != YAML_SCALAR_EVENT) {
			rc = field_error(r, &e, key, "a string or a list of strings");
			yaml_event_delete(&e);
			return rc;
		}
		char *s = NULL;
		if (first && !scalar_is_null(&e) && !(rc = scalar_dup(r, &e, key, &s)))
			rc = list_add(items, count, s);
		yaml_event_delete(&e);
		if (rc)
			return rc;
	}
}

/* extra_gated_fields: a mapping of field name to its type; the names are kept. */
static int read_field_names(struct reader *r, const yaml_event_t *ev, struct license_card *c)
{
	if (ev->type == YAML_SCALAR_EVENT && scalar_is_null(ev))
		return 0;
	if (ev->type != YAML_MAPPING_START_EVENT)
		return field_error(r, ev, "extra_gated_fields", "a mapping of field names");
	int keep = c->gated_field_count == 0;
	for (;;) {
		yaml_event_t k, v;
		int rc = next_event(r, &k);
		if (rc)
			return rc;
		if (k.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&k);
			return 0;
		}
		char *name = NULL;
		if (k.type == YAML_SCALAR_EVENT && keep &&
		    !(rc = scalar_dup(r, &k, "extra_gated_fields", &name)))
			rc = list_add(&c->gated_fields, &c->gated_field_count, name);
		if (!rc)
			rc = skip_node(r, &k);
		yaml_event_delete(&k);
		if (!rc && !(rc = next_event(r, &v))) {
			rc = skip_node(r, &v);
			yaml_event_delete(&v);
		}
		if (rc)
			return rc;
	}
}

static int read_value(struct reader *r, const char *key, const yaml_event_t *ev, struct license_card *c)
{
	if (ev->type == YAML_ALIAS_EVENT &&
	    (!strcmp(key, "license") || !strcmp(key, "license_name") || !strcmp(key, "base_model")))
		return field_error(r, ev, key, "a value, not an alias");
	if (!strcmp(key, "license"))
		return read_strings(r, ev, key, &c->licenses, &c->license_count);
	if (!strcmp(key, "base_model"))
		return read_strings(r, ev, key, &c->base_models, &c->base_model_count);
	if (!strcmp(key, "extra_gated_fields"))
		return read_field_names(r, ev, c);
	static const struct {
		const char *key;
		size_t offset;
		/* clang-format off */
	} strings[] = {
		{ "license_name", offsetof(struct license_card, license_name) },
		{ "license_link", offsetof(struct license_card, license_link) },
		{ "base_model_relation", offsetof(struct license_card, base_model_relation) },
		{ "extra_gated_prompt", offsetof(struct license_card, gated_prompt) },
		{ "extra_gated_heading", offsetof(struct license_card, gated_heading) },
		{ "extra_gated_description", offsetof(struct license_card, gated_description) },
		{ "extra_gated_button_content", offsetof(struct license_card, gated_button) },
	};
	/* clang-format on */
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
		if (!strcmp(key, strings[i].key)) {
			if (ev->type == YAML_ALIAS_EVENT)
				return 0;
			return read_string(r, ev, key, (char **)((char *)c + strings[i].offset));
		}
	return skip_node(r, ev);
}

static int read_mapping(struct reader *r, struct license_card *c)
{
	for (;;) {
		yaml_event_t k, v;
		int rc = next_event(r, &k);
		if (rc)
			return rc;
		if (k.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&k);
			return 0;
		}
		char key[64] = "";
		if (k.type == YAML_SCALAR_EVENT && k.data.scalar.length < sizeof(key))
			memcpy(key, k.data.scalar.value, k.data.scalar.length);
		rc = skip_node(r, &k); /* a complex key */
		yaml_event_delete(&k);
		if (rc || (rc = next_event(r, &v)))
			return rc;
		rc = read_value(r, key, &v, c);
		yaml_event_delete(&v);
		if (rc)
			return rc;
	}
}

static int read_document(struct reader *r, struct license_card *c)
{
	yaml_event_t ev;
	int rc;
	/* stream start, then a document start (or the end of an empty stream) */
	for (int i = 0; i < 2; i++) {
		if ((rc = next_event(r, &ev)))
			return rc;
		yaml_event_type_t type = ev.type;
		yaml_event_delete(&ev);
		if (type == YAML_STREAM_END_EVENT)
			return 0;
	}
	if ((rc = next_event(r, &ev)))
		return rc;
	if (ev.type == YAML_MAPPING_START_EVENT)
		rc = read_mapping(r, c);
	else if (!(ev.type == YAML_SCALAR_EVENT && scalar_is_null(&ev)))
		rc = modl_error_set(MODL_EINVALID, "%s: front matter: not a mapping of fields (line %zu)",
				    r->source, (size_t)ev.start_mark.line + r->line_offset);
	yaml_event_delete(&ev);
	/* Whatever follows (a second document) is not read, but must still parse. */
	while (!rc) {
		if ((rc = next_event(r, &ev)))
			break;
		yaml_event_type_t type = ev.type;
		yaml_event_delete(&ev);
		if (type == YAML_STREAM_END_EVENT)
			break;
	}
	return rc;
}

int license_card_parse(const char *text, size_t len, const char *source, struct license_card *out)
{
	return license_card_parse_prefix(text, len, 0, source, out);
}

int license_card_parse_prefix(const char *text, size_t len, int truncated, const char *source,
			      struct license_card *out)
{
	const char *yaml = NULL;
	size_t yaml_len = 0;
	int found, unclosed, rc = 0;
	unsigned first_line;
	memset(out, 0, sizeof(*out));
	front_matter(text, len, &yaml, &yaml_len, &found, &unclosed, &first_line);
	/* Not "declares no license": its license is somewhere past what is read. */
	if (unclosed && truncated)
		return modl_error_set(MODL_EINVALID,
				      "%s: front matter: not closed within the first %zu "
				      "bytes, the most a card's metadata may take",
				      source, len);
	if (unclosed && !(out->note = strdup("the card starts with '---' but no line '---' closes "
					     "the front matter: no metadata read")))
		return modl_error_oom();
	if (!found)
		return 0;
	out->has_front_matter = 1;
	struct reader r = { .source = source, .line_offset = first_line };
	if (!yaml_parser_initialize(&r.parser))
		return modl_error_oom();
	yaml_parser_set_input_string(&r.parser, (const unsigned char *)yaml, yaml_len);
	rc = read_document(&r, out);
	yaml_parser_delete(&r.parser);
	if (rc)
		license_card_free(out);
	return rc;
}

/* ---- cardData ------------------------------------------------------------------------------ */

static int json_string(const cJSON *obj, const char *key, const char *source, char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return modl_error_set(MODL_EINVALID, "%s: cardData.%s: expected a string", source, key);
	return (*out = strdup(v->valuestring)) ? 0 : modl_error_oom();
}

static int json_strings(const cJSON *obj, const char *key, const char *source, char ***items, size_t *count)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key), *item;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (cJSON_IsString(v)) {
		char *s = strdup(v->valuestring);
		return s ? list_add(items, count, s) : modl_error_oom();
	}
	if (!cJSON_IsArray(v))
		return modl_error_set(MODL_EINVALID, "%s: cardData.%s: expected a string or a list", source,
				      key);
	cJSON_ArrayForEach(item, v)
	{
		if (!cJSON_IsString(item))
			return modl_error_set(MODL_EINVALID, "%s: cardData.%s: expected strings", source,
					      key);
		char *s = strdup(item->valuestring);
		int rc = s ? list_add(items, count, s) : modl_error_oom();
		if (rc)
			return rc;
	}
	return 0;
}

int license_card_from_json(const cJSON *card_data, const char *source, struct license_card *out)
{
	memset(out, 0, sizeof(*out));
	if (!card_data || cJSON_IsNull(card_data))
		return 0;
	if (!cJSON_IsObject(card_data))
		return modl_error_set(MODL_EINVALID, "%s: cardData is not an object", source);
	out->has_front_matter = 1;
	int rc = json_strings(card_data, "license", source, &out->licenses, &out->license_count);
	if (!rc)
		rc = json_strings(card_data, "base_model", source, &out->base_models, &out->base_model_count);
	if (!rc)
		rc = json_string(card_data, "license_name", source, &out->license_name);
	if (!rc)
		rc = json_string(card_data, "license_link", source, &out->license_link);
	if (!rc)
		rc = json_string(card_data, "base_model_relation", source, &out->base_model_relation);
	if (!rc)
		rc = json_string(card_data, "extra_gated_prompt", source, &out->gated_prompt);
	if (!rc)
		rc = json_string(card_data, "extra_gated_heading", source, &out->gated_heading);
	if (!rc)
		rc = json_string(card_data, "extra_gated_description", source, &out->gated_description);
	if (!rc)
		rc = json_string(card_data, "extra_gated_button_content", source, &out->gated_button);
	const cJSON *fields = cJSON_GetObjectItemCaseSensitive(card_data, "extra_gated_fields"), *f;
	if (!rc && cJSON_IsObject(fields))
		cJSON_ArrayForEach(f, fields)
		{
			char *s = strdup(f->string);
			if ((rc = s ? list_add(&out->gated_fields, &out->gated_field_count, s)
				    : modl_error_oom()))
				break;
		}
	if (rc)
		license_card_free(out);
	return rc;
}

static void free_list(char **items, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(items[i]);
	free(items);
}

void license_card_free(struct license_card *c)
{
	free_list(c->licenses, c->license_count);
	free_list(c->base_models, c->base_model_count);
	free_list(c->gated_fields, c->gated_field_count);
	free(c->license_name);
	free(c->license_link);
	free(c->base_model_relation);
	free(c->gated_prompt);
	free(c->gated_heading);
	free(c->gated_description);
	free(c->gated_button);
	free(c->note);
	memset(c, 0, sizeof(*c));
}

char *license_card_declared(const struct license_card *c)
{
	struct strbuf sb = STRBUF_INIT;
	int other = c->license_count == 0 ||
		    (c->license_count == 1 &&
		     (!strcasecmp(c->licenses[0], "other") || !strcasecmp(c->licenses[0], "unknown")));
	if (other && c->license_name && *c->license_name)
		return strdup(c->license_name);
	for (size_t i = 0; i < c->license_count; i++)
		if (strbuf_addf(&sb, "%s%s", i ? ", " : "", c->licenses[i])) {
			strbuf_free(&sb);
			return NULL;
		}
	return sb.len ? strbuf_take(&sb) : (strbuf_free(&sb), NULL);
}
