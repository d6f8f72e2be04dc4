#include "license.h"
#include "policy.h"
#include "source.h"
#include "cache/cache.h"
#include "util/error.h"
#include "hub/repo_info.h"
#include "util/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* The gate prompt is compared with the known texts only when it is long enough to be one
 * (Llama's gates carry the whole agreement; most gates are one sentence). */
#define GATE_MIN_WORDS 50
/* Base models visited at most, over all branches of the chain. */
#define MAX_BASES 16

static int analyse(struct license_report *r, struct hub *hub, const char *cache_root,
		   const struct license_policy *policy);

/* ==== entry points ========================================================================== */

static int looks_like_dir(const char *target)
{
	struct stat st;
	return (stat(target, &st) == 0 && S_ISDIR(st.st_mode)) || target[0] == '/' ||
	       !strncmp(target, "./", 2) || !strncmp(target, "../", 3) || !strcmp(target, ".") ||
	       !strcmp(target, "..");
}

static int audit_dir(const struct modl_settings *s, const char *dir, struct license_report *r,
		     const struct license_policy *policy)
{
	struct stat st;
	r->source_kind = "directory";
	if (!(r->location = strdup(dir)))
		return modl_error_oom();
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return modl_error_set(MODL_ENOTFOUND, "%s: no such directory", dir);
	int rc = license_collect_dir(r, dir);
	/* A directory is audited offline: base models are looked up in the cache only. */
	return rc ? rc : analyse(r, NULL, s->hub_cache, policy);
}

/* The snapshot of repo in the cache; *done is 0 when there is none, or when it lacks a
 * card or license file that the recorded listing has and the Hub can be asked instead. */
static int audit_cache(const struct modl_settings *s, const struct hub_repo *repo, struct license_report *r,
		       const struct license_policy *policy, int *done)
{
	struct cache_repo c = { 0 };
	struct strbuf dir = STRBUF_INIT;
	struct hub_tree tree = { 0 };
	struct license_strings lacking = { 0 };
	const char *rev = repo->revision[0] ? repo->revision : "main";
	char commit[HASH_COMMIT_BUF];
	struct stat st;
	int rc = cache_repo_init(&c, s->hub_cache, repo);
	*done = 0;
	if (rc)
		goto out;
	if (hub_is_commit(rev))
		memcpy(commit, rev, 41);
	else if (cache_read_ref(&c, rev, commit)) {
		modl_error_clear();
		goto out;
	}
	if ((rc = cache_snapshot_dir(&c, commit, &dir)))
		goto out;
	if (stat(dir.buf, &st) != 0 || !S_ISDIR(st.st_mode))
		goto out;
	/* A partial pull may have left the license files out. */
	if (cache_read_tree(&c, commit, &tree) == 0) {
		for (size_t i = 0; !rc && i < tree.count; i++) {
			const char *p = tree.entries[i].path;
			struct strbuf f = STRBUF_INIT;
			if (tree.entries[i].is_dir ||
			    (strcasecmp(p, "README.md") && license_role_of_path(p) < 0))
				continue;
			if (!(rc = strbuf_addf(&f, "%s/%s", dir.buf, p)) && stat(f.buf, &st) != 0)
				rc = license_strings_add(&lacking, p);
			strbuf_free(&f);
		}
	}
	modl_error_clear();
	if (rc || (lacking.count && !s->offline))
		goto out;
	*done = 1;
	r->source_kind = "cache";
	memcpy(r->commit, commit, 41);
	if (!(r->location = strdup(repo->id)) || !(r->revision = strdup(rev))) {
		rc = modl_error_oom();
		goto out;
	}
	if ((rc = license_collect_dir(r, dir.buf)))
		goto out;
	for (size_t i = 0; !rc && i < lacking.count; i++) {
		int role = license_role_of_path(lacking.items[i]);
		rc = license_strings_addf(&r->reasons,
					  "%s: listed in the repository but not in the cached "
					  "snapshot, and offline: not audited",
					  lacking.items[i]);
		if (!rc && (role == LICENSE_ROLE_LICENSE || role == LICENSE_ROLE_POLICY))
			r->unknown++;
	}
	if (!rc)
		rc = analyse(r, NULL, s->hub_cache, policy);
out:
	license_strings_free(&lacking);
	hub_tree_free(&tree);
	strbuf_free(&dir);
	cache_repo_free(&c);
	return rc;
}

static int audit_hub(const struct modl_settings *s, int verbose, const struct hub_repo *repo,
		     struct license_report *r, const struct license_policy *policy)
{
	struct hub *hub = NULL;
	struct hub_tree tree = { 0 };
	struct repo_summary summary;
	cJSON *info = NULL;
	int rc = hub_open(&hub, s, verbose);
	if (!rc)
		rc = hub_repo_info(hub, repo, 0, &info);
	if (!rc)
		rc = repo_summary_from_info(info, &summary);
	if (rc)
		goto out;
	r->source_kind = "hub";
	memcpy(r->commit, summary.sha, 41);
	if (!(r->location = strdup(repo->id)) ||
	    !(r->revision = strdup(repo->revision[0] ? repo->revision : "main"))) {
		rc = modl_error_oom();
		goto out;
	}
	/* The listing at the commit, never at the branch: every file comes from one commit. */
	if ((rc = hub_list_tree(hub, repo, r->commit, NULL, 1, &tree)))
		goto out;
	rc = license_collect_hub(r, hub, repo, r->commit, &tree,
				 cJSON_GetObjectItemCaseSensitive(info, "cardData"));
	if (!rc)
		rc = analyse(r, hub, s->hub_cache, policy);
out:
	hub_tree_free(&tree);
	cJSON_Delete(info);
	hub_close(hub);
	return rc;
}

int license_audit(const struct modl_settings *s, int verbose, const struct license_request *req,
		  struct license_report *r)
{
	struct license_policy policy = { 0 };
	struct hub_repo repo;
	int rc = 0, done = 0;
	memset(r, 0, sizeof(*r));
	policy.max_unknown = -1;
	/* A broken policy is reported before anything is read. */
	if (req->policy_path && (rc = license_policy_load(req->policy_path, &policy)))
		return rc;
	if (looks_like_dir(req->target)) {
		rc = audit_dir(s, req->target, r, req->policy_path ? &policy : NULL);
		goto out;
	}
	if (hub_parse_repo(req->target, req->type, &repo)) {
		rc = modl_error_set(MODL_EUSAGE,
				    "license: '%s' is neither a directory nor a repository id "
				    "(see 'modl help license')",
				    req->target);
		goto out;
	}
	if (!req->remote && (rc = audit_cache(s, &repo, r, req->policy_path ? &policy : NULL, &done)))
		goto out;
	if (done)
		goto out;
	if (s->offline) {
		rc = modl_error_set(MODL_ENET,
				    "%s: offline mode (HF_HUB_OFFLINE) and %s is not in the "
				    "cache",
				    req->target, repo.id);
		goto out;
	}
	rc = audit_hub(s, verbose, &repo, r, req->policy_path ? &policy : NULL);
out:
	license_policy_free(&policy);
	return rc;
}

int license_check_remote(struct hub *hub, const struct hub_repo *repo, const char *commit,
			 const struct hub_tree *tree, const char *policy_path, struct license_report *r)
{
	struct license_policy policy = { 0 };
	memset(r, 0, sizeof(*r));
	policy.max_unknown = -1;
	int rc = policy_path ? license_policy_load(policy_path, &policy) : 0;
	if (rc)
		return rc;
	r->source_kind = "hub";
	snprintf(r->commit, sizeof(r->commit), "%s", commit);
	if (!(r->location = strdup(repo->id)) ||
	    !(r->revision = strdup(repo->revision[0] ? repo->revision : "main")))
		rc = modl_error_oom();
	if (!rc)
		rc = license_collect_hub(r, hub, repo, commit, tree, NULL);
	if (!rc)
		rc = analyse(r, hub, NULL, policy_path ? &policy : NULL);
	if (!rc)
		rc = license_report_policy_error(r);
	license_policy_free(&policy);
	return rc;
}

int license_report_policy_error(const struct license_report *r)
{
	struct strbuf sb = STRBUF_INIT;
	if (r->verdict != LICENSE_VERDICT_FAIL)
		return 0;
	int rc = strbuf_addf(&sb, "license policy %s violated", r->policy_source ? r->policy_source : "");
	for (size_t i = 0; !rc && i < r->violations.count; i++)
		rc = strbuf_addf(&sb, "%s %s", i ? ";" : ":", r->violations.items[i]);
	rc = rc ? rc : modl_error_set(MODL_EPOLICY, "%s", sb.buf);
	strbuf_free(&sb);
	return rc;
}

const char *license_verdict_name(enum license_verdict v)
{
	return v == LICENSE_VERDICT_PASS ? "pass" : v == LICENSE_VERDICT_FAIL ? "fail" : "unknown";
}

/* ==== analysis ============================================================================ */

static int detect_files(struct license_report *r)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < r->file_count; i++) {
		struct license_file *f = &r->files[i];
		const struct license_info *found[8];
		if (!f->read)
			continue;
		if ((rc = license_detect(f->text, f->len, &f->detection)))
			break;
		/* A license quotes its own Notice sentence: only a NOTICE file can carry it. */
		if (f->role != LICENSE_ROLE_NOTICE)
			continue;
		int n = license_find_notices(f->text, f->len, found, 8);
		if (n < 0)
			rc = n;
		for (int k = 0; !rc && k < n; k++) {
			char **grown = realloc(f->notice_of, (f->notice_count + 1) * sizeof(*grown));
			if (!grown) {
				rc = modl_error_oom();
				break;
			}
			f->notice_of = grown;
			f->notice_of[f->notice_count++] = (char *)found[k]->id;
		}
	}
	return rc;
}

