/* modl license REPO[@REV]|DIR [--policy FILE]: audit the license a model ships with.
 * src/license/ builds the report; this file prints it, as text or as the --json document. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "util/error.h"
#include "util/escape.h"
#include "license/license.h"
#include "output.h"
#include "command.h"

static const char usage[] =
	"usage: modl license REPO[@REV]|DIR [--policy FILE] [--remote]\n"
	"                    [--repo-type model|dataset|space] [--json]\n"
	"\n"
	"Audit the license a model really ships with: the license its card declares\n"
	"(license, license_name, license_link, gating, base_model), and every license-like\n"
	"file (LICENSE*, LICENCE*, COPYING*, USE_POLICY*, NOTICE*, in any folder), each\n"
	"identified by its content. Reports mismatches between the two, altered texts, the\n"
	"base model chain, and the terms that matter before deployment: commercial use,\n"
	"user thresholds, attribution and naming duties, acceptable-use policy,\n"
	"redistribution and use restrictions. DIR is a directory; REPO is read from the\n"
	"cache when it is there, else from the Hub (only the card and the license files).\n"
	"\n"
	"  --policy FILE     JSON policy (allow, deny, require_commercial_use, max_unknown,\n"
	"                    require_license_file); exit status 7 when the model breaks it\n"
	"  --remote          read REPO from the Hub even when it is cached\n"
	"  --repo-type TYPE  model (default), dataset or space\n"
	"  --json            print one JSON document\n";

/* ---- the --json document ------------------------------------------------------------- */

static cJSON *strings_json(const struct license_strings *list)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; a && i < list->count; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(list->items[i]));
	return a;
}

static cJSON *cjson_strings(const cJSON *items)
{
	cJSON *a = cJSON_CreateArray();
	const cJSON *item;
	cJSON_ArrayForEach(item, items) cJSON_AddItemToArray(a, cJSON_CreateString(item->valuestring));
	return a;
}

static const char *role_name(enum license_role role)
{
	static const char *const names[] = { "license", "policy", "notice", "gate" };
	return names[role];
}

static const char *region_kind_name(enum license_region_kind k)
{
	return k == LICENSE_REGION_CHANGED ? "changed" : k == LICENSE_REGION_REMOVED ? "removed" : "added";
}

static double round2(double x)
{
	return (double)(long long)(x * 100 + 0.5) / 100;
}

static cJSON *threshold_json(double t)
{
	return t > 0 ? cJSON_CreateNumber(t) : cJSON_CreateNull();
}

static void add_detected(cJSON *detected, cJSON *regions, const struct license_file *f)
{
	const struct license_detection *d = &f->detection;
	if (d->count == 0) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "id", "unknown");
		cJSON_AddStringToObject(e, "file", f->path);
		cJSON_AddNumberToObject(e, "confidence", 0);
		cJSON_AddStringToObject(e, "role", role_name(f->role));
		cJSON_AddBoolToObject(e, "read", f->read);
		if (f->note)
			cJSON_AddStringToObject(e, "note", f->note);
		cJSON_AddNumberToObject(e, "words", (double)d->words);
		cJSON *notices = cJSON_AddArrayToObject(e, "notice_of");
		for (size_t k = 0; k < f->notice_count; k++)
			cJSON_AddItemToArray(notices, cJSON_CreateString(f->notice_of[k]));
		cJSON_AddItemToArray(detected, e);
		return;
	}
	for (size_t m = 0; m < d->count; m++) {
		const struct license_match *x = &d->matches[m];
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "id", x->info->id);
		cJSON_AddStringToObject(e, "file", f->path);
		cJSON_AddNumberToObject(e, "confidence", round2(x->confidence));
		cJSON_AddStringToObject(e, "role", role_name(f->role));
		cJSON_AddStringToObject(e, "kind", license_kind_name(x->info->kind));
		cJSON_AddStringToObject(e, "name", x->info->name);
		cJSON_AddNumberToObject(e, "coverage", round2(x->coverage));
		cJSON_AddBoolToObject(e, "altered", x->altered);
		cJSON_AddBoolToObject(e, "incomplete", x->incomplete);
		cJSON_AddNumberToObject(e, "extra_words", (double)x->extra_words);
		cJSON *alts = cJSON_AddArrayToObject(e, "alternatives");
		for (size_t k = 0; k < x->alternative_count; k++)
			cJSON_AddItemToArray(alts, cJSON_CreateString(x->alternatives[k]->id));
		cJSON *notices = cJSON_AddArrayToObject(e, "notice_of");
		for (size_t k = 0; k < f->notice_count; k++)
			cJSON_AddItemToArray(notices, cJSON_CreateString(f->notice_of[k]));
		cJSON_AddItemToArray(detected, e);
		for (size_t k = 0; k < x->region_count && k < LICENSE_MAX_REGIONS; k++) {
			const struct license_region *g = &x->regions[k];
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "file", f->path);
			cJSON_AddStringToObject(o, "id", x->info->id);
			cJSON_AddStringToObject(o, "kind", region_kind_name(g->kind));
			cJSON_AddNumberToObject(o, "line", g->shipped_line);
			cJSON_AddStringToObject(o, "shipped", g->shipped);
			cJSON_AddNumberToObject(o, "known_line", g->known_line);
			cJSON_AddStringToObject(o, "known", g->known);
			cJSON_AddStringToObject(o, "shipped_words", g->shipped_diff);
			cJSON_AddStringToObject(o, "known_words", g->known_diff);
			cJSON_AddItemToArray(regions, o);
		}
	}
}

