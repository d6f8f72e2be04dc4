/* Printing helpers shared by commands: one JSON document on stdout, and its fields. */
#ifndef MODL_OUTPUT_H
#define MODL_OUTPUT_H

#include <cjson/cJSON.h>

/* Prints doc (indented) and a newline on stdout, then frees it. NULL: out of memory. */
int output_json(cJSON *doc);

/* s as a JSON string, or null when s is NULL (a field the answer or the file lacks). */
cJSON *output_string_or_null(const char *s);

#endif
