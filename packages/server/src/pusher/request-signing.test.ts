import Pusher from "pusher";
import { describe, expect, it } from "vitest";
import {
  bodyMd5,
  parseQuery,
  signString,
  stringToSign,
  TIMESTAMP_GRACE_SECONDS,
  verifyBodyMd5,
  verifySignature,
} from "./request-signing.js";
import type { QueryEntries, SignatureCheck } from "./request-signing.js";

const KEY = "app-key-0123";
const SECRET = "app-secret-4567";
const sdk = new Pusher({ appId: "1", key: KEY, secret: SECRET, host: "127.0.0.1" });

/** Signs like the `pusher` SDK does for its own requests, at the SDK's clock. */
function sdkSigned(method: string, path: string, options: { params?: Record<string, string>; body?: string } = {}) {
  const query = parseQuery(sdk.createSignedQueryString({ method, path, ...options }));
  const timestamp = Number(query.find(([key]) => key === "auth_timestamp")?.[1]);
  return { query, timestamp };
}

const check = (over: Partial<SignatureCheck> & { query: QueryEntries }): SignatureCheck => ({
  method: "GET",
  path: "/apps/1/channels",
  key: KEY,
  secret: SECRET,
  nowSeconds: Math.floor(Date.now() / 1000),
  ...over,
});

const failure = (verdict: ReturnType<typeof verifySignature>): string => (verdict.ok ? "ok" : verdict.message);

