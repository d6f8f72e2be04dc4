/* One option parser for every command (git's parse-options in spirit): long options
 * with "--name value" or "--name=value", short ones with "-x value", "--" ends options,
 * repeatable options collect into a list, and an unknown option gets a suggestion. */
#ifndef MODL_ARGS_H
#define MODL_ARGS_H

#include <stddef.h>

enum args_kind {
	ARGS_FLAG,   /* int *: set to 1 */
	ARGS_STRING, /* const char **: last one wins */
	ARGS_INT,    /* long *: decimal, checked against [min, max] */
	ARGS_LIST,   /* struct args_list *: every occurrence appended */
};

struct args_list {
	const char **items;
	size_t count;
};

struct args_option {
	const char *long_name; /* without "--" */
	char short_name;       /* 0: none */
	enum args_kind kind;
	void *target;
	long min, max; /* ARGS_INT bounds */
};

/* Parses argv[0..argc) (argv[0] is the first argument, not the command name). Options
 * are removed and the remaining arguments are compacted at the front of argv; their
 * number goes to *positional. MODL_EUSAGE with a message naming command on error. */
int args_parse(const char *command, const struct args_option *options, int argc, char **argv,
	       int *positional);

/* For the commands whose first operand is REPO[@REV] and whose one option is --repo-type
 * (info, ls, verify): parses both, checks that there are min to max operands (else
 * "<command>: expected <operands> (see 'modl help <command>')") and fills *repo. */
struct hub_repo;
int args_parse_repo_command(const char *command, const char *operands, int min, int max, int argc,
			    char **argv, struct hub_repo *repo, int *positional);

void args_list_free(struct args_list *list);

/* The candidate closest to word by edit distance, if close enough to be a likely typo. */
const char *args_suggest(const char *word, const char *const *candidates, size_t count);

#endif
