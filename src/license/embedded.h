/* The knowledge base compiled into the binary: the license texts and terms.json of
 * src/license/data/, turned into C literals by src/license/data/generate.py at build time
 * (the Makefile writes build/gen/license/embedded.c; the data files are the source). */
#ifndef MODL_LICENSE_EMBEDDED_H
#define MODL_LICENSE_EMBEDDED_H

#include <stddef.h>

struct license_embedded_text {
	const char *file; /* name in src/license/data/, e.g. "llama3.1.txt" */
	const char *text;
	size_t len;
};

extern const struct license_embedded_text license_embedded_texts[];
extern const size_t license_embedded_text_count;
extern const char license_embedded_terms[]; /* terms.json */
extern const size_t license_embedded_terms_len;

#endif
