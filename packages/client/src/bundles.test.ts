import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";

// Checks the bundles `npm run build` writes (npm test builds first).
const BUNDLE_DIR = new URL("../dist/browser/", import.meta.url);
const DOC = new URL("../../../docs/sdk.md", import.meta.url);
/** The JSON-only ES module's budget, gzipped. */
const GZIP_BUDGET_BYTES = 15_360;
const BUNDLES = ["hubcast.js", "hubcast.iife.js", "hubcast-protobuf.js"] as const;

/** Minified and gzipped (zlib's default level) sizes of one bundle, in bytes. */
function sizes(name: string): { minified: number; gzipped: number } {
  const body = readFileSync(new URL(name, BUNDLE_DIR));
  return { minified: body.length, gzipped: gzipSync(body).length };
}

const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;

describe("browser bundles", () => {
  it(`keeps the JSON-only ES module within ${GZIP_BUDGET_BYTES} bytes gzipped`, () => {
    const { gzipped } = sizes("hubcast.js");
    expect(gzipped, `hubcast.js is ${gzipped} bytes gzipped`).toBeLessThanOrEqual(GZIP_BUDGET_BYTES);
  });

  it("leaves Protobuf out of the JSON-only bundles and puts it in hubcast-protobuf.js", () => {
    const protobuf = sizes("hubcast-protobuf.js");
    // The Protobuf runtime embeds descriptor.proto's type names; the JSON bundles must not.
    const marker = "google.protobuf.FileDescriptorProto";
    expect(readFileSync(new URL("hubcast-protobuf.js", BUNDLE_DIR), "utf8")).toContain(marker);
    for (const name of ["hubcast.js", "hubcast.iife.js"]) {
      expect(readFileSync(new URL(name, BUNDLE_DIR), "utf8")).not.toContain(marker);
      expect(protobuf.gzipped).toBeGreaterThan(sizes(name).gzipped * 2);
    }
  });

  it("exposes the script-tag bundle as the global Hubcast", () => {
    const body = readFileSync(new URL("hubcast.iife.js", BUNDLE_DIR), "utf8");
    expect(body).toMatch(/\bvar Hubcast=\(\(\)=>/);
  });

  it("lists each bundle's sizes in docs/sdk.md within 5% of the build", () => {
    const doc = readFileSync(DOC, "utf8");
    for (const name of BUNDLES) {
      const actual = sizes(name);
      const row = doc.split("\n").find((line) => line.startsWith(`| \`/sdk/${name}\``));
      const expected = `minified ${kb(actual.minified)}, gzipped ${kb(actual.gzipped)}`;
      expect(row, `docs/sdk.md has no table row for /sdk/${name}`).toBeDefined();
      const [minified, gzipped] = [...(row ?? "").matchAll(/\| ([\d.]+) KB /g)].map((m) => Number(m[1]) * 1024);
      expect(minified, `${name}: the doc should say ${expected}`).toBeDefined();
      expect(Math.abs((minified ?? 0) / actual.minified - 1), `${name}: ${expected}`).toBeLessThanOrEqual(0.05);
      expect(Math.abs((gzipped ?? 0) / actual.gzipped - 1), `${name}: ${expected}`).toBeLessThanOrEqual(0.05);
    }
  });
});
