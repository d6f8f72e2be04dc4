/* Printing helpers shared by commands: one JSON document on stdout. */
#ifndef MODL_OUTPUT_H
#define MODL_OUTPUT_H

#include <cjson/cJSON.h>

/* Prints doc (indented) and a newline on stdout, then frees it. NULL: out of memory. */
int output_json(cJSON *doc);

#endif
