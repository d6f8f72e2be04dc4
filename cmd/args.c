#include "args.h"
#include "util/error.h"
#include "hub/hub.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return 99;
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *args_suggest(const char *word, const char *const *candidates, size_t count)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1;
	for (size_t i = 0; i < count; i++) {
		size_t d = edit_distance(word, candidates[i]);
		if (d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	/* Allow about one typo per three letters, at least one. */
	size_t limit = strlen(word) / 3 + 1;
	return best && best_d <= limit ? best : NULL;
}

static const struct args_option *find_long(const struct args_option *o, const char *name, size_t len)
{
	for (; o->long_name; o++)
		if (strlen(o->long_name) == len && !strncmp(o->long_name, name, len))
			return o;
	return NULL;
}

static const struct args_option *find_short(const struct args_option *o, char c)
{
	for (; o->long_name; o++)
		if (o->short_name && o->short_name == c)
			return o;
	return NULL;
}

static int unknown_option(const char *command, const struct args_option *options, const char *arg)
{
	const char *names[64];
	size_t n = 0;
	for (const struct args_option *o = options; o->long_name && n < 64; o++)
		names[n++] = o->long_name;
	const char *name = arg + strspn(arg, "-");
	char plain[64];
	size_t len = strcspn(name, "=");
	if (len >= sizeof(plain))
		len = sizeof(plain) - 1;
	memcpy(plain, name, len);
	plain[len] = '\0';
	const char *hint = args_suggest(plain, names, n);
	if (hint)
		return modl_error_set(MODL_EUSAGE, "%s: unknown option '%s' (did you mean '--%s'?)", command,
				      arg, hint);
	return modl_error_set(MODL_EUSAGE, "%s: unknown option '%s' (see 'modl help %s')", command, arg,
			      command);
}

static int store(const char *command, const struct args_option *o, const char *value)
{
	switch (o->kind) {
	case ARGS_FLAG: *(int *)o->target = 1; return 0;
	case ARGS_STRING: *(const char **)o->target = value; return 0;
	case ARGS_INT: {
		char *end;
		errno = 0;
		long v = strtol(value, &end, 10);
		if (errno || end == value || *end || v < o->min || v > o->max)
			return modl_error_set(MODL_EUSAGE, "%s: --%s takes a whole number from %ld to %ld",
					      command, o->long_name, o->min, o->max);
		*(long *)o->target = v;
		return 0;
	}
	case ARGS_LIST: {
		struct args_list *l = o->target;
		const char **items = realloc(l->items, (l->count + 1) * sizeof(*items));
		if (!items)
			return modl_error_oom();
		items[l->count++] = value;
		l->items = items;
		return 0;
	}
	}
	return modl_error_set(MODL_EFAIL, "internal: bad option kind");
}

int args_parse(const char *command, const struct args_option *options, int argc, char **argv, int *positional)
{
	int out = 0, only_positional = 0;
	for (int i = 0; i < argc; i++) {
		char *arg = argv[i];
		if (only_positional || arg[0] != '-' || !strcmp(arg, "-")) {
			argv[out++] = arg;
			continue;
		}
		if (!strcmp(arg, "--")) {
			only_positional = 1;
			continue;
		}
		const struct args_option *o;
		const char *inline_value = NULL;
		if (arg[1] == '-') {
			const char *name = arg + 2, *eq = strchr(name, '=');
			o = find_long(options, name, eq ? (size_t)(eq - name) : strlen(name));
			inline_value = eq ? eq + 1 : NULL;
		} else {
			o = arg[2] == '\0' ? find_short(options, arg[1]) : NULL;
		}
		if (!o)
			return unknown_option(command, options, arg);
		const char *value = inline_value;
		if (o->kind == ARGS_FLAG) {
			if (inline_value)
				return modl_error_set(MODL_EUSAGE, "%s: --%s takes no value", command,
						      o->long_name);
		} else if (!value) {
			if (i + 1 >= argc)
				return modl_error_set(MODL_EUSAGE, "%s: --%s needs a value", command,
						      o->long_name);
			value = argv[++i];
		}
		int rc = store(command, o, value);
		if (rc)
			return rc;
	}
	*positional = out;
	return 0;
}

void args_list_free(struct args_list *list)
{
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

int args_parse_repo_command(const char *command, const char *operands, int min, int max, int argc,
			    char **argv, struct hub_repo *repo, int *positional)
{
	const char *type_name = "model";
	/* clang-format off */
	const struct args_option options[] = {
		{ "repo-type", 0, ARGS_STRING, &type_name, 0, 0 },
		{ 0 },
	};
	/* clang-format on */
	int rc = args_parse(command, options, argc, argv, positional);
	if (rc)
		return rc;
	if (*positional < min || *positional > max)
		return modl_error_set(MODL_EUSAGE, "%s: expected %s (see 'modl help %s')", command, operands,
				      command);
	return hub_parse_repo_typed(argv[0], type_name, repo);
}
