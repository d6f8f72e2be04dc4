/* modl: the command table, global options, and the one place where an error code
 * becomes an exit status (doc/cli.md "Exit codes"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "util/error.h"
#include "util/escape.h"
#include "hub/http.h"
#include "util/version.h"
#include "command.h"

/* clang-format off */
static const struct modl_command *const commands[] = {
	&cmd_pull,
	&cmd_verify,
	&cmd_license,
	&cmd_cache,
	&cmd_convert,
	&cmd_quantize,
	&cmd_info,
	&cmd_ls,
	&cmd_inspect,
	&cmd_login,
	&cmd_logout,
	&cmd_whoami,
	&cmd_env,
};
/* clang-format on */
#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static const char global_usage[] =
	"usage: modl [--help] [--version] [-q|--quiet] [-v|--verbose] [--json] <command> [args]\n";

static void print_table(FILE *out)
{
	fputs(global_usage, out);
	fputs("\nCommands:\n", out);
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
	fputs("\nGlobal options (before or after the command):\n"
	      "  -h, --help     show help (for a command: modl help <command>)\n"
	      "  --version      print the version\n"
	      "  -q, --quiet    print nothing but results and errors\n"
	      "  -v, --verbose  log HTTP requests and answers to stderr (token redacted)\n"
	      "  --json         one JSON document on stdout\n"
	      "\nExit codes: 0 ok, 1 failure, 2 usage, 3 network, 4 not found, 5 auth,\n"
	      "6 integrity, 7 license policy, 8 invalid input. See modl(1).\n",
	      out);
}

static const struct modl_command *find_command(const char *name)
{
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

static int unknown_command(const char *name)
{
	const char *names[COMMAND_COUNT];
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		names[i] = commands[i]->name;
	const char *hint = args_suggest(name, names, COMMAND_COUNT);
	if (hint)
		return modl_error_set(MODL_EUSAGE, "unknown command '%s' (did you mean '%s'?)", name, hint);
	return modl_error_set(MODL_EUSAGE, "unknown command '%s' (see 'modl --help')", name);
}

struct globals {
	int help, version;
	const char *command;
};

/* Takes the global options out of argv wherever they stand (before "--"), leaving the
 * command name first and its arguments after it. */
static void take_globals(struct modl_ctx *ctx, struct globals *g, int *argc, char **argv)
{
	int out = 1, seen_dashdash = 0;
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		if (!seen_dashdash) {
			if (!strcmp(a, "--")) {
				seen_dashdash = 1;
			} else if (!strcmp(a, "--json")) {
				ctx->json = 1;
				continue;
			} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
				ctx->quiet = 1;
				continue;
			} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
				ctx->verbose = 1;
				continue;
			} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
				g->help = 1;
				continue;
			} else if (!strcmp(a, "--version")) {
				g->version = 1;
				continue;
			}
		}
		argv[out++] = argv[i];
	}
	*argc = out;
	argv[out] = NULL;
}

static int run(int argc, char **argv)
{
	struct modl_ctx ctx = { 0 };
	struct globals g = { 0 };
	take_globals(&ctx, &g, &argc, argv);
	if (g.version) {
		printf("modl %s\n", MODL_VERSION);
		return 0;
	}
	if (argc < 2) {
		print_table(g.help ? stdout : stderr);
		return g.help ? 0 : modl_error_set(MODL_EUSAGE, "no command given");
	}
	const char *name = argv[1];
	if (name[0] == '-')
		return modl_error_set(MODL_EUSAGE, "unknown option '%s' (see 'modl --help')", name);
	if (!strcmp(name, "help")) {
		if (argc < 3) {
			print_table(stdout);
			return 0;
		}
		const struct modl_command *c = find_command(argv[2]);
		if (!c)
			return unknown_command(argv[2]);
		fputs(c->usage, stdout);
		return 0;
	}
	const struct modl_command *c = find_command(name);
	if (!c)
		return unknown_command(name);
	if (g.help) {
		fputs(c->usage, stdout);
		return 0;
	}
	int rc = settings_load(&ctx.settings);
	if (!rc)
		rc = http_global_init();
	if (!rc) {
		rc = c->run(&ctx, argc - 2, argv + 2);
		http_global_cleanup();
	}
	settings_free(&ctx.settings);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = run(argc, argv);
	if (rc) {
		fflush(stdout);
		/* Messages quote the Hub, cards and headers: escaped here, once for all. */
		fputs("modl: ", stderr);
		escape_fputs(modl_error_message(), 0, stderr);
		fputc('\n', stderr);
	}
	return modl_error_exit_status(rc);
}
