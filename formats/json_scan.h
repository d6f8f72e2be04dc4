/* A strict pull parser over JSON text, for headers that must be read exactly: RFC 8259
 * as serde_json (the safetensors reference) reads it — no leading zeros, no raw control
 * characters in strings, no lone surrogate escapes, nothing after the value but
 * whitespace — with exact 64-bit integers (cJSON keeps numbers as doubles) and a depth
 * limit, so that no input can exhaust the stack. The caller checks UTF-8 beforehand
 * (fmt_utf8_check): the scanner passes bytes >= 0x80 through. */
#ifndef MODL_JSON_SCAN_H
#define MODL_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

#define JSON_SCAN_MAX_DEPTH 128 /* serde_json's recursion limit */

struct json_scan {
	const unsigned char *text;
	size_t len, pos;
	unsigned depth;
	const char *error; /* the first error (static text), NULL while all is well */
	size_t error_pos;  /* where it was found, in bytes from the start of text */
};

void json_scan_init(struct json_scan *s, const void *text, size_t len);

/* Records an error at the current position (the first one wins) and returns -1. */
int json_scan_fail(struct json_scan *s, const char *what);

/* Skips whitespace; returns the next byte, or -1 at the end. */
int json_scan_peek(struct json_scan *s);

/* Iterates an object: call with *first = 1 before the first member. Returns 1 with the
 * member's key (decoded, NUL-terminated, malloc'd, length in *key_len) when a member
 * follows (its ':' consumed: the value comes next), 0 after the closing '}', -1 on
 * error. The first call consumes the '{'. */
int json_scan_member(struct json_scan *s, int *first, char **key, size_t *key_len);

/* Iterates an array the same way: 1 when an element follows, 0 after the ']'. */
int json_scan_element(struct json_scan *s, int *first);

/* A string value, decoded to UTF-8 (may contain NUL from \u0000), malloc'd. */
int json_scan_string(struct json_scan *s, char **out, size_t *out_len);

/* A non-negative integer literal (no sign, fraction or exponent) that fits in 64 bits. */
int json_scan_u64(struct json_scan *s, uint64_t *out);

/* Skips one value of any kind, checking it. */
int json_scan_skip(struct json_scan *s);

/* Succeeds when only whitespace is left. */
int json_scan_end(struct json_scan *s);

/* The whole text is one valid JSON value: skip + end. */
int json_scan_validate(struct json_scan *s);

#endif