/* The gate prompt as one more text, when it holds a known one. */
static int detect_gate(struct license_report *r)
{
	const char *prompt = r->card.gated_prompt;
	struct license_detection d;
	struct license_tokens words;
	if (!prompt)
		return 0;
	int rc = license_tokenize(prompt, strlen(prompt), &words);
	size_t n = words.count;
	license_tokens_free(&words);
	if (rc || n < GATE_MIN_WORDS)
		return rc;
	if ((rc = license_detect(prompt, strlen(prompt), &d)))
		return rc;
	if (d.count == 0) {
		license_detection_free(&d);
		return 0;
	}
	if ((rc = license_files_reserve(r))) {
		license_detection_free(&d);
		return rc;
	}
	struct license_file *f = &r->files[r->file_count++];
	memset(f, 0, sizeof(*f));
	f->role = LICENSE_ROLE_GATE;
	f->read = 1;
	f->detection = d;
	f->path = strdup("README.md (extra_gated_prompt)");
	f->text = strdup(prompt);
	f->len = strlen(prompt);
	return f->path && f->text ? 0 : modl_error_oom();
}

/* ---- the base model chain ----------------------------------------------------------------- */

static int base_add(struct license_report *r, const char *repo, const char *parent, unsigned depth)
{
	for (size_t i = 0; i < r->base_count; i++)
		if (!strcasecmp(r->bases[i].repo, repo))
			return 0; /* a diamond or a loop: each base once */
	if (r->location && !strcasecmp(r->location, repo))
		return 0; /* a model naming itself */
	if (r->base_count >= MAX_BASES)
		return 0;
	struct license_base *grown = realloc(r->bases, (r->base_count + 1) * sizeof(*r->bases));
	if (!grown)
		return modl_error_oom();
	r->bases = grown;
	struct license_base *b = &r->bases[r->base_count++];
	memset(b, 0, sizeof(*b));
	b->depth = depth;
	b->repo = strdup(repo);
	b->parent = strdup(parent);
	return b->repo && b->parent ? 0 : modl_error_oom();
}

