/* Writes pyro(1) in roff from the contract table, so the man page cannot
 * drift from the commands, options, defaults and bounds the CLI accepts. */
#include <stdio.h>
#include <string.h>

#include "lib/contract/contract.h"

/* The error codes of include/pyro/pyro.h; names come from pyro_error_name(). */
static const struct {
    int code;
    const char *meaning;
} error_codes[] = {
    {PYRO_E_INVALID, "bad input: every usage error, and input the runtime rejects (a malformed id, a path "
                     "outside /workspace, a patch that does not apply, an unsafe archive)"},
    {PYRO_E_NOT_FOUND, "unknown id, name, environment or path"},
    {PYRO_E_STATE, "the object is in the wrong state for the operation"},
    {PYRO_E_LIMIT, "a configured limit was reached (max_active_vms, sizes, counts)"},
    {PYRO_E_UNSUPPORTED, "the host lacks a capability"},
    {PYRO_E_PROTOCOL, "a malformed message on a channel"},
    {PYRO_E_TIMEOUT, "an operation (not a user command) took too long"},
    {PYRO_E_CORRUPT, "a record or artifact failed validation"},
    {PYRO_E_BUSY, "a lock is held by someone else"},
    {PYRO_E_CANCELLED, "the operation was cancelled"},
};

static void roff_text(const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", stdout);
        else if (*s == '-')
            fputs("\\-", stdout);
        else
            putchar(*s);
    }
}

static void flag_of(const struct contract_param *p, char *buf, size_t n)
{
    snprintf(buf, n, "%s", p->flag ? p->flag : p->name);
    for (char *c = buf; *c; c++)
        if (*c == '_')
            *c = '-';
}

int main(void)
{
    printf(".TH PYRO 1 \"\" \"pyro %s\" \"User Commands\"\n", PYRO_VERSION);
    printf(".SH NAME\npyro \\- disposable, isolated Linux machines for AI coding agents\n");
    printf(".SH SYNOPSIS\n.B pyro\n[\\fB\\-\\-log\\-level\\fR \\fILEVEL\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR]\n");
    printf(".SH DESCRIPTION\npyro runs commands in sandboxes built from curated Debian environments, "
           "keeps persistent workspaces, and serves them to chat hosts over MCP. Every command accepts "
           "\\fB\\-\\-json\\fR to print its result as one JSON object with stable keys, "
           "\\fB\\-\\-quiet\\fR to print no progress on stderr, and \\fB\\-\\-help\\fR. Progress "
           "is drawn in place on a terminal (colours unless \\fBNO_COLOR\\fR is set) and is one line "
           "per phase otherwise.\n");
    printf(".SH EXIT STATUS\n.TP\n.B 0\nSuccess.\n.TP\n.B 1\nThe operation failed: any error the runtime "
           "reports, whatever its code (see ERRORS), and \\fBpyro doctor\\fR when a required check fails.\n"
           ".TP\n.B 2\nUsage error, found while parsing the command line: unknown command or option, missing "
           "argument or option, a value that is not of the option's type or outside its bounds or choices.\n"
           ".PP\n\\fBpyro run\\fR, \\fBpyro vm exec\\fR and \\fBpyro workspace exec\\fR exit with the "
           "command's own status, 124 when it timed out; with \\fB\\-\\-json\\fR a result (it has "
           "\\fIexit_code\\fR) and an error (it has \\fIerror\\fR) tell the two apart.\n");
    printf(".SH ERRORS\nAn error is one line on stderr, \\fBpyro: error: \\fR\\fImessage\\fR. With "
           "\\fB\\-\\-json\\fR it is also one object on stdout: "
           "{\"error\": {\"code\": \\fIcode\\fR, \"message\": \\fImessage\\fR}}. Usage errors have the code "
           "\\fBinvalid_argument\\fR; its exit status, not its code, tells a usage error from a runtime one. "
           "Codes:\n");
    for (size_t i = 0; i < sizeof(error_codes) / sizeof(error_codes[0]); i++) {
        printf(".TP\n.B ");
        roff_text(pyro_error_name(-error_codes[i].code));
        printf("\n");
        roff_text(error_codes[i].meaning);
        printf(".\n");
    }
    printf(".TP\n.B enoent\\fR, \\fBeacces\\fR, \\fBeperm\\fR, \\fBeexist\\fR, \\fBenospc\\fR, "
           "\\fBenomem\\fR, \\fBeio\\fR, \\fBeintr\\fR, \\fBsystem_error\nA system call failed "
           "(the errno name in lower case; system_error for the others).\n");
    printf(".SH COMMANDS\n");
    for (size_t i = 0; contract_ops[i]; i++) {
        const struct contract_op *op = contract_ops[i];
        if (!op->cli)
            continue;
        printf(".SS \"pyro %s\"\n", op->cli);
        roff_text(op->description);
        printf("\n");
        for (const struct contract_param *p = op->params; p->name; p++) {
            char fl[128];
            if (p->flags & PF_OBJECTS)
                continue; /* no CLI form (MCP and C API only) */
            flag_of(p, fl, sizeof(fl));
            printf(".TP\n");
            if (p->flags & PF_REST)
                printf("\\fICOMMAND...\\fR\n");
            else if (p->flags & PF_POSITIONAL) {
                for (char *c = fl; *c; c++)
                    *c = (char)(*c == '-' ? '_' : (*c >= 'a' && *c <= 'z' ? *c - 32 : *c));
                printf("\\fI%s\\fR\n", fl);
            } else {
                printf("\\fB\\-\\-");
                roff_text(fl);
                printf("\\fR");
                if (p->type != PT_BOOL) {
                    printf(" \\fI");
                    roff_text(p->metavar          ? p->metavar
                              : p->type == PT_INT ? "N"
                              : p->type == PT_MAP ? "KEY=VALUE"
                                                  : "VALUE");
                    printf("\\fR");
                }
                printf("\n");
            }
            roff_text(p->description);
            if (p->type == PT_INT)
                printf(" (%lld to %lld, default %lld)", p->min, p->max, p->def_int);
            else if (p->type == PT_STRING && p->def_str)
                printf(" (default %s)", p->def_str);
            if ((p->flags & PF_REQUIRED) && !(p->flags & (PF_POSITIONAL | PF_REST))) {
                printf(" (required");
                if (p->alt) {
                    flag_of(contract_op_param(op, p->alt), fl, sizeof(fl));
                    printf(", or \\fB\\-\\-");
                    roff_text(fl);
                    printf("\\fR");
                }
                printf(")");
            }
            printf("\n");
        }
    }
    printf(".SS \"pyro completion bash|zsh|fish\"\nPrint a shell completion script generated from this command "
           "table: commands, options, environment names and the ids of live workspaces and VMs (\\fBpyro completion "
           "\\-\\-list workspaces|vms|environments\\fR prints those). \\fBmake install\\fR and the Debian package "
           "install them for bash, zsh and fish. An unknown shell exits 2.\n");
    printf(".SH ENVIRONMENT\n.TP\n.B PYRO_HOME\nState directory (default $XDG_STATE_HOME/pyro, else "
           "~/.local/state/pyro).\n.TP\n.B XDG_CACHE_HOME\nThe environment cache lives in $XDG_CACHE_HOME/pyro "
           "(default ~/.cache/pyro); \\fBPYRO_CACHE_DIR\\fR overrides it.\n.TP\n.B PYRO_MAX_ACTIVE_VMS\n"
           "Largest number of running sandboxes (default 4).\n");
    printf(".SH SEE ALSO\nThe README and docs/ in the pyro source tree.\n");
    return 0;
}
