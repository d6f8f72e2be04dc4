/* The transfer engine: files in parallel, large files in parallel byte ranges written in
 * place, resumable across restarts, every byte verified before the file becomes visible. */
#ifndef MODL_DOWNLOAD_H
#define MODL_DOWNLOAD_H

#include "util/error.h"
#include "hub/hub.h"
#include "util/progress.h"

enum download_status { DOWNLOAD_PENDING, DOWNLOAD_PRESENT, DOWNLOAD_FETCHED, DOWNLOAD_FAILED };

struct download_item {
	/* set by the caller */
	const struct hub_entry *entry; /* path, size and the expected hash (the blob name) */
	char *final_path;              /* where the verified file appears (by rename) */
	char *partial_path;            /* where it is written meanwhile; resumed from */
	char *lock_path;               /* flock held while this file is written */
	int present;                   /* already there and not --force: nothing to do */
	/* set by download_run */
	enum download_status status;
	struct modl_error_saved error;    /* why it failed (error.code 0: it did not) */
	unsigned long long fetched_bytes; /* bytes received over the network for it */
};

struct download_job {
	struct hub *hub;
	const struct hub_repo *repo;
	const char *commit;
	struct download_item *items;
	size_t count;
	unsigned jobs;        /* files at once */
	unsigned connections; /* ranges at once per large file */
	int force;            /* fetch even when the final file is already there */
	struct progress *progress;
	/* Called (from a worker thread) once an item's final file is there, fetched or found
	 * present, while its lock is still held: a cache pull links the snapshot to the blob
	 * here, so that no moment exists when the blob is neither locked nor linked (a
	 * concurrent `cache prune` would take it for an orphan). With on_ready set, items
	 * marked present are still locked and re-checked. A failure fails the item. */
	int (*on_ready)(void *ctx, const struct download_item *item);
	void *ready_ctx;
};

/* Fetches every item that is not present. Returns 0 when all succeeded, else the code of
 * the first failure (in time: a full disk is reported by the file that filled it, not by
 * the ones that failed after) with a message that counts them; items[i].error says each. */
int download_run(struct download_job *job);

/* Chunk size for ranged transfers: MODL_CHUNK_BYTES (tests) or 8 MiB. */
unsigned long long download_chunk_size(void);

#endif
