/* The one event loop of pyro's long-running processes (the MCP server, the
 * monitor, pyro-agent), after redis' ae: one thread, epoll underneath.
 *
 * File events: an fd with an interest mask (AE_READABLE, AE_WRITABLE), a
 * callback per direction and one data pointer shared by both (as in redis,
 * adding a direction replaces data). Level-triggered. A hang-up or an
 * error on the fd fires every registered direction, so the reader sees
 * EOF or the error. In one round the read callback runs before the write
 * callback, and a callback registered for both runs once.
 *
 * Timers: a callback that runs ms milliseconds from now (monotonic clock)
 * and returns the ms until its next run, or AE_NOMORE to end. A timer
 * added during a round first runs in a later round.
 *
 * Deleting a file event or a timer from any callback is safe: an event
 * already fetched for a deleted fd is dropped, also when the fd number was
 * registered again in the same round.
 *
 * before_sleep runs before every wait; it may stop the loop and returns the
 * longest wait it allows in ms (-1: no bound). */
#ifndef PYRO_AE_H
#define PYRO_AE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

#define AE_NONE 0
#define AE_READABLE 1
#define AE_WRITABLE 2
#define AE_NOMORE (-1)

struct ae_loop;

/* mask: the directions that fired (a subset of the registered ones). */
typedef void ae_file_fn(struct ae_loop *loop, int fd, int mask, void *data);
/* Returns ms until the next run, or AE_NOMORE. */
typedef int64_t ae_timer_fn(struct ae_loop *loop, int64_t id, void *data);
/* Returns the longest wait allowed in ms, or -1. */
typedef int ae_sleep_fn(struct ae_loop *loop, void *data);

struct ae_loop *ae_new(pyro_error *err);
/* Frees the loop and its timers; does not close any fd. */
void ae_free(struct ae_loop *loop);

/* Adds the directions in mask to fd's interest, with fn as their callback. */
int ae_file_add(struct ae_loop *loop, int fd, int mask, ae_file_fn *fn, void *data, pyro_error *err);
/* Removes the directions in mask; with none left the fd is forgotten (call
 * before closing it). Unknown fds are ignored. */
void ae_file_del(struct ae_loop *loop, int fd, int mask);
/* The registered directions of fd (AE_NONE when unknown). */
int ae_file_mask(const struct ae_loop *loop, int fd);

/* Returns the timer's id (> 0). */
int64_t ae_timer_add(struct ae_loop *loop, int64_t ms, ae_timer_fn *fn, void *data);
/* 0, or -ENOENT when no live timer has that id. */
int ae_timer_del(struct ae_loop *loop, int64_t id);

void ae_set_before_sleep(struct ae_loop *loop, ae_sleep_fn *fn, void *data);

/* One round: waits up to timeout_ms (-1: until an event, or the next
 * timer), runs the callbacks of the fired file events, then the due
 * timers. Returns the number of callbacks run, or a negative error. */
int ae_process(struct ae_loop *loop, int timeout_ms, pyro_error *err);
/* Runs rounds (with before_sleep) until ae_stop(). */
int ae_run(struct ae_loop *loop, pyro_error *err);
/* Ends ae_run() after the current callback; later events of the round are
 * not delivered. */
void ae_stop(struct ae_loop *loop);
bool ae_stopping(const struct ae_loop *loop);

#endif
