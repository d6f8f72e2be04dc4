/* From an alignment to what a report shows: coverage, completeness and the regions where
 * the words differ, each with the sentences around it on both sides. Accidental pairings
 * of common words are dropped here, where the gaps around them are in view. */
#include "detect_internal.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Missing words at the head or tail of a known text up to this count (a title, a date)
 * do not make the copy incomplete. */
#define MISSING_SLACK 12

static int sentence_break(const char *t, size_t len, size_t i)
{
	/* A break lies before t[i] when a sentence or a paragraph ended there; "i." "b." and
	 * "2." are list numbers, not sentence ends. */
	if (i == 0 || i >= len)
		return 1;
	if (t[i - 1] == '\n' && i >= 2 && t[i - 2] == '\n')
		return 1;
	if (!detect_is_space((unsigned char)t[i - 1]) || i < 2 || !strchr(".;:!?", t[i - 2]))
		return 0;
	size_t w = i - 2;
	while (w > 0 && isalnum((unsigned char)t[w - 1]))
		w--;
	return !(t[i - 2] == '.' && i - 2 - w >= 1 &&
		 detect_list_number((const unsigned char *)t, 0, w, i - 2, len));
}

/* Appends bytes with white space collapsed, control bytes dropped and invalid UTF-8
 * replaced, so that the snippet prints and serialises safely. */
static int add_clean(struct strbuf *sb, const char *t, size_t n)
{
	const unsigned char *s = (const unsigned char *)t;
	int space = 0, rc = 0;
	for (size_t i = 0; i < n && !rc;) {
		size_t len;
		unsigned cp = detect_decode_utf8(s, n, i, &len);
		if (detect_is_space(s[i]) || (s[i] < 0x20) || s[i] == 0x7f) {
			space = sb->len > 0;
			i++;
			continue;
		}
		if (space)
			rc = strbuf_adds(sb, " ");
		space = 0;
		if (!rc)
			rc = cp == 0xFFFD && len == 1 ? strbuf_adds(sb, "?") : strbuf_add(sb, s + i, len);
		i += len;
	}
	return rc;
}

/* The sentence(s) of t around bytes [start, end), at most about 480 bytes. */
static char *snippet(const char *t, size_t len, size_t start, size_t end)
{
	size_t s = start, e = end, limit = start > 240 ? start - 240 : 0;
	while (s > limit && !sentence_break(t, len, s))
		s--;
	size_t elimit = min_size(len, end + 240);
	while (e < elimit && !(e > end && sentence_break(t, len, e)))
		e++;
	while (e < len && (e - start) < 480 && (t[e] & 0xC0) == 0x80)
		e++;
	struct strbuf sb = STRBUF_INIT;
	int rc = 0;
	if (s > 0 && !sentence_break(t, len, s))
		rc = strbuf_adds(&sb, "...");
	if (!rc)
		rc = add_clean(&sb, t + s, e - s);
	if (!rc && e < len && !sentence_break(t, len, e))
		rc = strbuf_adds(&sb, "...");
	if (!rc && !sb.buf)
		rc = strbuf_adds(&sb, "");
	if (rc) {
		strbuf_free(&sb);
		return NULL;
	}
	while (sb.len && sb.buf[sb.len - 1] == ' ')
		sb.buf[--sb.len] = '\0';
	return strbuf_take(&sb);
}

/* Bytes [start, end) of t, white space collapsed, at most about 240 bytes. */
static char *words_between(const char *t, size_t start, size_t end)
{
	struct strbuf sb = STRBUF_INIT;
	size_t n = end > start ? end - start : 0;
	int cut = n > 240;
	if (cut)
		for (n = 240; n < end - start && ((unsigned char)t[start + n] & 0xC0) == 0x80; n++)
			;
	if (add_clean(&sb, t + start, n) || (cut && strbuf_adds(&sb, "...")) ||
	    (!sb.buf && strbuf_adds(&sb, ""))) {
		strbuf_free(&sb);
		return NULL;
	}
	return strbuf_take(&sb);
}

static unsigned line_of(const char *t, size_t off)
{
	unsigned line = 1;
	for (size_t i = 0; i < off; i++)
		line += t[i] == '\n';
	return line;
}

