/* modl inspect: what the header of a GGUF or safetensors input says, read without
 * touching the tensor data (the time taken does not depend on the file's size). */
#ifndef MODL_INSPECT_H
#define MODL_INSPECT_H

#include <cjson/cJSON.h>

#include "util/strbuf.h"

struct inspect_report;

/* Opens path: a GGUF file; a safetensors file, a directory with one or more, or a
 * model.safetensors.index.json. A malformed input is MODL_EINVALID with the message
 * "PATH: <what is wrong, where>"; a missing one MODL_ENOTFOUND. */
int inspect_open(struct inspect_report **out, const char *path);
void inspect_close(struct inspect_report *report);

/* The whole header as one JSON document (every metadata value complete); tensors lists
 * each tensor too. NULL when out of memory. */
cJSON *inspect_to_json(const struct inspect_report *report, int tensors);

/* The same for people: long arrays and strings shortened. */
int inspect_to_text(const struct inspect_report *report, int tensors, struct strbuf *out);

#endif