/* Breadth first: the model's own bases (depth 1), then theirs, up to LICENSE_BASE_DEPTH. */
static int follow_bases(struct license_report *r, struct hub *hub, const char *cache_root)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < r->card.base_model_count; i++)
		rc = base_add(r, r->card.base_models[i], ".", 1);
	for (size_t i = 0; !rc && i < r->base_count; i++) {
		struct license_base *b = &r->bases[i];
		struct license_card card;
		char *text = NULL;
		size_t len = 0;
		if ((rc = license_fetch_card(hub, cache_root, b->repo, hub == NULL, &text, &len, &b->via,
					     &b->note)))
			break;
		if (!text)
			continue;
		struct strbuf source = STRBUF_INIT;
		rc = strbuf_addf(&source, "%s/README.md", b->repo);
		int prc = rc ? 0 : license_card_parse(text, len, source.buf, &card);
		free(text);
		strbuf_free(&source);
		if (rc)
			break;
		if (prc) {
			/* A base model's broken card is its problem: noted, not fatal. */
			b->via = NULL;
			if (!(b->note = strdup(modl_error_message())))
				rc = modl_error_oom();
			modl_error_clear();
			continue;
		}
		b->declared = license_card_declared(&card);
		b->info = b->declared ? license_kb_declared(card.license_count ? card.licenses[0] : NULL,
							    card.license_name)
				      : NULL;
		if (card.license_count > 1)
			b->info = NULL; /* several licenses: named, not resolved to one */
		for (size_t k = 0; !rc && k < card.base_model_count; k++) {
			if (b->depth >= LICENSE_BASE_DEPTH) {
				if (!b->note && !(b->note = strdup("its own base models are not followed "
								   "(depth limit)")))
					rc = modl_error_oom();
				break;
			}
			rc = base_add(r, card.base_models[k], b->repo, b->depth + 1);
			b = &r->bases[i]; /* base_add may move the array */
		}
		license_card_free(&card);
	}
	return rc;
}