void detect_region_free(struct license_region *r)
{
	free(r->known);
	free(r->shipped);
	free(r->known_diff);
	free(r->shipped_diff);
}

struct gap {
	size_t a0, a1, b0, b1; /* file words [a0, a1), known words [b0, b1) */
	int trivial;
};

static int all_soft(const struct license_token *t, size_t lo, size_t hi)
{
	for (size_t i = lo; i < hi; i++)
		if (!t[i].soft)
			return 0;
	return 1;
}

static int region_make(struct license_region *r, const struct gap *g, const char *file, size_t file_len,
		       const struct license_tokens *ta, const struct known *k)
{
	const struct license_token *a = ta->items, *b = k->tokens.items;
	r->kind = g->a1 == g->a0   ? LICENSE_REGION_REMOVED
		  : g->b1 == g->b0 ? LICENSE_REGION_ADDED
				   : LICENSE_REGION_CHANGED;
	r->known_words = g->b1 - g->b0;
	r->shipped_words = g->a1 - g->a0;
	/* An empty side is shown by the words on both sides of where the difference is. */
	size_t ks = b[g->b0 > 0 && g->b1 == g->b0 ? g->b0 - 1 : g->b0].start;
	size_t ke = b[g->b1 < k->tokens.count && g->b1 == g->b0 ? g->b1 : g->b1 - 1].end;
	size_t fs = a[g->a0 > 0 && g->a1 == g->a0 ? g->a0 - 1 : g->a0].start;
	size_t fe = a[g->a1 < ta->count && g->a1 == g->a0 ? g->a1 : g->a1 - 1].end;
	r->known = snippet(k->info->text, k->info->text_len, ks, ke);
	r->shipped = snippet(file, file_len, fs, fe);
	r->known_diff = words_between(k->info->text, g->b0 < g->b1 ? b[g->b0].start : 0,
				      g->b0 < g->b1 ? b[g->b1 - 1].end : 0);
	r->shipped_diff =
		words_between(file, g->a0 < g->a1 ? a[g->a0].start : 0, g->a0 < g->a1 ? a[g->a1 - 1].end : 0);
	r->known_line = line_of(k->info->text, ks);
	r->shipped_line = line_of(file, fs);
	return r->known && r->shipped && r->known_diff && r->shipped_diff ? 0 : modl_error_oom();
}

/* The exact alignment of a large gap also pairs stray common words ("the", "license")
 * of unrelated text with words far away in the known text: a short run of matched
 * words next to a long gap is such an accident, and is dropped (until none is left,
 * since dropping one can leave its neighbour stranded). */
static void drop_weak_runs(struct aligner *al)
{
	for (size_t before_pass = (size_t)-1; before_pass != al->n;) {
		before_pass = al->n;
		size_t out = 0;
		for (size_t p = 0; p < al->n;) {
			size_t q = p + 1;
			while (q < al->n && al->ia[q] == al->ia[q - 1] + 1 && al->ib[q] == al->ib[q - 1] + 1)
				q++;
			size_t run = q - p, before = 0, after = 0;
			if (p > 0) {
				size_t ga = al->ia[p] - al->ia[p - 1] - 1, gb = al->ib[p] - al->ib[p - 1] - 1;
				before = ga > gb ? ga : gb;
			}
			if (q < al->n) {
				size_t ga = al->ia[q] - al->ia[q - 1] - 1, gb = al->ib[q] - al->ib[q - 1] - 1;
				after = ga > gb ? ga : gb;
			}
			/* A run at either end of the alignment has only one neighbour to judge by. */
			int edge = p == 0 || q == al->n;
			size_t gap = before > after ? before : after;
			int weak = run < 4 && gap > (edge ? run + 3 : 2 * run + 6);
			for (size_t m = p; m < q && !weak; m++) {
				al->ia[out] = al->ia[m];
				al->ib[out] = al->ib[m];
				out++;
			}
			p = q;
		}
		al->n = out;
	}
}

/* Words matched outside the first and last runs of four or more, fewer than four in all,
 * are text around the license that happens to share a word or two with the part of the
 * license it does not quote ("...the license go to..."): not matched. */
