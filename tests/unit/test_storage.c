/* Unit tests for the pieces of a pull that touch the disk: hashes, the cache layout,
 * file filters. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/cache.h"
#include "util/error.h"
#include "pull/filter.h"
#include "util/fs.h"
#include "util/hash.h"

static char tmpdir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/modl-unit-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd);
}

static void test_hash_vectors(void **state)
{
	(void)state;
	struct hasher *h;
	char hex[65];
	/* `printf 'hello\n' | git hash-object --stdin` */
	assert_int_equal(hasher_new(&h, HASH_GIT_SHA1, 6), 0);
	hasher_update(h, "hel", 3);
	hasher_update(h, "lo\n", 3);
	assert_int_equal(hasher_finish(h, hex), 0);
	assert_string_equal(hex, "ce013625030ba8dba906f756967f9e9ca394464a");
	/* the empty blob, e69de29 in every git repository */
	assert_int_equal(hasher_new(&h, HASH_GIT_SHA1, 0), 0);
	assert_int_equal(hasher_finish(h, hex), 0);
	assert_string_equal(hex, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
	/* FIPS 180-2 "abc" */
	assert_int_equal(hasher_new(&h, HASH_SHA256, 3), 0);
	hasher_update(h, "abc", 3);
	assert_int_equal(hasher_finish(h, hex), 0);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(hash_kind_of(hex), HASH_SHA256);
	assert_int_equal(hash_kind_of("ce013625030ba8dba906f756967f9e9ca394464a"), HASH_GIT_SHA1);
	assert_int_equal(hash_kind_of("CE013625030BA8DBA906F756967F9E9CA394464A"), -1);
	assert_int_equal(hash_kind_of("../etc"), -1);
}

static void test_hash_file(void **state)
{
	(void)state;
	char path[128], hex[65];
	unsigned long long size = 0;
	snprintf(path, sizeof(path), "%s/hello", tmpdir);
	assert_int_equal(fs_write_atomic(path, "hello\n", 6, 0644), 0);
	assert_int_equal(hash_file(path, HASH_GIT_SHA1, hex, &size), 0);
	assert_string_equal(hex, "ce013625030ba8dba906f756967f9e9ca394464a");
	assert_int_equal(size, 6);
	strcat(path, "-missing");
	assert_int_equal(hash_file(path, HASH_SHA256, hex, &size), MODL_ENOTFOUND);
}

static void test_folder_names(void **state)
{
	(void)state;
	struct hub_repo repo;
	struct strbuf sb = STRBUF_INIT;
	hub_parse_repo("meta-llama/Llama-3.2-1B", HUB_MODEL, &repo);
	cache_folder_name(&repo, &sb);
	assert_string_equal(sb.buf, "models--meta-llama--Llama-3.2-1B");
	strbuf_reset(&sb);
	hub_parse_repo("hf://datasets/org/data", HUB_MODEL, &repo);
	cache_folder_name(&repo, &sb);
	assert_string_equal(sb.buf, "datasets--org--data");
	strbuf_reset(&sb);
	hub_parse_repo("gpt2", HUB_MODEL, &repo);
	cache_folder_name(&repo, &sb);
	assert_string_equal(sb.buf, "models--gpt2");
	strbuf_free(&sb);
}

static const char commit[] = "0e9e39f249a16976918f6564b8830bc894c89659";
static const char blob[] = "8836d85f2b076ade1718acbe9e9f3402b7a449936e6407468a85a3acf0912171";

