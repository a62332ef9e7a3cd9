/* The contract table's derivations: validation, defaults, bounds, unknown
 * parameters, CLI parsing and --help, JSON Schema. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "cli/derive.h"
#include "lib/contract/contract.h"

static const char *const colors[] = {"red", "green", NULL};

static const struct contract_param t_params[] = {
    PARAM_STR("environment", "Environment name.", .flags = PF_REQUIRED | PF_POSITIONAL),
    PARAM_INT("vcpu_count", "vCPUs.", .has_default = true, .def_int = 1, .min = 1, .max = 8),
    PARAM_BOOL("network", "Enable egress."),
    PARAM_STR("color", "A color.", .choices = colors, .has_default = true, .def_str = "red"),
    PARAM_MAP("labels", "Labels.", .flag = "label"),
    PARAM_LIST("clear_labels", "Labels to clear.", .flag = "clear-label"),
    PARAM_PORTS("ports", "Published ports.", .flag = "publish", .max = 3),
    PARAM_STR("secret", "Full-only.", .flags = PF_FULL_ONLY),
    PARAM_STR("text_file", "CLI only.", .flags = PF_CLI_ONLY),
    PARAM_STR("command", "Command.", .flags = PF_REQUIRED | PF_REST),
    PARAM_END,
};

static int t_handler(struct pyro_ctx *ctx, json_t *args, json_t **result, pyro_error *err)
{
    *result = json_incref(args);
    return 0;
}

static const struct contract_op t_op = {
    .name = "t_run",
    .cli = "t run",
    .title = "Test",
    .summary = "Test op.",
    .description = "A test operation.",
    .params = t_params,
    .output_schema = "{\"type\":\"object\"}",
    .exposure = EXPOSE(SURFACE_WORKSPACE_CORE) | EXPOSE(SURFACE_WORKSPACE_FULL),
    .handler = t_handler,
};

/* A parameter required on MCP that the CLI and C API may replace with a
 * CLI-only alternative (workspace_file_write's text and text_file). */
static const struct contract_param w_params[] = {
    PARAM_STR("path", "Path.", .flags = PF_REQUIRED | PF_POSITIONAL),
    PARAM_STR("text", "Content.", .flags = PF_REQUIRED, .alt = "text_file"),
    PARAM_STR("text_file", "Host file with the content.", .flags = PF_CLI_ONLY, .metavar = "HOST_PATH"),
    PARAM_END,
};

static const struct contract_op w_op = {
    .name = "t_write",
    .cli = "t write",
    .title = "Write",
    .summary = "Test write.",
    .description = "A test write.",
    .params = w_params,
    .output_schema = "{\"type\":\"object\"}",
    .exposure = EXPOSE(SURFACE_WORKSPACE_CORE) | EXPOSE(SURFACE_WORKSPACE_FULL),
    .handler = t_handler,
};

static int w_validate(const char *text, enum contract_surface s, json_t **out, pyro_error *err)
{
    json_auto_t *in = json_loads(text, 0, NULL);
    assert_non_null(in);
    *out = NULL;
    return contract_args_validate(&w_op, in, s, out, err);
}

static json_t *validate_ok(const char *text, enum contract_surface s)
{
    pyro_error err = {0};
    json_auto_t *in = json_loads(text, 0, NULL);
    json_t *out = NULL;
    int r = contract_args_validate(&t_op, in, s, &out, &err);
    if (r < 0)
        fail_msg("validation failed: %s", err.message);
    return out;
}

static void validate_fail(const char *text, enum contract_surface s, const char *needle)
{
    pyro_error err = {0};
    json_auto_t *in = json_loads(text, 0, NULL);
    json_t *out = NULL;
    assert_non_null(in);
    int r = contract_args_validate(&t_op, in, s, &out, &err);
    assert_int_equal(r, -PYRO_E_INVALID);
    assert_int_equal(err.code, -PYRO_E_INVALID);
    assert_null(out);
    if (!strstr(err.message, needle))
        fail_msg("message '%s' lacks '%s'", err.message, needle);
}

static void test_defaults(void **state)
{
    json_auto_t *out = validate_ok("{\"environment\":\"e\",\"command\":\"true\"}", SURFACE_ALL);
    assert_int_equal(json_get_int(out, "vcpu_count", -1), 1);
    assert_false(json_get_bool(out, "network", true));
    assert_string_equal(json_get_str(out, "color", ""), "red");
    assert_true(json_is_object(json_object_get(out, "labels")));
    assert_true(json_is_array(json_object_get(out, "clear_labels")));
    assert_null(json_object_get(out, "secret")); /* no default: absent */
}