/* ---- the licenses that apply ------------------------------------------------------------- */

static int applies_add(struct license_report *r, const struct license_info *info, const char *name,
		       const char *source, const char *where)
{
	for (size_t i = 0; i < r->applies_count; i++)
		if (info ? r->applies[i].info == info
			 : !r->applies[i].info && !strcasecmp(r->applies[i].name, name))
			return 0;
	struct license_applies *grown = realloc(r->applies, (r->applies_count + 1) * sizeof(*r->applies));
	if (!grown)
		return modl_error_oom();
	r->applies = grown;
	struct license_applies *a = &r->applies[r->applies_count++];
	memset(a, 0, sizeof(*a));
	a->info = info;
	a->source = source;
	a->name = strdup(info ? info->id : name);
	a->where = where ? strdup(where) : NULL;
	return a->name && (!where || a->where) ? 0 : modl_error_oom();
}

/* The card's licenses, one by one ("license: [apache-2.0, mit]", or "other" + a name). */
static int declared_entries(const struct license_report *r, const struct license_info **infos,
			    const char **names, size_t max)
{
	const struct license_card *c = &r->card;
	size_t n = 0;
	int other = c->license_count == 0 ||
		    (c->license_count == 1 &&
		     (!strcasecmp(c->licenses[0], "other") || !strcasecmp(c->licenses[0], "unknown")));
	if (other) {
		if (c->license_name && *c->license_name) {
			infos[n] = license_kb_find(c->license_name);
			names[n++] = c->license_name;
		} else if (c->license_count == 1) {
			infos[n] = NULL;
			names[n++] = c->licenses[0];
		}
		return (int)n;
	}
	for (size_t i = 0; i < c->license_count && n < max; i++) {
		infos[n] = license_kb_find(c->licenses[i]);
		names[n++] = c->licenses[i];
	}
	return (int)n;
}

#define MAX_DECLARED 8

