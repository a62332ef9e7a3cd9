/* CLI parsing and --help, derived from the contract table. */
#include "cli/derive.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/shell.h"

/* "vm create" matches argv {"vm","create",...}: returns the word count. */
static int cli_match(const char *cli, int argc, char **argv)
{
    int n = 0;
    const char *p = cli;
    while (*p) {
        const char *sp = strchr(p, ' ');
        size_t len = sp ? (size_t)(sp - p) : strlen(p);
        if (n >= argc || strlen(argv[n]) != len || strncmp(argv[n], p, len) != 0)
            return 0;
        n++;
        p += len;
        while (*p == ' ')
            p++;
    }
    return n;
}

const struct contract_op *cli_find(int argc, char **argv, int *consumed, const struct contract_group **group)
{
    const struct contract_op *best = NULL;
    int best_n = 0;
    for (size_t i = 0; contract_ops[i]; i++) {
        if (!contract_ops[i]->cli)
            continue;
        int n = cli_match(contract_ops[i]->cli, argc, argv);
        if (n > best_n) {
            best = contract_ops[i];
            best_n = n;
        }
    }
    *consumed = best_n;
    if (group) {
        *group = NULL;
        for (size_t i = 0; argc > 0 && contract_groups[i].name; i++)
            if (strcmp(contract_groups[i].name, argv[0]) == 0)
                *group = &contract_groups[i];
    }
    return best;
}

void cli_flag_name(const struct contract_param *p, char *buf, size_t size)
{
    if (p->flag) {
        snprintf(buf, size, "%s", p->flag);
        return;
    }
    snprintf(buf, size, "%s", p->name);
    for (char *c = buf; *c; c++)
        if (*c == '_')
            *c = '-';
}

static const char *metavar(const struct contract_param *p)
{
    if (p->metavar)
        return p->metavar;
    switch (p->type) {
    case PT_INT: return "N";
    case PT_MAP: return "KEY=VALUE";
    case PT_PORTS: return "[HOST_PORT:]GUEST_PORT";
    case PT_STRING:
    case PT_BOOL:
    case PT_LIST:
    default: return "VALUE";
    }
}

/* Finds the parameter a "--flag" names; *negated for "--no-flag" booleans. */
static const struct contract_param *find_flag(const struct contract_op *op, const char *name, bool *negated)
{
    char buf[128];
    *negated = false;
    for (const struct contract_param *p = op->params; p && p->name; p++) {
        if (p->flags & (PF_POSITIONAL | PF_REST | PF_OBJECTS))
            continue;
        cli_flag_name(p, buf, sizeof(buf));
        if (strcmp(buf, name) == 0)
            return p;
        if (p->type == PT_BOOL && strncmp(name, "no-", 3) == 0 && strcmp(buf, name + 3) == 0) {
            *negated = true;
            return p;
        }
    }
    return NULL;
}

/* Records a usage error. Parsing goes on after one (so that --json and
 * --help later on the line still count); the first error is the one kept. */
__attribute__((format(printf, 3, 4))) static int usage_err(pyro_error *err, const struct contract_op *op,
                                                           const char *fmt, ...)
{
    if (err->code < 0)
        return err->code;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return err_set(err, -PYRO_E_INVALID, "%s (see 'pyro %s --help')", msg, op->cli);
}

/* Converts one CLI word into a JSON value of p's type and stores it. */
static int store_value(const struct contract_op *op, const struct contract_param *p, const char *flag, const char *val,
                       json_t *args, pyro_error *err)
{
    if (!utf8_valid(val, strlen(val)))
        return usage_err(err, op, "%s: value is not valid UTF-8%s", flag, "");
    switch (p->type) {
    case PT_STRING: json_set(args, p->name, json_string(val)); return 0;
    case PT_INT: {
        char *end = NULL;
        errno = 0;
        long long n = strtoll(val, &end, 10);
        if (!val[0] || *end || errno == ERANGE)
            return usage_err(err, op, "%s expects an integer, got '%s'", flag, val);
        json_set(args, p->name, json_integer(n));
        return 0;
    }
    case PT_BOOL:
        if (!strcmp(val, "true") || !strcmp(val, "yes") || !strcmp(val, "1"))
            json_set(args, p->name, json_true());
        else if (!strcmp(val, "false") || !strcmp(val, "no") || !strcmp(val, "0"))
            json_set(args, p->name, json_false());
        else
            return usage_err(err, op, "%s expects true or false, got '%s'", flag, val);
        return 0;
    case PT_MAP: {
        const char *eq = strchr(val, '=');
        if (!eq && (p->flags & PF_MAP_BARE) && val[0])
            eq = val + strlen(val); /* KEY alone: KEY=KEY */
        if (!eq || eq == val)
            return usage_err(err, op, "%s expects KEY=VALUE, got '%s'", flag, val);
        json_t *m = json_object_get(args, p->name);
        if (!m) {
            m = json_object();
            json_set(args, p->name, m);
        }
        _cleanup_free_ char *key = xstrndup(val, (size_t)(eq - val));
        const char *v = *eq ? eq + 1 : key;
        json_set(m, key, json_bytes(v, strlen(v), NULL));
        return 0;
    }
    case PT_LIST:
    case PT_PORTS: {
        json_t *l = json_object_get(args, p->name);
        if (!l) {
            l = json_array();
            json_set(args, p->name, l);
        }
        json_array_append_new(l, json_bytes(val, strlen(val), NULL));
        return 0;
    }
    default: return usage_err(err, op, "%s has an unsupported type%s", flag, "");
    }
}

