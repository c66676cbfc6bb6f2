import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { HubcastNode } from "../node.js";
import { resolveNodeOptions } from "../options.js";
import { OptionError } from "../validation.js";
import { TokenKeys } from "./keys.js";

const dir = mkdtempSync(join(tmpdir(), "hubcast-keys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function pemFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const spki = (pair: { publicKey: { export(o: { type: "spki"; format: "pem" }): string | Buffer } }): string =>
  pair.publicKey.export({ type: "spki", format: "pem" }).toString();

const keysFor = (tokenPublicKeyFile: string): TokenKeys | undefined =>
  TokenKeys.load({ tokenHmacSecret: "", tokenJwksUrl: "", tokenPublicKeyFile });

describe("TokenKeys", () => {
  it("is undefined when no key is configured", () => {
    expect(TokenKeys.load(resolveNodeOptions({}))).toBeUndefined();
  });

  it("takes RS256 from an RSA public key and ES256 from a P-256 one", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
    expect(keysFor(pemFile("rsa.pem", spki(rsa)))?.algorithms).toEqual(["RS256"]);
    expect(keysFor(pemFile("ec.pem", spki(ec)))?.algorithms).toEqual(["ES256"]);
  });

  it("accepts only the configured algorithms", () => {
    const keys = TokenKeys.load({
      tokenHmacSecret: "x".repeat(32),
      tokenJwksUrl: "https://auth.example.com/jwks.json",
      tokenPublicKeyFile: "",
    });
    expect(keys?.algorithms).toEqual(["HS256", "RS256", "ES256"]);
    expect(keys?.keyFor("none")).toBeUndefined();
    expect(keys?.keyFor("HS512")).toBeUndefined();
    expect(keys?.keyFor(undefined)).toBeUndefined();
  });

  it.each([
    ["a missing file", () => join(dir, "missing.pem"), /^tokenPublicKeyFile: cannot read .*missing\.pem/],
    ["a file that is not PEM", () => pemFile("junk.pem", "hello"), /does not hold a PEM public key/],
    [
      "a private key",
      () =>
        pemFile(
          "private.pem",
          generateKeyPairSync("ec", { namedCurve: "P-256" })
            .privateKey.export({ type: "pkcs8", format: "pem" })
            .toString(),
        ),
      /holds a private key; give the public key/,
    ],
    [
      "a P-384 key",
      () => pemFile("p384.pem", spki(generateKeyPairSync("ec", { namedCurve: "P-384" }))),
      /holds a ec secp384r1 key; use an RSA key \(RS256\) or a P-256 EC key \(ES256\)/,
    ],
    ["an Ed25519 key", () => pemFile("ed.pem", spki(generateKeyPairSync("ed25519"))), /holds a ed25519 key/],
    [
      "a short RSA key",
      () => pemFile("rsa1024.pem", spki(generateKeyPairSync("rsa", { modulusLength: 1024 }))),
      /1024-bit RSA key; RS256 needs at least 2048 bits/,
    ],
  ])("refuses %s with an OptionError naming tokenPublicKeyFile", (_what, path, message) => {
    const file = path();
    expect(() => keysFor(file)).toThrow(OptionError);
    expect(() => keysFor(file)).toThrow(message);
  });

  it("makes the node refuse to start with an unusable key file, or a setup that cannot work", () => {
    expect(() => new HubcastNode({ tokenPublicKeyFile: join(dir, "missing.pem") })).toThrow(
      /^tokenPublicKeyFile: cannot read/,
    );
    expect(() => new HubcastNode({ allowAnonymous: false })).toThrow(/^allowAnonymous: false refuses every connection/);
    expect(() => new HubcastNode({ namespaces: { p: { subscribe: "token" } } })).toThrow(
      /^namespaces\.p\.subscribe: "token" needs a key/,
    );
    expect(() => new HubcastNode({ allowedOrigins: "https://*.com" })).toThrow(/^allowedOrigins: /);
  });
});
