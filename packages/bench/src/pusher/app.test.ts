import { describe, expect, it } from "vitest";
import { httpBase, parsePusherApp, pusherUrl } from "./app.js";

describe("--pusher-app", () => {
  it("reads id:key:secret, the secret may hold colons", () => {
    expect(parsePusherApp("1:app-key:app-secret")).toEqual({ id: "1", key: "app-key", secret: "app-secret" });
    expect(parsePusherApp("a.b:k_1:s3cr:et::x")).toEqual({ id: "a.b", key: "k_1", secret: "s3cr:et::x" });
  });

  it("names the wrong part and the form, never repeating the secret", () => {
    const cases: [string, string][] = [
      ["1:key", "--pusher-app must be id:key:secret"],
      [":key:secret-123", "--pusher-app must be id:key:secret"],
      ["1::secret-123", "--pusher-app must be id:key:secret"],
      ["1:key:", "--pusher-app must be id:key:secret"],
      ["a/b:key:secret-123", "the app id must be 1-56 of A-Z a-z 0-9 _ . -"],
      ["1:k y:secret-123", "the app key must be 1-128 of A-Z a-z 0-9 _ . -"],
      ["1:key:short", "the secret must be 8-256 printable ASCII characters"],
    ];
    for (const [value, message] of cases) {
      expect(() => parsePusherApp(value), value).toThrow(message);
      try {
        parsePusherApp(value);
      } catch (err) {
        expect((err as Error).message).toContain("hubcast start --pusher-app");
        const secret = value.split(":").slice(2).join(":");
        if (secret.length > 3) expect((err as Error).message).not.toContain(secret);
      }
    }
  });
});

describe("pusherUrl", () => {
  it("adds /app/{key} and pusher-js's query to a bare host", () => {
    const expected = "ws://127.0.0.1:8080/app/k?protocol=7&client=js&version=8.4.0";
    expect(pusherUrl("ws://127.0.0.1:8080", "k")).toBe(expected);
    expect(pusherUrl("ws://127.0.0.1:8080/", "k")).toBe(expected);
    expect(pusherUrl("wss://rt.example.com", "k")).toBe(
      "wss://rt.example.com/app/k?protocol=7&client=js&version=8.4.0",
    );
  });

  it("keeps a full /app/{key} URL, adding protocol=7 when it has no protocol", () => {
    expect(pusherUrl("ws://h:1/app/k?protocol=6", "k")).toBe("ws://h:1/app/k?protocol=6");
    expect(pusherUrl("ws://h:1/app/k", "k")).toBe("ws://h:1/app/k?protocol=7&client=js&version=8.4.0");
    expect(pusherUrl("ws://h:1/app/k?client=x", "k")).toBe("ws://h:1/app/k?client=x&protocol=7");
  });

  it("refuses another path or another key, saying what to give", () => {
    expect(() => pusherUrl("ws://h:1/ws", "k")).toThrow(
      "--protocol pusher connects to /app/{key}; give --url ws://host:port",
    );
    expect(() => pusherUrl("ws://h:1/app/other", "k")).toThrow('is app key "other" but --pusher-app has key "k"');
    expect(() => pusherUrl("nope", "k")).toThrow("is not a URL");
  });

  it("finds the HTTP base of a WebSocket URL", () => {
    expect(httpBase("ws://h:1/app/k?protocol=7")).toBe("http://h:1");
    expect(httpBase("wss://h/app/k")).toBe("https://h");
  });
});
