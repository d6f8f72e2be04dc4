/* libFuzzer target: everything modl parses from a Hub answer — a tree page, a repo info
 * document, and a Link header — must fail cleanly on any input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "hub/http.h"
#include "hub/hub.h"
#include "hub/repo_info.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *doc = NULL;
	if (hub_json_parse((const char *)data, size, "fuzz", &doc) == 0) {
		struct hub_tree tree = { 0 };
		if (hub_tree_add_page(&tree, doc, "fuzz") == 0) {
			for (size_t i = 0; i < tree.count; i++)
				if (!hub_path_is_safe(tree.entries[i].path))
					abort(); /* an unsafe path must never be accepted */
			hub_tree_validate(&tree, "fuzz", 40, 11);
		}
		hub_tree_free(&tree);
		struct repo_summary s;
		/* cmd/info.c prints these three of an accepted summary without a check. */
		if (repo_summary_from_info(doc, &s) == 0 && (!s.id || !hub_is_commit(s.sha) || !s.gated))
			abort();
		cJSON_Delete(doc);
	}
	/* The same bytes as a Link header value. */
	char *value = malloc(size + 1);
	if (!value)
		return 0;
	memcpy(value, data, size);
	value[size] = '\0';
	struct http_header h = { "Link", value };
	struct http_response r;
	http_response_init(&r);
	r.headers = &h;
	r.header_count = 1;
	char *next = NULL;
	http_link_next(&r, &next);
	free(next);
	free(value);
	return 0;
}
