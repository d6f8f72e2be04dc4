/* `modl license`: audit the license a model really ships with, before it is deployed.
 *
 * Reads the card's front matter (card.h) and every license-like file (LICENSE*, LICENCE*,
 * COPYING*, USE_POLICY*, NOTICE*, in any folder), identifies each text by content
 * (detect.h), follows the base_model chain, and sums up the terms of every license found
 * (terms.h): commercial use, user thresholds, attribution, acceptable-use policy,
 * redistribution, use restrictions. A policy (policy.h) turns the report into pass/fail.
 *
 * Sources: a directory; a snapshot of the Hugging Face cache; or the Hub, from which only
 * the card and the license files are fetched, never the weights. */
#ifndef MODL_LICENSE_H
#define MODL_LICENSE_H

#include "hub/hub.h"
#include "util/settings.h"
#include "card.h"
#include "detect.h"
#include "terms.h"

/* Each license-like file is read up to this size; a larger one is reported, not read. */
#define LICENSE_FILE_MAX (1u << 20)
/* Every license-like file is audited, or none: a repository with more of them than this,
 * or whose license-like files hold more text than LICENSE_TEXT_TOTAL_MAX, is refused
 * (MODL_EINVALID, naming the limit) rather than audited in part, since the one text left
 * out could be the one a policy denies. Documented in modl-license(1). */
#define LICENSE_FILES_MAX 10000
#define LICENSE_TEXT_TOTAL_MAX (64u << 20)
/* How far the base_model chain is followed (the model's own base is depth 1). */
#define LICENSE_BASE_DEPTH 4

enum license_verdict { LICENSE_VERDICT_UNKNOWN, LICENSE_VERDICT_PASS, LICENSE_VERDICT_FAIL };

/* What a file is by its name; its content decides what it holds. */
enum license_role {
	LICENSE_ROLE_LICENSE, /* LICENSE*, LICENCE*, COPYING* */
	LICENSE_ROLE_POLICY,  /* USE_POLICY* */
	LICENSE_ROLE_NOTICE,  /* NOTICE* */
	LICENSE_ROLE_GATE,    /* the card's extra_gated_prompt */
};

struct license_file {
	char *path; /* in the repository */
	enum license_role role;
	int read; /* 0: not read (too large, access denied), see note */
	char *note;
	char *text; /* the content (kept for the notice search) */
	size_t len;
	struct license_detection detection;
	char **notice_of; /* ids whose required "Notice" sentence the file holds */
	size_t notice_count;
};

struct license_base {
	char *repo;   /* as the card declares it */
	char *parent; /* the repo (or ".") whose card declares it */
	unsigned depth;
	char *declared; /* its card's license, NULL when none or not read */
	const struct license_info *info;
	const char *via; /* "hub", "cache", or NULL when not read */
	char *note;      /* why it was not read */
};

/* A license that applies: declared, found in a file, or inherited from a base model. */
struct license_applies {
	const struct license_info *info; /* NULL for a name the knowledge base lacks */
	char *name;                      /* the id, or the declared name */
	const char *source;              /* "card", "file", "base model" */
	char *where;                     /* file path or base repository */
	int notice_present;
};

struct license_strings {
	char **items;
	size_t count;
};

struct license_report {
	const char *source_kind;      /* "directory", "cache", "hub" */
	char *location;               /* the directory, or the repo id */
	char *revision;               /* the revision asked for (repos) */
	char commit[HASH_COMMIT_BUF]; /* "" for a directory */
	int card_read;                /* a README.md was found and read */
	struct license_card card;
	char *declared; /* license_card_declared() */
	struct license_file *files;
	size_t file_count;
	size_t files_alloc; /* entries allocated in files */
	size_t text_bytes;  /* the text read, bounded by LICENSE_TEXT_TOTAL_MAX */
	struct license_base *bases;
	size_t base_count;
	struct license_applies *applies;
	size_t applies_count;
	/* findings */
	int mismatch;      /* a shipped text disagrees with the declared license */
	int base_conflict; /* the declared license differs from a base model's that binds derivatives */
	int missing_license_file;
	int altered;
	size_t unknown; /* unknown items, as a policy's max_unknown counts them */
	/* the terms of every license that applies, summed up */
	enum license_commercial commercial;
	double user_threshold; /* 0: none */
	int non_commercial, research_only;
	const char *acceptable_use_policy;
	struct license_strings attribution, redistribution, use_restrictions;
	/* the verdict */
	enum license_verdict verdict;
	struct license_strings reasons;
	char *policy_source; /* the policy file, NULL without one */
	struct license_strings violations;
};

struct license_request {
	const char *target; /* REPO[@REV] or DIR */
	enum hub_repo_type type;
	int remote;              /* ask the Hub even when the repo is cached */
	const char *policy_path; /* NULL: no policy */
};

/* Audits a directory (anything that exists as one, or starts with ./ or /), or a repo:
 * the cached snapshot of REPO@REV when there is one (unless request->remote), else the
 * Hub (not with HF_HUB_OFFLINE). A malformed policy fails before anything is read
 * (MODL_EINVALID); a malformed card too. A failed policy is not an error here: the
 * verdict says it (see license_report_policy_error). Always free out with
 * license_report_free, whatever the return. */
int license_audit(const struct modl_settings *settings, int verbose, const struct license_request *request,
		  struct license_report *out);

/* For `modl pull --policy FILE`: audits repo at commit from the Hub, fetching only the
 * card and the license-like files that tree lists (never a weight), and the cards of the
 * base models. Returns MODL_EPOLICY, with the reasons as the error message, when the
 * policy fails; MODL_EINVALID for a malformed policy or card (the policy is checked
 * before any request); network and authorisation errors of the listed files as hub.c
 * reports them (a gated file the token cannot read is noted in the report instead). The
 * report is filled as far as the audit got: always free it with license_report_free. */
int license_check_remote(struct hub *hub, const struct hub_repo *repo, const char *commit,
			 const struct hub_tree *tree, const char *policy_path, struct license_report *out);

/* MODL_EPOLICY with "license policy FILE violated: reason; reason" when the verdict is
 * fail, else 0. */
int license_report_policy_error(const struct license_report *r);

/* The report is a struct: cmd/license.c prints it as text or as the --json document. */
void license_report_free(struct license_report *r);

const char *license_verdict_name(enum license_verdict v);

/* The role a repository path has by its name, or -1 when it is not license-like. */
int license_role_of_path(const char *path);

#endif
