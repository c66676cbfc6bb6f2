import { randomUUID } from "node:crypto";
import { ServerProcess } from "./processes.js";
import { CLUSTER_NAMESPACES, configFile } from "./redis-nodes.js";

/**
 * Starts `count` `hubcast start --engine nats` processes sharing NATS (one server or a
 * cluster: `natsUrl` may list several) under a fresh prefix; `extraArgs` go to every node.
 */
export async function startNatsNodes(
  natsUrl: string,
  count: number,
  extraArgs: string[] = [],
): Promise<{ nodes: ServerProcess[]; prefix: string }> {
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  const config = configFile({ namespaces: CLUSTER_NAMESPACES, demo: false });
  const args = [
    "--engine",
    "nats",
    "--nats-url",
    natsUrl,
    "--redis-prefix",
    prefix,
    "--port",
    "0",
    "--config",
    config,
    ...extraArgs,
  ];
  // One at a time: the first creates the stream and buckets, the others find them.
  const nodes: ServerProcess[] = [];
  try {
    for (let i = 0; i < count; i++) nodes.push(await ServerProcess.start(args));
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
    throw err;
  }
  return { nodes, prefix };
}
