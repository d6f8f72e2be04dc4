/* Which repository files a pull takes: --include/--exclude globs with fnmatch semantics
 * (as huggingface_hub's: '*' also crosses '/', a pattern ending in '/' takes the whole folder). */
#ifndef MODL_FILTER_H
#define MODL_FILTER_H

#include <stddef.h>

struct filter {
	const char *const *include;
	size_t include_count;
	const char *const *exclude;
	size_t exclude_count;
};

/* True when path is taken: it matches an include pattern (or there are none) and no
 * exclude pattern. Paths under .git/ and .cache/huggingface/ are never taken. */
int filter_match(const struct filter *f, const char *path);

#endif