static void test_bounds_and_types(void **state)
{
    validate_fail("{\"environment\":\"e\",\"command\":\"x\",\"vcpu_count\":9}", SURFACE_ALL,
                  "vcpu_count must be between 1 and 8, got 9");
    validate_fail("{\"environment\":\"e\",\"command\":\"x\",\"vcpu_count\":0}", SURFACE_ALL, "between 1 and 8");
    validate_fail("{\"environment\":\"e\",\"command\":\"x\",\"vcpu_count\":\"2\"}", SURFACE_ALL,
                  "vcpu_count must be an integer, got string");
    validate_fail("{\"environment\":\"e\",\"command\":\"x\",\"vcpu_count\":1.5}", SURFACE_ALL, "integer");
    validate_fail("{\"environment\":\"e\",\"command\":\"x\",\"network\":1}", SURFACE_ALL, "boolean");
    validate_fail("{\"environment\":\"e\",\"command\":\"x\",\"color\":\"blue\"}", SURFACE_ALL,
                  "color must be one of red, green, got 'blue'");
    validate_fail("{\"environment\":\"e\",\"command\":\"x\",\"labels\":{\"a\":1}}", SURFACE_ALL,
                  "labels.a must be a string");
    validate_fail("{\"environment\":\"e\",\"command\":\"x\",\"labels\":{\"\":\"v\"}}", SURFACE_ALL, "empty key");
    validate_fail("{\"environment\":\"e\",\"command\":\"x\",\"clear_labels\":[1]}", SURFACE_ALL,
                  "clear_labels[0] must be a string");
    validate_fail("{\"command\":\"x\"}", SURFACE_ALL, "missing required parameter 'environment'");
    /* integral reals are accepted as integers */
    json_auto_t *out = validate_ok("{\"environment\":\"e\",\"command\":\"x\",\"vcpu_count\":2.0}", SURFACE_ALL);
    assert_true(json_is_integer(json_object_get(out, "vcpu_count")));
}

static int parse(const char *const *words, json_t **args, struct cli_opts *opts, pyro_error *err);

/* PT_PORTS: objects and "[HOST:]GUEST" strings, normalized to objects;
 * everything else refused with the item named. */
