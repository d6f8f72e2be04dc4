/* How `modl inspect` prints a report (src/inspect/inspect.h): inspect_render.c lays out
 * the two formats, inspect_escape.c quotes the bytes of the file for JSON and for a
 * terminal. */
#ifndef MODL_INSPECT_RENDER_H
#define MODL_INSPECT_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "inspect/inspect.h"
#include "util/strbuf.h"

/* The whole header as one JSON document (every metadata value complete); tensors lists
 * each tensor too. NULL when out of memory. */
cJSON *inspect_to_json(const struct inspect_report *report, int tensors);

/* The same for people: long arrays and strings shortened. */
int inspect_to_text(const struct inspect_report *report, int tensors, struct strbuf *out);

/* s[0..len) as a JSON string literal (may hold NUL): control characters escaped, and each
 * ill-formed UTF-8 sequence replaced by one U+FFFD, as a WHATWG TextDecoder does. */
int inspect_add_json_string(struct strbuf *sb, const char *s, size_t len);
/* The same as a raw cJSON item, and exact integers (a double loses them above 2^53). */
cJSON *inspect_json_string(const char *s, size_t len);
cJSON *inspect_json_u64(uint64_t v);
cJSON *inspect_json_i64(int64_t v);
/* A number that reads back as exactly v (cJSON prints 15 digits when they come close);
 * "NaN", "Infinity" or "-Infinity" as strings, which JSON has no numbers for. */
cJSON *inspect_json_double(double v);
/* A NUL-terminated copy with ill-formed UTF-8 replaced (for cJSON object keys). */
char *inspect_utf8_clean(const char *s, size_t len);

/* s quoted for a terminal: control characters and invalid bytes escaped, cut after
 * max bytes with the full length noted. */
int inspect_add_text_string(struct strbuf *sb, const char *s, size_t len, size_t max);
/* A key or a tensor name for a terminal: escaped like a string, unquoted, padded with
 * spaces to width. */
int inspect_add_text_name(struct strbuf *sb, const char *s, size_t len, int width);
/* Columns a UTF-8 string takes (one per character). */
int inspect_text_width(const char *s, size_t len);
/* Shortest decimal that reads back as the same float / double; nan, inf, -inf. */
int inspect_add_f32(struct strbuf *sb, float v);
int inspect_add_f64(struct strbuf *sb, double v);
/* "[a, b, c]" */
int inspect_add_shape(struct strbuf *sb, size_t n, const uint64_t *dims);

#endif
