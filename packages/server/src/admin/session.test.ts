import { createHmac, hkdfSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ADMIN_COOKIE, AdminSessions, SESSION_TTL_MS, clearedCookie, cookieValues, sessionCookie } from "./session.js";

const PASSWORD = "correct-horse-battery";

/** A manual clock. */
function clock(start = 1_700_000_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

/** Signs `payload` the way the contract says, with `password`'s key: for tokens made outside AdminSessions. */
function signed(claims: unknown, password = PASSWORD): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
  const key = Buffer.from(hkdfSync("sha256", password, "hubcast-admin", "session", 32));
  return `${payload}.${createHmac("sha256", key).update(payload).digest("base64url")}`;
}

describe("admin session tokens", () => {
  it("mints a token another instance with the same password accepts (another node), with 12 h of life", () => {
    const t = clock();
    const { token, claims } = new AdminSessions(PASSWORD, t.now).mint();
    expect(claims.exp - claims.iat).toBe(SESSION_TTL_MS);
    expect(new AdminSessions(PASSWORD, t.now).verify(token)).toEqual(claims);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  });

  it("follows the contract's format: base64url JSON {iat, exp, sid} . HMAC-SHA256 with the HKDF key", () => {
    const t = clock();
    const claims = { iat: t.now(), exp: t.now() + 1_000, sid: "s1" };
    expect(new AdminSessions(PASSWORD, t.now).verify(signed(claims))).toEqual(claims);
  });

  it("refuses a token signed with another password", () => {
    const t = clock();
    const { token } = new AdminSessions("another-password-1", t.now).mint();
    expect(new AdminSessions(PASSWORD, t.now).verify(token)).toBeUndefined();
  });

  it("refuses a token once it expires", () => {
    const t = clock();
    const sessions = new AdminSessions(PASSWORD, t.now);
    const { token } = sessions.mint();
    t.advance(SESSION_TTL_MS - 1);
    expect(sessions.verify(token)).toBeDefined();
    t.advance(1);
    expect(sessions.verify(token)).toBeUndefined();
  });

  it("refuses tokens issued in the future, or living longer than a session", () => {
    const t = clock();
    const sessions = new AdminSessions(PASSWORD, t.now);
    expect(sessions.verify(signed({ iat: t.now() + 120_000, exp: t.now() + 130_000, sid: "x" }))).toBeUndefined();
    expect(sessions.verify(signed({ iat: t.now(), exp: t.now() + SESSION_TTL_MS + 1, sid: "x" }))).toBeUndefined();
  });

  it("refuses anything malformed without throwing", () => {
    const t = clock();
    const sessions = new AdminSessions(PASSWORD, t.now);
    const { token } = sessions.mint();
    const [payload = "", signature = ""] = token.split(".");
    const tampered = `${Buffer.from(JSON.stringify({ iat: t.now(), exp: t.now() + SESSION_TTL_MS * 2, sid: "x" })).toString("base64url")}.${signature}`;
    for (const bad of [
      "",
      ".",
      payload,
      `${payload}.`,
      `.${signature}`,
      `${payload}.${signature}x`,
      `${payload}.${signature.slice(1)}`,
      `${payload}.${signature}.${signature}`,
      tampered,
      "%%%.$$$",
      "a".repeat(10_000),
      signed("not an object"),
      signed({ iat: "1", exp: t.now() + 1000, sid: "x" }),
      signed({ iat: t.now(), exp: t.now() + 1000 }),
      `${Buffer.from("not json").toString("base64url")}.${signature}`,
    ])
      expect(sessions.verify(bad), bad.slice(0, 40)).toBeUndefined();
  });

  it("checks the password", () => {
    const sessions = new AdminSessions(PASSWORD);
    expect(sessions.checkPassword(PASSWORD)).toBe(true);
    expect(sessions.checkPassword(`${PASSWORD} `)).toBe(false);
    expect(sessions.checkPassword("")).toBe(false);
  });
});

describe("admin session cookies", () => {
  it("sets HttpOnly, SameSite=Strict, Path=/admin, Max-Age; Secure only over HTTPS", () => {
    expect(sessionCookie("tok", SESSION_TTL_MS, false)).toBe(
      `${ADMIN_COOKIE}=tok; HttpOnly; SameSite=Strict; Path=/admin; Max-Age=43200`,
    );
    expect(sessionCookie("tok", SESSION_TTL_MS, true)).toMatch(/; Secure$/);
    expect(clearedCookie(false)).toBe(`${ADMIN_COOKIE}=; HttpOnly; SameSite=Strict; Path=/admin; Max-Age=0`);
  });

  it("finds every cookie of the name in a Cookie header, and nothing in malformed ones", () => {
    expect(cookieValues(`a=1; ${ADMIN_COOKIE}=x.y; b; ${ADMIN_COOKIE}="q.r"`, ADMIN_COOKIE)).toEqual(["x.y", "q.r"]);
    expect(cookieValues(undefined, ADMIN_COOKIE)).toEqual([]);
    expect(cookieValues(";;;==;", ADMIN_COOKIE)).toEqual([]);
    expect(cookieValues(`x${ADMIN_COOKIE}=1`, ADMIN_COOKIE)).toEqual([]);
  });
});
