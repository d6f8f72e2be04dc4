/* Progress for long operations: a redrawn bar on a terminal (total bytes, rate, ETA and the
 * files in flight), plain lines otherwise, nothing at all when quiet. Workers call it from
 * any thread; only this module writes progress to stderr. */
#ifndef MODL_PROGRESS_H
#define MODL_PROGRESS_H

enum progress_mode { PROGRESS_NONE, PROGRESS_LINES, PROGRESS_BAR };

struct progress;

/* The mode doc/cli.md asks for: none with --quiet or --json; a bar only when stderr is a
 * terminal and neither HF_HUB_DISABLE_PROGRESS_BARS nor NO_COLOR is set; lines otherwise. */
enum progress_mode progress_choose(int quiet, int json, int no_progress_env);

int progress_new(struct progress **out, enum progress_mode mode, const char *verb);
void progress_free(struct progress *p);

void progress_set_total(struct progress *p, unsigned long long bytes, unsigned files);
void progress_add_bytes(struct progress *p, unsigned long long bytes);
void progress_file_start(struct progress *p, const char *name);
/* A file is finished; skipped says it was already present. */
void progress_file_done(struct progress *p, const char *name, unsigned long long bytes, int skipped);
/* A line of information (not with PROGRESS_NONE). */
void progress_note(struct progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Stops the bar and leaves the terminal line clean. */
void progress_finish(struct progress *p);

#endif
