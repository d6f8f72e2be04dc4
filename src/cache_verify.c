#include "cache_verify.h"
#include "error.h"
#include "hash.h"
#include "pool.h"
#include "strbuf.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct verify_job {
	const struct cache_entry *repo;
	const struct cache_blob *blob;
	int bad;
	char actual[65];
	char error[256];
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
		snprintf(j->error, sizeof(j->error), "%s", modl_error_message());
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

int cache_verify_blobs(const struct cache_scan *scan, unsigned threads, struct cache_verify_report *r)
{
	struct verify_queue q = { 0 };
	size_t total = 0;
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < scan->count; i++)
		total += scan->repos[i].blob_count;
	q.jobs = calloc(total + 1, sizeof(*q.jobs));
	if (!q.jobs)
		return modl_error_set(MODL_EFAIL, "out of memory");
	for (size_t i = 0; i < scan->count; i++)
		for (size_t b = 0; b < scan->repos[i].blob_count; b++) {
			const struct cache_blob *blob = &scan->repos[i].blobs[b];
			if (blob->incomplete || hash_kind_of(blob->name) < 0)
				continue;
			q.jobs[q.count].repo = &scan->repos[i];
			q.jobs[q.count].blob = blob;
			q.count++;
		}
	qsort(q.jobs, q.count, sizeof(*q.jobs), by_size_desc);
	pthread_mutex_init(&q.lock, NULL);
	int rc = pool_run(threads < q.count ? threads : (unsigned)(q.count ? q.count : 1), verify_worker, &q);
	pthread_mutex_destroy(&q.lock);
	for (size_t i = 0; !rc && i < q.count; i++) {
		r->checked++;
		r->bytes += q.jobs[i].blob->size;
		if (!q.jobs[i].bad)
			continue;
		struct cache_bad_blob *grown = realloc(r->bad, (r->bad_count + 1) * sizeof(*grown));
		if (!grown) {
			rc = modl_error_set(MODL_EFAIL, "out of memory");
			break;
		}
		r->bad = grown;
		struct cache_bad_blob *bad = &r->bad[r->bad_count++];
		bad->repo = q.jobs[i].repo;
		bad->blob = q.jobs[i].blob;
		memcpy(bad->actual, q.jobs[i].actual, sizeof(bad->actual));
		memcpy(bad->error, q.jobs[i].error, sizeof(bad->error));
	}
	free(q.jobs);
	if (!rc && r->bad_count)
		rc = modl_error_set(MODL_EINTEGRITY, "%zu of %zu blobs do not match their hash", r->bad_count,
				    r->checked);
	return rc;
}

void cache_verify_report_free(struct cache_verify_report *r)
{
	free(r->bad);
	memset(r, 0, sizeof(*r));
}
