/* Freeing space in the cache: `cache rm` (a repo, or one revision and the blobs no other
 * revision uses) and `cache prune` (detached revisions, orphan blobs, stale partials).
 * Work is planned first (for --dry-run and the confirmation), then carried out; a blob
 * whose lock a running pull holds, or a snapshot it is filling, is never removed. */
#ifndef MODL_CACHE_CLEAN_H
#define MODL_CACHE_CLEAN_H

#include "cache_scan.h"

enum cache_action_kind { ACTION_REPO, ACTION_REVISION, ACTION_BLOB, ACTION_PARTIAL, ACTION_REF, ACTION_META };

struct cache_action {
	enum cache_action_kind kind;
	char *path;               /* what is removed */
	char *label;              /* for people: "org/m@abc123 (main)", "blob 5f3e…" */
	unsigned long long bytes; /* space it frees */
	char *lock;               /* blobs, partials, revisions: the flock a running pull would
	                           * hold; import staging: its folder, which a live import holds */
	int kept;                 /* left alone when carried out: a pull started meanwhile */
};

struct cache_plan {
	struct cache_action *actions;
	size_t count;
	unsigned long long bytes;
	char **skipped; /* what a running pull holds, with why */
	size_t skipped_count;
	unsigned long steps; /* removals carried out (the MODL_TEST_RM_STOP_AFTER hook) */
};

/* REPO or REPO@REV (a commit or a ref name) for each of repos; the revisions named for
 * one repo are planned together, and a repo left without revisions goes whole.
 * MODL_ENOTFOUND when one is absent. */
int cache_plan_rm(const struct cache_scan *scan, const struct hub_repo *repos, size_t count,
		  struct cache_plan *plan);
int cache_plan_prune(const struct cache_scan *scan, struct cache_plan *plan);
/* Carries the plan out, in an order that never leaves a link to a missing blob nor a ref
 * to an emptied snapshot. Each blob is removed while its lock is held and only if no
 * snapshot links it once the lock is held; each snapshot while its snapshot lock is
 * free; a whole repo while none of its locks is held. So a pull that started since the
 * plan was made is not hurt: what it holds moves to plan->skipped. */
int cache_plan_run(struct cache_plan *plan);
void cache_plan_free(struct cache_plan *plan);

const char *cache_action_name(enum cache_action_kind kind);

#endif