static void test_ports(void **state)
{
    json_auto_t *out = validate_ok("{\"environment\":\"e\",\"command\":\"x\",\"ports\":[{\"guest_port\":8080},"
                                   "{\"guest_port\":1,\"host_port\":null},\"18080:80\"]}",
                                   SURFACE_ALL);
    char *got = json_dumps(json_object_get(out, "ports"), JSON_COMPACT);
    assert_string_equal(got, "[{\"guest_port\":8080,\"host_port\":0},{\"guest_port\":1,\"host_port\":0},"
                             "{\"guest_port\":80,\"host_port\":18080}]");
    free(got);
    json_auto_t *def = validate_ok("{\"environment\":\"e\",\"command\":\"x\"}", SURFACE_ALL);
    assert_int_equal(json_array_size(json_object_get(def, "ports")), 0);
    static const char *const bad[][2] = {
        {"[{\"guest_port\":0}]", "ports[0].guest_port must be a port in 1..65535"},
        {"[{\"guest_port\":65536}]", "ports[0].guest_port must be a port"},
        {"[{\"host_port\":80}]", "ports[0].guest_port must be a port"},
        {"[{\"guest_port\":80,\"host_port\":-1}]", "ports[0].host_port must be a port"},
        {"[{\"guest_port\":80,\"host_port\":\"1\"}]", "ports[0].host_port must be a port"},
        {"[{\"guest_port\":80,\"host\":\"0.0.0.0\"}]", "ports[0] has an unknown key 'host'"},
        {"[\"80\",\"0\"]", "ports[1] must be [HOST_PORT:]GUEST_PORT"},
        {"[\"65536\"]", "must be [HOST_PORT:]GUEST_PORT"},
        {"[\"0:80\"]", "must be [HOST_PORT:]GUEST_PORT"},
        {"[\":80\"]", "must be [HOST_PORT:]GUEST_PORT"},
        {"[\"1:2:3\"]", "must be [HOST_PORT:]GUEST_PORT"},
        {"[\"80 \"]", "must be [HOST_PORT:]GUEST_PORT"},
        {"[\"-80\"]", "must be [HOST_PORT:]GUEST_PORT"},
        {"[\"000000080\"]", "must be [HOST_PORT:]GUEST_PORT"},
        {"[80]", "ports[0] must be an object or a string, got integer"},
        {"[\"1\",\"2\",\"3\",\"4\"]", "ports has 4 items, at most 3 allowed"},
        {"{}", "ports must be an array"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char in[256];
        snprintf(in, sizeof(in), "{\"environment\":\"e\",\"command\":\"x\",\"ports\":%s}", bad[i][0]);
        validate_fail(in, SURFACE_ALL, bad[i][1]);
    }
    /* The CLI gives strings, repeatable, validated into objects. */
    const char *w[] = {"env", "--publish", "8080", "--publish=1:2", "--", "true", NULL};
    json_auto_t *args = NULL;
    struct cli_opts opts;
    pyro_error err = {0};
    assert_int_equal(parse(w, &args, &opts, &err), 0);
    got = json_dumps(json_object_get(args, "ports"), JSON_COMPACT);
    assert_string_equal(got, "[{\"guest_port\":8080,\"host_port\":0},{\"guest_port\":2,\"host_port\":1}]");
    free(got);
}

static void test_unknown_rejected(void **state)
{
    validate_fail("{\"environment\":\"e\",\"command\":\"x\",\"bogus\":1}", SURFACE_ALL,
                  "unknown parameter 'bogus' (expected one of: environment, vcpu_count");
    /* narrowed surfaces do not know full-only or CLI-only parameters */
    validate_fail("{\"environment\":\"e\",\"command\":\"x\",\"secret\":\"s\"}", SURFACE_WORKSPACE_CORE,
                  "unknown parameter 'secret'");
    validate_fail("{\"environment\":\"e\",\"command\":\"x\",\"text_file\":\"f\"}", SURFACE_WORKSPACE_FULL,
                  "unknown parameter 'text_file'");
    json_auto_t *ok = validate_ok("{\"environment\":\"e\",\"command\":\"x\",\"secret\":\"s\"}", SURFACE_WORKSPACE_FULL);
    assert_string_equal(json_get_str(ok, "secret", ""), "s");
    pyro_error err = {0};
    json_auto_t *arr = json_array();
    json_t *out = NULL;
    assert_int_equal(contract_args_validate(&t_op, arr, SURFACE_ALL, &out, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "arguments must be a JSON object"));
}

static void test_schema(void **state)
{
    json_auto_t *core = contract_input_schema_json(&t_op, SURFACE_WORKSPACE_CORE);
    json_auto_t *full = contract_input_schema_json(&t_op, SURFACE_WORKSPACE_FULL);
    json_t *props = json_object_get(core, "properties");
    assert_true(json_is_false(json_object_get(core, "additionalProperties")));
    assert_null(json_object_get(props, "secret"));
    assert_null(json_object_get(props, "text_file"));
    assert_non_null(json_object_get(json_object_get(full, "properties"), "secret"));
    json_t *vc = json_object_get(props, "vcpu_count");
    assert_string_equal(json_get_str(vc, "type", ""), "integer");
    assert_int_equal(json_get_int(vc, "minimum", -1), 1);
    assert_int_equal(json_get_int(vc, "maximum", -1), 8);
    assert_int_equal(json_get_int(vc, "default", -1), 1);
    json_t *req = json_object_get(core, "required");
    assert_int_equal(json_array_size(req), 2);
    assert_string_equal(json_string_value(json_array_get(req, 0)), "environment");
    json_t *color = json_object_get(props, "color");
    assert_int_equal(json_array_size(json_object_get(color, "enum")), 2);
    /* defaults produced by validation satisfy the published schema */
    json_auto_t *out = validate_ok("{\"environment\":\"e\",\"command\":\"x\"}", SURFACE_WORKSPACE_CORE);
    pyro_error err = {0};
    assert_int_equal(contract_schema_check(core, out, &err), 0);
}

static bool json_array_has(const json_t *a, const char *s)
{
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e)
        if (json_is_string(e) && !strcmp(json_string_value(e), s))
            return true;
    return false;
}

