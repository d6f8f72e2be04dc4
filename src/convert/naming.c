/* general.name, basename, finetune, version, size_label and license, found as gguf-py's
 * Metadata finds them (gguf-py/gguf/metadata.py): the model card's front matter first
 * (name / model_name, basename, finetune, version, size_label, license), then the model
 * id in config.json's _name_or_path, the repo id of a cached repo and the folder name,
 * each split into basename, size label, finetune and version by get_model_id_components'
 * rules; the size label from the parameter count when no name carries one. The default
 * output name follows the GGUF naming convention. */
#include "convert_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "util/error.h"
#include "util/strbuf.h"

/* ---- the model card ------------------------------------------------------------------- */

struct card {
	char *name, *basename, *finetune, *version, *size_label, *license;
};

/* A scalar, or a sequence of scalars joined with "," (gguf-py joins license lists so). */
static char *node_text(yaml_document_t *doc, yaml_node_t *node)
{
	if (node->type == YAML_SCALAR_NODE)
		return strndup((const char *)node->data.scalar.value, node->data.scalar.length);
	if (node->type != YAML_SEQUENCE_NODE)
		return NULL;
	struct strbuf sb = STRBUF_INIT;
	for (yaml_node_item_t *i = node->data.sequence.items.start; i < node->data.sequence.items.top; i++) {
		yaml_node_t *item = yaml_document_get_node(doc, *i);
		if (!item || item->type != YAML_SCALAR_NODE)
			continue;
		if ((sb.len && strbuf_adds(&sb, ",")) ||
		    strbuf_add(&sb, item->data.scalar.value, item->data.scalar.length)) {
			strbuf_free(&sb);
			return NULL;
		}
	}
	return sb.len ? strbuf_take(&sb) : (strbuf_free(&sb), NULL);
}

/* The front matter of README.md: a card that cannot be read is no card (a converter
 * has no business failing on prose), as gguf-py treats a card without front matter. */
