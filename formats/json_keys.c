/* Duplicate keys in a cJSON tree (see json_keys.h). */
#include "json_keys.h"
#include "fmt.h"

#include <stdlib.h>
#include <string.h>

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The members of one object, sorted, side by side. */
static int object_duplicate(const cJSON *node, const char **key)
{
	size_t n = 0;
	for (const cJSON *c = node->child; c; c = c->next)
		n++;
	if (n < 2)
		return 0;
	const char **keys = malloc(n * sizeof(*keys));
	if (!keys)
		return FMT_ENOMEM;
	n = 0;
	for (const cJSON *c = node->child; c; c = c->next)
		keys[n++] = c->string ? c->string : "";
	qsort(keys, n, sizeof(*keys), cmp_keys);
	int found = 0;
	for (size_t i = 1; i < n && !found; i++)
		if (!strcmp(keys[i - 1], keys[i])) {
			*key = keys[i];
			found = 1;
		}
	free(keys);
	return found;
}

int json_duplicate_key(const cJSON *node, const cJSON **object, const char **key)
{
	int rc = cJSON_IsObject(node) ? object_duplicate(node, key) : 0;
	if (rc == 1)
		*object = node;
	for (const cJSON *c = node->child; c && !rc; c = c->next)
		if (cJSON_IsObject(c) || cJSON_IsArray(c))
			rc = json_duplicate_key(c, object, key);
	return rc;
}