int cli_parse(const struct contract_op *op, int argc, char **argv, json_t **out, struct cli_opts *opts, pyro_error *err)
{
    json_auto_t *args = json_object();
    const struct contract_param *positional[16];
    const struct contract_param *rest = NULL;
    size_t npos = 0, posi = 0;

    memset(opts, 0, sizeof(*opts));
    err_clear(err);
    for (const struct contract_param *p = op->params; p && p->name; p++) {
        if ((p->flags & PF_POSITIONAL) && npos < ARRAY_SIZE(positional))
            positional[npos++] = p;
        if (p->flags & PF_REST)
            rest = p;
    }

    int i = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            opts->help = true;
            continue;
        }
        if (!strcmp(a, "--json")) {
            opts->json = true;
            continue;
        }
        if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            opts->quiet = true;
            continue;
        }
        if (!strcmp(a, "--id-only") && op->id_key) {
            opts->id_only = true;
            continue;
        }
        if (a[0] == '-' && a[1] == '-') {
            _cleanup_free_ char *name = xstrdup(a + 2);
            char *eq = strchr(name, '=');
            const char *val = NULL;
            bool neg;
            if (eq) {
                *eq = '\0';
                val = eq + 1;
            }
            const struct contract_param *p = find_flag(op, name, &neg);
            if (!p || (neg && val)) {
                usage_err(err, op, "unknown option '--%s' for 'pyro %s'", name, op->cli);
                continue;
            }
            if (p->type == PT_BOOL && !val) {
                json_set(args, p->name, json_boolean(!neg));
                continue;
            }
            if (!val) {
                if (i + 1 >= argc) {
                    usage_err(err, op, "option '%s' needs a value%s", a, "");
                    continue;
                }
                val = argv[++i];
            }
            char flag[140];
            snprintf(flag, sizeof(flag), "--%s", name);
            store_value(op, p, flag, val, args, err);
            continue;
        }
        if (a[0] == '-' && a[1] != '\0') {
            usage_err(err, op, "unknown option '%s' for 'pyro %s'", a, op->cli);
            continue;
        }
        if (posi < npos) {
            store_value(op, positional[posi], positional[posi]->name, a, args, err);
            posi++;
            continue;
        }
        if (rest)
            break; /* the command starts here: everything after it is its own */
        usage_err(err, op, "unexpected argument '%s' for 'pyro %s'", a, op->cli);
    }
    if (i < argc && !rest)
        usage_err(err, op, "unexpected argument '%s' for 'pyro %s'", argv[i], op->cli);
    else if (i < argc) {
        if (rest->type == PT_LIST) {
            json_t *l = json_array();
            for (int k = i; k < argc; k++)
                json_array_append_new(l, json_bytes(argv[k], strlen(argv[k]), NULL));
            json_set(args, rest->name, l);
        } else {
            _cleanup_free_ char *cmd = shell_join_command(argc - i, argv + i);
            json_set(args, rest->name, json_bytes(cmd, strlen(cmd), NULL));
        }
    }
    if (opts->help) {
        *out = json_incref(args);
        err_clear(err);
        return 0;
    }
    if (err->code < 0)
        return err->code;
    /* Missing positionals get a CLI-shaped message before generic validation. */
    for (size_t k = posi; k < npos; k++)
        if ((positional[k]->flags & PF_REQUIRED) && !json_object_get(args, positional[k]->name)) {
            char up[64];
            cli_flag_name(positional[k], up, sizeof(up));
            for (char *c = up; *c; c++)
                *c = (char)(*c == '-' ? '_' : (*c >= 'a' && *c <= 'z' ? *c - 32 : *c));
            return usage_err(err, op, "missing argument %s for 'pyro %s'", up, op->cli);
        }
    if (rest && (rest->flags & PF_REQUIRED) && !json_object_get(args, rest->name))
        return usage_err(err, op, "missing command after '--' for 'pyro %s'%s", op->cli, "");
    /* So do required options, and an option given with its alternative. */
    for (const struct contract_param *p = op->params; p && p->name; p++) {
        if (!(p->flags & PF_REQUIRED) || (p->flags & (PF_POSITIONAL | PF_REST)))
            continue;
        const struct contract_param *alt = p->alt ? contract_op_param(op, p->alt) : NULL;
        bool has = json_object_get(args, p->name), has_alt = alt && json_object_get(args, alt->name);
        char fl[128], afl[128] = "";
        cli_flag_name(p, fl, sizeof(fl));
        if (alt)
            cli_flag_name(alt, afl, sizeof(afl));
        if (has && has_alt)
            return usage_err(err, op, "give --%s or --%s, not both", fl, afl);
        if (!has && !has_alt && alt)
            return usage_err(err, op, "missing option --%s (or --%s) for 'pyro %s'", fl, afl, op->cli);
        if (!has && !has_alt)
            return usage_err(err, op, "missing option --%s for 'pyro %s'", fl, op->cli);
    }

    pyro_error verr = {0};
    json_t *validated = NULL;
    if (contract_args_validate(op, args, SURFACE_ALL, &validated, &verr) < 0) {
        /* Speak in flags, not JSON keys: "--vcpu-count must be ...". */
        const char *msg = verr.message;
        const char *colon = strstr(msg, ": ");
        if (colon)
            msg = colon + 2;
        char flagged[PYRO_ERROR_MESSAGE_MAX];
        const struct contract_param *named = NULL;
        for (const struct contract_param *p = op->params; p && p->name; p++)
            if (!strncmp(msg, p->name, strlen(p->name)) && msg[strlen(p->name)] == ' ')
                named = p;
        if (named && !(named->flags & (PF_POSITIONAL | PF_REST))) {
            char fl[128];
            cli_flag_name(named, fl, sizeof(fl));
            snprintf(flagged, sizeof(flagged), "--%s%s", fl, msg + strlen(named->name));
        } else
            snprintf(flagged, sizeof(flagged), "%s", msg);
        return usage_err(err, op, "%s%s", flagged, "");
    }
    *out = validated;
    return 0;
}