static cJSON *terms_json(const struct license_report *r)
{
	cJSON *t = cJSON_CreateObject();
	cJSON_AddStringToObject(t, "commercial_use", license_commercial_name(r->commercial));
	cJSON_AddItemToObject(t, "user_threshold", threshold_json(r->user_threshold));
	cJSON_AddItemToObject(t, "attribution", strings_json(&r->attribution));
	cJSON_AddItemToObject(t, "acceptable_use_policy", output_string_or_null(r->acceptable_use_policy));
	cJSON_AddItemToObject(t, "redistribution", strings_json(&r->redistribution));
	cJSON_AddItemToObject(t, "use_restrictions", strings_json(&r->use_restrictions));
	cJSON_AddBoolToObject(t, "altered", r->altered);
	cJSON_AddBoolToObject(t, "non_commercial", r->non_commercial);
	cJSON_AddBoolToObject(t, "research_only", r->research_only);
	return t;
}

static cJSON *license_json(const struct license_applies *a)
{
	const struct license_info *i = a->info;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", a->name);
	cJSON_AddBoolToObject(o, "known", i != NULL);
	cJSON_AddStringToObject(o, "source", a->source);
	cJSON_AddItemToObject(o, "where", output_string_or_null(a->where));
	if (!i)
		return o;
	cJSON_AddStringToObject(o, "name", i->name);
	cJSON_AddItemToObject(o, "hub_id", output_string_or_null(i->hub_id));
	cJSON_AddItemToObject(o, "version", output_string_or_null(i->version));
	cJSON_AddItemToObject(o, "url", output_string_or_null(i->url));
	cJSON_AddStringToObject(o, "commercial_use", license_commercial_name(i->commercial));
	cJSON_AddItemToObject(o, "commercial_note", output_string_or_null(i->commercial_note));
	cJSON_AddItemToObject(o, "user_threshold", threshold_json(i->user_threshold));
	cJSON_AddItemToObject(o, "attribution", cjson_strings(i->attribution));
	cJSON_AddItemToObject(o, "acceptable_use_policy", output_string_or_null(i->acceptable_use_policy));
	cJSON_AddItemToObject(o, "redistribution", cjson_strings(i->redistribution));
	cJSON_AddItemToObject(o, "use_restrictions", cjson_strings(i->use_restrictions));
	cJSON_AddBoolToObject(o, "non_commercial", i->non_commercial);
	cJSON_AddBoolToObject(o, "research_only", i->research_only);
	cJSON_AddBoolToObject(o, "derivatives_inherit", i->derivatives_inherit);
	cJSON_AddItemToObject(o, "notice", output_string_or_null(i->notice));
	if (i->notice)
		cJSON_AddBoolToObject(o, "notice_present", a->notice_present);
	return o;
}

