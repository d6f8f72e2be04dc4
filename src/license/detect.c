/* The entry points of detect.h and identification: which known texts a file holds and how
 * surely. The stages it stands on (words, shingle sets, the known texts, alignment,
 * regions) have a file each, detect_*.c, sharing only what detect_internal.h declares. */
#include "detect_internal.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

/* A known text is a candidate when at least this share of its required shingles is in
 * the file ("partly quoted" copies included). */
#define MIN_COVERAGE 0.5

struct candidate {
	size_t k;
	double coverage, score;
};

/* How well the file's shingles tell best apart from rival: 1 when only best's own
 * shingles are there, 0 when only the rival's, 0.5 when neither. Only required text
 * speaks for a candidate: the policy that llama3.txt carries as an optional tail must not
 * make a file holding Llama 3.2 and its own policy look like Llama 3. */
static double sharpness(const struct shingles *a, const struct known *best, const struct known *rival)
{
	size_t ub = detect_shingles_in_only(a, &best->req, &rival->all);
	size_t ur = detect_shingles_in_only(a, &rival->req, &best->all);
	return ub + ur ? (double)ub / (double)(ub + ur) : 0.5;
}

/* Related texts: versions of one another, or a license and the policy it embeds. */
static int related(const struct known *x, const struct known *y)
{
	size_t common = detect_shingles_common(&x->all, &y->all);
	size_t smaller = min_size(x->all.n, y->all.n);
	return smaller && (double)common / (double)smaller >= 0.3;
}

/* One round: the best known text among those not taken yet; -1 when none qualifies.
 * The text found most completely wins: a file holding Llama 3.2 and its policy must not
 * be taken for Llama 3, whose known text also ends with a policy. Texts found about as
 * completely (versions of one license) are ranked by the Jaccard-like score, which
 * counts what each explains of the file. */
static long best_candidate(const struct shingles *a, const int *taken, struct candidate *out)
{
	struct candidate *c = malloc((detect_known_count() + 1) * sizeof(*c));
	size_t n = 0;
	double top = 0;
	long best = -1;
	if (!c)
		return -1;
	for (size_t k = 0; k < detect_known_count(); k++) {
		const struct known *kn = detect_known(k);
		if (taken[k] || kn->req.n == 0)
			continue;
		size_t inter_req = detect_shingles_common(a, &kn->req);
		double coverage = (double)inter_req / (double)kn->req.n;
		if (coverage < MIN_COVERAGE || inter_req < min_size(20, kn->req.n))
			continue;
		size_t inter_all = detect_shingles_common(a, &kn->all);
		c[n].k = k;
		c[n].coverage = coverage;
		c[n].score = (double)inter_all / (double)(a->n + kn->req.n - inter_req);
		if (coverage > top)
			top = coverage;
		n++;
	}
	for (size_t i = 0; i < n; i++)
		if (c[i].coverage >= top - 0.03 && (best < 0 || c[i].score > out->score)) {
			best = (long)c[i].k;
			*out = c[i];
		}
	free(c);
	return best;
}

/* The coverage of rival's required shingles in the file, when rival competes with best
 * for the same words (related, not taken yet, mostly there); -1 otherwise. */
static double rival_coverage(const struct shingles *a, const int *taken, size_t best, size_t rival)
{
	const struct known *r = detect_known(rival);
	if (rival == best || taken[rival] || r->req.n == 0 || !related(detect_known(best), r))
		return -1;
	double coverage = (double)detect_shingles_common(a, &r->req) / (double)r->req.n;
	return coverage >= MIN_COVERAGE ? coverage : -1;
}

