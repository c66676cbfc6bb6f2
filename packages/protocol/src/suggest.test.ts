import { describe, expect, it } from "vitest";
import { closest } from "./suggest.js";

describe("closest", () => {
  it("finds a likely typo, and nothing for a word far from every candidate", () => {
    expect(closest("--conections", ["--connections", "--channels"])).toBe("--connections");
    expect(closest("FANOUT", ["connect", "fanout"])).toBe("fanout");
    expect(closest("crossnode", ["connect", "cross-node"])).toBe("cross-node");
    expect(closest("soak", ["connect", "fanout", "chat", "cross-node"])).toBeUndefined();
    expect(closest("--x", ["--url", "--out"])).toBeUndefined();
  });
});
