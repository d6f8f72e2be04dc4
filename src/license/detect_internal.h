/* What the detect_*.c files share, and nothing else of src/: detect.h stays the module's
 * interface. Identification is a pipeline (words, shingle sets, the known texts,
 * alignment, regions, identification), a stage a file, so that each can be read and
 * changed without the others; this header is the only way from one stage to the next. */
#ifndef MODL_LICENSE_DETECT_INTERNAL_H
#define MODL_LICENSE_DETECT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "detect.h"

static inline size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* ---- normalising (detect_normalize.c) --------------------------------------------------- */

/* The code point at s[i] (UTF-8) and its length; invalid bytes are U+FFFD, length 1. */
unsigned detect_decode_utf8(const unsigned char *s, size_t len, size_t i, size_t *n);
int detect_is_space(unsigned char c);
/* The word [i, j) of s, in a line starting at line_start, is a list or section number
 * ("(a)", "iv)", "3. "), a single letter or a short roman numeral: a soft word. */
int detect_list_number(const unsigned char *s, size_t line_start, size_t i, size_t j, size_t end);

/* ---- shingle sets (detect_shingle.c) ---------------------------------------------------- */

struct shingles {
	uint64_t *v; /* sorted, unique */
	size_t n;
};

/* The shingles of the words [lo, hi) of t that are not soft. */
int detect_shingles_make(const struct license_tokens *t, size_t lo, size_t hi, struct shingles *out);
void detect_shingles_free(struct shingles *s);
/* How many shingles a and b have in common. */
size_t detect_shingles_common(const struct shingles *a, const struct shingles *b);
int detect_shingles_has(const struct shingles *s, uint64_t h);
/* How many shingles of a are in b but not in c. */
size_t detect_shingles_in_only(const struct shingles *a, const struct shingles *b, const struct shingles *c);

/* ---- the known texts (detect_corpus.c) -------------------------------------------------- */

struct known {
	const struct license_info *info;
	struct license_tokens tokens;
	size_t req_lo, req_hi; /* the words that a complete copy must have */
	struct shingles all, req;
};

/* Loads the known texts on the first call (once per process, any thread); 0, or the
 * loading failure again for every caller. */
int detect_corpus_get(void);
/* The known texts, once detect_corpus_get() returned 0. */
size_t detect_known_count(void);
const struct known *detect_known(size_t k);

/* ---- alignment (detect_align.c) --------------------------------------------------------- */

struct aligner {
	const struct license_token *a, *b;
	size_t *ia, *ib; /* matched pairs, increasing in both */
	size_t n, alloc;
	int failed;
};

/* Appends to al the pairs matching words [alo, ahi) of a with words [blo, bhi) of b;
 * depth is the recursion depth (0 for the caller). */
void detect_align_range(struct aligner *al, size_t alo, size_t ahi, size_t blo, size_t bhi, int depth);

/* ---- regions (detect_regions.c) --------------------------------------------------------- */

void detect_region_free(struct license_region *r);
/* Aligns the file (its words ta) with the known text k and fills m's coverage,
 * completeness and regions. */
int detect_compare_with(struct license_match *m, const struct known *k, const char *file, size_t file_len,
			const struct license_tokens *ta);

#endif
