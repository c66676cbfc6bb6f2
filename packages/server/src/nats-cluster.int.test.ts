import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NatsCluster } from "../../../test/support/nats.js";
import { startNatsNodes } from "../../../test/support/nats-nodes.js";
import type { ServerProcess } from "../../../test/support/processes.js";
import { RawClient } from "../../../test/support/raw-client.js";
import { NatsNames } from "./engine/nats-names.js";

const CHANNEL = "chat:ha";
const PUBLICATIONS = 150;
const KILL_AFTER = 50;

let cluster: NatsCluster | undefined;
const servers: ServerProcess[] = [];
const clients: RawClient[] = [];
beforeAll(async () => {
  cluster = await NatsCluster.start(3);
}, 30_000);
afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop("SIGKILL")));
  await cluster?.stop();
});

/**
 * One subscriber's view of the channel: live publications, and after a push asking it to
 * resubscribe, the publications its resubscribe with `since` recovered. Runs until `done`.
 */
async function follow(
  c: RawClient,
  subscribed: { position: { offset: number; epoch: string } },
  done: string,
): Promise<string[]> {
  const seen: string[] = [];
  let position = subscribed.position;
  let from = 0;
  while (!seen.includes(done)) {
    const frame = await c.waitFor(
      (f) => isFor(f, "publication") || isFor(f, "unsubscribe"),
      "a publication or an unsubscribe",
      30_000,
      from,
    );
    from = c.frames.indexOf(frame) + 1;
    const pub = frame["publication"] as { data: string; offset: number } | undefined;
    if (pub !== undefined) {
      seen.push(pub.data);
      position = { ...position, offset: pub.offset };
      continue;
    }
    const reply = await c.ok<{
      recovered: boolean;
      publications: { data: string; offset: number }[];
      position: { offset: number; epoch: string };
    }>("subscribe", {
      channel: CHANNEL,
      since: position,
    });
    expect(reply.recovered).toBe(true);
    seen.push(...reply.publications.map((p) => p.data));
    position = reply.position;
    from = c.frames.length;
  }
  return seen;
}

function isFor(frame: Record<string, unknown>, type: string): boolean {
  const body = frame[type] as { channel?: string } | undefined;
  return frame["id"] === undefined && body?.channel === CHANNEL;
}

describe("a three-server JetStream cluster with replicas 3", () => {
  it("delivers every acknowledged publication to every subscriber once and in order when a NATS server dies mid-stream", async () => {
    const started = await startNatsNodes(cluster?.urls ?? "", 3, ["--nats-replicas", "3"]);
    servers.push(...started.nodes);
    const subscribers = await Promise.all(started.nodes.map((n) => RawClient.connected(n.wsUrl)));
    clients.push(...subscribers);
    const replies = await Promise.all(
      subscribers.map((s) => s.ok<{ position: { offset: number; epoch: string } }>("subscribe", { channel: CHANNEL })),
    );
    const following = subscribers.map((s, i) =>
      follow(s, replies[i] as { position: { offset: number; epoch: string } }, "end"),
    );
    const publisher = await RawClient.connected((started.nodes[0] as ServerProcess).wsUrl);
    clients.push(publisher);

    const acknowledged: string[] = [];
    for (let i = 1; i <= PUBLICATIONS; i++) {
      if (i === KILL_AFTER) await killStreamLeader(started.prefix);
      const reply = await publisher.command("publish", { channel: CHANNEL, data: `m${i}` }, 15_000);
      if (reply["error"] === undefined) acknowledged.push(`m${i}`);
    }
    // The last one must land, so the followers know they are done: retry it a few times.
    let ended = false;
    for (let attempt = 0; attempt < 3 && !ended; attempt++) {
      ended = (await publisher.command("publish", { channel: CHANNEL, data: "end" }, 15_000))["error"] === undefined;
    }
    expect(ended).toBe(true);
    acknowledged.push("end");

    expect(acknowledged.length).toBeGreaterThan(PUBLICATIONS / 2);
    for (const seen of await Promise.all(following)) {
      expect(new Set(seen).size).toBe(seen.length); // once
      // In order, and nothing acknowledged missing (a publish answered with an error may still have been made).
      expect(seen.filter((d) => acknowledged.includes(d))).toEqual(acknowledged);
    }
  }, 40_000);
});

/** Kills the NATS server leading the deployment's history stream: the worst one to lose. */
async function killStreamLeader(prefix: string): Promise<void> {
  const nc = await connect({ servers: cluster?.urls.split(",") ?? [] });
  let leader: string | undefined;
  try {
    const info = await (await jetstreamManager(nc)).streams.info(new NatsNames(prefix).stream);
    leader = info.cluster?.leader;
  } finally {
    await nc.close();
  }
  const server = leader === undefined ? undefined : cluster?.byName(leader);
  if (server === undefined) throw new Error(`no server leads the stream (leader: ${leader})`);
  await server.kill();
}
