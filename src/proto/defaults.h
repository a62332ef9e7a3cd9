/* What the agent applies to an argument a request leaves out, and what the
 * host's contract table (src/lib/workspace) declares as the same
 * argument's default: one definition for both sides of the protocol. */
#ifndef PYRO_PROTO_DEFAULTS_H
#define PYRO_PROTO_DEFAULTS_H

/* shell_open: the terminal's size. */
#define PROTO_SHELL_COLS 120
#define PROTO_SHELL_ROWS 30
/* shell_read: the most output one read returns. */
#define PROTO_SHELL_READ 65536
/* service_start: the time between readiness probes, and its bounds. */
#define PROTO_SERVICE_INTERVAL_MS 500
#define PROTO_SERVICE_INTERVAL_MIN_MS 10
#define PROTO_SERVICE_INTERVAL_MAX_MS 60000

#endif
