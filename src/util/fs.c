#include "fs.h"
#include "error.h"
#include "strbuf.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_mkdir_p(const char *path, mode_t mode)
{
	char *copy = strdup(path);
	if (!copy)
		return modl_error_oom();
	int rc = 0;
	for (char *p = copy + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(copy, mode) != 0 && errno != EEXIST) {
			rc = modl_error_errno(MODL_EFAIL, errno, "cannot create directory %s", copy);
			break;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(copy);
	return rc;
}

int fs_parent_dir(const char *path, struct strbuf *dir)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return strbuf_adds(dir, ".");
	if (slash == path)
		return strbuf_adds(dir, "/");
	return strbuf_add(dir, path, (size_t)(slash - path));
}

int fs_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return modl_error_errno(MODL_EFAIL, errno, "cannot open directory %s", dir);
	/* Some file systems refuse fsync on directories (EINVAL); the rename is still done. */
	if (fsync(fd) != 0 && errno != EINVAL) {
		int e = errno;
		close(fd);
		return modl_error_errno(MODL_EFAIL, e, "cannot sync directory %s", dir);
	}
	close(fd);
	return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	struct strbuf tmp = STRBUF_INIT, dir = STRBUF_INIT;
	int fd = -1, rc;
	if ((rc = strbuf_addf(&tmp, "%s.tmp.XXXXXX", path)) || (rc = fs_parent_dir(path, &dir)))
		goto out;
	fd = mkstemp(tmp.buf);
	if (fd < 0) {
		rc = modl_error_errno(MODL_EFAIL, errno, "cannot create %s", tmp.buf);
		goto out;
	}
	if (fchmod(fd, mode) != 0) {
		rc = modl_error_errno(MODL_EFAIL, errno, "cannot chmod %s", tmp.buf);
		goto out_unlink;
	}
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, (const char *)data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = modl_error_errno(MODL_EFAIL, errno, "cannot write %s", tmp.buf);
			goto out_unlink;
		}
		done += (size_t)n;
	}
	if (fsync(fd) != 0) {
		rc = modl_error_errno(MODL_EFAIL, errno, "cannot sync %s", tmp.buf);
		goto out_unlink;
	}
	close(fd);
	fd = -1;
	if (rename(tmp.buf, path) != 0) {
		rc = modl_error_errno(MODL_EFAIL, errno, "cannot rename %s to %s", tmp.buf, path);
		goto out_unlink;
	}
	rc = fs_sync_dir(dir.buf);
	goto out;
out_unlink:
	unlink(tmp.buf);
out:
	if (fd >= 0)
		close(fd);
	strbuf_free(&tmp);
	strbuf_free(&dir);
	return rc;
}

int fs_read_file(const char *path, size_t max_len, char **out, size_t *out_len)
{
	struct strbuf sb = STRBUF_INIT;
	int rc = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return modl_error_errno(errno == ENOENT ? MODL_ENOTFOUND : MODL_EFAIL, errno,
					"cannot open %s", path);
	char chunk[8192];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = modl_error_errno(MODL_EFAIL, errno, "cannot read %s", path);
			break;
		}
		if (n == 0)
			break;
		if (sb.len + (size_t)n > max_len) {
			rc = modl_error_set(MODL_EINVALID, "%s: larger than %zu bytes", path, max_len);
			break;
		}
		if ((rc = strbuf_add(&sb, chunk, (size_t)n)))
			break;
	}
	close(fd);
	if (rc) {
		strbuf_free(&sb);
		return rc;
	}
	if (out_len)
		*out_len = sb.len;
	*out = strbuf_take(&sb);
	return *out ? 0 : modl_error_oom();
}

int fs_remove(const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT)
		return modl_error_errno(MODL_EFAIL, errno, "cannot remove %s", path);
	return 0;
}

/* Waits for the lock on the open *fd (closed and set to -1 on failure). A file system
 * without locks (ENOLCK, EOPNOTSUPP) is used unlocked, as huggingface_hub does. */
