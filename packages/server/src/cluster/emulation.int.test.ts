import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { EmulatedClient } from "../../../../test/support/emulated-client.js";
import { WorkerCluster } from "../../../../test/support/workers.js";

// The two-way emulation in cluster mode: every POST opens its own connection, which the
// primary hands to either worker; those landing on the other worker than the stream's are
// forwarded through the memory engine's relay in the primary.

const clusters: WorkerCluster[] = [];
const clients: EmulatedClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  const codes = await Promise.all(clusters.splice(0).map((c) => c.stop()));
  expect(codes.every((code) => code === 0)).toBe(true);
});

/** POSTs frames on a connection of its own (no keep-alive), so the primary picks a worker for it. */
function postAlone(url: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/emulation/send`, { method: "POST", agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("cluster mode", () => {
  it("answers every command of an emulated connection down its stream, whichever worker took the POST", async () => {
    const cluster = await WorkerCluster.start();
    clusters.push(cluster);
    await cluster.viewUntil((nodes) => nodes.length === 2, "both workers in the view");
    const client = await EmulatedClient.open(cluster.url);
    clients.push(client);
    await client.waitFor((f) => f["id"] === 1, "the connect reply");

    const statuses: number[] = [];
    for (let id = 10; id < 20; id++) {
      const body = JSON.stringify({ stream: client.stream, frames: [{ id, presence_stats: { channel: "chat:c" } }] });
      statuses.push(await postAlone(cluster.url, body));
      await client.waitFor((f) => f["id"] === id, `the reply to #${id}`);
    }
    // Both paths were taken: delivered on the stream's worker (204), forwarded to it (202).
    expect(new Set(statuses)).toEqual(new Set([202, 204]));
  });
});
