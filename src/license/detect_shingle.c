/* Sets of word shingles: the cheap test of which known texts a file holds at all, and of
 * which close versions its words favour, made before the costly word alignment is run
 * against the few texts that qualify. */
#include "detect_internal.h"
#include "util/error.h"

#include <stdlib.h>

/* Words per shingle. Five is long enough that shingles of unrelated texts rarely meet,
 * and short enough that one changed word costs only five of the ~1500 shingles of a
 * typical license: reflowing changes none, a version number changes a few dozen. */
#define SHINGLE 5

/* LSD radix sort, a byte per pass: the knowledge base is ~60,000 shingles sorted at
 * every start, where qsort's comparisons were most of the time. */
static int sort_u64(uint64_t *v, size_t n)
{
	uint64_t *tmp = malloc((n ? n : 1) * sizeof(*tmp)), *src = v, *dst = tmp;
	if (!tmp)
		return -1;
	for (unsigned shift = 0; shift < 64; shift += 8) {
		size_t count[257] = { 0 };
		for (size_t i = 0; i < n; i++)
			count[((src[i] >> shift) & 0xFF) + 1]++;
		for (size_t b = 0; b < 256; b++)
			count[b + 1] += count[b];
		for (size_t i = 0; i < n; i++)
			dst[count[(src[i] >> shift) & 0xFF]++] = src[i];
		uint64_t *swap = src;
		src = dst;
		dst = swap;
	}
	/* Eight passes: the sorted data is back in v. */
	free(tmp);
	return 0;
}

/* The shingles of the words [lo, hi) that are not soft (a single one when there are
 * fewer words): soft words (list numbers, copyright holders, paths) differ between
 * faithful copies and say nothing about which text it is. */
int detect_shingles_make(const struct license_tokens *t, size_t lo, size_t hi, struct shingles *out)
{
	uint32_t *words = malloc((hi > lo ? hi - lo : 1) * sizeof(*words));
	size_t count = 0;
	out->n = 0;
	out->v = NULL;
	if (!words)
		return modl_error_oom();
	for (size_t i = lo; i < hi; i++)
		if (!t->items[i].soft)
			words[count++] = t->items[i].hash;
	size_t n = count >= SHINGLE ? count - SHINGLE + 1 : count > 0;
	out->v = malloc((n ? n : 1) * sizeof(*out->v));
	if (!out->v) {
		free(words);
		return modl_error_oom();
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t h = 0x9E3779B97F4A7C15ull;
		for (size_t k = 0; k < SHINGLE && i + k < count; k++) {
			h = (h ^ words[i + k]) * 0x100000001B3ull;
			h ^= h >> 29;
		}
		out->v[i] = h;
	}
	free(words);
	if (sort_u64(out->v, n)) {
		free(out->v);
		out->v = NULL;
		return modl_error_oom();
	}
	for (size_t i = 0; i < n; i++)
		if (out->n == 0 || out->v[out->n - 1] != out->v[i])
			out->v[out->n++] = out->v[i];
	return 0;
}

void detect_shingles_free(struct shingles *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

size_t detect_shingles_common(const struct shingles *a, const struct shingles *b)
{
	size_t i = 0, j = 0, n = 0;
	while (i < a->n && j < b->n) {
		if (a->v[i] < b->v[j])
			i++;
		else if (a->v[i] > b->v[j])
			j++;
		else {
			n++;
			i++;
			j++;
		}
	}
	return n;
}

int detect_shingles_has(const struct shingles *s, uint64_t h)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->v[mid] < h)
			lo = mid + 1;
		else if (s->v[mid] > h)
			hi = mid;
		else
			return 1;
	}
	return 0;
}

/* How many shingles of a are in b but not in c. */
size_t detect_shingles_in_only(const struct shingles *a, const struct shingles *b, const struct shingles *c)
{
	size_t n = 0;
	for (size_t i = 0; i < a->n; i++)
		n += detect_shingles_has(b, a->v[i]) && !detect_shingles_has(c, a->v[i]);
	return n;
}
