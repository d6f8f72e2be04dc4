/* Word alignment of a file with a known text (patience diff). Coverage and the changed
 * regions need to know which words correspond, which shingle sets cannot tell. Anchoring
 * on words found once on each side keeps long texts fast and pairs words as a reader
 * would; the exact longest common subsequence is left to small gaps. */
#include "detect_internal.h"

#include <stdlib.h>

static void pair_add(struct aligner *al, size_t i, size_t j)
{
	if (al->n == al->alloc) {
		size_t alloc = al->alloc ? al->alloc * 2 : 1024;
		size_t *ia = realloc(al->ia, alloc * sizeof(*ia));
		if (ia)
			al->ia = ia;
		size_t *ib = ia ? realloc(al->ib, alloc * sizeof(*ib)) : NULL;
		if (!ia || !ib) {
			al->failed = 1;
			return;
		}
		al->ib = ib;
		al->alloc = alloc;
	}
	al->ia[al->n] = i;
	al->ib[al->n] = j;
	al->n++;
}

/* Small gaps: the longest common subsequence, exactly. */
static void align_lcs(struct aligner *al, size_t alo, size_t ahi, size_t blo, size_t bhi)
{
	size_t na = ahi - alo, nb = bhi - blo, w = nb + 1;
	uint16_t *L = calloc((na + 1) * w, sizeof(*L));
	if (!L) {
		al->failed = 1;
		return;
	}
	for (size_t i = na; i-- > 0;)
		for (size_t j = nb; j-- > 0;)
			L[i * w + j] = al->a[alo + i].hash == al->b[blo + j].hash
					       ? (uint16_t)(L[(i + 1) * w + j + 1] + 1)
				       : L[(i + 1) * w + j] >= L[i * w + j + 1] ? L[(i + 1) * w + j]
										: L[i * w + j + 1];
	for (size_t i = 0, j = 0; i < na && j < nb;) {
		if (al->a[alo + i].hash == al->b[blo + j].hash) {
			pair_add(al, alo + i, blo + j);
			i++;
			j++;
		} else if (L[(i + 1) * w + j] >= L[i * w + j + 1]) {
			i++;
		} else {
			j++;
		}
	}
	free(L);
}

struct slot {
	uint32_t hash;
	uint32_t ca, cb;
	size_t ia, ib;
	int used;
};

static struct slot *slot_find(struct slot *table, size_t mask, uint32_t hash)
{
	size_t k = (hash * 2654435761u) & mask;
	while (table[k].used && table[k].hash != hash)
		k = (k + 1) & mask;
	return &table[k];
}

/* Anchors are words that occur exactly once on each side; their longest increasing run
 * (by position in the known text) is matched, and the gaps between are aligned in turn.
 * Returns 0 when there is no anchor. */
static int align_patience(struct aligner *al, size_t alo, size_t ahi, size_t blo, size_t bhi, int depth)
{
	size_t na = ahi - alo, nb = bhi - blo, size = 16;
	while (size < 2 * (na + nb))
		size *= 2;
	struct slot *table = calloc(size, sizeof(*table));
	size_t *ai = malloc((na + 1) * sizeof(*ai)), *bj = malloc((na + 1) * sizeof(*bj));
	size_t *tails = malloc((na + 1) * sizeof(*tails)), *prev = malloc((na + 1) * sizeof(*prev));
	size_t anchors = 0, best = 0;
	int found = 0;
	if (!table || !ai || !bj || !tails || !prev) {
		al->failed = 1;
		goto out;
	}
	for (size_t j = blo; j < bhi; j++) {
		struct slot *s = slot_find(table, size - 1, al->b[j].hash);
		s->used = 1;
		s->hash = al->b[j].hash;
		s->cb++;
		s->ib = j;
	}
	for (size_t i = alo; i < ahi; i++) {
		struct slot *s = slot_find(table, size - 1, al->a[i].hash);
		if (!s->used)
			continue;
		s->ca++;
		s->ia = i;
	}
	for (size_t i = alo; i < ahi; i++) {
		struct slot *s = slot_find(table, size - 1, al->a[i].hash);
		if (s->used && s->ca == 1 && s->cb == 1) {
			ai[anchors] = i;
			bj[anchors] = s->ib;
			anchors++;
		}
	}
	if (anchors == 0)
		goto out;
	/* Longest increasing subsequence of bj (patience sorting with back links). */
	for (size_t k = 0; k < anchors; k++) {
		size_t lo = 0, hi = best;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (bj[tails[mid]] < bj[k])
				lo = mid + 1;
			else
				hi = mid;
		}
		prev[k] = lo > 0 ? tails[lo - 1] : (size_t)-1;
		tails[lo] = k;
		if (lo == best)
			best++;
	}
	/* Walk the chain back into tails[] (reused as the chain, in order). */
	size_t *chain = tails, k = tails[best - 1];
	for (size_t m = best; m-- > 0;) {
		chain[m] = k;
		k = prev[k];
	}
	found = 1;
	size_t pa = alo, pb = blo;
	for (size_t m = 0; m < best && !al->failed; m++) {
		size_t i = ai[chain[m]], j = bj[chain[m]];
		detect_align_range(al, pa, i, pb, j, depth + 1);
		pair_add(al, i, j);
		pa = i + 1;
		pb = j + 1;
	}
	detect_align_range(al, pa, ahi, pb, bhi, depth + 1);
out:
	free(table);
	free(ai);
	free(bj);
	free(tails);
	free(prev);
	return found;
}

void detect_align_range(struct aligner *al, size_t alo, size_t ahi, size_t blo, size_t bhi, int depth)
{
	while (alo < ahi && blo < bhi && al->a[alo].hash == al->b[blo].hash && !al->failed)
		pair_add(al, alo++, blo++);
	size_t suffix = 0;
	while (ahi - suffix > alo && bhi - suffix > blo &&
	       al->a[ahi - 1 - suffix].hash == al->b[bhi - 1 - suffix].hash)
		suffix++;
	size_t amid = ahi - suffix, bmid = bhi - suffix;
	if (alo < amid && blo < bmid && !al->failed) {
		size_t cells = (amid - alo) * (bmid - blo);
		if (cells <= 2500)
			align_lcs(al, alo, amid, blo, bmid);
		else if ((depth > 64 || !align_patience(al, alo, amid, blo, bmid, depth)) &&
			 cells <= (1u << 20) && !al->failed)
			align_lcs(al, alo, amid, blo, bmid);
	}
	for (size_t k = 0; k < suffix && !al->failed; k++)
		pair_add(al, amid + k, bmid + k);
}