static cJSON *card_json(const struct license_report *r)
{
	const struct license_card *c = &r->card;
	cJSON *o = cJSON_CreateObject(), *list;
	cJSON_AddBoolToObject(o, "read", r->card_read);
	list = cJSON_AddArrayToObject(o, "license");
	for (size_t i = 0; i < c->license_count; i++)
		cJSON_AddItemToArray(list, cJSON_CreateString(c->licenses[i]));
	cJSON_AddItemToObject(o, "license_name", output_string_or_null(c->license_name));
	cJSON_AddItemToObject(o, "license_link", output_string_or_null(c->license_link));
	list = cJSON_AddArrayToObject(o, "base_model");
	for (size_t i = 0; i < c->base_model_count; i++)
		cJSON_AddItemToArray(list, cJSON_CreateString(c->base_models[i]));
	cJSON_AddItemToObject(o, "base_model_relation", output_string_or_null(c->base_model_relation));
	return o;
}

static cJSON *gating_json(const struct license_card *c)
{
	if (!c->gated_prompt && !c->gated_heading && !c->gated_description && !c->gated_button &&
	    !c->gated_field_count)
		return cJSON_CreateNull();
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "prompt", output_string_or_null(c->gated_prompt));
	cJSON_AddItemToObject(o, "heading", output_string_or_null(c->gated_heading));
	cJSON_AddItemToObject(o, "description", output_string_or_null(c->gated_description));
	cJSON_AddItemToObject(o, "button", output_string_or_null(c->gated_button));
	cJSON *fields = cJSON_AddArrayToObject(o, "fields");
	for (size_t i = 0; i < c->gated_field_count; i++)
		cJSON_AddItemToArray(fields, cJSON_CreateString(c->gated_fields[i]));
	return o;
}

static cJSON *report_json(const struct license_report *r)
{
	cJSON *doc = cJSON_CreateObject();
	if (!doc)
		return NULL;
	cJSON *src = cJSON_AddObjectToObject(doc, "source");
	cJSON_AddStringToObject(src, "kind", r->source_kind ? r->source_kind : "");
	cJSON_AddStringToObject(src,
				strcmp(r->source_kind ? r->source_kind : "", "directory") ? "repo" : "path",
				r->location ? r->location : "");
	if (r->revision)
		cJSON_AddStringToObject(src, "revision", r->revision);
	if (r->commit[0])
		cJSON_AddStringToObject(src, "commit", r->commit);
	cJSON_AddItemToObject(doc, "declared", output_string_or_null(r->declared));
	cJSON_AddItemToObject(doc, "card", card_json(r));
	cJSON *detected = cJSON_AddArrayToObject(doc, "detected");
	cJSON *regions = cJSON_CreateArray();
	for (size_t i = 0; i < r->file_count; i++)
		add_detected(detected, regions, &r->files[i]);
	cJSON_AddBoolToObject(doc, "mismatch", r->mismatch);
	cJSON_AddBoolToObject(doc, "base_conflict", r->base_conflict);
	cJSON_AddBoolToObject(doc, "missing_license_file", r->missing_license_file);
	cJSON_AddItemToObject(doc, "terms", terms_json(r));
	cJSON *licenses = cJSON_AddArrayToObject(doc, "licenses");
	for (size_t i = 0; i < r->applies_count; i++)
		cJSON_AddItemToArray(licenses, license_json(&r->applies[i]));
	cJSON *bases = cJSON_AddArrayToObject(doc, "base_models");
	for (size_t i = 0; i < r->base_count; i++) {
		const struct license_base *b = &r->bases[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "repo", b->repo);
		cJSON_AddStringToObject(o, "declared_by", b->parent);
		cJSON_AddNumberToObject(o, "depth", b->depth);
		cJSON_AddItemToObject(o, "license", output_string_or_null(b->declared));
		cJSON_AddItemToObject(o, "id", output_string_or_null(b->info ? b->info->id : NULL));
		cJSON_AddItemToObject(o, "read_from", output_string_or_null(b->via));
		cJSON_AddItemToObject(o, "note", output_string_or_null(b->note));
		cJSON_AddItemToArray(bases, o);
	}
	cJSON_AddItemToObject(doc, "altered_regions", regions);
	cJSON_AddItemToObject(doc, "gating", gating_json(&r->card));
	cJSON_AddNumberToObject(doc, "unknown", (double)r->unknown);
	cJSON_AddStringToObject(doc, "verdict", license_verdict_name(r->verdict));
	cJSON_AddItemToObject(doc, "reasons", strings_json(&r->reasons));
	if (r->policy_source) {
		cJSON *p = cJSON_AddObjectToObject(doc, "policy");
		cJSON_AddStringToObject(p, "file", r->policy_source);
		cJSON_AddBoolToObject(p, "passed", r->verdict != LICENSE_VERDICT_FAIL);
		cJSON_AddItemToObject(p, "violations", strings_json(&r->violations));
	} else {
		cJSON_AddNullToObject(doc, "policy");
	}
	return doc;
}