static int collect_applies(struct license_report *r, const struct license_info **dinfo, const char **dname,
			   size_t nd)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < nd; i++)
		rc = applies_add(r, dinfo[i], dname[i], "card", "README.md");
	for (size_t i = 0; !rc && i < r->file_count; i++)
		for (size_t m = 0; !rc && m < r->files[i].detection.count; m++) {
			const struct license_info *info = r->files[i].detection.matches[m].info;
			if (info->kind == LICENSE_KIND_POLICY)
				continue;
			/* The text shipped names the version ("gemma-2024-02-21") or the variant (an
			 * "openrail" tag) that the card's id leaves open: it takes the card's place. */
			int replaced = 0;
			for (size_t a = 0; !rc && a < r->applies_count && !replaced; a++) {
				struct license_applies *e = &r->applies[a];
				if (strcmp(e->source, "card") || !e->info || e->info == info ||
				    !license_kb_agrees(e->info, info))
					continue;
				char *name = strdup(info->id);
				if (!name)
					rc = modl_error_oom();
				else {
					free(e->name);
					e->name = name;
					e->info = info;
					replaced = 1;
				}
			}
			if (!rc && !replaced)
				rc = applies_add(r, info, info->id, "file", r->files[i].path);
		}
	for (size_t i = 0; !rc && i < r->base_count; i++)
		if (r->bases[i].declared)
			rc = applies_add(r, r->bases[i].info, r->bases[i].declared, "base model",
					 r->bases[i].repo);
	/* Whether the "Notice" sentence a license requires is in one of the files. */
	for (size_t a = 0; a < r->applies_count; a++) {
		const struct license_info *info = r->applies[a].info;
		for (size_t i = 0; info && info->notice && i < r->file_count; i++)
			for (size_t k = 0; k < r->files[i].notice_count; k++) {
				const struct license_info *n = license_kb_find(r->files[i].notice_of[k]);
				if (n && n->notice && !strcmp(n->notice, info->notice))
					r->applies[a].notice_present = 1;
			}
	}
	return rc;
}

static const char *describe_declared(const struct license_report *r)
{
	return r->declared ? r->declared : "(none)";
}

/* Declared against shipped: every license text found must agree with a declared license;
 * every policy text must belong to a license that applies. */
static int check_mismatch(struct license_report *r, const struct license_info **dinfo, size_t nd)
{
	int rc = 0, any_known = 0;
	for (size_t i = 0; i < nd; i++)
		any_known |= dinfo[i] != NULL;
	for (size_t i = 0; !rc && i < r->file_count; i++) {
		const struct license_file *f = &r->files[i];
		for (size_t m = 0; !rc && m < f->detection.count; m++) {
			const struct license_info *info = f->detection.matches[m].info;
			int agrees = 0;
			if (info->kind == LICENSE_KIND_POLICY) {
				for (size_t a = 0; a < r->applies_count && !agrees; a++)
					agrees = r->applies[a].info &&
						 strcmp(r->applies[a].source, "base model") &&
						 license_kb_policy_of(info, r->applies[a].info);
				if (!agrees && r->applies_count) {
					r->mismatch = 1;
					rc = license_strings_addf(
						&r->reasons,
						"mismatch: %s is the %s, of %s, which "
						"is not the license here (declared: %s)",
						f->path, info->name,
						cJSON_GetArrayItem(info->applies_to, 0)->valuestring,
						describe_declared(r));
				}
				continue;
			}
			for (size_t d = 0; d < nd && !agrees; d++)
				agrees = dinfo[d] && license_kb_agrees(dinfo[d], info);
			if (agrees || !any_known)
				continue;
			r->mismatch = 1;
			rc = license_strings_addf(&r->reasons,
						  "mismatch: the card declares %s but %s is the "
						  "%s text (%s)",
						  describe_declared(r), f->path, info->id, info->name);
		}
	}
	return rc;
}

/* A base model whose license binds its derivatives, under another license than the one
 * the card declares. */
static int check_bases(struct license_report *r, const struct license_info **dinfo, size_t nd)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < r->base_count; i++) {
		const struct license_base *b = &r->bases[i];
		if (!b->via) {
			r->unknown++;
			rc = license_strings_addf(&r->reasons, "base model %s: card not read: %s", b->repo,
						  b->note ? b->note : "unknown reason");
			continue;
		}
		if (!b->declared) {
			r->unknown++;
			rc = license_strings_addf(&r->reasons, "base model %s declares no license", b->repo);
			continue;
		}
		if (!b->info) {
			r->unknown++;
			rc = license_strings_addf(&r->reasons,
						  "base model %s: license '%s' is not in the "
						  "knowledge base",
						  b->repo, b->declared);
			continue;
		}
		rc = license_strings_addf(
			&r->reasons, "base model %s (%s): %s%s", b->repo,
			b->depth == 1 ? "declared by the card" : "declared by a base model", b->info->id,
			b->info->derivatives_inherit ? ", whose terms bind derivatives" : "");
		if (rc || !b->info->derivatives_inherit)
			continue;
		int agrees = 0;
		for (size_t d = 0; d < nd && !agrees; d++)
			agrees = dinfo[d] && (license_kb_agrees(dinfo[d], b->info) ||
					      license_kb_agrees(b->info, dinfo[d]));
		if (!agrees && nd) {
			r->base_conflict = 1;
			rc = license_strings_addf(&r->reasons,
						  "the card declares %s, but its base model %s is "
						  "under %s, whose terms also apply to this derivative",
						  describe_declared(r), b->repo, b->info->id);
		}
	}
	return rc;
}

