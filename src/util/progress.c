#include "progress.h"
#include "clock.h"
#include "escape.h"
#include "strbuf.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_TICK_MS 200
#define PROGRESS_MAX_ACTIVE 3
#define PROGRESS_BAR_WIDTH 24

struct progress {
	enum progress_mode mode;
	char verb[32];
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	int thread_running, stopping;
	unsigned long long total_bytes, done_bytes;
	unsigned total_files, done_files;
	char active[PROGRESS_MAX_ACTIVE][64];
	double started;
	int drawn; /* a bar is on the screen and must be cleared before other output */
};

enum progress_mode progress_choose(int quiet, int json, int no_progress_env)
{
	if (quiet || json)
		return PROGRESS_NONE;
	return !no_progress_env && isatty(STDERR_FILENO) ? PROGRESS_BAR : PROGRESS_LINES;
}

static void clear_line_locked(struct progress *p)
{
	if (p->drawn) {
		fputs("\r\033[K", stderr);
		p->drawn = 0;
	}
}

static void draw_locked(struct progress *p)
{
	struct strbuf line = STRBUF_INIT, a = STRBUF_INIT, b = STRBUF_INIT;
	double elapsed = clock_seconds() - p->started;
	double rate = elapsed > 0.2 ? (double)p->done_bytes / elapsed : 0;
	double frac = p->total_bytes ? (double)p->done_bytes / (double)p->total_bytes : 0;
	if (frac > 1)
		frac = 1;
	int fill = (int)(frac * PROGRESS_BAR_WIDTH);
	strbuf_adds(&line, "\r\033[K[");
	for (int i = 0; i < PROGRESS_BAR_WIDTH; i++)
		strbuf_adds(&line, i < fill ? "=" : i == fill ? ">" : " ");
	strbuf_add_size(&a, p->done_bytes);
	strbuf_add_size(&b, p->total_bytes);
	strbuf_addf(&line, "] %3d%% %s/%s", (int)(frac * 100), a.buf, b.buf);
	strbuf_reset(&a);
	strbuf_add_size(&a, (unsigned long long)rate);
	strbuf_addf(&line, " %s/s", a.buf);
	if (rate > 0 && p->total_bytes > p->done_bytes) {
		unsigned long eta = (unsigned long)((double)(p->total_bytes - p->done_bytes) / rate);
		strbuf_addf(&line, " ETA %lu:%02lu", eta / 60, eta % 60);
	}
	strbuf_addf(&line, "  %u/%u files", p->done_files, p->total_files);
	for (int i = 0; i < PROGRESS_MAX_ACTIVE; i++)
		if (p->active[i][0] && !strbuf_add(&line, " ", 1)) /* names from the Hub */
			escape_add(&line, p->active[i], strlen(p->active[i]), (size_t)-1, 0);
	fputs(line.buf, stderr);
	fflush(stderr);
	p->drawn = 1;
	strbuf_free(&line);
	strbuf_free(&a);
	strbuf_free(&b);
}

static void *progress_thread(void *arg)
{
	struct progress *p = arg;
	pthread_mutex_lock(&p->lock);
	while (!p->stopping) {
		draw_locked(p);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += PROGRESS_TICK_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->wake, &p->lock, &until);
	}
	clear_line_locked(p);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int progress_new(struct progress **out, enum progress_mode mode, const char *verb)
{
	struct progress *p = calloc(1, sizeof(*p));
	if (!p)
		return -1;
	p->mode = mode;
	snprintf(p->verb, sizeof(p->verb), "%s", verb);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	p->started = clock_seconds();
	if (mode == PROGRESS_BAR)
		p->thread_running = pthread_create(&p->thread, NULL, progress_thread, p) == 0;
	if (mode == PROGRESS_BAR && !p->thread_running)
		p->mode = PROGRESS_LINES;
	*out = p;
	return 0;
}

void progress_finish(struct progress *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	if (p->thread_running) {
		pthread_join(p->thread, NULL);
		p->thread_running = 0;
	}
}

void progress_free(struct progress *p)
{
	if (!p)
		return;
	progress_finish(p);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	free(p);
}

void progress_set_total(struct progress *p, unsigned long long bytes, unsigned files)
{
	pthread_mutex_lock(&p->lock);
	p->total_bytes = bytes;
	p->total_files = files;
	p->started = clock_seconds();
	pthread_mutex_unlock(&p->lock);
}

void progress_add_bytes(struct progress *p, unsigned long long bytes)
{
	pthread_mutex_lock(&p->lock);
	p->done_bytes += bytes;
	pthread_mutex_unlock(&p->lock);
}

void progress_file_start(struct progress *p, const char *name)
{
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < PROGRESS_MAX_ACTIVE; i++)
		if (!p->active[i][0]) {
			const char *base = strrchr(name, '/');
			snprintf(p->active[i], sizeof(p->active[i]), "%s", base ? base + 1 : name);
			break;
		}
	pthread_mutex_unlock(&p->lock);
}

void progress_file_done(struct progress *p, const char *name, unsigned long long bytes, int skipped)
{
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	pthread_mutex_lock(&p->lock);
	p->done_files++;
	for (int i = 0; i < PROGRESS_MAX_ACTIVE; i++)
		if (!strncmp(p->active[i], base, sizeof(p->active[i]) - 1)) {
			p->active[i][0] = '\0';
			break;
		}
	if (p->mode == PROGRESS_LINES) {
		struct strbuf size = STRBUF_INIT;
		strbuf_add_size(&size, bytes);
		fprintf(stderr, "%s ", skipped ? "cached" : p->verb);
		escape_fputs(name, 0, stderr);
		fprintf(stderr, " (%s)\n", size.buf);
		strbuf_free(&size);
	}
	pthread_mutex_unlock(&p->lock);
}

void progress_note(struct progress *p, const char *fmt, ...)
{
	if (p->mode == PROGRESS_NONE)
		return;
	va_list ap;
	pthread_mutex_lock(&p->lock);
	clear_line_locked(p);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	pthread_mutex_unlock(&p->lock);
}
