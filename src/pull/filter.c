#include "filter.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

static int pattern_match(const char *pattern, const char *path)
{
	size_t len = strlen(pattern);
	if (len && pattern[len - 1] == '/') {
		char expanded[4096];
		if (len + 2 > sizeof(expanded))
			return 0;
		snprintf(expanded, sizeof(expanded), "%s*", pattern);
		return fnmatch(expanded, path, 0) == 0;
	}
	return fnmatch(pattern, path, 0) == 0;
}

static int is_ignored(const char *path)
{
	return !strncmp(path, ".git/", 5) || !strcmp(path, ".git") ||
	       !strncmp(path, ".cache/huggingface/", 19);
}

int filter_match(const struct filter *f, const char *path)
{
	if (is_ignored(path))
		return 0;
	int taken = f->include_count == 0;
	for (size_t i = 0; !taken && i < f->include_count; i++)
		taken = pattern_match(f->include[i], path);
	for (size_t i = 0; taken && i < f->exclude_count; i++)
		taken = !pattern_match(f->exclude[i], path);
	return taken;
}