static int check_files(struct license_report *r)
{
	int rc = 0, license_files = 0;
	for (size_t i = 0; !rc && i < r->file_count; i++) {
		const struct license_file *f = &r->files[i];
		const struct license_detection *d = &f->detection;
		license_files |= f->role == LICENSE_ROLE_LICENSE;
		int counts = f->role == LICENSE_ROLE_LICENSE || f->role == LICENSE_ROLE_POLICY;
		if (!f->read) {
			r->unknown += counts;
			rc = license_strings_addf(&r->reasons, "%s: not read: %s", f->path,
						  f->note ? f->note : "");
			continue;
		}
		if (d->count == 0) {
			if (f->role == LICENSE_ROLE_NOTICE)
				rc = license_strings_addf(&r->reasons,
							  "%s: notices (no known license text); keep "
							  "it with redistributed copies",
							  f->path);
			else {
				r->unknown++;
				rc = license_strings_addf(&r->reasons,
							  "%s: not a known license text (%zu words): "
							  "read it",
							  f->path, d->words);
			}
			continue;
		}
		for (size_t m = 0; !rc && m < d->count; m++) {
			const struct license_match *x = &d->matches[m];
			if (x->alternative_count) {
				struct strbuf alts = STRBUF_INIT;
				for (size_t k = 0; !rc && k < x->alternative_count; k++)
					rc = strbuf_addf(&alts, "%s%s", k ? ", " : "",
							 x->alternatives[k]->id);
				if (!rc)
					rc = license_strings_addf(&r->reasons,
								  "%s: %s, but the text does not rule out "
								  "%s",
								  f->path, x->info->id, alts.buf);
				strbuf_free(&alts);
			}
			if (!rc && x->altered) {
				r->altered = 1;
				r->unknown++;
				const struct license_region *g = &x->regions[0];
				rc = license_strings_addf(
					&r->reasons,
					"%s: altered: differs from the known %s text "
					"in %zu place%s; first, line %u: %s%s%s%s%s",
					f->path, x->info->id, x->region_count,
					x->region_count == 1 ? "" : "s", g->shipped_line,
					g->kind == LICENSE_REGION_ADDED ? "added \"" : "\"",
					g->kind == LICENSE_REGION_ADDED ? g->shipped_diff : g->known_diff,
					g->kind == LICENSE_REGION_CHANGED ? "\" changed to \"" : "",
					g->kind == LICENSE_REGION_CHANGED ? g->shipped_diff : "",
					g->kind == LICENSE_REGION_REMOVED ? "\" removed" : "\"");
			}
			if (!rc && x->incomplete)
				rc = license_strings_addf(&r->reasons,
							  "%s: incomplete: %.0f%% of the %s text, %zu "
							  "words missing at its beginning or end",
							  f->path, x->coverage * 100, x->info->id,
							  x->missing_words);
		}
	}
	if (!rc && !license_files) {
		r->missing_license_file = 1;
		rc = license_strings_add(&r->reasons, "no license file in the repository (LICENSE, LICENCE "
						      "or COPYING): the terms are only declared");
	}
	return rc;
}

/* ---- terms ----------------------------------------------------------------------------------- */

static int add_terms(struct license_strings *list, const cJSON *items, const char *prefix)
{
	const cJSON *item;
	int rc = 0;
	cJSON_ArrayForEach(item, items)
	{
		if (rc)
			break;
		struct strbuf sb = STRBUF_INIT;
		rc = strbuf_addf(&sb, "%s%s%s", prefix ? prefix : "", prefix ? ": " : "", item->valuestring);
		if (!rc && !license_strings_has(list, sb.buf))
			rc = license_strings_add(list, sb.buf);
		strbuf_free(&sb);
	}
	return rc;
}

