// docs/install.md against the packages it describes: the table of what each package pulls in,
// and the SDK example, which must be the one the registry test runs from @hubcast/client's README.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hubcastClosure, publishedPackages, repoRoot } from "./support/packages.js";

const doc = readFileSync(join(repoRoot, "docs/install.md"), "utf8");
const packages = publishedPackages();

describe("docs/install.md", () => {
  it("lists every published package with the Hubcast packages it pulls in", () => {
    const rows = new Map<string, string[]>();
    for (const [, name, pulls] of doc.matchAll(/^\| `(@hubcast\/[a-z-]+)` +\|[^|]*\| ([^|]*?) *\|$/gm)) {
      const listed = pulls === "none" ? [] : (pulls ?? "").split(", ").map((p) => p.replaceAll("`", ""));
      rows.set(name ?? "", listed.sort());
    }
    expect([...rows.keys()].sort()).toEqual(packages.map((p) => p.manifest.name).sort());
    for (const [name, listed] of rows) {
      const short = name.slice("@hubcast/".length);
      expect(listed, name).toEqual(hubcastClosure(packages, name).filter((n) => n !== short));
    }
  });

  it("shows the SDK example of @hubcast/client's README, word for word", () => {
    const readme = readFileSync(join(repoRoot, "packages/client/README.md"), "utf8");
    const firstJs = (text: string) => /```js\n([\s\S]*?)```/.exec(text)?.[1];
    expect(firstJs(readme)).toBeDefined();
    expect(firstJs(doc)).toBe(firstJs(readme));
  });
});