static void test_required_with_cli_alternative(void **state)
{
    pyro_error err = {0};
    json_t *out = NULL;
    /* MCP: text is plainly required; the CLI-only alternative is never named. */
    for (int s = SURFACE_WORKSPACE_CORE; s <= SURFACE_WORKSPACE_FULL; s++) {
        assert_int_equal(w_validate("{\"path\":\"p\"}", (enum contract_surface)s, &out, &err), -PYRO_E_INVALID);
        assert_null(out);
        assert_string_equal(err.message, "t_write: missing required parameter 'text'");
        assert_int_equal(w_validate("{\"path\":\"p\",\"text\":null}", (enum contract_surface)s, &out, &err),
                         -PYRO_E_INVALID);
        assert_null(strstr(err.message, "text_file"));
        assert_int_equal(w_validate("{\"path\":\"p\",\"text_file\":\"f\"}", (enum contract_surface)s, &out, &err),
                         -PYRO_E_INVALID);
        assert_non_null(strstr(err.message, "unknown parameter 'text_file' (expected one of: path, text)"));
        assert_int_equal(w_validate("{\"path\":\"p\",\"text\":\"t\"}", (enum contract_surface)s, &out, &err), 0);
        json_decref(out);
        json_auto_t *schema = contract_input_schema_json(&w_op, (enum contract_surface)s);
        assert_true(json_array_has(json_object_get(schema, "required"), "text"));
        assert_null(json_object_get(json_object_get(schema, "properties"), "text_file"));
        assert_null(json_object_get(schema, "oneOf"));
    }
    /* C API (and CLI): exactly one of text and text_file. */
    assert_int_equal(w_validate("{\"path\":\"p\"}", SURFACE_ALL, &out, &err), -PYRO_E_INVALID);
    assert_string_equal(err.message, "t_write: missing required parameter 'text' (or 'text_file')");
    assert_int_equal(w_validate("{\"path\":\"p\",\"text\":\"t\",\"text_file\":\"f\"}", SURFACE_ALL, &out, &err),
                     -PYRO_E_INVALID);
    assert_string_equal(err.message, "t_write: give 'text' or 'text_file', not both");
    assert_int_equal(w_validate("{\"path\":\"p\",\"text_file\":\"f\"}", SURFACE_ALL, &out, &err), 0);
    assert_null(json_object_get(out, "text"));
    json_decref(out);
    json_auto_t *all = contract_input_schema_json(&w_op, SURFACE_ALL);
    const json_t *req = json_object_get(all, "required");
    assert_true(json_array_has(req, "path"));
    assert_false(json_array_has(req, "text"));
    const json_t *one = json_object_get(all, "oneOf");
    assert_int_equal(json_array_size(one), 2);
    assert_true(json_array_has(json_object_get(json_array_get(one, 0), "required"), "text"));
    assert_true(json_array_has(json_object_get(json_array_get(one, 1), "required"), "text_file"));
}

static int parse(const char *const *words, json_t **args, struct cli_opts *opts, pyro_error *err)
{
    int n = 0;
    while (words[n])
        n++;
    return cli_parse(&t_op, n, (char **)words, args, opts, err);
}

static void test_cli_parse(void **state)
{
    const char *w[] = {
        "debian:12", "--vcpu-count",  "2",      "--network", "--label", "a=b", "--label=c=d=e", "--clear-label",
        "x",         "--color=green", "--json", "--",        "echo",    "a b", "it's",          NULL};
    json_auto_t *args = NULL;
    struct cli_opts opts;
    pyro_error err = {0};
    assert_int_equal(parse(w, &args, &opts, &err), 0);
    assert_true(opts.json);
    assert_string_equal(json_get_str(args, "environment", ""), "debian:12");
    assert_int_equal(json_get_int(args, "vcpu_count", 0), 2);
    assert_true(json_get_bool(args, "network", false));
    assert_string_equal(json_get_str(json_object_get(args, "labels"), "c", ""), "d=e");
    assert_string_equal(json_get_str(args, "command", ""), "echo 'a b' 'it'\\''s'");
    assert_string_equal(json_string_value(json_array_get(json_object_get(args, "clear_labels"), 0)), "x");

    /* without `--`, the first word after the positionals starts the command */
    const char *w2[] = {"env", "ls", "-la", "--json", NULL};
    json_auto_t *a2 = NULL;
    assert_int_equal(parse(w2, &a2, &opts, &err), 0);
    assert_false(opts.json);
    assert_string_equal(json_get_str(a2, "command", ""), "ls -la --json");
    /* a single word is a whole script, verbatim */
    const char *w3[] = {"env", "--", "echo hi | wc -c", NULL};
    json_auto_t *a3 = NULL;
    assert_int_equal(parse(w3, &a3, &opts, &err), 0);
    assert_string_equal(json_get_str(a3, "command", ""), "echo hi | wc -c");
}

