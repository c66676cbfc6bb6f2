import { describe, expect, it } from "vitest";
import { parseBenchArgs } from "./cli/args.js";
import { channelName, layoutOf, probeChannelName } from "./layout.js";
import { BenchUsageError, resolveBenchOptions } from "./options.js";
import type { ResolvedBenchOptions } from "./options.js";
import { DEFAULT_PUSHER_APP } from "./pusher/app.js";

/** Parses and resolves a command line (after `hubcast bench`). */
function resolve(args: string[], env: NodeJS.ProcessEnv = {}): ResolvedBenchOptions {
  const parsed = parseBenchArgs(args, env);
  if (!("options" in parsed)) throw new Error("help, not options");
  return resolveBenchOptions(parsed.options);
}

const usageError = (args: string[], env: NodeJS.ProcessEnv = {}): string => {
  try {
    resolve(args, env);
  } catch (err) {
    expect(err).toBeInstanceOf(BenchUsageError);
    return (err as Error).message;
  }
  throw new Error(`${args.join(" ")} resolved`);
};

describe("--protocol pusher options", () => {
  it("connects to the bench app's /app/{key} and publishes by HTTP on the same host by default", () => {
    const o = resolve(["fanout", "--protocol", "pusher"]);
    expect(o.urls).toEqual(["ws://127.0.0.1:8080/app/bench-key?protocol=7&client=js&version=8.4.0"]);
    expect(o.pusherApp).toEqual(DEFAULT_PUSHER_APP);
    expect(o.apiUrl).toBe("http://127.0.0.1:8080");
    expect(o.apiKey).toBeUndefined();
    expect(o.metricsUrls).toEqual(["http://127.0.0.1:8080/metrics"]);
    expect(layoutOf(o).apiPublish).toBe(true);
  });

  it("takes --pusher-app (or HUBCAST_PUSHER_APP) and --url ws://host:port, and --api-key for Hubcast's API", () => {
    const o = resolve([
      "cross-node",
      "--protocol",
      "pusher",
      "--url",
      "ws://a:1,ws://b:2",
      "--pusher-app",
      "9:k9:secret-99",
    ]);
    expect(o.urls).toEqual([
      "ws://a:1/app/k9?protocol=7&client=js&version=8.4.0",
      "ws://b:2/app/k9?protocol=7&client=js&version=8.4.0",
    ]);
    expect(o.apiUrl).toBe("http://a:1");
    // Repeated flags add up rather than the last one winning.
    const repeated = resolve(["fanout", "--url", "ws://a:1/ws", "--url", "ws://b:2/ws,ws://c:3/ws"]);
    expect(repeated.urls).toEqual(["ws://a:1/ws", "ws://b:2/ws", "ws://c:3/ws"]);
    const metrics = resolve(["fanout", "--metrics-url", "http://a:1/metrics", "--metrics-url", "http://b:2/metrics"]);
    expect(metrics.metricsUrls).toEqual(["http://a:1/metrics", "http://b:2/metrics"]);
    const env = resolve(["fanout", "--protocol", "pusher"], { HUBCAST_PUSHER_APP: "3:k3:secret-33" });
    expect(env.pusherApp).toEqual({ id: "3", key: "k3", secret: "secret-33" });
    expect(resolve(["fanout", "--protocol", "pusher", "--api-key", "key-1"]).apiKey).toBe("key-1");
    const connect = resolve(["connect", "--protocol", "pusher"]);
    expect(connect.apiUrl).toBeUndefined();
    expect(layoutOf(connect).apiPublish).toBe(false);
  });

  it("names channels with '-' (Pusher names hold no ':')", () => {
    const layout = layoutOf(resolve(["fanout", "--protocol", "pusher", "--channels", "2"]));
    expect(channelName(layout, 1)).toBe("bench-fanout-1");
    expect(probeChannelName(layout)).toBe("bench-probe");
    const bare = layoutOf(resolve(["fanout", "--protocol", "pusher", "--namespace", ""]));
    expect(channelName(bare, 0)).toBe("fanout-0");
    expect(channelName(layoutOf(resolve(["fanout"])), 0)).toBe("bench:fanout-0");
  });

  it("refuses what cannot work, naming the fix", () => {
    expect(usageError(["chat", "--protocol", "pusher"])).toContain(
      "--protocol pusher cannot run chat: chat members publish on their own connections",
    );
    expect(usageError(["fanout", "--pusher-app", "1:k:secret-11"])).toBe(
      "--pusher-app is for the Pusher protocol: add --protocol pusher (now hubcast)",
    );
    expect(usageError(["fanout", "--protocol", "pusher", "--pusher-app", "1:k"])).toContain(
      "--pusher-app must be id:key:secret",
    );
    expect(usageError(["fanout", "--protocol", "pusher", "--url", "ws://h:1/ws"])).toContain(
      "--url: ws://h:1/ws: --protocol pusher connects to /app/{key}",
    );
    expect(usageError(["fanout", "--protocol", "pusher", "--transport", "sse"])).toContain(
      "--protocol pusher speaks WebSocket only",
    );
  });
});
