import { describe, expect, it } from "vitest";
import { OptionError } from "../validation.js";
import { OriginPolicy } from "./origins.js";

describe("OriginPolicy", () => {
  it("allows everything when the list is empty", () => {
    const policy = new OriginPolicy("");
    expect(policy.allowsAny).toBe(true);
    expect(policy.allows("https://anything.test")).toBe(true);
    expect(policy.allows("null")).toBe(true);
  });

  it("allows requests without an Origin header (non-browser clients)", () => {
    expect(new OriginPolicy("https://app.example.com").allows(undefined)).toBe(true);
  });

  it("matches exact origins, ignoring case, and nothing near them", () => {
    const policy = new OriginPolicy("https://app.example.com, http://localhost:3000");
    expect(policy.allows("https://app.example.com")).toBe(true);
    expect(policy.allows("HTTPS://App.Example.com")).toBe(true);
    expect(policy.allows("http://localhost:3000")).toBe(true);
    expect(policy.allows("http://app.example.com")).toBe(false);
    expect(policy.allows("https://app.example.com:8443")).toBe(false);
    expect(policy.allows("https://evil.app.example.com")).toBe(false);
    expect(policy.allows("https://app.example.com.evil.test")).toBe(false);
    expect(policy.allows("http://localhost:3001")).toBe(false);
    expect(policy.allows("null")).toBe(false);
  });

  it("matches a wildcard against subdomains at any depth, not the bare domain or other schemes", () => {
    const policy = new OriginPolicy("https://*.example.com");
    expect(policy.allows("https://app.example.com")).toBe(true);
    expect(policy.allows("https://a.b.c.example.com")).toBe(true);
    expect(policy.allows("https://example.com")).toBe(false);
    expect(policy.allows("http://app.example.com")).toBe(false);
    expect(policy.allows("wss://app.example.com")).toBe(false);
    expect(policy.allows("https://evilexample.com")).toBe(false);
    expect(policy.allows("https://app.example.com.evil.test")).toBe(false);
    expect(policy.allows("https://.example.com")).toBe(false);
    expect(policy.allows("https://a..example.com")).toBe(false);
    expect(policy.allows("https://app.example.com:8443")).toBe(false);
  });

  it("keeps the port of a wildcard entry", () => {
    const policy = new OriginPolicy("https://*.example.com:8443");
    expect(policy.allows("https://app.example.com:8443")).toBe(true);
    expect(policy.allows("https://app.example.com")).toBe(false);
  });

  it.each([
    "https://app.example.com/path",
    "https://*",
    "https://*.com",
    "https://a.*.example.com",
    "https://app.*.com",
    "ftp://x.test",
  ])("refuses the entry %s with an OptionError naming allowedOrigins", (entry) => {
    expect(() => new OriginPolicy(entry)).toThrow(OptionError);
    expect(() => new OriginPolicy(entry)).toThrow(/^allowedOrigins: /);
  });
});