static int sum_terms(struct license_report *r)
{
	size_t known = 0;
	int rc = 0, unknown_text = 0;
	for (size_t i = 0; i < r->file_count; i++) {
		const struct license_file *f = &r->files[i];
		if ((f->role == LICENSE_ROLE_LICENSE || f->role == LICENSE_ROLE_POLICY) &&
		    (!f->read || f->detection.count == 0))
			unknown_text = 1;
	}
	for (size_t i = 0; i < r->applies_count; i++)
		known += r->applies[i].info != NULL;
	r->commercial = LICENSE_COMMERCIAL_ALLOWED;
	for (size_t i = 0; !rc && i < r->applies_count; i++) {
		const struct license_info *info = r->applies[i].info;
		if (!info) {
			if (r->commercial > LICENSE_COMMERCIAL_UNKNOWN)
				r->commercial = LICENSE_COMMERCIAL_UNKNOWN;
			continue;
		}
		const char *prefix = known > 1 ? info->id : NULL;
		if (info->commercial < r->commercial)
			r->commercial = info->commercial;
		if (info->user_threshold > 0 &&
		    (r->user_threshold == 0 || info->user_threshold < r->user_threshold))
			r->user_threshold = info->user_threshold;
		if (!r->acceptable_use_policy)
			r->acceptable_use_policy = info->acceptable_use_policy;
		r->non_commercial |= info->non_commercial;
		r->research_only |= info->research_only;
		rc = add_terms(&r->attribution, info->attribution, prefix);
		if (!rc)
			rc = add_terms(&r->redistribution, info->redistribution, prefix);
		if (!rc)
			rc = add_terms(&r->use_restrictions, info->use_restrictions, prefix);
		if (!rc && info->notice && !r->applies[i].notice_present)
			rc = license_strings_addf(&r->reasons,
						  "%s: redistributed copies need a \"Notice\" file "
						  "with \"%s\"; no file of the repository has it",
						  info->id, info->notice);
	}
	if (r->applies_count == 0 || (unknown_text && r->commercial > LICENSE_COMMERCIAL_UNKNOWN))
		r->commercial = LICENSE_COMMERCIAL_UNKNOWN;
	return rc;
}

/* ---- the verdict ------------------------------------------------------------------------------ */

static int check_policy(struct license_report *r, const struct license_policy *p)
{
	int rc = 0;
	if (!(r->policy_source = strdup(p->source)))
		return modl_error_oom();
	for (size_t i = 0; !rc && i < r->applies_count; i++) {
		const struct license_applies *a = &r->applies[i];
		const char *from = strcmp(a->source, "base model") ? "" : " (base model)";
		if (license_policy_matches(p->deny, p->deny_count, a->info, a->name))
			rc = license_strings_addf(&r->violations, "license %s%s is denied", a->name, from);
		else if (p->has_allow && !license_policy_matches(p->allow, p->allow_count, a->info, a->name))
			rc = license_strings_addf(&r->violations, "license %s%s is not in the allow list",
						  a->name, from);
	}
	if (!rc && p->has_allow && r->applies_count == 0)
		rc = license_strings_add(&r->violations, "no license could be established, and the "
							 "policy allows only listed ones");
	if (!rc && p->require_commercial_use) {
		if (r->commercial == LICENSE_COMMERCIAL_FORBIDDEN) {
			struct strbuf ids = STRBUF_INIT;
			for (size_t i = 0; !rc && i < r->applies_count; i++)
				if (r->applies[i].info &&
				    r->applies[i].info->commercial == LICENSE_COMMERCIAL_FORBIDDEN)
					rc = strbuf_addf(&ids, "%s%s", ids.len ? ", " : "",
							 r->applies[i].name);
			if (!rc)
				rc = license_strings_addf(&r->violations, "commercial use is forbidden (%s)",
							  ids.buf);
			strbuf_free(&ids);
		} else if (r->commercial == LICENSE_COMMERCIAL_UNKNOWN) {
			rc = license_strings_add(&r->violations, "commercial use could not be established");
		}
	}
	if (!rc && p->max_unknown >= 0 && r->unknown > (size_t)p->max_unknown)
		rc = license_strings_addf(&r->violations,
					  "%zu unknown item%s (unidentified or altered texts, "
					  "unknown licenses, unread base models); the policy allows %ld",
					  r->unknown, r->unknown == 1 ? "" : "s", p->max_unknown);
	if (!rc && p->require_license_file && r->missing_license_file)
		rc = license_strings_add(&r->violations, "no license file ships with the model");
	for (size_t i = 0; !rc && i < r->violations.count; i++)
		rc = license_strings_addf(&r->reasons, "policy %s: %s", p->source, r->violations.items[i]);
	r->verdict = r->violations.count ? LICENSE_VERDICT_FAIL : LICENSE_VERDICT_PASS;
	return rc;
}