static void cli_fail(const char *const *w, const char *needle)
{
    json_t *args = NULL;
    struct cli_opts opts;
    pyro_error err = {0};
    assert_int_equal(parse(w, &args, &opts, &err), -PYRO_E_INVALID);
    assert_null(args);
    if (!strstr(err.message, needle))
        fail_msg("message '%s' lacks '%s'", err.message, needle);
    assert_null(strchr(err.message, '\n'));
}

static void test_cli_errors(void **state)
{
    cli_fail((const char *const[]){"e", "--bogus", "--", "x", NULL}, "unknown option '--bogus' for 'pyro t run'");
    cli_fail((const char *const[]){"e", "--vcpu-count", NULL}, "option '--vcpu-count' needs a value");
    cli_fail((const char *const[]){"e", "--vcpu-count", "99", "--", "x", NULL},
             "--vcpu-count must be between 1 and 8, got 99");
    cli_fail((const char *const[]){"e", "--vcpu-count", "two", "--", "x", NULL},
             "--vcpu-count expects an integer, got 'two'");
    cli_fail((const char *const[]){"e", "--label", "novalue", "--", "x", NULL}, "--label expects KEY=VALUE");
    cli_fail((const char *const[]){"e", NULL}, "missing command after '--'");
    cli_fail((const char *const[]){NULL}, "missing argument ENVIRONMENT");
    cli_fail((const char *const[]){"e", "--no-vcpu-count", "--", "x", NULL}, "unknown option");
    cli_fail((const char *const[]){"e", "-x", "--", "x", NULL}, "unknown option '-x'");
    cli_fail((const char *const[]){"e", "--text-file", "\xff", "--", "x", NULL}, "not valid UTF-8");
}

static int wparse(const char *const *words, json_t **args, struct cli_opts *opts, pyro_error *err)
{
    int n = 0;
    while (words[n])
        n++;
    *args = NULL;
    return cli_parse(&w_op, n, (char **)words, args, opts, err);
}

static void test_cli_alternative(void **state)
{
    json_t *args = NULL;
    struct cli_opts opts;
    pyro_error err = {0};
    /* The CLI names options by their flags. */
    assert_int_equal(wparse((const char *const[]){"p", NULL}, &args, &opts, &err), -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "missing option --text (or --text-file) for 'pyro t write'"));
    assert_int_equal(wparse((const char *const[]){"p", "--text", "a", "--text-file", "f", NULL}, &args, &opts, &err),
                     -PYRO_E_INVALID);
    assert_non_null(strstr(err.message, "give --text or --text-file, not both"));
    assert_int_equal(wparse((const char *const[]){"p", "--text-file", "f", NULL}, &args, &opts, &err), 0);
    assert_string_equal(json_get_str(args, "text_file", ""), "f");
    json_decref(args);
    /* An empty --text is given: the file is emptied. */
    assert_int_equal(wparse((const char *const[]){"p", "--text=", NULL}, &args, &opts, &err), 0);
    json_decref(args);
}

static void test_cli_error_keeps_json_and_help(void **state)
{
    json_t *args = NULL;
    struct cli_opts opts;
    pyro_error err = {0};
    /* --json after a bad word still counts: the error is printed as JSON. */
    assert_int_equal(parse((const char *const[]){"e", "--bogus", "--vcpu-count", "x", "--json", "--", "y", NULL}, &args,
                           &opts, &err),
                     -PYRO_E_INVALID);
    assert_true(opts.json);
    assert_null(args);
    assert_non_null(strstr(err.message, "unknown option '--bogus'")); /* the first error is the one kept */
    /* ... and so does --help, which wins. */
    assert_int_equal(parse((const char *const[]){"e", "--bogus", "--help", NULL}, &args, &opts, &err), 0);
    assert_true(opts.help);
    assert_int_equal(err.code, 0);
    json_decref(args);
}

static void test_cli_help(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cli_help_op(&t_op, f);
    fclose(f);
    assert_non_null(strstr(buf, "usage: pyro t run ENVIRONMENT [OPTIONS] [--] COMMAND..."));
    assert_non_null(strstr(buf, "--vcpu-count N"));
    assert_non_null(strstr(buf, "(1..8, default 1)"));
    assert_non_null(strstr(buf, "--label KEY=VALUE"));
    assert_non_null(strstr(buf, "one of: red green"));
    free(buf);
    buf = NULL;
    f = open_memstream(&buf, &len);
    cli_help_op(&w_op, f);
    fclose(f);
    assert_non_null(strstr(buf, "--text VALUE"));
    assert_non_null(strstr(buf, "(required, or --text-file)"));
    assert_non_null(strstr(buf, "--text-file HOST_PATH"));
    free(buf);
}

