/* The Hub API (doc/hub-protocol.md §1): repo ids, revisions, repo info, tree listings,
 * whoami, and the mapping of Hub errors (status + X-Error-Code) to MODL_E* codes. */
#ifndef MODL_HUB_H
#define MODL_HUB_H

#include <cjson/cJSON.h>

#include "http.h"
#include "util/settings.h"
#include "util/hash.h"

enum hub_repo_type { HUB_MODEL, HUB_DATASET, HUB_SPACE };

struct hub_repo {
	enum hub_repo_type type;
	char id[128];       /* "namespace/name" or a legacy bare "name" */
	char revision[256]; /* "" when none was given (the default branch) */
};

/* Parses REPO[@REV] or hf://[models/|datasets/|spaces/]REPO[@REV]; type is the default
 * used when the argument names none. MODL_EUSAGE with a message when invalid. */
int hub_parse_repo(const char *arg, enum hub_repo_type type, struct hub_repo *out);
/* hub_parse_repo with the type named by --repo-type (model, dataset, space). */
int hub_parse_repo_typed(const char *arg, const char *type_name, struct hub_repo *out);
/* "model", "dataset", "space" → type; MODL_EUSAGE otherwise. */
int hub_parse_repo_type(const char *name, enum hub_repo_type *out);
const char *hub_repo_type_name(enum hub_repo_type type);
/* True when s is a full 40-hex commit id. */
int hub_is_commit(const char *s);

struct hub;

/* Opens a client for settings->endpoint with the token of settings (if any). */
int hub_open(struct hub **out, const struct modl_settings *settings, int verbose);
void hub_close(struct hub *hub);
struct http_client *hub_http(struct hub *hub);
const char *hub_endpoint(const struct hub *hub);

/* GET /api/{type}s/{id}[/revision/{rev}][?blobs=true]; *out owned by the caller. */
int hub_repo_info(struct hub *hub, const struct hub_repo *repo, int blobs, cJSON **out);

struct hub_entry {
	char *path;
	int is_dir;
	unsigned long long size;
	char oid[HASH_COMMIT_BUF]; /* git object id (for an LFS file: of its pointer) */
	int lfs;
	char sha256[HASH_HEX_BUF]; /* LFS content hash, "" for git files */
};

struct hub_tree {
	struct hub_entry *entries;
	size_t count;
};

/* Lists the tree at revision (recursively when asked), following Link pagination. Every
 * entry is checked: a path that is absolute, climbs with "..", holds a backslash or a
 * control character, or hashes that are not hex, fail with MODL_EINVALID. */
int hub_list_tree(struct hub *hub, const struct hub_repo *repo, const char *revision, const char *path,
		  int recursive, struct hub_tree *out);
void hub_tree_free(struct hub_tree *tree);
/* Checks that the whole listing can be laid out on disk below a directory of prefix_len
 * bytes (with a suffix of up to suffix_len bytes added to file names): no path listed
 * twice, no path both a file and a folder ("a" and "a/b"), no component over NAME_MAX,
 * no joined path over PATH_MAX. O(n log n). MODL_EINVALID naming the path and source. */
int hub_tree_validate(const struct hub_tree *tree, const char *source, size_t prefix_len, size_t suffix_len);
/* Appends the entries of one page of a tree listing (a JSON array), checking each;
 * source names the page in messages. */
int hub_tree_add_page(struct hub_tree *tree, const cJSON *page, const char *source);

/* {endpoint}/{prefix}{id}/resolve/{revision}/{path} (revision encoded whole, path with
 * its slashes kept). */
int hub_resolve_url(const struct hub *hub, const struct hub_repo *repo, const char *revision,
		    const char *path, struct strbuf *out);

struct hub_file_meta {
	char commit[HASH_COMMIT_BUF]; /* X-Repo-Commit */
	char etag[HASH_HEX_BUF];      /* X-Linked-Etag, else ETag, without W/ and quotes */
	unsigned long long size;      /* X-Linked-Size, else Content-Length of a non-redirect */
	char *location;               /* where to GET the bytes (the CDN URL of an LFS file) */
	int ranges;                   /* Accept-Ranges: bytes */
};

/* HEAD of a file's resolve URL without following redirects that change host
 * (doc/hub-protocol.md §1.3): the metadata is on the Hub's own answer, not the CDN's. */
int hub_file_metadata(struct hub *hub, const struct hub_repo *repo, const char *revision, const char *path,
		      struct hub_file_meta *out);
void hub_file_meta_free(struct hub_file_meta *meta);

/* GET /api/whoami-v2 with the token; MODL_EAUTH without one. */
int hub_whoami(struct hub *hub, cJSON **out);
/* Same with an explicit token (login validates before storing). */
int hub_whoami_token(const struct modl_settings *settings, const char *token, int verbose, cJSON **out);

/* Maps a non-2xx Hub answer to a MODL_E* code with a message a user can act on. what
 * names the object ("repository x", "revision r of x", "file p in x"). */
int hub_error_from_response(const struct hub *hub, const struct http_response *resp,
			    const struct hub_repo *repo, const char *what);

/* Parses a Hub JSON answer; MODL_EINVALID when it is not JSON or holds an escaped NUL. */
int hub_json_parse(const char *text, size_t len, const char *source, cJSON **out);

/* True when a repository path is safe to use on disk (see hub_list_tree). */
int hub_path_is_safe(const char *path);

#endif
