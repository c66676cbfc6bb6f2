import { describe, expect, it } from "vitest";
import { ErrorCode } from "@hubcast/protocol";
import { ConnectionClosedError, HubcastError } from "./errors.js";
import { useHarness } from "../test/harness.js";

const h = useHarness();

describe("Client publish resends", () => {
  it("sends a fresh key with every publish call", async () => {
    const { client, peer } = await h.connected();
    const a = client.publish("chat", 1);
    const b = client.publish("chat", 1);
    const first = await peer.command("publish");
    const second = await peer.command("publish");
    expect(first.request.idempotencyKey).not.toBe(second.request.idempotencyKey);
    peer.reply(first.id, "publish", {});
    peer.reply(second.id, "publish", {});
    await Promise.all([a, b]);
  });

  it("resends a publish lost with its connection on the next connection, with the same key", async () => {
    const { client, peer } = await h.connected();
    const published = client.publish("chat", "x", { idempotencyKey: "order-17" });
    const lost = await peer.command("publish");
    peer.close(3000, "shutdown");
    const next = await h.server().nextPeer();
    await next.accept();
    const resent = await next.command("publish");
    expect(resent.request).toEqual({ channel: "chat", data: "x", idempotencyKey: "order-17" });
    expect(lost.request.idempotencyKey).toBe("order-17");
    next.reply(resent.id, "publish", { position: { offset: 3, epoch: "e" } });
    expect(await published).toEqual({ position: { offset: 3, epoch: "e" } });
  });

  it("resends after 114 outcome_unknown and 100 internal with the same generated key", async () => {
    const { client, peer } = await h.connected();
    const sub = client.newSubscription("room");
    const published = sub.publish("y");
    const first = await peer.command("publish");
    peer.replyError(first.id, { code: ErrorCode.outcomeUnknown, message: "no answer in time", temporary: true });
    const second = await peer.command("publish");
    peer.replyError(second.id, { code: ErrorCode.internal, message: "not made; retry", temporary: true });
    const third = await peer.command("publish");
    expect(new Set([first, second, third].map((c) => c.request.idempotencyKey)).size).toBe(1);
    peer.reply(third.id, "publish", {});
    expect(await published).toEqual({});
  });

  it("gives up after publishAttempts and on errors a resend cannot fix", async () => {
    const { client, peer } = await h.connected({ publishAttempts: 2 });
    const unknown = client.publish("chat", 1);
    for (let i = 0; i < 2; i++) {
      const cmd = await peer.command("publish");
      peer.replyError(cmd.id, { code: ErrorCode.outcomeUnknown, message: "no answer in time", temporary: true });
    }
    await expect(unknown).rejects.toMatchObject({ code: ErrorCode.outcomeUnknown });
    const refused = client.publish("chat", 2);
    const cmd = await peer.command("publish");
    peer.replyError(cmd.id, { code: ErrorCode.permissionDenied, message: "no", temporary: false });
    const error: unknown = await refused.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HubcastError);
    expect(error).not.toBeInstanceOf(ConnectionClosedError);
    expect(error).toMatchObject({ code: ErrorCode.permissionDenied });
  });
});