/* ---- the text report ----------------------------------------------------------------- */

/* Every string of the report may come from outside (the card, the texts shipped, the
 * Hub): each goes through E(), an escaped copy kept until the report is printed. */
#define E(s) escape_pool_str(pool, (s))

#define LABEL "%-15s "
#define INDENT "                "

static void print_list(FILE *out, struct escape_pool *pool, const char *label,
		       const struct license_strings *list)
{
	if (list->count == 0) {
		fprintf(out, "  " LABEL "-\n", label);
		return;
	}
	for (size_t i = 0; i < list->count; i++)
		fprintf(out, "  " LABEL "%s\n", i ? "" : label, E(list->items[i]));
}

static void print_files(const struct license_report *r, FILE *out, struct escape_pool *pool)
{
	if (r->file_count == 0)
		fprintf(out, LABEL "none\n", "files");
	for (size_t i = 0; i < r->file_count; i++) {
		const struct license_file *f = &r->files[i];
		const struct license_detection *d = &f->detection;
		const char *label = i ? "" : "files";
		if (!f->read) {
			fprintf(out, LABEL "%-30s not read: %s\n", label, E(f->path),
				f->note ? E(f->note) : "");
			continue;
		}
		if (d->count == 0) {
			fprintf(out, LABEL "%-30s %s\n", label, E(f->path),
				f->role == LICENSE_ROLE_NOTICE ? "notices (no known license text)"
							       : "unknown");
			continue;
		}
		for (size_t m = 0; m < d->count; m++) {
			const struct license_match *x = &d->matches[m];
			fprintf(out, LABEL "%-30s %s (confidence %.2f)%s%s\n", m ? "" : label,
				m ? "" : E(f->path), x->info->id, x->confidence,
				x->altered ? ", ALTERED" : "", x->incomplete ? ", incomplete" : "");
			for (size_t k = 0; k < x->region_count && k < LICENSE_MAX_REGIONS && k < 3; k++) {
				const struct license_region *g = &x->regions[k];
				fprintf(out,
					INDENT "  line %u, %s: \"%s\" -> \"%s\"\n" INDENT
					       "    shipped: %s\n" INDENT "    known:   %s\n",
					g->shipped_line, region_kind_name(g->kind), E(g->known_diff),
					E(g->shipped_diff), E(g->shipped), E(g->known));
			}
			if (x->region_count > 3)
				fprintf(out, INDENT "  ... %zu more (see --json)\n", x->region_count - 3);
		}
	}
}

