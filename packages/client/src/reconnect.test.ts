import { describe, expect, it, vi } from "vitest";
import { ErrorCode } from "@hubcast/protocol";
import type { DisconnectedEvent } from "./client-events.js";
import { ConnectionClosedError } from "./errors.js";
import { LocalCode } from "./local-code.js";
import { useHarness } from "../test/harness.js";
import { nextEvent } from "../test/scripted-server.js";

const h = useHarness();

describe("Client reconnect", () => {
  it("reconnects after a backoff drawn from random() when the server closes with a reconnect code", async () => {
    const random = vi.fn(() => 0.5);
    const { client, peer } = await h.connected({ random, minReconnectDelayMs: 46, maxReconnectDelayMs: 1000 });
    const seen: string[] = [];
    client.on("disconnected", (e) => seen.push(`disconnected ${e.code} ${e.reconnect}`));
    client.on("connecting", (e) => seen.push(`connecting ${e.code}`));
    const connecting = nextEvent(client, "connecting");
    // Observe the delays the client schedules (the timers still run); wall-clock checks would be flaky.
    const setTimeoutSpy = vi.spyOn(globalThis, "setTimeout");
    try {
      peer.close(3000, "shutdown");
      expect(await connecting).toEqual({ code: 3000, reason: "shutdown" });
      expect(client.state).toBe("connecting");
      expect(random).toHaveBeenCalledTimes(1);
      expect(setTimeoutSpy.mock.calls.map((call) => call[1])).toContain(23); // 0.5 × 46 ms, attempt 0
    } finally {
      setTimeoutSpy.mockRestore();
    }
    const second = await h.server().nextPeer();
    const connected = nextEvent(client, "connected");
    await second.accept();
    await connected;
    expect(seen).toEqual(["disconnected 3000 true", "connecting 3000"]);
  });

  it("widens the backoff window per failed attempt and resets it after a connect", async () => {
    const windows: number[] = [];
    const random = vi.fn(() => 1);
    const client = h.client({ random, minReconnectDelayMs: 10, maxReconnectDelayMs: 1000 });
    const setTimeoutSpy = vi.spyOn(globalThis, "setTimeout");
    // The reconnect timer is the last one scheduled before each "connecting" event of a retry.
    client.on("connecting", (e) => {
      if (e.code !== LocalCode.connectCalled) windows.push(Number(setTimeoutSpy.mock.calls.at(-1)?.[1]));
    });
    try {
      client.connect();
      for (let i = 0; i < 3; i++) (await h.server().nextPeer()).terminate();
      const peer = await h.server().nextPeer();
      await peer.accept();
      await client.ready();
      peer.terminate();
      await nextEvent(client, "connecting");
    } finally {
      setTimeoutSpy.mockRestore();
    }
    expect(windows).toEqual([10, 20, 40, 10]);
  });

  it("stops for good on a final close code", async () => {
    const { client, peer } = await h.connected();
    const disconnected = nextEvent(client, "disconnected");
    peer.close(3500, "bad request");
    expect(await disconnected).toEqual({ code: 3500, reason: "bad request", reconnect: false });
    expect(client.state).toBe("disconnected");
    await expect(client.ready()).rejects.toBeInstanceOf(ConnectionClosedError);
  });

  it("lets a disconnect push's reconnect flag override the close code", async () => {
    const { client, peer } = await h.connected();
    const disconnected = nextEvent(client, "disconnected");
    peer.push("disconnect", { code: 3501, reason: "kicked", reconnect: false });
    peer.close(3000, "shutdown");
    expect(await disconnected).toEqual({ code: 3501, reason: "kicked", reconnect: false });
    expect(client.state).toBe("disconnected");
  });

  it("reconnects when a disconnect push says so, even with a final code", async () => {
    const { client, peer } = await h.connected();
    const disconnected = nextEvent(client, "disconnected");
    peer.push("disconnect", { code: 3501, reason: "go elsewhere", reconnect: true });
    expect(await disconnected).toMatchObject({ code: 3501, reconnect: true });
    await (await h.server().nextPeer()).accept();
    await client.ready();
  });

  it("retries after a temporary connect error", async () => {
    const client = h.client();
    client.connect();
    const first = await h.server().nextPeer();
    const { id } = await first.command("connect");
    first.replyError(id, { code: ErrorCode.internal, message: "try later", temporary: true });
    const errorEvent = nextEvent(client, "error");
    expect((await errorEvent).error).toMatchObject({ code: ErrorCode.internal });
    await (await h.server().nextPeer()).accept();
    await client.ready();
    expect(client.state).toBe("connected");
  });

  it("gives up on an attempt whose connect reply never comes, then retries", async () => {
    const client = h.client({ timeoutMs: 250 });
    const events: DisconnectedEvent[] = [];
    client.on("disconnected", (e) => events.push(e));
    client.connect();
    const silent = await h.server().nextPeer();
    await silent.command("connect");
    expect((await silent.closed).code).toBe(1000);
    await (await h.server().nextPeer()).accept();
    await client.ready();
    expect(events).toEqual([expect.objectContaining({ code: LocalCode.connectTimeout, reconnect: true })]);
  });

  it("reconnects after the socket dies without a close frame (1006)", async () => {
    const client = h.client();
    client.connect();
    const doomed = await h.server().nextPeer();
    doomed.terminate();
    const disconnected = await nextEvent(client, "disconnected");
    expect(disconnected).toMatchObject({ code: 1006, reconnect: true });
    await (await h.server().nextPeer()).accept();
    await client.ready();
  });
});

describe("Client dead-link detection", () => {
  it("drops a link that goes silent for 2× pingIntervalMs and reconnects", async () => {
    const { client, peer } = await h.connected({}, { pingIntervalMs: 30 });
    const disconnected = nextEvent(client, "disconnected");
    expect(await disconnected).toMatchObject({ code: LocalCode.noPing, reconnect: true });
    expect((await peer.closed).code).toBe(1000);
    await (await h.server().nextPeer()).accept();
    await client.ready();
  });

  it("drops a silent link after pingIntervalMs + pongTimeoutMs when the server sends pongTimeoutMs", async () => {
    const { client } = await h.connected({}, { pingIntervalMs: 200, pongTimeoutMs: 50 });
    const disconnected = await nextEvent(client, "disconnected");
    expect(disconnected).toMatchObject({ code: LocalCode.noPing, reconnect: true });
    const silentMs = Number(/for (\d+)ms/.exec(disconnected.reason)?.[1]);
    // 250 ms, well before the 500 ms the older rule (2 × 200 + 100) would wait.
    expect(silentMs).toBeGreaterThanOrEqual(250);
    expect(silentMs).toBeLessThan(500);
    await (await h.server().nextPeer()).accept();
    await client.ready();
  });

  it("keeps a link alive while pings keep coming", async () => {
    const { client, peer } = await h.connected({}, { pingIntervalMs: 100 });
    const dropped = vi.fn();
    client.on("disconnected", dropped);
    // Sixteen pings 25 ms apart span 400 ms, well past the 250 ms deadline without them.
    const pinger = setInterval(() => peer.push("ping", {}), 25);
    try {
      for (let i = 0; i < 16; i++) await peer.take((f) => "pong" in f, `pong ${i + 1}`);
    } finally {
      clearInterval(pinger);
    }
    expect(dropped).not.toHaveBeenCalled();
    expect(client.state).toBe("connected");
  });
});
