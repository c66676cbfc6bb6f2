import { afterEach, describe, expect, it } from "vitest";
import type { Answer } from "../../../../test/support/admin-client.js";
import {
  ADMIN_NAMESPACES,
  ADMIN_PASSWORD as PASSWORD,
  call,
  errorCode,
  login,
  post,
} from "../../../../test/support/admin-client.js";
import { TestCluster } from "../../../../test/support/nodes.js";
import { MAX_ADMIN_PUBLISH_BYTES } from "./admin-api.js";
import { ADMIN_CSP } from "./http.js";
import { ADMIN_COOKIE, AdminSessions, SESSION_TTL_MS } from "./session.js";

// The admin UI's session and its defences, on one node over real HTTP. Its data views, the live
// stream and a Redis cluster are in admin-data.int.test.ts.

describe("admin UI on one node", () => {
  const cluster = new TestCluster();
  afterEach(() => cluster.cleanup());

  async function adminNode(): Promise<{ base: string }> {
    const { node } = await cluster.node({ adminPassword: PASSWORD, namespaces: ADMIN_NAMESPACES });
    return { base: node.address.url };
  }

  it("is off without a password: every /admin path answers 404 with the usual error body", async () => {
    const { node } = await cluster.node();
    for (const [path, method] of [
      ["/admin", "GET"],
      ["/admin/", "GET"],
      ["/admin/uplot.js", "GET"],
      ["/admin/api/session", "GET"],
      ["/admin/api/login", "POST"],
    ] as const) {
      const answer = await call(node.address.url, path, { method, body: method === "POST" ? {} : undefined });
      expect(answer.status, path).toBe(404);
      expect(errorCode(answer), path).toBe("not_found");
    }
    expect((await call(node.address.url, "/administrator")).status).toBe(404);
  });

  it("logs in with the password, sets a strict HttpOnly cookie, reports the session and logs out", async () => {
    const { base } = await adminNode();
    const wrong = await post(base, "/admin/api/login", { password: "not-the-password" });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ error: { code: "unauthorized", message: "wrong password" } });

    const right = await post(base, "/admin/api/login", { password: PASSWORD });
    expect(right.status).toBe(204);
    const setCookie = right.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(new RegExp(`^${ADMIN_COOKIE}=[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+;`));
    for (const attribute of ["HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age=43200"])
      expect(setCookie).toContain(attribute);
    expect(setCookie).not.toContain("Secure");
    const cookie = setCookie.split(";", 1)[0] ?? "";

    const session = await call(base, "/admin/api/session", { cookie });
    expect(session.status).toBe(200);
    const { loggedIn, expiresAt } = session.body as { loggedIn: boolean; expiresAt: number };
    expect(loggedIn).toBe(true);
    expect(Math.abs(expiresAt - (Date.now() + SESSION_TTL_MS))).toBeLessThan(60_000);
    expect((await call(base, "/admin/api/session")).status).toBe(401);

    const out = await post(base, "/admin/api/logout", {}, cookie);
    expect(out.status).toBe(204);
    expect(out.headers.get("set-cookie")).toMatch(new RegExp(`^${ADMIN_COOKIE}=;.*Max-Age=0`));
    expect((await post(base, "/admin/api/logout", {})).status).toBe(401);

    // Behind a TLS-terminating proxy the cookie is Secure.
    const proxied = await call(base, "/admin/api/login", {
      method: "POST",
      body: { password: PASSWORD },
      headers: { "X-Forwarded-Proto": "https" },
    });
    expect(proxied.headers.get("set-cookie")).toContain("; Secure");
  });

  it("refuses logins from an address after 5 failures, the right password too, with Retry-After", async () => {
    const { base } = await adminNode();
    for (let i = 0; i < 5; i++)
      expect((await post(base, "/admin/api/login", { password: `wrong-${i}` })).status).toBe(401);
    const limited = await post(base, "/admin/api/login", { password: "wrong-again" });
    expect(limited.status).toBe(429);
    expect(errorCode(limited)).toBe("too_many_requests");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(Number(limited.headers.get("retry-after"))).toBeLessThanOrEqual(60);
    const right = await post(base, "/admin/api/login", { password: PASSWORD });
    expect(right.status).toBe(429);
    expect(right.headers.get("set-cookie")).toBeNull();
  });

  it("refuses state changes without the CSRF header or from a foreign origin", async () => {
    const { base } = await adminNode();
    const login = (headers: Record<string, string>, csrf = true): Promise<Answer> =>
      call(base, "/admin/api/login", { method: "POST", body: { password: PASSWORD }, headers, csrf });
    const noHeader = await login({}, false);
    expect(noHeader.status).toBe(403);
    expect(errorCode(noHeader)).toBe("forbidden");
    expect((await login({ Origin: "https://evil.example" })).status).toBe(403);
    expect((await login({ Origin: "null" })).status).toBe(403);
    expect((await login({ Origin: base })).status).toBe(204);

    const cookie = await (async () => {
      const answer = await login({});
      return answer.headers.get("set-cookie")?.split(";", 1)[0] ?? "";
    })();
    const publish = await call(base, "/admin/api/publish", {
      method: "POST",
      body: { channel: "plain:x", data: 1 },
      cookie,
      csrf: false,
    });
    expect(publish.status).toBe(403);
    const foreign = await call(base, "/admin/api/disconnect", {
      method: "POST",
      body: { user: "alice" },
      cookie,
      headers: { Origin: "http://127.0.0.1:1" },
    });
    expect(foreign.status).toBe(403);
  });

  it("refuses cookies signed with another password, expired ones and garbage, never failing", async () => {
    const { base } = await adminNode();
    const other = new AdminSessions("another-password-0123").mint().token;
    const expired = new AdminSessions(PASSWORD, () => Date.now() - SESSION_TTL_MS - 1_000).mint().token;
    for (const value of [other, expired, "", "x", "a.b", "%00%ff", "é.é", `${"a".repeat(4_000)}.b`]) {
      const answer = await call(base, "/admin/api/cluster", { cookie: `${ADMIN_COOKIE}=${value}` });
      expect(answer.status, value.slice(0, 20)).toBe(401);
      expect(errorCode(answer)).toBe("unauthorized");
    }
    // A valid cookie among bad ones of the same name still counts (a browser may send several).
    const good = await login(base);
    const mixed = await call(base, "/admin/api/session", { cookie: `${ADMIN_COOKIE}=${expired}; ${good}` });
    expect(mixed.status).toBe(200);
  });

  it("answers bad requests with 4xx and the usual error body", async () => {
    const { base } = await adminNode();
    const cookie = await login(base);
    const cases: [Promise<Answer>, number, string][] = [
      [call(base, "/admin/api/nope", { cookie }), 404, "not_found"],
      [call(base, "/admin/api", { cookie }), 404, "not_found"],
      [call(base, "/admin/api/publish", { cookie }), 405, "method_not_allowed"],
      [call(base, "/admin/api/login", { method: "POST", raw: "{not json" }), 400, "bad_request"],
      [call(base, "/admin/api/login", { method: "POST", raw: "" }), 400, "bad_request"],
      [call(base, "/admin/api/login", { method: "POST", body: { password: 1 } }), 400, "bad_request"],
      [call(base, "/admin/api/publish", { method: "POST", cookie, raw: "[1" }), 400, "bad_request"],
      [
        call(base, "/admin/api/publish", {
          method: "POST",
          cookie,
          body: { channel: "plain:x", data: "x".repeat(MAX_ADMIN_PUBLISH_BYTES) },
        }),
        413,
        "payload_too_large",
      ],
      [post(base, "/admin/api/publish", { channel: "plain:x" }, cookie), 400, "bad_request"],
      [post(base, "/admin/api/publish", { channel: "plain:x", data: 1, extra: 1 }, cookie), 400, "bad_request"],
      [post(base, "/admin/api/publish", { channel: "nowhere:x", data: 1 }, cookie), 400, "bad_request"],
      [post(base, "/admin/api/publish", { channel: "bad name", data: 1 }, cookie), 400, "bad_request"],
      [post(base, "/admin/api/disconnect", { user: "" }, cookie), 400, "bad_request"],
      [call(base, "/admin/api/channel?name=nowhere:x", { cookie }), 400, "bad_request"],
      [call(base, "/admin/api/channel", { cookie }), 400, "bad_request"],
      [call(base, "/admin/api/channels?limit=0", { cookie }), 400, "bad_request"],
      [call(base, "/admin/api/channels?limit=501", { cookie }), 400, "bad_request"],
      [call(base, "/admin/api/channels?sort=name", { cookie }), 400, "bad_request"],
      [call(base, "/admin/api/channels?bogus=1", { cookie }), 400, "bad_request"],
      [call(base, "/admin/api/users?limit=x", { cookie }), 400, "bad_request"],
      [call(base, "/admin/nested/file.js"), 404, "not_found"],
      [call(base, "/admin/uplot.js", { method: "POST", raw: "{}" }), 405, "method_not_allowed"],
    ];
    for (const [answer, status, code] of cases) {
      const got = await answer;
      expect({ status: got.status, code: errorCode(got) }, got.text).toEqual({ status, code });
    }
    expect((await call(base, "/admin/api/session", { cookie })).status).toBe(200); // still serving
  });

  it("puts the CSP and the other security headers on the page, its files and the API", async () => {
    const { base } = await adminNode();
    const cookie = await login(base);
    const answers = [
      await call(base, "/admin/"),
      await call(base, "/admin/uplot.css"),
      await call(base, "/admin/api/session"),
      await call(base, "/admin/api/cluster", { cookie }),
    ];
    for (const answer of answers) {
      expect(answer.headers.get("content-security-policy")).toBe(ADMIN_CSP);
      expect(answer.headers.get("x-content-type-options")).toBe("nosniff");
      expect(answer.headers.get("referrer-policy")).toBe("no-referrer");
    }
    expect(answers[2]?.headers.get("cache-control")).toBe("no-store");
    const uplot = await fetch(`${base}/admin/uplot.js`);
    expect(uplot.status).toBe(200);
    expect(uplot.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(uplot.headers.get("cache-control")).toBe("no-cache");
    expect(await uplot.text()).toContain("uPlot");
    const again = await fetch(`${base}/admin/uplot.js`, {
      headers: { "If-None-Match": uplot.headers.get("etag") ?? "" },
    });
    expect(again.status).toBe(304);
  });
});