static int detect_round(struct license_detection *d, const char *text, size_t len,
			const struct license_tokens *ta, const struct shingles *a, int *taken, size_t *chosen)
{
	struct candidate c = { 0, 0, 0 };
	if (best_candidate(a, taken, &c) < 0)
		return 0;
	/* The words that tell close texts apart overrule the ranking: a rival whose own
	 * shingles are better represented than the leader's is the text (the middle of
	 * llama3.txt, which holds a variant of the Llama 3 policy, is Llama 3). */
	size_t b = c.k;
	for (int round = 0; round < 4; round++) {
		double worst = 0.5;
		long swap = -1;
		for (size_t k = 0; k < detect_known_count(); k++) {
			if (rival_coverage(a, taken, b, k) < 0)
				continue;
			double s = sharpness(a, detect_known(b), detect_known(k));
			if (s < worst) {
				worst = s;
				swap = (long)k;
			}
		}
		if (swap < 0)
			break;
		b = (size_t)swap;
	}
	const struct known *best = detect_known(b);
	struct license_match *m = &d->matches[d->count];
	memset(m, 0, sizeof(*m));
	m->info = best->info;
	double sharp = 1.0;
	for (size_t k = 0; k < detect_known_count(); k++) {
		if (rival_coverage(a, taken, b, k) < 0)
			continue;
		double s = sharpness(a, best, detect_known(k));
		if (s < sharp)
			sharp = s;
		if (s < 0.9 && m->alternative_count < LICENSE_MAX_ALTERNATIVES)
			m->alternatives[m->alternative_count++] = detect_known(k)->info;
	}
	taken[b] = 1;
	*chosen = b;
	int rc = detect_compare_with(m, best, text, len, ta);
	if (rc)
		return rc;
	m->confidence = m->coverage * (0.5 + 0.5 * sharp);
	if (m->confidence < LICENSE_MIN_CONFIDENCE) {
		/* Not enough to name it: the file stays unknown as far as this text goes. */
		for (size_t r = 0; r < LICENSE_MAX_REGIONS; r++)
			detect_region_free(&m->regions[r]);
		memset(m, 0, sizeof(*m));
		return 0;
	}
	d->count++;
	return 1;
}

int license_detect(const char *text, size_t len, struct license_detection *out)
{
	struct license_tokens ta = { 0 };
	struct shingles a = { 0 };
	int *taken = NULL;
	memset(out, 0, sizeof(*out));
	int rc = detect_corpus_get();
	if (!rc)
		rc = license_tokenize(text, len, &ta);
	if (!rc)
		rc = detect_shingles_make(&ta, 0, ta.count, &a);
	if (!rc && !(taken = calloc(detect_known_count() + 1, sizeof(*taken))))
		rc = modl_error_oom();
	if (rc)
		goto out;
	out->words = ta.count;
	size_t total = a.n;
	while (out->count < LICENSE_MAX_MATCHES && a.n >= 1) {
		size_t chosen;
		int found = detect_round(out, text, len, &ta, &a, taken, &chosen);
		if (found < 0 || found == 0) {
			rc = found < 0 ? found : 0;
			break;
		}
		/* What the text just found does not explain may hold another one (a license
		 * followed by its acceptable-use policy). */
		size_t left = 0;
		for (size_t i = 0; i < a.n; i++)
			if (!detect_shingles_has(&detect_known(chosen)->all, a.v[i]))
				a.v[left++] = a.v[i];
		a.n = left;
		if (left < 40 || (double)left < 0.2 * (double)total)
			break;
	}
out:
	if (rc)
		license_detection_free(out);
	free(taken);
	detect_shingles_free(&a);
	license_tokens_free(&ta);
	return rc;
}

void license_detection_free(struct license_detection *d)
{
	for (size_t m = 0; m < LICENSE_MAX_MATCHES; m++)
		for (size_t r = 0; r < LICENSE_MAX_REGIONS; r++)
			detect_region_free(&d->matches[m].regions[r]);
	memset(d, 0, sizeof(*d));
}

static int contains_words(const struct license_tokens *t, const struct license_tokens *n)
{
	for (size_t i = 0; n->count && i + n->count <= t->count; i++) {
		size_t k = 0;
		while (k < n->count && t->items[i + k].hash == n->items[k].hash)
			k++;
		if (k == n->count)
			return 1;
	}
	return 0;
}

int license_text_contains(const char *text, size_t len, const char *needle)
{
	struct license_tokens t, n;
	int found = 0;
	if (license_tokenize(text, len, &t))
		return 0;
	if (!license_tokenize(needle, strlen(needle), &n)) {
		found = contains_words(&t, &n);
		license_tokens_free(&n);
	}
	license_tokens_free(&t);
	return found;
}

int license_find_notices(const char *text, size_t len, const struct license_info **found, size_t max)
{
	const struct license_info *kb = NULL;
	struct license_tokens t;
	size_t n = 0, count = 0;
	int rc = license_kb(&kb, &n);
	if (rc || (rc = license_tokenize(text, len, &t)))
		return rc;
	for (size_t i = 0; i < n && count < max; i++) {
		struct license_tokens words;
		if (!kb[i].notice || license_tokenize(kb[i].notice, strlen(kb[i].notice), &words))
			continue;
		if (contains_words(&t, &words))
			found[count++] = &kb[i];
		license_tokens_free(&words);
	}
	license_tokens_free(&t);
	return (int)count;
}