static void trim_edges(struct aligner *al)
{
	size_t first = al->n, last = 0, run = 1;
	for (size_t p = 1; p <= al->n; p++) {
		if (p < al->n && al->ia[p] == al->ia[p - 1] + 1 && al->ib[p] == al->ib[p - 1] + 1) {
			run++;
			continue;
		}
		if (run >= 4) {
			if (first == al->n)
				first = p - run;
			last = p;
		}
		run = 1;
	}
	if (first == al->n)
		return;
	if (first > 0 && first < 4) {
		memmove(al->ia, al->ia + first, (al->n - first) * sizeof(*al->ia));
		memmove(al->ib, al->ib + first, (al->n - first) * sizeof(*al->ib));
		al->n -= first;
		last -= first;
	}
	if (al->n - last < 4)
		al->n = last;
}

/* Aligns the file with the known text and fills coverage, completeness and regions. */
int detect_compare_with(struct license_match *m, const struct known *k, const char *file, size_t file_len,
			const struct license_tokens *ta)
{
	struct aligner al = { ta->items, k->tokens.items, NULL, NULL, 0, 0, 0 };
	struct gap *gaps = NULL;
	size_t ngaps = 0;
	int rc = 0;
	detect_align_range(&al, 0, ta->count, 0, k->tokens.count, 0);
	if (al.failed) {
		rc = modl_error_oom();
		goto out;
	}
	drop_weak_runs(&al);
	trim_edges(&al);
	/* Coverage counts the words that carry meaning: a filled-in copyright holder or a
	 * renumbered list does not make a copy less complete. */
	size_t req = 0, matched = 0;
	for (size_t j = k->req_lo; j < k->req_hi; j++)
		req += !k->tokens.items[j].soft;
	for (size_t p = 0; p < al.n; p++)
		matched += al.ib[p] >= k->req_lo && al.ib[p] < k->req_hi && !k->tokens.items[al.ib[p]].soft;
	m->coverage = req ? (double)matched / (double)req : 0;
	if (al.n == 0)
		goto out;
	size_t first = al.ib[0], last = al.ib[al.n - 1];
	size_t head = first > k->req_lo ? first - k->req_lo : 0;
	size_t tail = last + 1 < k->req_hi ? k->req_hi - last - 1 : 0;
	m->missing_words = (head > MISSING_SLACK ? head : 0) + (tail > MISSING_SLACK ? tail : 0);
	m->incomplete = m->missing_words > 0;
	m->extra_words = al.ia[0] + (ta->count - 1 - al.ia[al.n - 1]);
	if (!(gaps = malloc((al.n + 1) * sizeof(*gaps)))) {
		rc = modl_error_oom();
		goto out;
	}
	/* Gaps between consecutive matched pairs; gaps separated by fewer than three matched
	 * words are one region. */
	for (size_t p = 1; p < al.n; p++) {
		if (al.ia[p] == al.ia[p - 1] + 1 && al.ib[p] == al.ib[p - 1] + 1)
			continue;
		struct gap g = { al.ia[p - 1] + 1, al.ia[p], al.ib[p - 1] + 1, al.ib[p], 0 };
		g.trivial = all_soft(ta->items, g.a0, g.a1) && all_soft(k->tokens.items, g.b0, g.b1);
		if (ngaps && g.a0 - gaps[ngaps - 1].a1 < 3 && g.b0 - gaps[ngaps - 1].b1 < 3) {
			gaps[ngaps - 1].a1 = g.a1;
			gaps[ngaps - 1].b1 = g.b1;
			gaps[ngaps - 1].trivial &= g.trivial;
		} else {
			gaps[ngaps++] = g;
		}
	}
	for (size_t g = 0; g < ngaps && !rc; g++) {
		if (gaps[g].trivial)
			continue;
		m->altered = 1;
		if (m->region_count < LICENSE_MAX_REGIONS)
			rc = region_make(&m->regions[m->region_count], &gaps[g], file, file_len, ta, k);
		m->region_count++;
	}
out:
	free(gaps);
	free(al.ia);
	free(al.ib);
	return rc;
}