describe("Pusher request signing", () => {
  it("reproduces the worked example of Pusher's HTTP API reference", () => {
    const body = '{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}';
    expect(bodyMd5(Buffer.from(body))).toBe("ec365a775a4cd0599faeb73354201b6f");
    const query = parseQuery(
      "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f" +
        "&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c",
    );
    const text = stringToSign("post", "/apps/3/events", query);
    expect(text).toBe(
      "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f",
    );
    expect(signString("7ad3773142a6692b25b8", text)).toBe(
      "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c",
    );
    const verdict = verifySignature({
      method: "POST",
      path: "/apps/3/events",
      query,
      key: "278d425bdf160c739803",
      secret: "7ad3773142a6692b25b8",
      nowSeconds: 1353088179 + 30,
    });
    expect(verdict).toEqual({ ok: true });
    expect(verifyBodyMd5(query, Buffer.from(body))).toEqual({ ok: true });
  });

  it("accepts what the pusher SDK signs: a POST with its body_md5, a GET with parameters", () => {
    const body = JSON.stringify({ name: "e", channels: ["a", "b"], data: '{"x":1}' });
    const post = sdkSigned("POST", "/apps/1/events", { body });
    expect(verifySignature(check({ method: "POST", path: "/apps/1/events", query: post.query }))).toEqual({ ok: true });
    expect(verifyBodyMd5(post.query, Buffer.from(body))).toEqual({ ok: true });

    const get = sdkSigned("GET", "/apps/1/channels", { params: { filter_by_prefix: "presence-", info: "user_count" } });
    expect(verifySignature(check({ query: get.query }))).toEqual({ ok: true });
  });

  it("signs decoded values, so a client that URL-escapes its query is accepted too", () => {
    const timestamp = Math.floor(Date.now() / 1000);
    const params = {
      auth_key: KEY,
      auth_timestamp: String(timestamp),
      auth_version: "1.0",
      filter_by_prefix: "presence-a b",
      info: "user_count,subscription_count",
    };
    const signed = `GET\n/apps/1/channels\n${Object.entries(params)
      .map(([k, v]) => `${k}=${v}`)
      .join("&")}`;
    // A URL-escaping client (PHP's Guzzle): `,` as %2C and a space as `+`, signature in the middle.
    const raw = `auth_key=${KEY}&auth_signature=${signString(SECRET, signed)}&auth_timestamp=${timestamp}&auth_version=1.0&filter_by_prefix=presence-a+b&info=user_count%2Csubscription_count`;
    expect(verifySignature(check({ query: parseQuery(raw), nowSeconds: timestamp }))).toEqual({ ok: true });
  });

  it("lowercases keys and sorts array parameters under their name", () => {
    const query = parseQuery("Info=user_count&channels[]=b&channels[]=a&auth_key=k");
    expect(stringToSign("get", "/p", query)).toBe("GET\n/p\nauth_key=k&channels[]=b&channels[]=a&info=user_count");
  });

  it("refuses a wrong secret, saying what should have been signed", () => {
    const { query } = sdkSigned("GET", "/apps/1/channels", { params: { info: "user_count" } });
    const message = failure(verifySignature(check({ query, secret: "another-secret" })));
    expect(message).toMatch(
      /^Invalid signature: you should have sent HmacSHA256Hex\("GET\\n\/apps\/1\/channels\\nauth_key=app-key-0123&auth_timestamp=\d+&auth_version=1\.0&info=user_count", your_secret_key\), but you sent "[0-9a-f]{64}"$/,
    );
  });

  it("refuses a request whose parameters, path or method changed after signing", () => {
    const { query } = sdkSigned("GET", "/apps/1/channels", { params: { filter_by_prefix: "presence-" } });
    const changed = query.map(([k, v]): [string, string] => [k, k === "filter_by_prefix" ? "private-" : v]);
    expect(failure(verifySignature(check({ query: changed })))).toMatch(/^Invalid signature/);
    expect(failure(verifySignature(check({ query, path: "/apps/1/channels/x" })))).toMatch(/^Invalid signature/);
    expect(failure(verifySignature(check({ query, method: "POST" })))).toMatch(/^Invalid signature/);
    const added: QueryEntries = [...query, ["info", "user_count"]];
    expect(failure(verifySignature(check({ query: added })))).toMatch(/^Invalid signature/);
  });

  it("accepts a timestamp less than 600 s away and refuses one 600 s away, either way", () => {
    const { query, timestamp } = sdkSigned("GET", "/apps/1/channels");
    const at = (nowSeconds: number): string => failure(verifySignature(check({ query, nowSeconds })));
    expect(at(timestamp + TIMESTAMP_GRACE_SECONDS - 1)).toBe("ok");
    expect(at(timestamp - TIMESTAMP_GRACE_SECONDS + 1)).toBe("ok");
    expect(at(timestamp + TIMESTAMP_GRACE_SECONDS)).toMatch(
      /^Timestamp expired: Given timestamp \(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\) not within 600s of server time \(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)$/,
    );
    expect(at(timestamp - TIMESTAMP_GRACE_SECONDS)).toMatch(/^Timestamp expired/);
  });

  it("names each missing or wrong authentication parameter, in Pusher's order", () => {
    const { query } = sdkSigned("GET", "/apps/1/channels");
    const without = (name: string): QueryEntries => query.filter(([k]) => k !== name);
    const replaced = (name: string, value: string): QueryEntries =>
      query.map(([k, v]): [string, string] => [k, k === name ? value : v]);
    expect(failure(verifySignature(check({ query: without("auth_key") })))).toBe("Missing parameter: auth_key");
    expect(failure(verifySignature(check({ query, key: "another-key" })))).toBe("Unknown auth_key");
    expect(failure(verifySignature(check({ query: without("auth_version") })))).toBe("Version required");
    expect(failure(verifySignature(check({ query: replaced("auth_version", "2.0") })))).toBe("Version not supported");
    expect(failure(verifySignature(check({ query: without("auth_timestamp") })))).toBe("Timestamp required");
    expect(failure(verifySignature(check({ query: replaced("auth_timestamp", "soon") })))).toMatch(
      /^Invalid auth_timestamp/,
    );
    expect(failure(verifySignature(check({ query: replaced("auth_timestamp", "99999999999999999") })))).toMatch(
      /^Invalid auth_timestamp/,
    );
    expect(failure(verifySignature(check({ query: without("auth_signature") })))).toMatch(
      /^Invalid signature: .* but you sent nothing$/,
    );
    expect(failure(verifySignature(check({ query: replaced("auth_signature", "00") })))).toMatch(
      /^Invalid signature: .* but you sent "00"$/,
    );
  });

  it("requires body_md5 with a body, and the MD5 of that body", () => {
    const body = Buffer.from('{"name":"e","channel":"c","data":"d"}');
    const { query } = sdkSigned("POST", "/apps/1/events", { body: body.toString() });
    expect(verifyBodyMd5(query, body)).toEqual({ ok: true });
    const upper = query.map(([k, v]): [string, string] => [k, k === "body_md5" ? v.toUpperCase() : v]);
    expect(verifyBodyMd5(upper, body)).toEqual({ ok: true });
    expect(verifyBodyMd5(query, Buffer.from('{"name":"e","channel":"c","data":"x"}'))).toEqual({
      ok: false,
      message: "Invalid body_md5: it is not the hex MD5 of the body that was sent",
    });
    const unsigned = sdkSigned("POST", "/apps/1/events").query;
    expect(failure(verifyBodyMd5(unsigned, body))).toMatch(/^Missing parameter: body_md5/);
    expect(verifyBodyMd5(unsigned, Buffer.alloc(0))).toEqual({ ok: true });
    expect(verifyBodyMd5(query, Buffer.alloc(0))).toEqual({ ok: true });
  });
});
