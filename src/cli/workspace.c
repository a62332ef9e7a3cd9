/* Human output of `pyro workspace ...`: exec prints the command's streams
 * and exits with its status, file read prints the raw content, diff the
 * patch, list and logs one line per item. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "cli/cli.h"
#include "lib/workspace/cquote.h"

int cli_print_ws_exec(struct cli_run *run, json_t *result)
{
    (void)run;
    const json_t *o = json_object_get(result, "stdout"), *e = json_object_get(result, "stderr");
    fwrite(json_string_value(o), 1, json_string_length(o), stdout);
    fflush(stdout);
    fwrite(json_string_value(e), 1, json_string_length(e), stderr);
    fprintf(stderr, "[workspace-exec] workspace_id=%s sequence=%lld exit_code=%lld duration_ms=%lld%s%s\n",
            json_get_str(result, "workspace_id", ""), json_get_int(result, "sequence", 0),
            json_get_int(result, "exit_code", -1), json_get_int(result, "duration_ms", 0),
            json_get_bool(result, "timed_out", false) ? " timed_out=true" : "",
            json_get_bool(result, "stdout_truncated", false) || json_get_bool(result, "stderr_truncated", false)
                ? " output_truncated=true"
                : "");
    return cli_run_exit(result);
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int cli_print_ws_file_read(struct cli_run *run, json_t *result)
{
    (void)run;
    const json_t *c = json_object_get(result, "content");
    const char *s = json_string_value(c);
    size_t n = json_string_length(c);
    if (!strcmp(json_get_str(result, "encoding", ""), "base64")) {
        unsigned acc = 0;
        int bits = 0;
        for (size_t i = 0; i < n; i++) {
            int v = b64val((unsigned char)s[i]);
            if (v < 0)
                continue;
            acc = (acc << 6) | (unsigned)v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                putchar((int)((acc >> bits) & 0xff));
            }
        }
    } else
        fwrite(s, 1, n, stdout);
    fflush(stdout);
    if (json_get_bool(result, "truncated", false))
        fprintf(stderr, "[file-read] truncated after %lld of %lld bytes (raise --max-bytes)\n",
                json_get_int(result, "bytes_read", 0), json_get_int(result, "size", 0));
    return 0;
}

int cli_print_ws_diff(struct cli_run *run, json_t *result)
{
    (void)run;
    const json_t *p = json_object_get(result, "patch");
    fwrite(json_string_value(p), 1, json_string_length(p), stdout);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(result, "entries"), i, e) {
        if (json_get_bool(e, "binary", false) || json_object_get(e, "text_omitted") ||
            strcmp(json_get_str(e, "type", "file"), "file") || !strcmp(json_get_str(e, "status", ""), "type_changed")) {
            /* Quoted like the patch headers: a newline in a name must not
             * add lines to what may be saved as a patch. */
            _cleanup_free_ char *name = cquote_name(json_get_str(e, "path", ""));
            printf("%s %s (%s%s%s)\n", json_get_str(e, "status", ""), name, json_get_str(e, "type", ""),
                   json_get_bool(e, "binary", false) ? ", binary" : "",
                   json_object_get(e, "text_omitted") ? ", text omitted" : "");
        }
    }
    json_t *s = json_object_get(result, "summary");
    fprintf(stderr,
            "[diff] changed=%s total=%lld added=%lld modified=%lld deleted=%lld type_changed=%lld binary=%lld\n",
            json_get_bool(result, "changed", false) ? "true" : "false", json_get_int(s, "total", 0),
            json_get_int(s, "added", 0), json_get_int(s, "modified", 0), json_get_int(s, "deleted", 0),
            json_get_int(s, "type_changed", 0), json_get_int(s, "binary", 0));
    return 0;
}

int cli_print_ws_list(struct cli_run *run, json_t *result)
{
    (void)run;
    static const char *const cols[] = {"workspace_id",     "name",  "state",  "environment", "execution_mode",
                                       "last_activity_at", "ports", "labels", NULL};
    json_t *rows = json_object_get(result, "workspaces");
    if (json_array_size(rows) == 0) {
        printf("no workspaces\n");
        return 0;
    }
    /* Published ports as HOST_PORT->GUEST_PORT (all on 127.0.0.1). */
    json_auto_t *view = json_array();
    size_t i, k;
    json_t *w, *p;
    json_array_foreach(rows, i, w) {
        json_t *row = json_copy(w);
        char ports[256] = "-";
        size_t used = 0;
        json_array_foreach(json_object_get(w, "published_ports"), k, p) {
            if (used + 16 >= sizeof(ports))
                break;
            used += (size_t)snprintf(ports + used, sizeof(ports) - used, "%s%lld->%lld", used ? "," : "",
                                     json_get_int(p, "host_port", 0), json_get_int(p, "guest_port", 0));
        }
        json_set(row, "ports", json_string(ports));
        json_array_append_new(view, row);
    }
    human_table(view, cols, 0);
    return 0;
}

int cli_print_ws_logs(struct cli_run *run, json_t *result)
{
    (void)run;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(result, "entries"), i, e) {
        printf("#%lld [exit %lld, %lld ms, %s] $ %s\n", json_get_int(e, "sequence", 0),
               json_get_int(e, "exit_code", -1), json_get_int(e, "duration_ms", 0), json_get_str(e, "started_at", ""),
               json_get_str(e, "command", ""));
        const char *keys[] = {"stdout", "stderr"};
        for (size_t k = 0; k < 2; k++) {
            const char *t = json_get_str(e, keys[k], "");
            if (*t)
                printf("  %s: %s%s", keys[k], t, t[strlen(t) - 1] == '\n' ? "" : "\n");
        }
    }
    fprintf(stderr, "[logs] count=%lld\n", json_get_int(result, "count", 0));
    return 0;
}
