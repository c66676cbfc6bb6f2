import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { fencedBlocks } from "../../../../test/support/doc-examples.js";
import { apiErrorCatalogue, codeForStatus } from "./api-errors.js";
import type { ApiErrorCode } from "./api-errors.js";

const doc = readFileSync(new URL("../../../../docs/api.md", import.meta.url), "utf8");

/** Rows of docs/api.md's error-code table: code → [status, retry]. */
function documentedCodes(): Map<string, [number, string]> {
  const rows = new Map<string, [number, string]>();
  for (const line of doc.split("\n")) {
    const match = /^\| `([a-z_]+)` \| (\d{3}) \| (yes|no) \|/.exec(line);
    if (match?.[1] !== undefined) rows.set(match[1], [Number(match[2]), match[3] ?? ""]);
  }
  return rows;
}

describe("API error codes", () => {
  it("docs/api.md lists every code with its status and retry flag, and no other", () => {
    const documented = documentedCodes();
    const catalogue = Object.entries(apiErrorCatalogue) as [ApiErrorCode, (typeof apiErrorCatalogue)[ApiErrorCode]][];
    expect([...documented.keys()].sort()).toEqual(catalogue.map(([code]) => code).sort());
    for (const [code, { status, retry }] of catalogue)
      expect(documented.get(code), code).toEqual([status, retry ? "yes" : "no"]);
  });

  it("docs/api.md shows every error in the current shape, with a code from the catalogue", () => {
    const shown: unknown[] = [];
    const collect = (value: unknown): void => {
      if (typeof value !== "object" || value === null) return;
      if ("error" in value) shown.push(value.error);
      for (const child of Object.values(value)) collect(child);
    };
    for (const block of fencedBlocks(doc).filter((b) => b.lang === "json")) collect(JSON.parse(block.text));
    expect(shown.length).toBeGreaterThan(0);
    for (const error of shown) {
      expect(error).toEqual({ code: expect.any(String) as string, message: expect.any(String) as string });
      expect(Object.keys(apiErrorCatalogue)).toContain((error as { code: string }).code);
    }
  });

  it("maps each status below 500 to the first code listed with it, and any other to internal", () => {
    const seen = new Set<number>();
    for (const [code, { status }] of Object.entries(apiErrorCatalogue)) {
      if (status < 500 && !seen.has(status)) expect(codeForStatus(status)).toBe(code);
      seen.add(status);
    }
    expect(codeForStatus(500)).toBe("internal");
    expect(codeForStatus(418)).toBe("internal");
  });
});
