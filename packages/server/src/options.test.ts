import { describe, expect, it } from "vitest";
import { ChannelRules, resolveChannelOptions } from "./channels.js";
import { NODE_DEFAULTS, resolveNodeOptions } from "./options.js";

describe("resolveNodeOptions", () => {
  it("applies the documented defaults and freezes the result", () => {
    const o = resolveNodeOptions();
    expect(o).toEqual(NODE_DEFAULTS);
    expect(Object.isFrozen(o)).toBe(true);
  });

  it("keeps an explicit 0 and false (?? not ||)", () => {
    const o = resolveNodeOptions({ port: 0, demo: false });
    expect(o.port).toBe(0);
    expect(o.demo).toBe(false);
  });

  it.each([
    [{ port: -1 }, /^port: must be an integer from 0 to 65535, got -1$/],
    [{ port: 1.5 }, /^port: must be an integer/],
    [{ pingIntervalMs: 1000, pongTimeoutMs: 1000 }, /pongTimeoutMs: must be less than pingIntervalMs \(1000\)/],
    [{ path: "ws" }, /path: must be a URL path starting with "\/"/],
    [{ logLevel: "loud" }, /logLevel: must be one of fatal, error/],
    [{ maxMessageBytes: 10 }, /maxMessageBytes: must be an integer from 256/],
    [{ demo: "yes" as unknown as boolean }, /demo: must be true or false/],
    [{ pingInterval: 5 } as object, /pingInterval: unknown option; did you mean "pingIntervalMs"\?/],
    [{ namespaces: [] as unknown as Record<string, object> }, /namespaces: must be an object/],
    // Under the Redis command timeout (5 s), so Redis refuses what a node stopped waiting for.
    [{ publishTimeoutMs: 5_000 }, /^publishTimeoutMs: must be an integer from 100 to 4500, got 5000$/],
    [{ idempotencyWindowMs: 0 }, /^idempotencyWindowMs: must be an integer from 1000/],
  ])("rejects %j naming the option", (input, message) => {
    expect(() => resolveNodeOptions(input)).toThrow(message);
  });
});

describe("channel options and rules", () => {
  const rules = new ChannelRules(
    { chat: { historySize: 50, presence: true } },
    resolveChannelOptions({ allowPublish: true }),
    20,
  );

  it("maps a channel to its namespace, and names without ':' to the default", () => {
    const chat = rules.lookup("chat:room:1");
    expect(chat).toMatchObject({
      ok: true,
      namespace: "chat",
      options: { historySize: 50, presence: true, allowPublish: false },
    });
    expect(rules.lookup("news")).toMatchObject({ ok: true, namespace: "", options: { allowPublish: true } });
  });

  it("refuses unknown namespaces, long names and odd characters, saying why", () => {
    expect(rules.lookup("games:1")).toEqual({ ok: false, reason: 'namespace "games" is not configured' });
    expect(rules.lookup("x".repeat(21))).toEqual({ ok: false, reason: "channel name longer than 20 characters" });
    for (const bad of ["a b", 'a"b', "a\\b", "é", "", "a\nb"]) expect(rules.lookup(bad).ok, bad).toBe(false);
  });

  it("validates namespace options with their full path", () => {
    expect(() => new ChannelRules({ chat: { historySize: -1 } }, resolveChannelOptions(), 255)).toThrow(
      /^namespaces\.chat\.historySize: must be an integer/,
    );
    expect(() => new ChannelRules({ chat: { presense: true } as object }, resolveChannelOptions(), 255)).toThrow(
      /did you mean "presence"/,
    );
    expect(() => new ChannelRules({ "bad name": {} }, resolveChannelOptions(), 255)).toThrow(/namespace names/);
  });

  it("takes a publish rule only with allowPublish, and only a known one", () => {
    expect(resolveChannelOptions().publish).toBe("inherit");
    expect(resolveChannelOptions({ allowPublish: true, publish: "subscribers" }).publish).toBe("subscribers");
    expect(() => resolveChannelOptions({ publish: "anyone" }, "namespaces.chat")).toThrow(
      /^namespaces\.chat\.publish: has no effect while allowPublish is false/,
    );
    expect(() => resolveChannelOptions({ allowPublish: true, publish: "token" as "anyone" })).toThrow(
      /^channel\.publish: .*one of inherit, anyone, authenticated, listed, subscribers/,
    );
  });
});
