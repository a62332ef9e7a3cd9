/* The named modes (docs/mcp.md): which tools a mode exposes is declared
 * with each operation (EXPOSE(SURFACE_MODE_...) in the contract table);
 * this file holds what is specific to the task: the server instructions of
 * each mode and a task-specific lead for tool descriptions, prepended to
 * the operation's own description. A hint for a tool the build does not
 * have is never shown: tools/list only walks the contract table. */
#include <string.h>

#include "mcp/mcp.h"

struct mode_text {
    enum contract_surface mode;
    const char *instructions;
    const char *default_hint; /* for tools without their own line below */
};

static const struct mode_text modes[] = {
    {SURFACE_MODE_REPRO_FIX,
     "Mode repro-fix: reproduce the reported failure in a workspace seeded from the project, change the code "
     "until the failing command passes, and show the diff. Run the failing command before changing anything.",
     "[repro-fix]"},
    {SURFACE_MODE_INSPECT,
     "Mode inspect: look at unknown or untrusted code without changing it. The workspace is disposable and "
     "isolated; read files and run read-only commands, then delete the workspace.",
     "[inspect]"},
    {SURFACE_MODE_COLD_START,
     "Mode cold-start: check that a fresh checkout builds and its tests pass from nothing, following only "
     "what the project documents. Reset the workspace to start over from the pristine seed.",
     "[cold-start]"},
    {SURFACE_MODE_REVIEW_EVAL,
     "Mode review-eval: evaluate a change: run the project's checks in a workspace, read the diff against the "
     "seed, and export evidence. Report findings; do not rewrite the change.",
     "[review-eval]"},
};

struct tool_hint {
    enum contract_surface mode;
    const char *tool;
    const char *hint;
};

static const struct tool_hint hints[] = {
    {SURFACE_MODE_REPRO_FIX, "workspace_create", "[repro-fix] Start here: a workspace seeded from the project."},
    {SURFACE_MODE_REPRO_FIX, "workspace_exec",
     "[repro-fix] Run the failing command first to reproduce the failure, and again after each change to "
     "prove the fix."},
    {SURFACE_MODE_REPRO_FIX, "workspace_patch_apply", "[repro-fix] Apply the fix as a unified diff."},
    {SURFACE_MODE_REPRO_FIX, "workspace_diff", "[repro-fix] Show the fix: every change against the seed."},
    {SURFACE_MODE_REPRO_FIX, "workspace_reset", "[repro-fix] Throw away a failed attempt and start again."},
    {SURFACE_MODE_INSPECT, "workspace_exec",
     "[inspect] Run read-only commands (ls, grep, build scripts' --help); the code may be hostile, the "
     "sandbox is disposable."},
    {SURFACE_MODE_INSPECT, "workspace_file_read", "[inspect] Read a file without running it."},
    {SURFACE_MODE_INSPECT, "workspace_delete", "[inspect] Delete the workspace when done."},
    {SURFACE_MODE_COLD_START, "workspace_exec",
     "[cold-start] Follow the documented setup steps exactly (install, build, test) and report the first "
     "step that fails."},
    {SURFACE_MODE_COLD_START, "workspace_reset", "[cold-start] Return to the pristine checkout for a clean retry."},
    {SURFACE_MODE_REVIEW_EVAL, "workspace_exec", "[review-eval] Run the project's tests and checks on the change."},
    {SURFACE_MODE_REVIEW_EVAL, "workspace_diff", "[review-eval] The change under review, against the seed."},
    {SURFACE_MODE_REVIEW_EVAL, "workspace_export", "[review-eval] Export evidence (logs, reports) to the host."},
};

const char *mcp_mode_instructions(enum contract_surface s)
{
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (modes[i].mode == s)
            return modes[i].instructions;
    return NULL;
}

const char *mcp_mode_tool_hint(enum contract_surface s, const char *tool)
{
    for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
        if (hints[i].mode == s && !strcmp(hints[i].tool, tool))
            return hints[i].hint;
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (modes[i].mode == s)
            return modes[i].default_hint;
    return NULL;
}
