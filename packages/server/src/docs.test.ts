import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { NODE_DEFAULTS, NODE_OPTION_KEYS } from "./options.js";
import { resolveChannelOptions } from "./channels.js";
import { envName, flagName } from "./cli/settings.js";

const doc = readFileSync(new URL("../../../docs/configuration.md", import.meta.url), "utf8");

/** The table row that documents `option`. */
const row = (option: string): string | undefined => doc.split("\n").find((l) => l.startsWith(`| \`${option}\` |`));

describe("docs/configuration.md matches the code", () => {
  it("documents every node option with its flag, environment variable and default", () => {
    for (const key of NODE_OPTION_KEYS) {
      const line = row(key);
      expect(line, key).toBeDefined();
      if (key === "channel" || key === "namespaces") continue;
      if (key === "pusherApps") {
        expect(line).toContain("--pusher-app");
        expect(line).toContain("HUBCAST_PUSHER_APP");
        continue;
      }
      expect(line).toContain(`--${flagName(key)}`);
      expect(line).toContain(envName(key));
      const fallback = String(NODE_DEFAULTS[key]);
      expect(line).toContain(fallback === "" ? "(none)" : `\`${fallback}\``);
    }
  });

  it("documents every channel option with its default", () => {
    const defaults = resolveChannelOptions();
    for (const [key, value] of Object.entries(defaults)) {
      if (key === "history") continue;
      expect(row(key), key).toContain(`\`${String(value)}\``);
    }
  });

  it("has an example config that the node accepts", async () => {
    const { resolveNodeOptions } = await import("./options.js");
    const { ChannelRules } = await import("./channels.js");
    const example = /## Example\n\n```json\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    const options = resolveNodeOptions(JSON.parse(example ?? "") as object);
    expect(() => new ChannelRules(options.namespaces, resolveChannelOptions(options.channel), 255)).not.toThrow();
  });
});
