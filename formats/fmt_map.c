/* Read-only mappings of whole files. */
#include "fmt.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int fmt_map_open(struct fmt_map *map, const char *path, struct fmt_error *err)
{
	struct stat st;
	int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
	map->data = NULL;
	map->size = 0;
	if (fd < 0) {
		rc = fmt_error_set(err, errno == ENOENT ? FMT_ENOTFOUND : FMT_EIO, "cannot open: %s",
				   strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		rc = fmt_error_set(err, FMT_EIO, "cannot stat: %s", strerror(errno));
		goto out;
	}
	/* A pipe or a device has no size to check lengths against. */
	if (!S_ISREG(st.st_mode)) {
		rc = fmt_error_set(err, FMT_EINVALID, "not a regular file");
		goto out;
	}
	if ((uint64_t)st.st_size > SIZE_MAX) {
		rc = fmt_error_set(err, FMT_EUNSUPPORTED, "file too large to map on this system");
		goto out;
	}
	map->size = (uint64_t)st.st_size;
	if (map->size == 0)
		goto out; /* mmap refuses zero lengths; readers see an empty file */
	void *p = mmap(NULL, (size_t)map->size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		rc = fmt_error_set(err, FMT_EIO, "cannot map: %s", strerror(errno));
		map->size = 0;
		goto out;
	}
	map->data = p;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

void fmt_map_close(struct fmt_map *map)
{
	if (map->data)
		munmap((void *)map->data, (size_t)map->size);
	map->data = NULL;
	map->size = 0;
}
