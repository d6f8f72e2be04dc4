/* What the inspect_*.c files share: the report and the escaping helpers. */
#ifndef MODL_INSPECT_INTERNAL_H
#define MODL_INSPECT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "inspect.h"

struct inspect_report {
	char *path;
	struct gguf_reader *gguf;       /* one of these two */
	struct safetensors *safetensors;
};

cJSON *inspect_gguf_json(const struct inspect_report *r, int tensors);
int inspect_gguf_text(const struct inspect_report *r, int tensors, struct strbuf *out);
cJSON *inspect_safetensors_json(const struct inspect_report *r, int tensors);
int inspect_safetensors_text(const struct inspect_report *r, int tensors, struct strbuf *out);

/* s[0..len) as a JSON string literal (may hold NUL): control characters escaped, and each
 * ill-formed UTF-8 sequence replaced by one U+FFFD, as a WHATWG TextDecoder does. */
int inspect_add_json_string(struct strbuf *sb, const char *s, size_t len);
/* The same as a raw cJSON item, and exact integers (a double loses them above 2^53). */
cJSON *inspect_json_string(const char *s, size_t len);
cJSON *inspect_json_u64(uint64_t v);

/* Tensor count, parameters and bytes of one tensor type (or of all), for both formats. */
struct inspect_total {
	uint64_t tensors, bytes, parameters;
};
cJSON *inspect_total_json(const struct inspect_total *total);
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
