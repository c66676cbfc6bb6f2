import { afterEach, describe, expect, it } from "vitest";
import { ServerProcess } from "../../../../test/support/processes.js";
import { RawClient } from "../../../../test/support/raw-client.js";
import { sample, scrapeFresh } from "../../../../test/support/scrape.js";

const servers: ServerProcess[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop("SIGKILL")));
});

const MiB = 1024 * 1024;
const CLIENTS = 20;
const PUBLISHES_PER_CLIENT = 200; // inside the default burst of 200 commands
const DATA = JSON.stringify("x".repeat(50_000)); // ~50 KB, under maxMessageBytes with its envelope

/** Every client publishes to fresh `demo:` channels (history 100 for an hour) as fast as the rate limit allows. */
async function flood(client: RawClient, prefix: string): Promise<void> {
  for (let i = 0; i < PUBLISHES_PER_CLIENT; i += 1) {
    client.send(`{"id":${i + 10},"publish":{"channel":"demo:${prefix}-${i}","data":${DATA}}}`);
  }
  await client.waitFor((f) => f["id"] === PUBLISHES_PER_CLIENT + 9, "the last publish reply", 30_000);
}

describe("anonymous clients filling the memory engine's history", () => {
  it("cannot make the node hold more than memoryHistoryMaxBytes of history", async () => {
    const server = await ServerProcess.start(["--port", "0", "--memory-history-max-bytes", String(16 * MiB)]);
    servers.push(server);
    const before = sample(await scrapeFresh(server.url), "hubcast_process_resident_memory_bytes");
    for (let c = 0; c < CLIENTS; c += 1) clients.push(await RawClient.connected(server.wsUrl));
    await Promise.all(clients.map((client, c) => flood(client, `c${c}`)));
    const samples = await scrapeFresh(server.url);
    const sentMiB = (CLIENTS * PUBLISHES_PER_CLIENT * DATA.length) / MiB;
    const grownMiB = (sample(samples, "hubcast_process_resident_memory_bytes") - before) / MiB;
    // Without the bound the node kept every publication (~190 MiB here: RSS grew by about 280 MiB) for the namespace's hour.
    expect(sentMiB).toBeGreaterThan(180);
    expect(grownMiB).toBeLessThan(140);
    expect(sample(samples, 'hubcast_history_evictions_total{reason="bytes"}')).toBeGreaterThan(0);
    // History still works: what is published now is there to read.
    const reader = await RawClient.connected(server.wsUrl);
    clients.push(reader);
    await reader.ok("subscribe", { channel: "demo:after" });
    await reader.ok("publish", { channel: "demo:after", data: "still here" });
    const page = await reader.ok<{ publications: { data: unknown }[] }>("history", { channel: "demo:after" });
    expect(page.publications.map((p) => p.data)).toEqual(["still here"]);
  }, 60_000);
});
