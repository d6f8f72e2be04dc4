/* The known texts, tokenized and shingled once per process: every detection compares the
 * file with all of them. Loading happens on first use under pthread_once, and a failure is
 * kept and handed to every caller; the state stays private to this file, read through
 * detect_known() and detect_known_count(). */
#include "detect_internal.h"
#include "util/error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static struct {
	pthread_once_t once;
	int rc;
	struct modl_error_saved error; /* the loading thread's failure, for every caller */
	struct known *items;
	size_t count;
} corpus = { .once = PTHREAD_ONCE_INIT };

/* The first position of phrase's words in t, or (size_t)-1. */
static size_t find_words(const struct license_tokens *t, const char *phrase)
{
	struct license_tokens p;
	size_t found = (size_t)-1;
	if (license_tokenize(phrase, strlen(phrase), &p))
		return found;
	for (size_t i = 0; p.count && i + p.count <= t->count && found == (size_t)-1; i++) {
		size_t k = 0;
		while (k < p.count && t->items[i + k].hash == p.items[k].hash)
			k++;
		if (k == p.count)
			found = i;
	}
	license_tokens_free(&p);
	return found;
}

static int corpus_add(const struct license_info *info, struct known *k)
{
	k->info = info;
	int rc = license_tokenize(info->text, info->text_len, &k->tokens);
	if (rc)
		return rc;
	k->req_lo = 0;
	k->req_hi = k->tokens.count;
	if (info->optional_from) {
		size_t at = find_words(&k->tokens, info->optional_from);
		if (at == (size_t)-1)
			return modl_error_set(MODL_EFAIL,
					      "license knowledge base: %s: optional_from "
					      "phrase not in the text",
					      info->id);
		k->req_hi = at;
	}
	if (info->optional_before) {
		size_t at = find_words(&k->tokens, info->optional_before);
		if (at == (size_t)-1 || at >= k->req_hi)
			return modl_error_set(MODL_EFAIL,
					      "license knowledge base: %s: optional_before "
					      "phrase not in the text",
					      info->id);
		k->req_lo = at;
	}
	if ((rc = detect_shingles_make(&k->tokens, 0, k->tokens.count, &k->all)))
		return rc;
	return detect_shingles_make(&k->tokens, k->req_lo, k->req_hi, &k->req);
}

static void corpus_load(void)
{
	const struct license_info *kb = NULL;
	size_t n = 0;
	int rc = license_kb(&kb, &n);
	if (!rc && !(corpus.items = calloc(n ? n : 1, sizeof(*corpus.items))))
		rc = modl_error_oom();
	for (size_t i = 0; !rc && i < n; i++)
		if (kb[i].text)
			rc = corpus_add(&kb[i], &corpus.items[corpus.count++]);
	if (rc) {
		corpus.rc = rc;
		modl_error_save(&corpus.error);
		corpus.error.code = rc;
	}
}

int detect_corpus_get(void)
{
	pthread_once(&corpus.once, corpus_load);
	return corpus.rc ? modl_error_restore(&corpus.error) : 0;
}

size_t detect_known_count(void)
{
	return corpus.count;
}

const struct known *detect_known(size_t k)
{
	return &corpus.items[k];
}
