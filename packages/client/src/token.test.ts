import { describe, expect, it, vi } from "vitest";
import { CloseCode, ErrorCode } from "@hubcast/protocol";
import { HubcastError } from "./errors.js";
import { refreshDelayMs } from "./refresh.js";
import { useHarness } from "../test/harness.js";
import { nextEvent } from "../test/scripted-server.js";

const h = useHarness();

/** A getToken that hands out t1, t2, t3, ... and counts its calls. */
function tokenSource(): ReturnType<typeof vi.fn<() => Promise<string>>> {
  let n = 0;
  return vi.fn(() => Promise.resolve(`t${++n}`));
}

describe("refreshDelayMs", () => {
  it("refreshes at 90% of the remaining lifetime, at least 1 s before expiry, never negative", () => {
    expect(refreshDelayMs(3_600_000)).toBe(3_240_000);
    expect(refreshDelayMs(5_000)).toBe(4_000);
    expect(refreshDelayMs(1_500)).toBe(500);
    expect(refreshDelayMs(800)).toBe(0);
    expect(refreshDelayMs(-5)).toBe(0);
  });
});

describe("Client token refresh", () => {
  it("sends refresh with a fresh token before expiry, and again for the new expiry, without reconnecting", async () => {
    const getToken = tokenSource();
    const { client, peer } = await h.connected({ getToken }, { expiresAt: Date.now() + 1_200 });
    const dropped = vi.fn();
    client.on("disconnected", dropped);
    const first = await peer.command("refresh");
    expect(first.request).toEqual({ token: "t2" });
    peer.reply(first.id, "refresh", { expiresAt: Date.now() + 1_100 });
    const second = await peer.command("refresh");
    expect(second.request).toEqual({ token: "t3" });
    peer.reply(second.id, "refresh", {});
    expect(dropped).not.toHaveBeenCalled();
    expect(client.state).toBe("connected");
    expect(getToken).toHaveBeenCalledTimes(3);
  });

  it("retries a failed refresh with backoff and reports each failure as an error event", async () => {
    const getToken = tokenSource();
    const { client, peer } = await h.connected({ getToken }, { expiresAt: Date.now() + 1_200 });
    const errorEvent = nextEvent(client, "error");
    const first = await peer.command("refresh");
    peer.replyError(first.id, {
      code: ErrorCode.unauthorized,
      message: "the refresh token is for another user",
      temporary: false,
    });
    expect((await errorEvent).error).toMatchObject({ code: ErrorCode.unauthorized });
    const second = await peer.command("refresh");
    expect(second.request).toEqual({ token: "t3" });
    peer.reply(second.id, "refresh", {});
  });

  it("does not refresh without getToken", async () => {
    // Expiring within a second: a refresh would be due at once, ahead of the publish below.
    const { client, peer } = await h.connected({ token: "static" }, { expiresAt: Date.now() + 900 });
    void client.publish("a", 1).catch(() => undefined);
    await peer.command("publish");
    await expect(peer.take((f) => "refresh" in f, "a refresh command", 1)).rejects.toThrow(/timed out/);
  });

  it("gets a fresh token for the reconnect after a 3005 close", async () => {
    const getToken = tokenSource();
    const { client, peer } = await h.connected({ getToken });
    const disconnected = nextEvent(client, "disconnected");
    peer.push("disconnect", { code: CloseCode.tokenExpired, reason: "token_expired", reconnect: true });
    peer.close(CloseCode.tokenExpired, "token_expired");
    expect(await disconnected).toMatchObject({ code: CloseCode.tokenExpired, reconnect: true });
    expect(await (await h.server().nextPeer()).accept()).toEqual({ token: "t2" });
    await client.ready();
  });

  it("retries a connect refused as token_expired when getToken can supply another token", async () => {
    const getToken = tokenSource();
    const client = h.client({ getToken });
    client.connect();
    const first = await h.server().nextPeer();
    const { id } = await first.command("connect");
    first.replyError(id, { code: ErrorCode.tokenExpired, message: "connection token has expired", temporary: false });
    expect(await (await h.server().nextPeer()).accept()).toEqual({ token: "t2" });
    await client.ready();
  });

  it("stops for good on token_expired without getToken, and on unauthorized even with it", async () => {
    for (const [options, code] of [
      [{ token: "old" }, ErrorCode.tokenExpired],
      [{ getToken: tokenSource() }, ErrorCode.unauthorized],
    ] as const) {
      const client = h.client(options);
      client.connect();
      const ready = client.ready();
      const peer = await h.server().nextPeer();
      const { id } = await peer.command("connect");
      peer.replyError(id, { code, message: "refused", temporary: false });
      await expect(ready).rejects.toMatchObject({ code });
      expect(client.state).toBe("disconnected");
      client.disconnect();
    }
    expect(h.server().peers).toHaveLength(2);
  });
});

describe("Subscription channel tokens", () => {
  it("sends a token from getToken(channel) on subscribe and on every resubscribe", async () => {
    const getToken = vi.fn((channel: string) => Promise.resolve(`${channel}#${getToken.mock.calls.length}`));
    const { client, peer } = await h.connected();
    const sub = client.newSubscription("private:x", { getToken });
    sub.subscribe();
    const first = await peer.command("subscribe");
    expect(first.request).toEqual({ channel: "private:x", token: "private:x#1" });
    peer.reply(first.id, "subscribe", { recoverable: false });
    await sub.ready();
    peer.close(3000, "shutdown");
    const second = await h.server().nextPeer();
    await second.accept();
    const again = await second.command("subscribe");
    expect(again.request).toEqual({ channel: "private:x", token: "private:x#2" });
    expect(getToken).toHaveBeenCalledWith("private:x");
  });

  it("retries after getToken rejects or the channel token expired, and gives up on unauthorized", async () => {
    const getToken = vi
      .fn<(channel: string) => Promise<string>>()
      .mockRejectedValueOnce(new Error("token service down"))
      .mockResolvedValueOnce("expired")
      .mockResolvedValueOnce("stranger");
    const { client, peer } = await h.connected();
    const sub = client.newSubscription("private:x", { getToken });
    const errors: Error[] = [];
    sub.on("error", ({ error }) => errors.push(error));
    const unsubscribed = nextEvent(sub, "unsubscribed");
    sub.subscribe();
    const first = await peer.command("subscribe");
    expect(first.request.token).toBe("expired");
    peer.replyError(first.id, { code: ErrorCode.tokenExpired, message: "channel token has expired", temporary: false });
    const second = await peer.command("subscribe");
    expect(second.request.token).toBe("stranger");
    peer.replyError(second.id, {
      code: ErrorCode.unauthorized,
      message: "the channel token was minted for another user",
      temporary: false,
    });
    expect(await unsubscribed).toMatchObject({ code: ErrorCode.unauthorized });
    expect(errors.map((e) => e.message)).toEqual([
      "token service down",
      "channel token has expired",
      "the channel token was minted for another user",
    ]);
    expect(errors[2]).toBeInstanceOf(HubcastError);
  });

  it("refuses a getToken that is not a function", () => {
    const client = h.client();
    expect(() => client.newSubscription("a", { getToken: "nope" as unknown as () => Promise<string> })).toThrow(
      TypeError,
    );
  });
});