static void test_cache_layout(void **state)
{
	(void)state;
	struct hub_repo repo;
	struct cache_repo c;
	char path[512], target[256], got[41];
	hub_parse_repo("org/m", HUB_MODEL, &repo);
	assert_int_equal(cache_repo_init(&c, tmpdir, &repo), 0);
	assert_int_equal(cache_repo_prepare(&c), 0);
	snprintf(path, sizeof(path), "%s/CACHEDIR.TAG", tmpdir);
	assert_int_equal(access(path, F_OK), 0);

	/* relative links, one more ../ per folder level */
	assert_int_equal(cache_link_snapshot(&c, commit, "a/b/c.json", blob), 0);
	snprintf(path, sizeof(path), "%s/snapshots/%s/a/b/c.json", c.folder, commit);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(
		target, "../../../../blobs/8836d85f2b076ade1718acbe9e9f3402b7a449936e6407468a85a3acf0912171");
	assert_int_equal(cache_link_snapshot(&c, commit, "top.txt", blob), 0);
	snprintf(path, sizeof(path), "%s/snapshots/%s/top.txt", c.folder, commit);
	n = readlink(path, target, sizeof(target) - 1);
	target[n] = '\0';
	assert_string_equal(target,
			    "../../blobs/8836d85f2b076ade1718acbe9e9f3402b7a449936e6407468a85a3acf0912171");
	/* replacing a link is atomic and leaves no temp file */
	assert_int_equal(cache_link_snapshot(&c, commit, "top.txt", blob), 0);
	/* a link, a ref or a file already right is not rewritten (a read-only cache) */
	struct stat before, after;
	assert_int_equal(lstat(path, &before), 0);
	assert_int_equal(cache_link_snapshot(&c, commit, "top.txt", blob), 0);
	assert_int_equal(lstat(path, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	char file[512];
	snprintf(file, sizeof(file), "%s/same.txt", tmpdir);
	assert_int_equal(fs_write_if_changed(file, "one", 3, 0644), 0);
	assert_int_equal(stat(file, &before), 0);
	assert_int_equal(fs_write_if_changed(file, "one", 3, 0644), 0);
	assert_int_equal(stat(file, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_int_equal(fs_write_if_changed(file, "one!", 4, 0644), 0);
	assert_int_equal(stat(file, &after), 0);
	assert_int_equal(after.st_size, 4);

	/* refs: exactly the commit, no newline; nested refs; unsafe names refused */
	assert_int_equal(cache_write_ref(&c, "main", commit), 0);
	assert_int_equal(cache_write_ref(&c, "refs/pr/1", commit), 0);
	char *data = NULL;
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/refs/main", c.folder);
	assert_int_equal(fs_read_file(path, 100, &data, &len), 0);
	assert_int_equal(len, 40);
	assert_memory_equal(data, commit, 40);
	free(data);
	assert_int_equal(cache_read_ref(&c, "refs/pr/1", got), 0);
	assert_string_equal(got, commit);
	assert_int_equal(cache_write_ref(&c, "../escape", commit), MODL_EINVALID);
	assert_int_equal(cache_read_ref(&c, "missing", got), MODL_ENOTFOUND);
	assert_int_equal(fs_write_atomic(path, "main\n", 5, 0644), 0);
	assert_int_equal(cache_read_ref(&c, "main", got), MODL_EINVALID);

	/* blobs are present only with the right size */
	struct strbuf bp = STRBUF_INIT;
	cache_blob_path(&c, blob, &bp);
	assert_false(cache_blob_present(&c, blob, 3));
	assert_int_equal(fs_write_atomic(bp.buf, "abc", 3, 0644), 0);
	assert_true(cache_blob_present(&c, blob, 3));
	assert_false(cache_blob_present(&c, blob, 4));
	strbuf_free(&bp);

	assert_int_equal(cache_mark_no_exist(&c, commit, "x/y.bin"), 0);
	snprintf(path, sizeof(path), "%s/.no_exist/%s/x/y.bin", c.folder, commit);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	cache_repo_free(&c);
}

static void test_tree_roundtrip(void **state)
{
	(void)state;
	struct hub_repo repo;
	struct cache_repo c;
	struct hub_tree tree = { 0 }, back = { 0 };
	cJSON *page = cJSON_Parse(
		"[{\"type\":\"file\",\"oid\":\"ce013625030ba8dba906f756967f9e9ca394464a\",\"size\":6,\"path\":\"a/hello\"},"
		"{\"type\":\"directory\",\"oid\":\"c86d67c722720df4843d5cf40001ecf4c381d5bb\",\"size\":0,\"path\":\"a\"},"
		"{\"type\":\"file\",\"oid\":\"1111111111111111111111111111111111111111\",\"size\":1044992,\"path\":\"m.safetensors\","
		"\"lfs\":{\"oid\":\"8836d85f2b076ade1718acbe9e9f3402b7a449936e6407468a85a3acf0912171\",\"size\":1044992}}]");
	assert_int_equal(hub_tree_add_page(&tree, page, "t"), 0);
	cJSON_Delete(page);
	hub_parse_repo("org/tree", HUB_MODEL, &repo);
	assert_int_equal(cache_repo_init(&c, tmpdir, &repo), 0);
	assert_int_equal(cache_read_tree(&c, commit, &back), MODL_ENOTFOUND);
	assert_int_equal(cache_write_tree(&c, commit, &tree), 0);
	assert_int_equal(cache_read_tree(&c, commit, &back), 0);
	assert_int_equal(back.count, 2); /* directories are not recorded */
	for (size_t i = 0; i < back.count; i++) {
		if (!strcmp(back.entries[i].path, "a/hello")) {
			assert_false(back.entries[i].lfs);
			assert_string_equal(back.entries[i].oid, "ce013625030ba8dba906f756967f9e9ca394464a");
			assert_int_equal(back.entries[i].size, 6);
		} else {
			assert_string_equal(back.entries[i].path, "m.safetensors");
			assert_true(back.entries[i].lfs);
			assert_string_equal(back.entries[i].sha256, blob);
			assert_int_equal(back.entries[i].size, 1044992);
		}
	}
	hub_tree_free(&back);
	/* a tampered recording with a path that climbs out is refused */
	char path[512];
	snprintf(path, sizeof(path), "%s/trees/%s.json", c.folder, commit);
	const char *evil =
		"{\"format_version\":1,\"files\":{\"../../x\":{\"size\":1,\"blob_id\":\"ce013625030ba8dba906f756967f9e9ca394464a\"}}}";
	assert_int_equal(fs_write_atomic(path, evil, strlen(evil), 0644), 0);
	assert_int_equal(cache_read_tree(&c, commit, &back), MODL_EINVALID);
	hub_tree_free(&tree);
	cache_repo_free(&c);
}

static void test_filter(void **state)
{
	(void)state;
	const char *inc[] = { "*.json", "original/" };
	const char *exc[] = { "original/consolidated*" };
	struct filter f = { inc, 2, exc, 1 };
	assert_true(filter_match(&f, "config.json"));
	assert_true(filter_match(&f, "sub/dir/x.json")); /* '*' crosses '/' as in fnmatch */
	assert_true(filter_match(&f, "original/params.json"));
	assert_true(filter_match(&f, "original/tokenizer.model"));
	assert_false(filter_match(&f, "original/consolidated.00.pth"));
	assert_false(filter_match(&f, "model.safetensors"));
	struct filter all = { 0 };
	assert_true(filter_match(&all, "model.safetensors"));
	assert_false(filter_match(&all, ".git/config"));
	assert_false(filter_match(&all, ".cache/huggingface/download/x.metadata"));
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_vectors),
		cmocka_unit_test(test_hash_file),
		cmocka_unit_test(test_folder_names),
		cmocka_unit_test(test_cache_layout),
		cmocka_unit_test(test_tree_roundtrip),
		cmocka_unit_test(test_filter),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, setup, teardown);
}
