// A hostile repository as the project source: its .git/config sets
// core.fsmonitor, a pager, filter clean/smudge/process commands and more,
// its hooks directory holds hooks, and the caller's environment carries
// GIT_* variables that point git at a hostile global config. Seeding from
// the project (--project-path) and cloning it (--repo-url, --repo-ref) run
// as root on the host; none of those commands may run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync, readdirSync, chmodSync, appendFileSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { connect, testHome, LONG } from "./lib.mjs";

const home = testHome("hostile-repo");
test.after(() => home.cleanup());
const ENV = "debian:12-base";
const D = realpathSync(home.dir);
const markers = join(D, "markers");
mkdirSync(markers);
const touch = (what) => `touch ${join(markers, what)}`;

const repo = join(D, "repo");
mkdirSync(repo);
const git = (...a) => execFileSync("git", ["-C", repo, ...a], { encoding: "utf8", env: { PATH: process.env.PATH } });
git("init", "-q", "-b", "main");
writeFileSync(join(repo, "main.c"), "int main(void) { return 0; }\n");
writeFileSync(join(repo, ".gitattributes"), "* filter=evil diff=evil merge=evil\n");
writeFileSync(join(repo, "untracked.txt"), "not tracked\n");
git("add", "main.c", ".gitattributes");
git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init");
// After the commit: configuration and hooks that run commands.
appendFileSync(join(repo, ".git", "config"), `
[core]
	fsmonitor = "${touch("fsmonitor")}; false"
	pager = "${touch("pager")}; cat"
	editor = "${touch("editor")}; true"
	askPass = "${touch("askpass")}"
	sshCommand = "${touch("ssh")}; false"
	alternateRefsCommand = "${touch("alternate-refs")}"
[pager]
	ls-files = "${touch("pager-ls-files")}; cat"
[filter "evil"]
	clean = "${touch("filter-clean")}; cat"
	smudge = "${touch("filter-smudge")}; cat"
	process = "${touch("filter-process")}"
	required = false
[diff "evil"]
	textconv = "${touch("textconv")}; cat"
	command = "${touch("diff-driver")}"
[diff]
	external = "${touch("diff-external")}"
[credential]
	helper = "!${touch("credential")}"
[uploadpack]
	packObjectsHook = "${touch("pack-objects-hook")}"
[receive]
	procReceiveRefs = refs
[sequence]
	editor = "${touch("sequence-editor")}"
`);
for (const h of ["post-checkout", "post-index-change", "reference-transaction", "pre-auto-gc", "post-merge",
                 "fsmonitor-watchman", "pre-commit", "post-rewrite"]) {
  writeFileSync(join(repo, ".git", "hooks", h), `#!/bin/sh\n${touch("hook-" + h)}\n`);
  chmodSync(join(repo, ".git", "hooks", h), 0o755);
}
// The caller's environment: a hostile global config and other GIT_* knobs.
const globalCfg = join(D, "global.gitconfig");
writeFileSync(globalCfg, `
[filter "evil"]
	smudge = "${touch("global-smudge")}; cat"
	process = "${touch("global-process")}"
[core]
	hooksPath = ${join(repo, ".git", "hooks")}
	fsmonitor = "${touch("global-fsmonitor")}; false"
`);
const env = {
  ...home.env,
  GIT_CONFIG_GLOBAL: globalCfg,
  GIT_CONFIG_COUNT: "1",
  GIT_CONFIG_KEY_0: "core.pager",
  GIT_CONFIG_VALUE_0: `${touch("env-pager")}; cat`,
  GIT_PAGER: `${touch("git-pager")}; cat`,
  GIT_EXTERNAL_DIFF: touch("env-external-diff"),
  GIT_SSH_COMMAND: touch("env-ssh"),
  GIT_TEMPLATE_DIR: join(repo, ".git"), // its hooks/ would be copied into the clone
};
function ran() {
  return readdirSync(markers).sort();
}

async function seedFrom(args) {
  const c = await connect("stdio", args, env);
  try {
    await c.client.listTools();
    const r = await c.client.callTool({ name: "workspace_create", arguments: { environment: ENV } }, undefined, LONG);
    assert.equal(r.isError, false, JSON.stringify(r.content));
    const ws = r.structuredContent;
    assert.equal(ws.workspace_seed.origin_kind, "project");
    const id = ws.workspace_id;
    const read = async (path) =>
      (await c.client.callTool({ name: "workspace_file_read", arguments: { workspace_id: id, path } })).structuredContent;
    assert.match((await read("main.c")).content, /int main/);
    await c.client.callTool({ name: "workspace_delete", arguments: { workspace_id: id } }, undefined, LONG);
    return ws;
  } finally {
    await c.close();
  }
}

test("seeding from a hostile project runs none of its commands", async () => {
  const ws = await seedFrom(["--project-path", repo]);
  assert.equal(ws.workspace_seed.mode, "git_checkout");
  assert.ok(ws.workspace_seed.untracked_skipped >= 1, "untracked files stay out");
  assert.deepEqual(ran(), [], "commands from the repository's configuration ran on the host");
});

test("cloning a hostile repository (--repo-url, --repo-ref) runs none of its commands", async () => {
  for (const args of [["--repo-url", repo], ["--repo-url", repo, "--repo-ref", "main"]]) {
    await seedFrom(args);
    assert.deepEqual(ran(), [], `${args.join(" ")}: commands ran on the host`);
  }
});

test("a project owned by another user seeds (the index is read without git)", async () => {
  // git itself refuses such a checkout as root ("dubious ownership").
  execFileSync("chown", ["-R", "65534:65534", repo]);
  const ws = await seedFrom(["--project-path", repo]);
  assert.equal(ws.workspace_seed.mode, "git_checkout");
  assert.deepEqual(ran(), []);
});