static void card_load(struct card *c, const char *dir)
{
	/* clang-format off */
	static const char *const keys[][2] = {
		{ "name", "model_name" }, { "basename", "model_basename" }, { "finetune", "model_finetune" },
		{ "version", "model_version" }, { "size_label", "model_size_label" }, { "license", NULL },
	};
	/* clang-format on */
	char **fields[] = { &c->name, &c->basename, &c->finetune, &c->version, &c->size_label, &c->license };
	char *text = NULL;
	size_t len;
	memset(c, 0, sizeof(*c));
	if (convert_read_file(dir, "README.md", 4 << 20, &text, &len)) {
		modl_error_clear();
		return;
	}
	const char *end = NULL;
	if (!strncmp(text, "---\n", 4) || !strncmp(text, "---\r\n", 5)) {
		end = strstr(text + 3, "\n---");
		if (end && end[4] != '\n' && end[4] != '\r' && end[4] != '\0')
			end = NULL;
	}
	yaml_parser_t parser;
	yaml_document_t doc;
	if (!end || !yaml_parser_initialize(&parser)) {
		free(text);
		return;
	}
	const char *start = strchr(text, '\n') + 1;
	/* gguf-py's tab fix: YAML front matter indented with tabs (seen on real cards). */
	for (char *p = (char *)start; p < end; p++)
		if (*p == '\t')
			*p = ' ';
	yaml_parser_set_input_string(&parser, (const unsigned char *)start, (size_t)(end - start) + 1);
	if (yaml_parser_load(&parser, &doc)) {
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		for (yaml_node_pair_t *p =
			     root && root->type == YAML_MAPPING_NODE ? root->data.mapping.pairs.start : NULL;
		     p && p < root->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(&doc, p->key),
				    *v = yaml_document_get_node(&doc, p->value);
			if (!k || !v || k->type != YAML_SCALAR_NODE)
				continue;
			for (size_t f = 0; f < sizeof(keys) / sizeof(keys[0]); f++)
				for (int alt = 0; alt < 2; alt++)
					if (keys[f][alt] &&
					    !strcmp((const char *)k->data.scalar.value, keys[f][alt]) &&
					    !*fields[f])
						*fields[f] = node_text(&doc, v);
		}
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	free(text);
}

/* ---- model ids (get_model_id_components) --------------------------------------------------- */

enum { P_VERSION = 1, P_TYPE = 2, P_SIZE = 4, P_FINETUNE = 8, P_BASENAME = 16 };

/* (v|iter)?\d+([.]\d+)*  (case-insensitive) */
static int is_version(const char *s)
{
	if (!strncasecmp(s, "iter", 4))
		s += 4;
	else if (tolower((unsigned char)*s) == 'v')
		s++;
	if (!isdigit((unsigned char)*s))
		return 0;
	while (*s) {
		size_t n = strspn(s, "0123456789");
		if (!n)
			return 0;
		s += n;
		if (*s == '.')
			s++;
		else if (*s)
			return 0;
		if (s[-1] == '.' && !*s)
			return 0;
	}
	return 1;
}

/* i?q\d(_\w)*|b?fp?(16|32)  (case-insensitive) */
static int is_type(const char *s)
{
	const char *p = s;
	if (tolower((unsigned char)*p) == 'i')
		p++;
	if (tolower((unsigned char)*p) == 'q' && isdigit((unsigned char)p[1])) {
		p += 2;
		while (*p == '_' && (isalnum((unsigned char)p[1]) || p[1] == '_'))
			p += 2;
		if (!*p)
			return 1;
	}
	p = s;
	if (tolower((unsigned char)*p) == 'b')
		p++;
	if (tolower((unsigned char)*p) != 'f')
		return 0;
	p++;
	if (tolower((unsigned char)*p) == 'p')
		p++;
	return !strcmp(p, "16") || !strcmp(p, "32");
}

/* (([A]|\d+[x])?\d+([._]\d+)?[KMBT][\d]?|small|mini|medium|large|x?xl)  (case-insensitive) */
static int is_size(const char *s)
{
	static const char *const words[] = { "small", "mini", "medium", "large", "xl", "xxl" };
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcasecmp(s, words[i]))
			return 1;
	const char *p = s;
	size_t n;
	if (toupper((unsigned char)*p) == 'A' && isdigit((unsigned char)p[1])) {
		p++;
	} else if ((n = strspn(p, "0123456789")) && tolower((unsigned char)p[n]) == 'x') {
		p += n + 1;
	}
	if (!(n = strspn(p, "0123456789")))
		return 0;
	p += n;
	if ((*p == '.' || *p == '_') && (n = strspn(p + 1, "0123456789")))
		p += n + 1;
	if (!*p || !strchr("KMBTkmbt", *p))
		return 0;
	p++;
	if (isdigit((unsigned char)*p))
		p++;
	return !*p;
}

/* metadata.py normalize_size_label: "7b1" -> "7.1B", "1_5b" -> "1.5B", "8b" -> "8B". */
static void normalize_size(char *s)
{
	size_t n = strlen(s);
	for (char *c = s; *c; c++)
		if (*c == '_')
			*c = '.';
	if (n >= 3 && isdigit((unsigned char)s[n - 1])) {
		char unit = s[n - 2], last = s[n - 1];
		s[n - 2] = '.';
		s[n - 1] = last;
		s[n] = unit;
		s[n + 1] = '\0';
		n++;
	}
	if (n > 1 && isdigit((unsigned char)s[n - 2]) && strchr("kmbt", s[n - 1]))
		s[n - 1] = (char)toupper((unsigned char)s[n - 1]);
}

static double size_params(const char *label)
{
	size_t n = strlen(label);
	const char *units = " KMBT", *u = n ? strchr(units, label[n - 1]) : NULL;
	if (!u || u == units)
		return -1;
	char *end;
	double v = strtod(label, &end);
	if (end != label + n - 1)
		return -1;
	return v * pow(1000, (double)(u - units));
}

struct id_parts {
	char *full; /* the part after "org/" */
	char *basename, *finetune, *version, *size_label;
};

static void id_parts_free(struct id_parts *p)
{
	free(p->full);
	free(p->basename);
	free(p->finetune);
	free(p->version);
	free(p->size_label);
	memset(p, 0, sizeof(*p));
}

