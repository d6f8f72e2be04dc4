#include "output.h"
#include "util/error.h"
#include "util/escape.h"
#include "util/strbuf.h"

#include <stdio.h>
#include <stdlib.h>

int output_json(cJSON *doc)
{
	char *text = doc ? cJSON_Print(doc) : NULL;
	cJSON_Delete(doc);
	if (!text)
		return modl_error_oom();
	/* cJSON escapes C0 controls; DEL, C1 and bidi controls and invalid UTF-8 from
	 * outside would reach a terminal raw: written as \u escapes (the same values). */
	struct strbuf safe = STRBUF_INIT;
	int rc = escape_add_json_text(&safe, text);
	free(text);
	if (rc) {
		strbuf_free(&safe);
		return modl_error_oom();
	}
	int ok = puts(safe.buf ? safe.buf : "") >= 0 && fflush(stdout) == 0;
	strbuf_free(&safe);
	return ok ? 0 : modl_error_set(MODL_EFAIL, "cannot write to standard output");
}

cJSON *output_string_or_null(const char *s)
{
	return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}