static void print_wrapped(FILE *out, const char *text, int indent, int width)
{
    int col = indent;
    const char *p = text;
    fprintf(out, "%*s", indent, "");
    while (*p) {
        const char *sp = p;
        while (*sp && *sp != ' ' && *sp != '\n')
            sp++;
        int wl = (int)(sp - p);
        if (col > indent && col + 1 + wl > width) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', out);
            col++;
        }
        fprintf(out, "%.*s", wl, p);
        col += wl;
        p = sp;
        if (*p == '\n') {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
            p++;
        } else if (*p)
            p++;
    }
    fputc('\n', out);
}

void cli_help_op(const struct contract_op *op, FILE *out)
{
    char fl[128];
    bool has_rest = false;
    fprintf(out, "usage: pyro %s", op->cli);
    for (const struct contract_param *p = op->params; p && p->name; p++) {
        if (p->flags & PF_POSITIONAL) {
            cli_flag_name(p, fl, sizeof(fl));
            for (char *c = fl; *c; c++)
                *c = (char)(*c == '-' ? '_' : (*c >= 'a' && *c <= 'z' ? *c - 32 : *c));
            fprintf(out, (p->flags & PF_REQUIRED) ? " %s" : " [%s]", fl);
        }
        if (p->flags & PF_REST)
            has_rest = true;
    }
    fprintf(out, " [OPTIONS]%s\n\n", has_rest ? " [--] COMMAND..." : "");
    print_wrapped(out, op->description, 0, 78);
    fprintf(out, "\narguments and options:\n");
    for (const struct contract_param *p = op->params; p && p->name; p++) {
        char left[160];
        if (p->flags & PF_OBJECTS)
            continue; /* no CLI form */
        cli_flag_name(p, fl, sizeof(fl));
        if (p->flags & PF_REST)
            snprintf(left, sizeof(left), "COMMAND...");
        else if (p->flags & PF_POSITIONAL) {
            for (char *c = fl; *c; c++)
                *c = (char)(*c == '-' ? '_' : (*c >= 'a' && *c <= 'z' ? *c - 32 : *c));
            snprintf(left, sizeof(left), "%s", fl);
        } else if (p->type == PT_BOOL)
            snprintf(left, sizeof(left), "--%s", fl);
        else
            snprintf(left, sizeof(left), "--%s %s", fl, metavar(p));
        fprintf(out, "  %-28s", left);
        if (strlen(left) > 28)
            fprintf(out, "\n  %-28s", "");
        char extra[256] = "";
        if (p->type == PT_INT)
            snprintf(extra, sizeof(extra), " (%lld..%lld, default %lld)", p->min, p->max, p->def_int);
        else if (p->type == PT_STRING && p->def_str)
            snprintf(extra, sizeof(extra), " (default %s)", p->def_str);
        else if (p->type == PT_MAP || p->type == PT_LIST || p->type == PT_PORTS)
            snprintf(extra, sizeof(extra), " (repeatable)");
        if (p->type == PT_STRING && p->choices) {
            size_t l = strlen(extra);
            snprintf(extra + l, sizeof(extra) - l, " one of:");
            for (const char *const *c = p->choices; *c; c++) {
                l = strlen(extra);
                snprintf(extra + l, sizeof(extra) - l, " %s", *c);
            }
        }
        if ((p->flags & PF_REQUIRED) && !(p->flags & (PF_POSITIONAL | PF_REST))) {
            size_t l = strlen(extra);
            char afl[128] = "";
            if (p->alt && contract_op_param(op, p->alt))
                cli_flag_name(contract_op_param(op, p->alt), afl, sizeof(afl));
            snprintf(extra + l, sizeof(extra) - l, afl[0] ? " (required, or --%s)" : " (required)%s", afl);
        }
        fprintf(out, " %s%s\n", p->description, extra);
    }
    fprintf(out, "  %-28s %s\n", "--json", "Print the result (or the error) as one JSON object on stdout.");
    fprintf(out, "  %-28s %s\n", "-q, --quiet", "No progress on stderr (errors are still printed).");
    if (op->id_key)
        fprintf(out, "  %-28s %s\n", "--id-only", "Print only the new id.");
    fprintf(out, "  %-28s %s\n", "-h, --help", "Show this help.");
}

