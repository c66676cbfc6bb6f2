import { HubcastNode } from "../../packages/server/src/node.js";
import type { NodeServices } from "../../packages/server/src/node.js";
import type { NodeOptions } from "../../packages/server/src/options.js";
import { RawClient } from "./raw-client.js";

/** Namespaces most server tests use. */
export const TEST_NAMESPACES: NodeOptions["namespaces"] = {
  chat: { historySize: 100, presence: true, joinLeave: true, allowPublish: true },
  small: { historySize: 10, allowPublish: true },
  plain: { allowPublish: true },
  readonly: {},
  members: { subscribe: "authenticated", allowPublish: true },
};

/**
 * Starts in-process nodes on free ports and the raw clients tests open against them, and
 * stops all of them in `cleanup()` (call it from afterEach).
 */
export class TestCluster {
  private readonly nodes: HubcastNode[] = [];
  private readonly clients: RawClient[] = [];

  async node(options: NodeOptions = {}, services: NodeServices = {}): Promise<{ node: HubcastNode; wsUrl: string }> {
    const node = new HubcastNode(
      { port: 0, logLevel: "silent", demo: false, namespaces: TEST_NAMESPACES, ...options },
      services,
    );
    this.nodes.push(node);
    const { url } = await node.start();
    return { node, wsUrl: `${url.replace(/^http/, "ws")}${node.options.path}` };
  }

  async client(wsUrl: string, connect = true): Promise<RawClient> {
    const client = connect ? await RawClient.connected(wsUrl) : await RawClient.open(wsUrl);
    this.clients.push(client);
    return client;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => c.close()));
    await Promise.all(this.nodes.splice(0).map((n) => n.close()));
  }
}
