import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root directory. */
export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** The package.json fields the packaging tests read. */
export interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  main?: string;
  bin?: Record<string, string>;
  dependencies?: Record<string, string>;
}

/** A workspace package that is published: its folder (relative to the root) and manifest. */
export interface PublishedPackage {
  dir: string;
  manifest: Manifest;
}

const readManifest = (dir: string): Manifest =>
  JSON.parse(readFileSync(join(repoRoot, dir, "package.json"), "utf8")) as Manifest;

/**
 * Every package a release publishes: the root's workspaces that are not private, in the
 * root's order (tools/lint-packages.mjs lints the same list).
 */
export function publishedPackages(): PublishedPackage[] {
  const { workspaces } = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { workspaces: string[] };
  return workspaces
    .map((dir) => ({ dir, manifest: readManifest(dir) }))
    .filter(({ manifest }) => manifest.private !== true);
}

/**
 * The Hubcast packages installing `name` brings: itself and its @hubcast dependencies,
 * transitively, as short names ("server", "protocol"), sorted.
 */
export function hubcastClosure(packages: PublishedPackage[], name: string): string[] {
  const byName = new Map(packages.map((p) => [p.manifest.name, p.manifest]));
  const seen = new Set<string>();
  const visit = (n: string): void => {
    if (seen.has(n)) return;
    seen.add(n);
    for (const dep of Object.keys(byName.get(n)?.dependencies ?? {})) {
      if (dep.startsWith("@hubcast/")) visit(dep);
    }
  };
  visit(name);
  return [...seen].map((n) => n.slice("@hubcast/".length)).sort();
}
