/* File-system helpers that keep the on-disk state consistent: every visible file is
 * written under a temporary name in the same directory, fsynced, then renamed. */
#ifndef MODL_FS_H
#define MODL_FS_H

#include <stddef.h>
#include <sys/types.h>

#include "strbuf.h"

/* mkdir -p with the given mode for every directory it creates. */
int fs_mkdir_p(const char *path, mode_t mode);

/* Atomically replaces path with data (temp + fsync + rename + fsync of the directory). */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Reads a whole (small) file; fails with MODL_EINVALID when it is larger than max_len.
 * *out is NUL-terminated and owned by the caller. Missing file: MODL_ENOTFOUND. */
int fs_read_file(const char *path, size_t max_len, char **out, size_t *out_len);

/* Removes a file; a missing file is not an error. */
int fs_remove(const char *path);

/* fsync of a directory, so that a rename inside it survives a crash. */
int fs_sync_dir(const char *dir);

/* Opens (creating) path and takes an exclusive flock on it, waiting for other holders.
 * On file systems without flock the wait is skipped: callers never depend on the lock
 * for correctness (visible files appear only by rename of verified data). */
int fs_lock(const char *path, int *fd);
void fs_unlock(int fd);
/* fs_lock for readers of a cache that may be read-only (a read-only mount, another
 * user's files): an exclusive (or, with shared, a shared) flock; where the lock file
 * cannot be opened for writing it is opened read-only (flock works on it), and where it
 * does not exist and cannot be created nobody can write there through it either: then
 * *fd is -1 and 0 is returned. */
int fs_lock_reader(const char *path, int shared, int *fd);
/* Writes path (as fs_write_atomic) unless it already holds exactly data: so that a
 * repeated operation on a read-only cache writes nothing. */
int fs_write_if_changed(const char *path, const void *data, size_t len, mode_t mode);

/* rm -rf without following links; a missing path is not an error. */
int fs_remove_tree(const char *path);

/* True when another process holds the flock of path (a running pull); never waits. */
int fs_lock_held(const char *path);

/* Calls fn for each entry of dir but "." and "..", with its path, its file type and the
 * open directory (for the *at calls, valid during the call only); a non-zero return stops
 * the walk and is returned. A missing dir: MODL_ENOTFOUND. The full lstat costs a system
 * call per entry, so it is made only when fn asks for it (fs_entry_stat). */
#include <sys/stat.h>
struct fs_entry {
	int dir_fd;
	const char *path; /* dir/name */
	const char *name;
	mode_t type; /* S_IFMT bits, from the directory entry when the file system gives them */
	int have_st;
	struct stat st;
};
typedef int (*fs_entry_fn)(void *ctx, struct fs_entry *entry);
/* The entry's lstat, made on first use; NULL when the entry is gone meanwhile. */
const struct stat *fs_entry_stat(struct fs_entry *entry);
int fs_for_each_entry(const char *dir, fs_entry_fn fn, void *ctx);

/* The directory part of path ("." when there is none). */
int fs_parent_dir(const char *path, struct strbuf *out);

#endif
