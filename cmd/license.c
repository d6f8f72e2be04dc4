/* modl license REPO[@REV]|DIR [--policy FILE]: audit the license a model ships with. */
#include <stdio.h>

#include "args.h"
#include "util/error.h"
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

static int run(const struct modl_ctx *ctx, int argc, char **argv)
{
	const char *type_name = "model", *policy = NULL;
	int remote = 0;
	const struct args_option options[] = {
		{ "policy", 0, ARGS_STRING, &policy, 0, 0 },
		{ "remote", 0, ARGS_FLAG, &remote, 0, 0 },
		{ "repo-type", 0, ARGS_STRING, &type_name, 0, 0 },
		{ 0 },
	};
	struct license_request req = { 0 };
	struct license_report report;
	int n, rc = args_parse("license", options, argc, argv, &n);
	if (rc)
		return rc;
	if (n != 1)
		return modl_error_set(MODL_EUSAGE, "license: expected one REPO[@REV] or DIR (see 'modl help license')");
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
			rc = output_json(license_report_to_json(&report));
		else
			license_report_print(&report, stdout);
		if (!rc)
			rc = license_report_policy_error(&report);
	}
	license_report_free(&report);
	return rc;
}

const struct modl_command cmd_license = { "license", "audit the license terms a model ships with",
					  usage, run };