static void test_real_table(void **state)
{
    /* Every declared operation has a parseable output schema, a handler, a
     * unique name, and valid defaults for its declared bounds. */
    for (size_t i = 0; contract_ops[i]; i++) {
        const struct contract_op *op = contract_ops[i];
        json_auto_t *s = contract_output_schema_json(op);
        assert_true(json_is_object(s));
        assert_non_null(op->handler);
        assert_non_null(op->description);
        assert_ptr_equal(contract_op_find(op->name), op);
        for (const struct contract_param *p = op->params; p->name; p++)
            if (p->type == PT_INT && p->has_default)
                assert_true(p->def_int >= p->min && p->def_int <= p->max);
        for (const struct contract_param *p = op->params; p->name; p++) {
            if (!p->alt)
                continue;
            /* An alternative is a CLI-only option of the same type standing in
             * for a required, published, non-positional parameter. */
            const struct contract_param *a = contract_op_param(op, p->alt);
            assert_non_null(a);
            assert_true(a->flags & PF_CLI_ONLY);
            assert_false(a->flags & (PF_REQUIRED | PF_POSITIONAL | PF_REST));
            assert_true(p->flags & PF_REQUIRED);
            assert_false(p->flags & (PF_CLI_ONLY | PF_POSITIONAL | PF_REST));
            assert_int_equal(a->type, p->type);
        }
        for (int sfc = 0; sfc < SURFACE_COUNT; sfc++) {
            json_auto_t *in = contract_input_schema_json(op, (enum contract_surface)sfc);
            assert_true(json_is_object(json_object_get(in, "properties")));
            if (!contract_op_exposed(op, (enum contract_surface)sfc))
                continue;
            /* On MCP, no CLI-only parameter is published, and an error about
             * missing arguments names parameters, never CLI options. */
            for (const struct contract_param *p = op->params; p->name; p++)
                if (p->flags & PF_CLI_ONLY)
                    assert_null(json_object_get(json_object_get(in, "properties"), p->name));
            assert_null(json_object_get(in, "oneOf"));
            assert_null(json_object_get(in, "allOf"));
            pyro_error err = {0};
            json_t *out = NULL;
            if (contract_args_validate(op, NULL, (enum contract_surface)sfc, &out, &err) == 0) {
                json_decref(out);
                continue;
            }
            assert_null(strstr(err.message, "--"));
            for (const struct contract_param *p = op->params; p->name; p++)
                if (p->flags & PF_CLI_ONLY)
                    assert_null(strstr(err.message, p->name));
        }
    }
    /* The seed's contract: text and patch are required on every surface that
     * lists these tools. */
    const char *const seed_required[][2] = {{"workspace_file_write", "text"}, {"workspace_patch_apply", "patch"}};
    for (size_t k = 0; k < ARRAY_SIZE(seed_required); k++) {
        const struct contract_op *op = contract_op_find(seed_required[k][0]);
        assert_non_null(op);
        int exposed = 0;
        for (int sfc = 0; sfc < SURFACE_COUNT; sfc++) {
            if (!contract_op_exposed(op, (enum contract_surface)sfc))
                continue;
            exposed++;
            json_auto_t *in = contract_input_schema_json(op, (enum contract_surface)sfc);
            assert_true(json_array_has(json_object_get(in, "required"), seed_required[k][1]));
            assert_true(json_array_has(json_object_get(in, "required"), "workspace_id"));
        }
        assert_true(exposed > 0);
    }
    assert_null(contract_op_find("nope"));
    int consumed = 0;
    const struct contract_group *g = NULL;
    char *argv[] = {"version", "--json"};
    assert_ptr_equal(cli_find(2, argv, &consumed, &g), contract_op_find("version"));
    assert_int_equal(consumed, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),        cmocka_unit_test(test_bounds_and_types),
        cmocka_unit_test(test_ports),           cmocka_unit_test(test_unknown_rejected),
        cmocka_unit_test(test_schema),          cmocka_unit_test(test_cli_parse),
        cmocka_unit_test(test_cli_errors),      cmocka_unit_test(test_cli_help),
        cmocka_unit_test(test_real_table),      cmocka_unit_test(test_required_with_cli_alternative),
        cmocka_unit_test(test_cli_alternative), cmocka_unit_test(test_cli_error_keeps_json_and_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
