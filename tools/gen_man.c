/* Writes pyro(1) in roff from the contract table, so the man page cannot
 * drift from the commands, options, defaults and bounds the CLI accepts. */
#include <stdio.h>
#include <string.h>

#include "lib/contract/contract.h"

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
           "\\fB\\-\\-json\\fR to print its result as one JSON object with stable keys, and "
           "\\fB\\-\\-help\\fR.\n");
    printf(".SH EXIT STATUS\n0 on success, 1 on failure, 2 on bad usage (unknown command or option, missing "
           "or out-of-range value). \\fBpyro run\\fR exits with the command's status, 124 on timeout.\n");
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
                printf("\\fR%s\n", p->type == PT_BOOL ? "" : " \\fIVALUE\\fR");
            }
            roff_text(p->description);
            if (p->type == PT_INT)
                printf(" (%lld to %lld, default %lld)", p->min, p->max, p->def_int);
            else if (p->type == PT_STRING && p->def_str)
                printf(" (default %s)", p->def_str);
            printf("\n");
        }
    }
    printf(".SH ENVIRONMENT\n.TP\n.B PYRO_HOME\nState directory (default $XDG_STATE_HOME/pyro, else "
           "~/.local/state/pyro).\n.TP\n.B XDG_CACHE_HOME\nThe environment cache lives in $XDG_CACHE_HOME/pyro "
           "(default ~/.cache/pyro); \\fBPYRO_CACHE_DIR\\fR overrides it.\n.TP\n.B PYRO_MAX_ACTIVE_VMS\n"
           "Largest number of running sandboxes (default 4).\n");
    printf(".SH SEE ALSO\nThe README and docs/ in the pyro source tree.\n");
    return 0;
}
