#include "cache_verify.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/pool.h"
#include "util/strbuf.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct verify_job {
	const struct cache_entry *repo;
	const struct cache_blob *blob;
	int bad;
	char actual[HASH_HEX_BUF];
	char *error; /* why the blob could not be read; NULL when it was */
};

struct verify_queue {
	struct verify_job *jobs;
	size_t count, next;
	pthread_mutex_t lock;
};

static void verify_job_run(struct verify_job *j)
{
	struct strbuf path = STRBUF_INIT;
	unsigned long long size = 0;
	int kind = hash_kind_of(j->blob->name);
	int rc = strbuf_addf(&path, "%s/blobs/%s", j->repo->folder, j->blob->name);
	if (!rc)
		rc = hash_file(path.buf, (enum hash_kind)kind, j->actual, &size);
	if (rc) {
		j->bad = 1;
		j->actual[0] = '\0';
		j->error = strdup(modl_error_message()); /* NULL when out of memory: no reason shown */
	} else {
		j->bad = strcmp(j->actual, j->blob->name) != 0;
	}
	strbuf_free(&path);
}

static void verify_worker(void *ctx, unsigned index)
{
	(void)index;
	struct verify_queue *q = ctx;
	for (;;) {
		pthread_mutex_lock(&q->lock);
		size_t i = q->next++;
		pthread_mutex_unlock(&q->lock);
		if (i >= q->count)
			return;
		verify_job_run(&q->jobs[i]);
	}
}

/* Largest first, so that one big blob does not start last and run alone. */
static int by_size_desc(const void *a, const void *b)
{
	unsigned long long x = ((const struct verify_job *)a)->blob->size;
	unsigned long long y = ((const struct verify_job *)b)->blob->size;
	return x < y ? 1 : x > y ? -1 : 0;
}

static int add_missing(struct cache_verify_report *r, const struct cache_entry *e,
		       const struct cache_revision *rev)
{
	for (size_t k = 0; k < rev->dangling_count; k++) {
		struct cache_missing_blob *grown =
			realloc(r->missing, (r->missing_count + 1) * sizeof(*grown));
		if (!grown)
			return modl_error_oom();
		r->missing = grown;
		grown[r->missing_count++] = (struct cache_missing_blob){ e, rev->commit, rev->dangling[k] };
	}
	return 0;
}

/* Marks the blobs to check: all of them, or those one revision links. */
static int choose_blobs(const struct cache_entry *e, const char *revision, unsigned char *chosen,
			struct cache_verify_report *r)
{
	if (!revision || !*revision) {
		memset(chosen, 1, e->blob_count);
		for (size_t i = 0; i < e->revision_count; i++)
			if (add_missing(r, e, &e->revisions[i]))
				return MODL_EFAIL;
		return 0;
	}
	const struct cache_revision *rev = cache_entry_revision(e, revision);
	if (!rev)
		return modl_error_set(MODL_ENOTFOUND, "revision %s of %s is not in the cache", revision,
				      e->id);
	for (size_t k = 0; k < rev->file_count; k++)
		if (rev->files[k].blob >= 0)
			chosen[rev->files[k].blob] = 1;
	return add_missing(r, e, rev);
}

int cache_verify_blobs(const struct cache_scan *scan, const char *revision, unsigned threads,
		       struct cache_verify_report *r)
{
	struct verify_queue q = { 0 };
	size_t total = 0;
	int rc = 0;
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < scan->count; i++)
		total += scan->repos[i].blob_count;
	q.jobs = calloc(total + 1, sizeof(*q.jobs));
	unsigned char *chosen = calloc(total + 1, 1);
	if (!q.jobs || !chosen) {
		free(q.jobs);
		free(chosen);
		return modl_error_oom();
	}
	for (size_t i = 0; !rc && i < scan->count; i++) {
		memset(chosen, 0, total + 1);
		if ((rc = choose_blobs(&scan->repos[i], revision, chosen, r)))
			break;
		for (size_t b = 0; b < scan->repos[i].blob_count; b++) {
			const struct cache_blob *blob = &scan->repos[i].blobs[b];
			if (!chosen[b] || blob->incomplete || hash_kind_of(blob->name) < 0)
				continue;
			q.jobs[q.count].repo = &scan->repos[i];
			q.jobs[q.count].blob = blob;
			q.count++;
		}
	}
	free(chosen);
	if (rc) {
		free(q.jobs);
		return rc;
	}
	if (q.count)
		qsort(q.jobs, q.count, sizeof(*q.jobs), by_size_desc);
	pthread_mutex_init(&q.lock, NULL);
	rc = pool_run(threads < q.count ? threads : (unsigned)(q.count ? q.count : 1), verify_worker, &q);
	pthread_mutex_destroy(&q.lock);
	for (size_t i = 0; !rc && i < q.count; i++) {
		r->checked++;
		r->bytes += q.jobs[i].blob->size;
		if (!q.jobs[i].bad)
			continue;
		struct cache_bad_blob *grown = realloc(r->bad, (r->bad_count + 1) * sizeof(*grown));
		if (!grown) {
			rc = modl_error_oom();
			break;
		}
		r->bad = grown;
		struct cache_bad_blob *bad = &r->bad[r->bad_count++];
		bad->repo = q.jobs[i].repo;
		bad->blob = q.jobs[i].blob;
		memcpy(bad->actual, q.jobs[i].actual, sizeof(bad->actual));
		bad->error = q.jobs[i].error;
		q.jobs[i].error = NULL;
	}
	for (size_t i = 0; i < q.count; i++)
		free(q.jobs[i].error); /* those not handed to the report */
	free(q.jobs);
	if (!rc && r->bad_count)
		rc = modl_error_set(MODL_EINTEGRITY, "%zu of %zu blobs do not match their hash%s",
				    r->bad_count, r->checked,
				    r->missing_count ? ", and some are missing" : "");
	else if (!rc && r->missing_count)
		rc = modl_error_set(MODL_EINTEGRITY, "%zu snapshot file%s point%s to a missing blob",
				    r->missing_count, r->missing_count == 1 ? "" : "s",
				    r->missing_count == 1 ? "s" : "");
	return rc;
}

void cache_verify_report_free(struct cache_verify_report *r)
{
	for (size_t i = 0; i < r->bad_count; i++)
		free(r->bad[i].error);
	free(r->bad);
	free(r->missing);
	memset(r, 0, sizeof(*r));
}
