import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { APP_KEYS, WEBHOOK_EVENTS, resolvePusherApps } from "./apps.js";
import { PusherClose } from "./close-codes.js";

const doc = readFileSync(new URL("../../../../docs/pusher.md", import.meta.url), "utf8");
/** The first cell of every table row, backticks removed. */
const firstCells = doc
  .split("\n")
  .filter((line) => line.startsWith("| `") || /^\| \d{4} \|/.test(line))
  .map((line) => (line.split("|")[1] ?? "").trim().replaceAll("`", ""));

describe("docs/pusher.md", () => {
  it("documents every app option with its default, and no other", () => {
    const [defaults] = resolvePusherApps([{ id: "1", key: "k", secret: "secret-1234" }]);
    const rows = doc.split("\n").filter((line) => /^\| `[a-zA-Z]+` \| /.test(line));
    const documented = rows.map((line) => (line.split("|")[1] ?? "").trim().replaceAll("`", ""));
    expect(documented.filter((name) => (APP_KEYS as readonly string[]).includes(name))).toEqual([...APP_KEYS]);
    for (const key of APP_KEYS) {
      const row = rows.find((line) => line.startsWith(`| \`${key}\` |`)) ?? "";
      const value = defaults?.[key];
      if (typeof value === "number" || typeof value === "boolean") expect(row, key).toContain(`| \`${value}\` |`);
    }
  });

  it("lists exactly the close codes the node sends", () => {
    const codes = firstCells.filter((cell) => /^\d{4}$/.test(cell)).map(Number);
    expect(codes.sort()).toEqual(Object.values(PusherClose).sort());
  });

  it("names every webhook event", () => {
    for (const event of WEBHOOK_EVENTS) expect(doc).toContain(`\`${event}\``);
  });
});