static int analyse(struct license_report *r, struct hub *hub, const char *cache_root,
		   const struct license_policy *policy)
{
	const struct license_info *dinfo[MAX_DECLARED];
	const char *dname[MAX_DECLARED];
	int rc = detect_files(r);
	if (!rc)
		rc = detect_gate(r);
	if (!rc)
		rc = follow_bases(r, hub, cache_root);
	if (rc)
		return rc;
	r->declared = license_card_declared(&r->card);
	size_t nd = (size_t)declared_entries(r, dinfo, dname, MAX_DECLARED);
	if (r->card.note)
		rc = license_strings_addf(&r->reasons, "README.md: %s", r->card.note);
	if (!rc && nd == 0)
		rc = license_strings_add(&r->reasons, r->card_read ? "the card declares no license"
								   : "no model card (README.md)");
	for (size_t i = 0; !rc && i < nd; i++)
		if (!dinfo[i]) {
			r->unknown++;
			rc = license_strings_addf(&r->reasons,
						  "the card declares '%s', which is not in the "
						  "knowledge base",
						  dname[i]);
		}
	if (!rc)
		rc = collect_applies(r, dinfo, dname, nd);
	if (!rc)
		rc = check_files(r);
	if (!rc)
		rc = check_mismatch(r, dinfo, nd);
	if (!rc)
		rc = check_bases(r, dinfo, nd);
	if (!rc && r->applies_count == 0) {
		r->unknown++;
		rc = license_strings_add(&r->reasons, "no license could be established");
	}
	if (!rc)
		rc = sum_terms(r);
	if (rc)
		return rc;
	if (policy)
		return check_policy(r, policy);
	int incomplete = 0;
	for (size_t i = 0; i < r->file_count; i++)
		for (size_t m = 0; m < r->files[i].detection.count; m++)
			incomplete |= r->files[i].detection.matches[m].incomplete;
	r->verdict = r->unknown || r->mismatch || r->base_conflict || incomplete || r->card.note
			     ? LICENSE_VERDICT_UNKNOWN
			     : LICENSE_VERDICT_PASS;
	return 0;
}

void license_report_free(struct license_report *r)
{
	for (size_t i = 0; i < r->file_count; i++) {
		free(r->files[i].path);
		free(r->files[i].note);
		free(r->files[i].text);
		free(r->files[i].notice_of);
		license_detection_free(&r->files[i].detection);
	}
	for (size_t i = 0; i < r->base_count; i++) {
		free(r->bases[i].repo);
		free(r->bases[i].parent);
		free(r->bases[i].declared);
		free(r->bases[i].note);
	}
	for (size_t i = 0; i < r->applies_count; i++) {
		free(r->applies[i].name);
		free(r->applies[i].where);
	}
	free(r->files);
	free(r->bases);
	free(r->applies);
	free(r->location);
	free(r->revision);
	free(r->declared);
	free(r->policy_source);
	license_card_free(&r->card);
	license_strings_free(&r->attribution);
	license_strings_free(&r->redistribution);
	license_strings_free(&r->use_restrictions);
	license_strings_free(&r->reasons);
	license_strings_free(&r->violations);
	memset(r, 0, sizeof(*r));
}
