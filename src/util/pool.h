/* The process's worker threads: downloads, hashing and quantization all run as
 * pool_run(n, worker, ctx), where each worker pulls its own tasks from ctx under ctx's
 * lock. The pool hands out threads, the caller's queue hands out work, so a stage can
 * shape its own scheduling (per-file connection limits, row chunks) without a generic
 * task type. */
#ifndef MODL_POOL_H
#define MODL_POOL_H

typedef void (*pool_worker_fn)(void *ctx, unsigned index);

/* Runs worker(ctx, i) for i in [0, n) on n threads (the caller's thread is one of them)
 * and returns when all have returned. */
int pool_run(unsigned n, pool_worker_fn worker, void *ctx);

/* MODL_THREADS when set and valid, else the number of online cores. */
unsigned pool_default_threads(void);

#endif
