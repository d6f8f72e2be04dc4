#include "output.h"
#include "error.h"

#include <stdio.h>
#include <stdlib.h>

int output_json(cJSON *doc)
{
	char *text = doc ? cJSON_Print(doc) : NULL;
	cJSON_Delete(doc);
	if (!text)
		return modl_error_set(MODL_EFAIL, "out of memory");
	int ok = puts(text) >= 0 && fflush(stdout) == 0;
	free(text);
	return ok ? 0 : modl_error_set(MODL_EFAIL, "cannot write to standard output");
}