static void report_print(const struct license_report *r, FILE *out)
{
	struct escape_pool strings = ESCAPE_POOL_INIT, *pool = &strings;
	if (r->commit[0])
		fprintf(out, LABEL "%s@%.12s (%s)\n", "source", E(r->location), r->commit,
			!strcmp(r->source_kind, "cache") ? "cached snapshot" : "Hub");
	else
		fprintf(out, LABEL "%s (directory)\n", "source", E(r->location));
	fprintf(out, LABEL "%s", "declared", r->declared ? E(r->declared) : "none");
	if (r->card.license_link)
		fprintf(out, " (%s)", E(r->card.license_link));
	fputc('\n', out);
	if (r->card.gated_prompt || r->card.gated_field_count)
		fprintf(out, LABEL "yes: users accept a prompt%s before access\n", "gated",
			r->card.gated_field_count ? " and fill in fields" : "");
	print_files(r, out, pool);
	for (size_t i = 0; i < r->base_count; i++) {
		const struct license_base *b = &r->bases[i];
		fprintf(out, LABEL "%s%s: %s\n", i ? "" : "base models", b->depth > 1 ? "  via " : "",
			E(b->repo),
			b->via ? (b->declared ? E(b->declared) : "no license declared")
			       : (b->note ? E(b->note) : "not read"));
	}
	fprintf(out, LABEL "%s%s\n", "mismatch", r->mismatch ? "YES" : "no",
		r->base_conflict ? " (and the base model's license differs)" : "");
	fprintf(out, "terms\n");
	fprintf(out, "  " LABEL "%s", "commercial use", license_commercial_name(r->commercial));
	for (size_t i = 0; i < r->applies_count; i++)
		if (r->applies[i].info && r->applies[i].info->commercial != LICENSE_COMMERCIAL_ALLOWED &&
		    r->applies[i].info->commercial_note)
			fprintf(out, "\n  " LABEL "%s: %s", "", E(r->applies[i].name),
				E(r->applies[i].info->commercial_note));
	fputc('\n', out);
	if (r->user_threshold > 0) {
		char digits[32], grouped[48];
		size_t n = (size_t)snprintf(digits, sizeof(digits), "%.0f", r->user_threshold), k = 0;
		for (size_t i = 0; i < n && k + 2 < sizeof(grouped); i++) {
			if (i && (n - i) % 3 == 0)
				grouped[k++] = ',';
			grouped[k++] = digits[i];
		}
		grouped[k] = '\0';
		fprintf(out, "  " LABEL "%s monthly active users\n", "user threshold", grouped);
	} else
		fprintf(out, "  " LABEL "none\n", "user threshold");
	print_list(out, pool, "attribution", &r->attribution);
	fprintf(out, "  " LABEL "%s\n", "acceptable use",
		r->acceptable_use_policy ? E(r->acceptable_use_policy) : "-");
	print_list(out, pool, "redistribution", &r->redistribution);
	print_list(out, pool, "restrictions", &r->use_restrictions);
	fprintf(out, "  " LABEL "%s\n", "altered", r->altered ? "YES" : "no");
	for (size_t i = 0; i < r->applies_count; i++)
		if (r->applies[i].info && r->applies[i].info->url)
			fprintf(out, "  " LABEL "%s: %s\n", i ? "" : "full text", E(r->applies[i].name),
				E(r->applies[i].info->url));
	if (r->policy_source)
		fprintf(out, LABEL "%s (policy %s)\n", "verdict", license_verdict_name(r->verdict),
			E(r->policy_source));
	else
		fprintf(out, LABEL "%s\n", "verdict", license_verdict_name(r->verdict));
	for (size_t i = 0; i < r->reasons.count; i++)
		fprintf(out, "  - %s\n", E(r->reasons.items[i]));
	escape_pool_free(pool);
}

/* ---- the command ---------------------------------------------------------------------- */

static int run(const struct modl_ctx *ctx, int argc, char **argv)
{
	const char *type_name = "model", *policy = NULL;
	int remote = 0;
	/* clang-format off */
	const struct args_option options[] = {
		{ "policy", 0, ARGS_STRING, &policy, 0, 0 },
		{ "remote", 0, ARGS_FLAG, &remote, 0, 0 },
		{ "repo-type", 0, ARGS_STRING, &type_name, 0, 0 },
		{ 0 },
	};
	/* clang-format on */
	struct license_request req = { 0 };
	struct license_report report;
	int n, rc = args_parse("license", options, argc, argv, &n);
	if (rc)
		return rc;
	if (n != 1)
		return modl_error_set(MODL_EUSAGE,
				      "license: expected one REPO[@REV] or DIR (see 'modl help license')");
	if (policy && !*policy)
		return modl_error_set(MODL_EUSAGE, "license: --policy needs a file");
	if ((rc = hub_parse_repo_type(type_name, &req.type)))
		return rc;
	req.target = argv[0];
	req.remote = remote;
	req.policy_path = policy;
	rc = license_audit(&ctx->settings, ctx->verbose, &req, &report);
	if (!rc) {
		if (ctx->json)
			rc = output_json(report_json(&report));
		else
			report_print(&report, stdout);
		if (!rc)
			rc = license_report_policy_error(&report);
	}
	license_report_free(&report);
	return rc;
}

const struct modl_command cmd_license = { "license", "audit the license terms a model ships with", usage,
					  run };
