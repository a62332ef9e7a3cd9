/* Human rendering of `pyro host ...`: what was written where, the snippet
 * alone for print-config, one block per host for doctor and repair. */
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "cli/cli.h"

int cli_host_exit(const json_t *result)
{
    return json_is_false(json_object_get(result, "ok")) ? 1 : 0;
}

static void print_command(const json_t *r, const char *ck, const char *ak)
{
    printf("%s", json_get_str(r, ck, ""));
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(r, ak), i, a)
        printf(" %s", json_is_string(a) ? json_string_value(a) : "?");
    putchar('\n');
}

int cli_print_host_connect(struct cli_run *run, json_t *result)
{
    (void)run;
    const char *method = json_get_str(result, "method", "file");
    printf("%s: pyro added (%s scope) %s\n", json_get_str(result, "host", ""), json_get_str(result, "scope", ""),
           !strcmp(method, "cli") ? "with the host's own CLI" : "by pyro");
    printf("  config:  %s\n", json_get_str(result, "config_path", ""));
    printf("  server:  ");
    print_command(result, "command", "args");
    const char *bak = json_get_str(result, "backup_path", NULL);
    if (bak)
        printf("  backup:  %s\n", bak);
    if (json_object_get(result, "repaired")) {
        json_t *p;
        size_t i;
        json_array_foreach(json_object_get(result, "problems_before"), i, p)
            printf("  fixed:   %s\n", json_string_value(p));
        json_array_foreach(json_object_get(result, "problems"), i, p)
            printf("  problem: %s\n", json_string_value(p));
    }
    return cli_host_exit(result);
}

int cli_print_host_repair(struct cli_run *run, json_t *result)
{
    if (json_is_true(json_object_get(result, "repaired")))
        return cli_print_host_connect(run, result);
    printf("%s: the pyro entry in %s is healthy; nothing to repair\n", json_get_str(result, "host", ""),
           json_get_str(result, "config_path", ""));
    return 0;
}

int cli_print_host_print_config(struct cli_run *run, json_t *result)
{
    (void)run;
    fprintf(stderr, "# %s, %s scope: %s\n", json_get_str(result, "host", ""), json_get_str(result, "scope", ""),
            json_get_str(result, "config_path", ""));
    fputs(json_get_str(result, "snippet", ""), stdout);
    return 0;
}

int cli_print_host_doctor(struct cli_run *run, json_t *result)
{
    (void)run;
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(result, "hosts"), i, h) {
        bool configured = json_is_true(json_object_get(h, "configured"));
        bool ok = json_is_true(json_object_get(h, "ok"));
        const char *verdict = !configured ? (ok ? "not configured" : "FAIL") : ok ? "PASS" : "FAIL";
        printf("%-12s %-14s %s\n", json_get_str(h, "host", ""), verdict, json_get_str(h, "config_path", ""));
        if (configured) {
            printf("  server:  ");
            print_command(h, "entry_command", "entry_args");
        }
        if (json_is_true(json_object_get(h, "server_ok")))
            printf("  answers initialize and tools/list (%lld tools)\n", json_get_int(h, "tools", 0));
        json_t *p;
        size_t j;
        json_array_foreach(json_object_get(h, "problems"), j, p)
            printf("  problem: %s\n", json_string_value(p));
    }
    if (!json_is_true(json_object_get(result, "ok")))
        printf("fix with: pyro host repair HOST\n");
    return cli_host_exit(result);
}

/* prepare and demo: their steps, one line each, then the verdict. */
int cli_print_steps(struct cli_run *run, json_t *result)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(result, "steps"), i, s) {
        printf("%-10s %6lld ms  %s\n", json_get_str(s, "step", ""), json_get_int(s, "ms", 0),
               json_get_str(s, "detail", ""));
        const char *r = json_get_str(s, "result", NULL);
        if (r && r[0]) {
            /* indented, one line at a time */
            for (const char *p = r; *p;) {
                size_t l = strcspn(p, "\n");
                printf("%21s%.*s\n", "", (int)l, p);
                p += l + (p[l] ? 1 : 0);
            }
        }
    }
    if (!strcmp(run->op->name, "prepare")) {
        printf("%s: %s%s\n", json_get_str(result, "environment", ""), json_get_str(result, "status", ""),
               json_is_true(json_object_get(result, "skipped")) ? " (already prepared; --force redoes it)" : "");
        printf("manifest: %s\n", json_get_str(result, "manifest_path", ""));
    } else {
        printf("demo done on %s (%s): next, 'pyro mcp serve' or 'pyro host connect claude-code'\n",
               json_get_str(result, "environment", ""), json_get_str(result, "execution_mode", ""));
    }
    return 0;
}