static char *join_parts(char **parts, const int *types, size_t n, int want, int exclude)
{
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < n; i++) {
		if (!(types[i] & want) || (types[i] & exclude))
			continue;
		/* size labels are deduplicated */
		int dup = 0;
		for (size_t k = 0; want == P_SIZE && k < i; k++)
			dup |= (types[k] & P_SIZE) && !strcmp(parts[k], parts[i]);
		if (dup)
			continue;
		if ((sb.len && strbuf_adds(&sb, "-")) || strbuf_adds(&sb, parts[i])) {
			strbuf_free(&sb);
			return NULL;
		}
	}
	return sb.len ? strbuf_take(&sb) : (strbuf_free(&sb), NULL);
}

static int model_id_parts(const char *id, uint64_t total_params, struct id_parts *out)
{
	char *parts[64];
	int types[64] = { 0 };
	size_t n = 0;
	memset(out, 0, sizeof(*out));
	if (!id || !*id)
		return 0;
	const char *slash = strchr(id, '/');
	if (!(out->full = strdup(strchr(id, ' ') ? id : slash ? slash + 1 : id)))
		return -1;
	if (strchr(id, ' '))
		return 0; /* a sentence: a name, nothing else */
	char *copy = strdup(out->full), *save = NULL;
	if (!copy)
		return -1;
	for (char *tok = strtok_r(copy, "-", &save); tok && n < 64; tok = strtok_r(NULL, "-", &save)) {
		/* room for normalize_size's extra character */
		if (!(parts[n] = malloc(strlen(tok) + 2))) {
			free(copy);
			for (size_t i = 0; i < n; i++)
				free(parts[i]);
			return -1;
		}
		strcpy(parts[n], tok);
		types[n++] = 0;
	}
	free(copy);
	for (size_t i = 0; i < n; i++) {
		char *p = parts[i];
		if (is_version(p)) {
			types[i] |= P_VERSION;
		} else if (is_type(p)) {
			types[i] |= P_TYPE;
			for (char *c = p; *c; c++)
				*c = (char)toupper((unsigned char)*c);
		} else if (i > 0 && is_size(p)) {
			normalize_size(p);
			double label = size_params(p);
			if (total_params && label >= 0 &&
			    fabs(label - (double)total_params) > (double)(7 * total_params / 8)) {
				types[i] |= P_FINETUNE; /* likely a context length: 128k */
				size_t l = strlen(p);
				p[l - 1] = (char)tolower((unsigned char)p[l - 1]);
			}
			if (!types[i])
				types[i] |= P_SIZE;
		} else if (i > 0 && (!strcasecmp(p, "chat") || !strcasecmp(p, "instruct") ||
				     !strcasecmp(p, "vision") || !strcasecmp(p, "lora"))) {
			types[i] |= P_FINETUNE;
		}
	}
	/* word size labels give way to numeric ones */
	int numeric = 0;
	for (size_t i = 0; i < n; i++)
		if (types[i] & P_SIZE)
			for (const char *c = parts[i]; *c; c++)
				numeric |= isdigit((unsigned char)*c) != 0;
	for (size_t i = 0; numeric && i < n; i++) {
		int alpha = 1;
		for (const char *c = parts[i]; *c; c++)
			alpha &= isalpha((unsigned char)*c) != 0;
		if ((types[i] & P_SIZE) && alpha)
			types[i] &= ~P_SIZE;
	}
	int at_start = 1;
	for (size_t i = 0; i < n; i++) {
		if (at_start &&
		    ((!types[i] && isalpha((unsigned char)parts[i][0])) || (types[i] & P_VERSION))) {
			types[i] |= P_BASENAME;
		} else {
			at_start = 0;
			if (!types[i])
				types[i] |= P_FINETUNE;
		}
	}
	for (size_t i = n; i-- > 0;) {
		if ((types[i] & P_BASENAME) && (types[i] & ~P_BASENAME))
			types[i] &= ~P_BASENAME;
		else
			break;
	}
	out->basename = join_parts(parts, types, n, P_BASENAME, 0);
	out->size_label = join_parts(parts, types, n, P_SIZE, 0);
	out->finetune = join_parts(parts, types, n, P_FINETUNE, 0);
	out->version = join_parts(parts, types, n, P_VERSION, P_BASENAME);
	if (!out->size_label && !out->finetune && !out->version) {
		free(out->basename); /* too ambiguous */
		out->basename = NULL;
	}
	for (size_t i = 0; i < n; i++)
		free(parts[i]);
	return 0;
}

