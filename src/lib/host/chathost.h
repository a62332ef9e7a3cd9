/* Chat-host helpers (docs/hosts.md): the MCP server entry pyro keeps in
 * Claude Code's, Codex's and OpenCode's configuration. One canonical server
 * command line for all three; `pyro host connect` writes it (through the
 * host's own CLI when installed, else into the config file: merged, atomic,
 * with a backup), `print-config` prints it, `doctor` checks it and starts
 * the server it names, `repair` rewrites a stale or broken one. */
#ifndef PYRO_CHATHOST_H
#define PYRO_CHATHOST_H

#include <jansson.h>
#include <stdbool.h>

#include "base/err.h"

enum chathost_kind { CHATHOST_CLAUDE, CHATHOST_CODEX, CHATHOST_OPENCODE, CHATHOST_COUNT };

/* The name every entry has in a host's configuration. */
#define CHATHOST_SERVER_NAME "pyro"

struct chathost_target {
    enum chathost_kind kind;
    bool project;      /* project scope, else user scope */
    char *project_dir; /* absolute; project scope, or the --project-path */
    char *config_path; /* the file the entry lives in */
    char *command;     /* absolute path of the pyro binary */
    json_t *args;      /* array of strings: mcp serve [--profile|--mode] [--project-path] */
};

const char *chathost_name(enum chathost_kind k);
int chathost_find(const char *name);
/* The host's CLI program name (claude, codex, opencode). */
const char *chathost_program(enum chathost_kind k);

/* Fills t from an operation's arguments (host, scope, profile, mode,
 * project_path, pyro_path): absolute paths, the config file of the scope. */
int chathost_target_init(struct chathost_target *t, enum chathost_kind k, const json_t *args, pyro_error *err);
/* (Re)finds t's config file: OpenCode's may be opencode.json or .jsonc. */
int chathost_target_locate(struct chathost_target *t, pyro_error *err);
void chathost_target_clear(struct chathost_target *t);

/* chathost_file.c: the config file. Loads it (a missing file is an empty
 * config: *text = NULL), refusing a symlink or a non-regular file. */
int chathost_file_read(const char *path, char **text, pyro_error *err);
/* Replaces path with text atomically, after copying the old file to
 * <path>.pyro-backup (returned in *backup, NULL when there was none).
 * Refuses a symlink and a read-only file; the file keeps its mode. */
int chathost_file_write(const char *path, const char *text, char **backup, pyro_error *err);

/* chathost_toml.c: the [mcp_servers.<name>] table of a Codex config.toml. */
int chathost_toml_check(const char *text, pyro_error *err);
/* The entry (command, args) or -ENOENT. */
int chathost_toml_get(const char *text, const char *name, char **command, json_t **args, pyro_error *err);
/* text with the table (and its subtables) replaced by a new one. */
char *chathost_toml_put(const char *text, const char *name, const char *command, const json_t *args);
char *chathost_toml_table(const char *name, const char *command, const json_t *args);

/* chathost_entry.c: the entry in a host's config, read and written by pyro. */
/* The entry as the config file holds it: {command, args}, or -ENOENT. */
int chathost_entry_read(const struct chathost_target *t, json_t **entry, pyro_error *err);
/* Merges the entry into the config file; *backup as chathost_file_write. */
int chathost_entry_write(const struct chathost_target *t, char **backup, pyro_error *err);
/* The snippet a user pastes into the host's config. */
char *chathost_snippet(const struct chathost_target *t);

/* chathost_cli.c: the host's own CLI. Adds the entry with it (replacing an
 * old one); -ENOENT when the CLI is not installed. *cli_output gets what it
 * printed. A failure quotes its message. */
int chathost_cli_add(const struct chathost_target *t, char **cli_output, pyro_error *err);
/* Starts the server of entry {command, args} and speaks initialize and
 * tools/list to it over stdio; *tools gets the number of tools. */
int chathost_probe_server(const json_t *entry, int *tools, pyro_error *err);

#endif
