/* The daily-loop manifest `pyro prepare ENV` records (docs/prepare.md) and
 * the warm/cold/stale verdict `pyro doctor --environment ENV` reports:
 * <cache>/daily-loop/<environment>.json. */
#ifndef PYRO_DAILY_LOOP_H
#define PYRO_DAILY_LOOP_H

#include <jansson.h>

#include "base/err.h"

/* Writes the manifest of env: rec gets pyro_version and prepared_at added. */
int daily_loop_record(const char *cache_dir, const char *env, json_t *rec, pyro_error *err);
/* {environment, status: warm|cold|stale, reason, manifest_path, prepared_at?}:
 * cold without a manifest; stale when another pyro version made it or the
 * environment install it proved is gone; else warm. */
json_t *daily_loop_verdict(const char *cache_dir, const char *env);

#endif
