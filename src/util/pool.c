#include "pool.h"
#include "error.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define POOL_MAX_THREADS 1024

struct pool_thread {
	pool_worker_fn worker;
	void *ctx;
	unsigned index;
};

static void *pool_thread_main(void *arg)
{
	struct pool_thread *t = arg;
	t->worker(t->ctx, t->index);
	return NULL;
}

int pool_run(unsigned n, pool_worker_fn worker, void *ctx)
{
	if (n == 0)
		n = 1;
	if (n > POOL_MAX_THREADS)
		n = POOL_MAX_THREADS;
	struct pool_thread *threads = calloc(n, sizeof(*threads));
	pthread_t *ids = calloc(n, sizeof(*ids));
	if (!threads || !ids) {
		free(threads);
		free(ids);
		return modl_error_oom();
	}
	unsigned started = 1;
	for (unsigned i = 0; i < n; i++)
		threads[i] = (struct pool_thread){ worker, ctx, i };
	for (unsigned i = 1; i < n; i++, started++)
		if (pthread_create(&ids[i], NULL, pool_thread_main, &threads[i]) != 0)
			break; /* fewer threads still finish the work: each pulls until empty */
	worker(ctx, 0);
	for (unsigned i = 1; i < started; i++)
		pthread_join(ids[i], NULL);
	free(threads);
	free(ids);
	return 0;
}

unsigned pool_default_threads(void)
{
	const char *v = getenv("MODL_THREADS");
	if (v && *v) {
		char *end;
		long n = strtol(v, &end, 10);
		if (!*end && n > 0 && n <= POOL_MAX_THREADS)
			return (unsigned)n;
	}
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	return cores > 0 ? (unsigned)cores : 1;
}
