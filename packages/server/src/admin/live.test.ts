import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { eventually } from "../../../../test/support/eventually.js";
import { withTimeout } from "../../../../test/support/raw-client.js";
import { LiveStreams } from "./live.js";
import type { LiveOptions } from "./live.js";
import type { AdminNode } from "./questions.js";

const silent = pino({ level: "silent" });
let server: Server | undefined;
let live: LiveStreams | undefined;
const aborts: AbortController[] = [];

afterEach(async () => {
  vi.useRealTimers();
  for (const abort of aborts.splice(0)) abort.abort();
  live?.close();
  live = undefined;
  await new Promise<void>((resolve) => {
    if (server === undefined) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
  server = undefined;
});

/** A server whose every request opens a live stream expiring at `expiresAt`; resolves with its URL. */
async function serve(
  nodes: (timeoutMs: number) => Promise<AdminNode[]>,
  options: LiveOptions,
  expiresAt = Date.now() + 60_000,
): Promise<string> {
  const streams = new LiveStreams(nodes, silent, options);
  live = streams;
  server = createServer((_req, res) => streams.open(res, expiresAt));
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

/** Reads a stream's text until `done` says it holds what is wanted, or the stream ends. */
async function readUntil(url: string, done: (text: string) => boolean): Promise<{ text: string; ended: boolean }> {
  const abort = new AbortController();
  aborts.push(abort);
  const res = await fetch(url, { signal: abort.signal });
  const reader = res.body?.getReader();
  if (reader === undefined) throw new Error("no body");
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done: ended } = await reader.read();
    if (ended) return { text, ended: true };
    text += decoder.decode(value, { stream: true });
    if (done(text)) {
      reader.releaseLock();
      return { text, ended: false };
    }
  }
}

const count = (text: string, needle: string): number => text.split(needle).length - 1;

describe("LiveStreams", () => {
  it("sends cluster events every interval and keepalive comments, with one survey per round for all streams", async () => {
    let surveys = 0;
    const url = await serve(
      async () => {
        surveys += 1;
        return [];
      },
      { intervalMs: 40, keepaliveMs: 100 },
    );
    const [a, b] = await withTimeout(
      Promise.all([
        readUntil(url, (t) => count(t, "event: cluster") >= 4 && t.includes(": keepalive")),
        readUntil(url, (t) => count(t, "event: cluster") >= 4 && t.includes(": keepalive")),
      ]),
      5_000,
      "events on two streams",
    );
    expect(a?.text).toMatch(/event: cluster\ndata: \{"nodes":\[\],"at":\d+\}\n\n/);
    expect(b?.ended).toBe(false);
    // Two streams, one survey per round (not two): at most one round more than the events one stream saw.
    expect(surveys).toBeLessThanOrEqual(count(a?.text ?? "", "event: cluster") + 2);
  });

  it("ends a stream when its session expires", async () => {
    const url = await serve(async () => [], { intervalMs: 40 }, Date.now() + 150);
    const { text, ended } = await withTimeout(
      readUntil(url, () => false),
      5_000,
      "the stream to end",
    );
    expect(ended).toBe(true);
    expect(text).toContain(": session expired");
  });

  it("keeps streaming when a round fails, and starts no round while one is waiting", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] }); // the rounds' clock; sockets stay real
    let calls = 0;
    let release: (() => void) | undefined;
    const url = await serve(
      (): Promise<AdminNode[]> => {
        calls += 1;
        if (calls === 1) return Promise.reject(new Error("survey failed"));
        if (calls === 2) return new Promise((resolve) => (release = () => resolve([])));
        return Promise.resolve([]);
      },
      { intervalMs: 30 },
    );
    const reading = readUntil(url, (t) => count(t, "event: cluster") >= 1);
    await eventually(() => live?.size === 1, 5_000, "the stream to open");
    await vi.advanceTimersByTimeAsync(30); // round 1 fails
    await vi.advanceTimersByTimeAsync(30); // round 2 waits
    await vi.advanceTimersByTimeAsync(300); // ten intervals pass while it does
    expect(calls).toBe(2);
    release?.();
    await vi.advanceTimersByTimeAsync(30);
    expect((await withTimeout(reading, 5_000, "an event after the failure")).ended).toBe(false);
  });
});