/* metadata.py id_to_title: words that are all lower case get a capital after every
 * non-letter, unless they are versions or start with a digit. */
static char *id_to_title(const char *s)
{
	struct strbuf sb = STRBUF_INIT;
	char *copy = strdup(s), *save = NULL;
	if (!copy)
		return NULL;
	for (char *p = copy; *p; p++)
		if (*p == '-')
			*p = ' ';
	for (char *w = strtok_r(copy, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
		int lower = 0, upper = 0;
		for (const char *c = w; *c; c++) {
			lower |= islower((unsigned char)*c) != 0;
			upper |= isupper((unsigned char)*c) != 0;
		}
		if (lower && !upper && !isdigit((unsigned char)w[0]) && !is_version(w)) {
			int prev_alpha = 0;
			for (char *c = w; *c; c++) {
				if (isalpha((unsigned char)*c))
					*c = (char)(prev_alpha ? tolower((unsigned char)*c)
							       : toupper((unsigned char)*c));
				prev_alpha = isalpha((unsigned char)*c) != 0;
			}
		}
		if ((sb.len && strbuf_adds(&sb, " ")) || strbuf_adds(&sb, w)) {
			free(copy);
			strbuf_free(&sb);
			return NULL;
		}
	}
	free(copy);
	return strbuf_take(&sb);
}

/* ---- the whole ------------------------------------------------------------------------------ */

void convert_size_label(uint64_t parameters, char *out, size_t size)
{
	double v = (double)parameters;
	const char *unit;
	if (v > 1e12) {
		v *= 1e-12;
		unit = "T";
	} else if (v > 1e9) {
		v *= 1e-9;
		unit = "B";
	} else if (v > 1e6) {
		v *= 1e-6;
		unit = "M";
	} else {
		v *= 1e-3;
		unit = "K";
	}
	char whole[32];
	snprintf(whole, sizeof(whole), "%.0f", nearbyint(v));
	const char *digits = whole;
	while (*digits == '0')
		digits++;
	int fix = 2 - (int)strlen(digits);
	snprintf(out, size, "%.*f%s", fix > 0 ? fix : 0, v, unit);
}

static int take(char **dst, char *src)
{
	if (!*dst && src)
		*dst = src;
	else
		free(src);
	return 0;
}

static int dup_into(char **dst, const char *src)
{
	if (*dst || !src)
		return 0;
	return (*dst = strdup(src)) ? 0 : modl_error_oom();
}

/* Fills what is still unset from one model id. */
static int from_id(struct convert_naming *n, const char *id, uint64_t parameters)
{
	struct id_parts p;
	if (model_id_parts(id, parameters, &p))
		return modl_error_oom();
	if (p.full)
		take(&n->name, id_to_title(p.full));
	take(&n->basename, p.basename);
	take(&n->finetune, p.finetune);
	take(&n->version, p.version);
	take(&n->size_label, p.size_label);
	p.basename = p.finetune = p.version = p.size_label = NULL;
	id_parts_free(&p);
	return 0;
}

int convert_naming_load(struct convert_naming *n, const char *dir, const char *repo_id, const cJSON *config,
			const char *name_override, uint64_t parameters)
{
	struct card card;
	int rc = 0;
	memset(n, 0, sizeof(*n));
	if ((rc = dup_into(&n->name, name_override)))
		return rc;
	card_load(&card, dir);
	n->basename = card.basename;
	n->finetune = card.finetune;
	n->version = card.version;
	n->size_label = card.size_label;
	n->license = card.license;
	take(&n->name, card.name);
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(config, "_name_or_path");
	if (cJSON_IsString(path) && *path->valuestring) {
		size_t slashes = 0;
		for (const char *c = path->valuestring; *c; c++)
			slashes += *c == '/';
		if (slashes <= 1 && (rc = from_id(n, path->valuestring, parameters)))
			goto out;
	}
	if (repo_id && (rc = from_id(n, repo_id, parameters)))
		goto out;
	/* The folder of a cached snapshot is its commit id: a name only for a plain directory. */
	char folder[256];
	char *real = realpath(dir, NULL); /* "." names the folder it is */
	const char *where = real ? real : dir;
	size_t end = strlen(where), start;
	while (end > 1 && where[end - 1] == '/')
		end--;
	for (start = end; start > 0 && where[start - 1] != '/'; start--)
		;
	snprintf(folder, sizeof(folder), "%.*s", (int)(end - start), where + start);
	free(real);
	if (!repo_id && strcmp(folder, ".") && strcmp(folder, "..") && *folder &&
	    (rc = from_id(n, folder, parameters)))
		goto out;
	if (!n->size_label && parameters) {
		char label[32];
		convert_size_label(parameters, label, sizeof(label));
		rc = dup_into(&n->size_label, label);
	}
	if (!rc && !n->name)
		rc = dup_into(&n->name, "Model");
out:
	if (rc)
		convert_naming_free(n);
	return rc;
}

void convert_naming_free(struct convert_naming *n)
{
	free(n->name);
	free(n->basename);
	free(n->finetune);
	free(n->version);
	free(n->size_label);
	free(n->license);
	memset(n, 0, sizeof(*n));
}

int convert_naming_write_keys(const struct convert_naming *n, struct gguf_writer *w)
{
	int rc = gguf_writer_add_string(w, "general.name", n->name);
	if (!rc && n->finetune)
		rc = gguf_writer_add_string(w, "general.finetune", n->finetune);
	if (!rc && n->basename)
		rc = gguf_writer_add_string(w, "general.basename", n->basename);
	if (!rc && n->version)
		rc = gguf_writer_add_string(w, "general.version", n->version);
	if (!rc && n->size_label)
		rc = gguf_writer_add_string(w, "general.size_label", n->size_label);
	if (!rc && n->license)
		rc = gguf_writer_add_string(w, "general.license", n->license);
	return rc;
}

/* One part of the file name: spaces and slashes become '-', and nothing a shell or a
 * file system would trip on stays. */
static int add_name_part(struct strbuf *sb, const char *s)
{
	int rc = 0;
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	for (size_t i = 0; i < n && !rc; i++) {
		unsigned char c = (unsigned char)s[i];
		char out = c == ' ' || c == '/' || c == '\\' ? '-'
			   : (c < 0x20 || c == ':' || c == '*' || c == '?' || c == '"' || c == '<' ||
			      c == '>' || c == '|')
				   ? '_'
				   : (char)c;
		rc = strbuf_add(sb, &out, 1);
	}
	return rc;
}

int convert_default_name(const struct convert_naming *n, const char *type_name, char **out)
{
	struct strbuf sb = STRBUF_INIT;
	const char *base = n->basename ? n->basename : n->name;
	int rc = add_name_part(&sb, base);
	if (!rc && sb.len && sb.buf[0] == '.')
		sb.buf[0] = '_'; /* never a hidden file */
	if (!rc && n->size_label)
		rc = strbuf_adds(&sb, "-") || add_name_part(&sb, n->size_label);
	if (!rc && n->finetune)
		rc = strbuf_adds(&sb, "-") || add_name_part(&sb, n->finetune);
	if (!rc && n->version)
		rc = strbuf_adds(&sb, "-") || add_name_part(&sb, n->version);
	if (!rc)
		rc = strbuf_addf(&sb, "-%s.gguf", type_name);
	if (rc) {
		strbuf_free(&sb);
		return modl_error_oom();
	}
	for (char *c = sb.buf + sb.len - 5 - strlen(type_name); *c && c < sb.buf + sb.len - 5; c++)
		*c = (char)toupper((unsigned char)*c);
	*out = strbuf_take(&sb);
	return 0;
}
