/* Human rendering of `pyro doctor`: an aligned table of checks (wrapped to
 * 100 columns), then the backends, rootless and sandbox limits summaries. */
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "cli/cli.h"

#define DOCTOR_COLUMNS 100

/* Prints text word-wrapped into the columns [indent, DOCTOR_COLUMNS); the
 * cursor already stands at column indent. */
static void print_wrapped(const char *text, int indent)
{
    int width = DOCTOR_COLUMNS - indent;
    int col = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        int wl = (int)strcspn(p, " ");
        if (col > 0 && col + 1 + wl > width) {
            printf("\n%*s", indent, "");
            col = 0;
        } else if (col > 0) {
            putchar(' ');
            col++;
        }
        while (wl > width - col) { /* a word longer than the column: hard break */
            int take = width - col;
            printf("%.*s\n%*s", take, p, indent, "");
            p += take;
            wl -= take;
            col = 0;
        }
        printf("%.*s", wl, p);
        col += wl;
        p += wl;
    }
    putchar('\n');
}

int cli_doctor_exit(const json_t *result)
{
    return json_is_true(json_object_get(result, "ok")) ? 0 : 1;
}

int cli_print_doctor(struct cli_run *run, json_t *result)
{
    (void)run;
    json_t *checks = json_object_get(result, "checks");
    size_t i;
    json_t *c;
    int namew = 5;
    json_array_foreach(checks, i, c) {
        int l = (int)strlen(json_get_str(c, "name", ""));
        namew = l > namew ? l : namew;
    }
    int indent = namew + 2 + 6 + 2;
    printf("%-*s  %-6s  %s\n", namew, "CHECK", "STATUS", "DETAIL");
    json_array_foreach(checks, i, c) {
        printf("%-*s  %-6s  ", namew, json_get_str(c, "name", ""), json_get_str(c, "status", ""));
        print_wrapped(json_get_str(c, "detail", ""), indent);
        const char *hint = json_get_str(c, "hint", "");
        if (hint[0] && strcmp(json_get_str(c, "status", ""), "pass")) {
            printf("%*sfix: ", indent, "");
            print_wrapped(hint, indent + 5);
        }
    }

    json_t *backends = json_object_get(result, "backends");
    printf("\nBackends:\n");
    const char *names[] = {"sandbox", "vm"};
    for (size_t b = 0; b < 2; b++) {
        json_t *be = json_object_get(backends, names[b]);
        char state[64];
        const char *accel = json_get_str(be, "accelerator", NULL);
        bool avail = json_get_bool(be, "available", false);
        if (avail && accel)
            snprintf(state, sizeof(state), "available (%s)", accel);
        else
            snprintf(state, sizeof(state), "%s", avail ? "available" : "unavailable");
        printf("  %-8s %-17s ", names[b], state);
        print_wrapped(json_get_str(be, "reason", ""), 2 + 8 + 1 + 17 + 1);
    }
    json_t *au = json_object_get(backends, "auto");
    if (au) {
        char state[64];
        snprintf(state, sizeof(state), "picks %s", json_get_str(au, "backend", "?"));
        printf("  %-8s %-17s ", "auto", state);
        print_wrapped(json_get_str(au, "reason", ""), 2 + 8 + 1 + 17 + 1);
        printf("  %-8s %-17s\n", "default", json_get_str(au, "default", "auto"));
    }
    json_t *rootless = json_object_get(result, "rootless");
    printf("\nRootless:      ");
    print_wrapped(json_get_str(rootless, "summary", ""), 15);
    json_t *limits = json_object_get(result, "sandbox_limits");
    char text[256];
    snprintf(text, sizeof(text), "sandboxes of uid %lld: %s", (long long)json_get_int(limits, "uid", -1),
             json_get_str(limits, "summary", ""));
    printf("Limits:        ");
    print_wrapped(text, 15);
    printf("\nState dir:     %s\n", json_get_str(result, "state_dir", ""));
    printf("Environments:  %s", json_get_str(result, "environments_dir", ""));
    json_t *envs = json_object_get(result, "environments");
    if (json_array_size(envs) == 0)
        printf(" (none installed)\n");
    else {
        printf("\n");
        json_array_foreach(envs, i, c)
            printf("  %s\n", json_string_value(c));
    }
    json_t *dl = json_object_get(result, "daily_loop");
    if (dl) {
        snprintf(text, sizeof(text), "%s: %s (%s)", json_get_str(dl, "environment", ""), json_get_str(dl, "status", ""),
                 json_get_str(dl, "reason", ""));
        printf("Daily loop:    ");
        print_wrapped(text, 15);
    }
    int status = cli_doctor_exit(result);
    printf("\n%s\n", status == 0 ? "OK: at least one isolation backend can run."
                                 : "NOT OK: no isolation backend can run on this host.");
    return status;
}
