/* A command: one file in cmd/ exporting one struct modl_command, listed in cmd/main.c. */
#ifndef MODL_COMMAND_H
#define MODL_COMMAND_H

#include "util/settings.h"

/* The dispatcher's options: the only process-wide state, read-only for commands. */
struct modl_ctx {
	int json;
	int quiet;
	int verbose;
	struct modl_settings settings;
};

struct modl_command {
	const char *name;
	const char *summary; /* one line for `modl --help` */
	const char *usage;   /* full usage for `modl help NAME` */
	/* argv[0] is the first argument after the command name. Returns 0 or MODL_E*. */
	int (*run)(const struct modl_ctx *ctx, int argc, char **argv);
};

extern const struct modl_command cmd_pull;
extern const struct modl_command cmd_verify;
extern const struct modl_command cmd_license;
extern const struct modl_command cmd_cache;
extern const struct modl_command cmd_convert;
extern const struct modl_command cmd_quantize;
extern const struct modl_command cmd_info;
extern const struct modl_command cmd_ls;
extern const struct modl_command cmd_inspect;
extern const struct modl_command cmd_login;
extern const struct modl_command cmd_logout;
extern const struct modl_command cmd_whoami;
extern const struct modl_command cmd_env;

#endif
