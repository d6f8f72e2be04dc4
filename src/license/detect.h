/* Identifying a license text by its content, whatever its file name or layout.
 *
 * Both the shipped text and every known text go through one normaliser: words are
 * lower-cased runs of letters and digits ("licence" is "license"); punctuation, white
 * space, line breaks, Markdown and HTML markup (tags even when a re-wrap split them),
 * entities, URLs and e-mail addresses are not words. List and section numbers ("1.",
 * "(a)", "iv)", "2.1" at the start of a line), single letters, copyright statements and
 * paths are words but "soft": they take no part in identification, and a difference
 * made only of soft words (a filled-in copyright holder, a list that one renderer numbers
 * and another does not) does not change meaning.
 *
 * Identification compares sets of 5-word shingles: coverage (how much of a known text is
 * in the file) decides whether a text is there at all, a Jaccard-like score ranks the
 * candidates, and the shingles that tell two close versions apart (Llama 3.1 and 3.2, the
 * Gemma revisions) decide the confidence. A word-level alignment (patience diff) with the
 * best text then tells whether the words differ and where: the changed regions. */
#ifndef MODL_LICENSE_DETECT_H
#define MODL_LICENSE_DETECT_H

#include <stddef.h>
#include <stdint.h>

#include "terms.h"

/* Below this confidence a text is "unknown": never a guess. */
#define LICENSE_MIN_CONFIDENCE 0.5

struct license_token {
	uint32_t hash;       /* of the lower-cased word */
	uint32_t start, end; /* bytes of the word in the text */
	unsigned soft : 1;
};

struct license_tokens {
	struct license_token *items;
	size_t count;
};

/* The words of text (len bytes, any content: invalid UTF-8 and NUL bytes are separators). */
int license_tokenize(const char *text, size_t len, struct license_tokens *out);
void license_tokens_free(struct license_tokens *tokens);

enum license_region_kind {
	LICENSE_REGION_CHANGED, /* words of the known text replaced by others */
	LICENSE_REGION_REMOVED, /* words of the known text missing */
	LICENSE_REGION_ADDED,   /* words in the file that the known text lacks */
};

struct license_region {
	enum license_region_kind kind;
	char *known;                       /* the sentence(s) of the known text around the difference */
	char *shipped;                     /* the sentence(s) of the file around it */
	char *known_diff;                  /* the words that differ, as known ("" when added) */
	char *shipped_diff;                /* the words that differ, as shipped ("" when removed) */
	unsigned known_line, shipped_line; /* 1-based */
	size_t known_words, shipped_words; /* words that differ on each side */
};

#define LICENSE_MAX_ALTERNATIVES 4
#define LICENSE_MAX_REGIONS 16

struct license_match {
	const struct license_info *info;
	double confidence;    /* 0..1 */
	double coverage;      /* share of the known text's required words found in order */
	int altered;          /* words differ inside the text (regions) */
	int incomplete;       /* the beginning or the end of the text is missing */
	size_t missing_words; /* required words at the head or tail that are absent */
	size_t extra_words;   /* words of the file before and after the text */
	size_t region_count;  /* regions found (at most LICENSE_MAX_REGIONS are kept) */
	struct license_region regions[LICENSE_MAX_REGIONS];
	/* Close versions that the file's words could not rule out. */
	const struct license_info *alternatives[LICENSE_MAX_ALTERNATIVES];
	size_t alternative_count;
};

#define LICENSE_MAX_MATCHES 3

struct license_detection {
	size_t words; /* words of the file */
	size_t count; /* texts identified in the file (0: unknown) */
	struct license_match matches[LICENSE_MAX_MATCHES];
};

/* Identifies the known texts in text (up to LICENSE_MAX_MATCHES, e.g. a license followed
 * by its acceptable-use policy). */
int license_detect(const char *text, size_t len, struct license_detection *out);
void license_detection_free(struct license_detection *d);

/* True when the words of needle (e.g. a required "Notice" sentence) appear, in order and
 * contiguous, among the words of text. */
int license_text_contains(const char *text, size_t len, const char *needle);

/* The known licenses whose required "Notice" sentence (terms.notice) is in text: up to max
 * of them in found; returns how many, or a negative MODL_E* code. */
int license_find_notices(const char *text, size_t len, const struct license_info **found, size_t max);

#endif
