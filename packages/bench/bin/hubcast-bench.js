#!/usr/bin/env node
// The `hubcast-bench` command; see packages/server/bin/hubcast.js for why it is not in dist/.
const entry = new URL("../dist/cli/main.js", import.meta.url);
try {
  await import(entry.href);
} catch (err) {
  if (err?.code !== "ERR_MODULE_NOT_FOUND" || !String(err.message).includes(entry.pathname)) throw err;
  process.stderr.write(
    `hubcast-bench: not built yet (${entry.pathname} is missing): run \`npm run build\` at the repository root\n`,
  );
  process.exit(1);
}
