#!/usr/bin/env node
// The `hubcast` command. npm links a package's commands when it installs it, which in a clone
// is before `prepare` has built dist/; a command pointing into dist/ would not be linked, so the
// command is this file, present from the start, and it runs the built CLI (which runs on import).
const entry = new URL("../dist/cli/main.js", import.meta.url);
try {
  await import(entry.href);
} catch (err) {
  if (err?.code !== "ERR_MODULE_NOT_FOUND" || !String(err.message).includes(entry.pathname)) throw err;
  process.stderr.write(
    `hubcast: not built yet (${entry.pathname} is missing): run \`npm run build\` at the repository root\n`,
  );
  process.exit(1);
}