static int lock_wait(const char *path, int *fd, int operation)
{
	while (flock(*fd, operation) != 0) {
		if (errno == EINTR)
			continue;
		if (errno == ENOLCK || errno == EOPNOTSUPP)
			break;
		int e = errno;
		close(*fd);
		*fd = -1;
		return modl_error_errno(MODL_EFAIL, e, "cannot lock %s", path);
	}
	return 0;
}

int fs_lock(const char *path, int *fd)
{
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0664);
	if (*fd < 0)
		return modl_error_errno(MODL_EFAIL, errno, "cannot open lock %s", path);
	return lock_wait(path, fd, LOCK_EX);
}

int fs_lock_reader(const char *path, int shared, int *fd)
{
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0664);
	if (*fd < 0 && (errno == EROFS || errno == EACCES || errno == EPERM)) {
		*fd = open(path, O_RDONLY | O_CLOEXEC);
		if (*fd < 0 && errno == ENOENT)
			return 0;
	}
	if (*fd < 0)
		return modl_error_errno(MODL_EFAIL, errno, "cannot open lock %s", path);
	return lock_wait(path, fd, shared ? LOCK_SH : LOCK_EX);
}

int fs_write_if_changed(const char *path, const void *data, size_t len, mode_t mode)
{
	char *old = NULL;
	size_t old_len = 0;
	int same = fs_read_file(path, len, &old, &old_len) == 0 && old_len == len && !memcmp(old, data, len);
	modl_error_clear();
	free(old);
	return same ? 0 : fs_write_atomic(path, data, len, mode);
}

void fs_unlock(int fd)
{
	if (fd >= 0) {
		flock(fd, LOCK_UN);
		close(fd);
	}
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	int rc = type == FTW_DP ? rmdir(path) : unlink(path);
	return rc != 0 && errno != ENOENT ? -1 : 0;
}

int fs_remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : modl_error_errno(MODL_EFAIL, errno, "cannot remove %s", path);
	if (nftw(path, remove_one, 32, FTW_DEPTH | FTW_PHYS) != 0)
		return modl_error_errno(MODL_EFAIL, errno, "cannot remove %s", path);
	return 0;
}

int fs_lock_held(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int held = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

static mode_t dirent_type(unsigned char d_type)
{
	switch (d_type) {
	case DT_REG: return S_IFREG;
	case DT_DIR: return S_IFDIR;
	case DT_LNK: return S_IFLNK;
	case DT_FIFO: return S_IFIFO;
	case DT_SOCK: return S_IFSOCK;
	case DT_CHR: return S_IFCHR;
	case DT_BLK: return S_IFBLK;
	default: return 0;
	}
}

const struct stat *fs_entry_stat(struct fs_entry *entry)
{
	if (!entry->have_st) {
		/* Relative to the open directory: the kernel resolves one name, not the whole
		 * path again for every entry. */
		if (fstatat(entry->dir_fd, entry->name, &entry->st, AT_SYMLINK_NOFOLLOW) != 0)
			return NULL;
		entry->have_st = 1;
		entry->type = entry->st.st_mode & S_IFMT;
	}
	return &entry->st;
}

int fs_for_each_entry(const char *dir, fs_entry_fn fn, void *ctx)
{
	DIR *d = opendir(dir);
	if (!d)
		return modl_error_errno(errno == ENOENT ? MODL_ENOTFOUND : MODL_EFAIL, errno,
					"cannot read %s", dir);
	struct strbuf path = STRBUF_INIT;
	struct dirent *de;
	int rc = 0;
	while (!rc && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct fs_entry entry = { .dir_fd = dirfd(d),
					  .name = de->d_name,
					  .type = dirent_type(de->d_type) };
		if (!entry.type && !fs_entry_stat(&entry))
			continue; /* gone meanwhile */
		strbuf_reset(&path);
		if ((rc = strbuf_addf(&path, "%s/%s", dir, de->d_name)))
			break;
		entry.path = path.buf;
		rc = fn(ctx, &entry);
	}
	closedir(d);
	strbuf_free(&path);
	return rc;
}
