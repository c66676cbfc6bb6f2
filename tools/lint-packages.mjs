#!/usr/bin/env node
// `npm run lint:packages`: checks every published package the way a registry user meets it,
// from what `npm pack` puts in its tarball: publint (package.json fields against the packed
// files; warnings fail) and Are the Types Wrong (how TypeScript resolves each entry point).
// The packages are the root's workspaces that are not private, so a new one is checked
// without editing this file.
//
// attw runs with the esm-only profile: every package is ESM only ("type": "module", no
// CommonJS build, Node >= 20), so the two resolution modes that profile skips are not ones
// these packages support: node10 (TypeScript's legacy `moduleResolution: node`, which ignores
// `exports`) and node16 from CommonJS (`require` of an ESM file, which the default profile
// reports on every ESM-only package). Every mode a user of ESM meets (node16 from ESM,
// bundler) must resolve to the right types.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = (name) => join(root, "node_modules", ".bin", name);

const { workspaces } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const published = workspaces.filter(
  (dir) => !JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8")).private,
);

const checks = [
  { tool: "publint", args: (dir) => [dir, "--strict"] },
  { tool: "attw", args: (dir) => ["--pack", dir, "--profile", "esm-only"] },
];

const failed = [];
for (const dir of published) {
  for (const { tool, args } of checks) {
    process.stdout.write(`\n== ${tool} ${dir}\n`);
    const run = spawnSync(bin(tool), args(dir), { cwd: root, stdio: "inherit" });
    if (run.status !== 0) failed.push(`${tool} ${dir}`);
  }
}
if (failed.length > 0) {
  process.stderr.write(`\nlint:packages: failed: ${failed.join(", ")}\n`);
  process.exit(1);
}
process.stdout.write(`\nlint:packages: ${published.length} packages clean\n`);
