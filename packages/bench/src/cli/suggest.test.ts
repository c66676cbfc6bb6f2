import { parseArgs } from "node:util";
import { describe, expect, it } from "vitest";
import { flagsErrorMessage } from "./suggest.js";

const FLAGS = { url: { type: "string" }, connections: { type: "string" }, json: { type: "boolean" } } as const;

/** The message for what `parseArgs` throws on `args`. */
function messageFor(args: string[]): string {
  try {
    parseArgs({ args, options: FLAGS, strict: true, allowPositionals: false });
  } catch (err) {
    return flagsErrorMessage(err, Object.keys(FLAGS));
  }
  throw new Error(`parseArgs accepted ${args.join(" ")}`);
}

describe("flagsErrorMessage", () => {
  it("suggests the nearest flag for an unknown one, with or without a value after =", () => {
    expect(messageFor(["--conections", "5"])).toBe("unknown option '--conections'; did you mean --connections?");
    expect(messageFor(["--ulr=ws://x"])).toBe("unknown option '--ulr'; did you mean --url?");
    expect(messageFor(["--quiet"])).toBe("unknown option '--quiet'");
  });

  it("keeps every message to one line", () => {
    expect(messageFor(["--url"])).toBe("--url needs a value");
    expect(messageFor(["--url", "--json"])).toBe(
      '--url needs a value before the next option (a value starting with "-" is written --url=-…)',
    );
    expect(messageFor(["100"])).toBe(
      "unexpected argument '100': the scenario is the only word without a flag; options are --name value",
    );
    expect(messageFor(["--json=yes"])).not.toContain("\n");
  });
});