void cli_help_group(const struct contract_group *g, FILE *out)
{
    fprintf(out, "usage: pyro %s COMMAND [OPTIONS]\n\n%s\n\ncommands:\n", g->name, g->summary);
    size_t gl = strlen(g->name);
    for (size_t i = 0; contract_ops[i]; i++) {
        const struct contract_op *op = contract_ops[i];
        if (op->cli && !strncmp(op->cli, g->name, gl) && op->cli[gl] == ' ')
            fprintf(out, "  %-24s %s\n", op->cli + gl + 1, op->summary);
    }
    fprintf(out, "\nRun 'pyro %s COMMAND --help' for a command's options.\n", g->name);
}

void cli_help_top(FILE *out)
{
    fprintf(out, "usage: pyro [-h] [--version] COMMAND ...\n\n"
                 "Disposable, isolated Linux machines for AI coding agents: one-shot commands,\n"
                 "persistent workspaces and an MCP server, on Linux namespaces or QEMU microVMs.\n\n"
                 "commands:\n");
    for (size_t i = 0; contract_ops[i]; i++) {
        const struct contract_op *op = contract_ops[i];
        if (op->cli && !strchr(op->cli, ' '))
            fprintf(out, "  %-24s %s\n", op->cli, op->summary);
    }
    for (size_t i = 0; contract_groups[i].name; i++) {
        /* A group appears only once one of its commands exists. */
        size_t gl = strlen(contract_groups[i].name);
        /* `mcp` holds the server itself (src/cli/cmd_mcp.c), not an op. */
        bool used = !strcmp(contract_groups[i].name, "mcp");
        for (size_t k = 0; contract_ops[k]; k++)
            used = used || (contract_ops[k]->cli && !strncmp(contract_ops[k]->cli, contract_groups[i].name, gl) &&
                            contract_ops[k]->cli[gl] == ' ');
        if (used)
            fprintf(out, "  %-24s %s\n", contract_groups[i].name, contract_groups[i].summary);
    }
    /* src/cli/completion.c, outside the table like `mcp`. */
    fprintf(out, "  %-24s %s\n", "completion", "Print a shell completion script (bash, zsh or fish).");
    fprintf(out, "\nfirst run: pyro doctor; pyro prepare; pyro demo; pyro host connect claude-code|codex|opencode\n");
    fprintf(out, "\noptions:\n  -h, --help               Show this help.\n"
                 "  --version                Print the version.\n"
                 "  --log-level LEVEL        error, warn, info, debug or trace (default warn).\n\n"
                 "Run 'pyro COMMAND --help' for a command's options.\n\n"
                 "Exit status: 0 success; 1 failure (any error the runtime reports); 2 bad usage\n"
                 "(an error in the command line itself). 'pyro run' and the exec commands exit\n"
                 "with the command's status. With --json an error is also one object on stdout:\n"
                 "{\"error\": {\"code\": ..., \"message\": ...}}.\n");
}
