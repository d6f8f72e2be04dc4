#include "auth.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strbuf.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

static int parent_dir(const char *path, struct strbuf *dir)
{
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return strbuf_adds(dir, slash ? "/" : ".");
	return strbuf_add(dir, path, (size_t)(slash - path));
}

int auth_store_token(const struct modl_settings *s, const char *token)
{
	struct strbuf dir = STRBUF_INIT;
	int rc = parent_dir(s->token_path, &dir);
	if (!rc)
		rc = fs_mkdir_p(dir.buf, 0700);
	if (!rc)
		rc = fs_write_atomic(s->token_path, token, strlen(token), 0600);
	strbuf_free(&dir);
	return rc;
}

int auth_remove_token(const struct modl_settings *s, int *removed)
{
	*removed = access(s->token_path, F_OK) == 0;
	return *removed ? fs_remove(s->token_path) : 0;
}

int auth_read_token(FILE *in, char *out, size_t size)
{
	/* On a terminal the token is typed without echo, like a password. */
	struct termios saved, quiet;
	int fd = fileno(in), tty = isatty(fd) && tcgetattr(fd, &saved) == 0;
	if (tty) {
		quiet = saved;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	char *got = fgets(out, (int)size, in);
	if (tty) {
		tcsetattr(fd, TCSAFLUSH, &saved);
		fputc('\n', stderr);
	}
	if (!got)
		return modl_error_set(MODL_EUSAGE, "login: no token given (use --token or standard input)");
	if (!strchr(out, '\n') && !feof(in))
		return modl_error_set(MODL_EUSAGE, "login: token too long");
	if (!settings_clean_token(out))
		return modl_error_set(MODL_EUSAGE, "login: empty token");
	return 0;
}
