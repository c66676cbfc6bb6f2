import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeOptions } from "../../packages/server/src/options.js";
import { ServerProcess } from "./processes.js";

/** Namespaces the multi-node tests use. */
export const CLUSTER_NAMESPACES: NodeOptions["namespaces"] = {
  chat: { historySize: 1000, presence: true, joinLeave: true, allowPublish: true },
  small: { historySize: 10, allowPublish: true },
  plain: { allowPublish: true },
};

/** Writes a config file holding `options` and returns its path. */
export function configFile(options: NodeOptions): string {
  const file = join(mkdtempSync(join(tmpdir(), "hubcast-config-")), "hubcast.json");
  writeFileSync(file, JSON.stringify(options));
  return file;
}

/**
 * Starts `count` `hubcast start --engine redis` processes sharing one Redis under a fresh key
 * prefix; `extraArgs` go to every node.
 */
export async function startRedisNodes(
  redisUrl: string,
  count: number,
  extraArgs: string[] = [],
): Promise<{ nodes: ServerProcess[]; prefix: string }> {
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  const config = configFile({ namespaces: CLUSTER_NAMESPACES, demo: false });
  const args = [
    "--engine",
    "redis",
    "--redis-url",
    redisUrl,
    "--redis-prefix",
    prefix,
    "--port",
    "0",
    "--config",
    config,
    ...extraArgs,
  ];
  const nodes = await Promise.all(Array.from({ length: count }, () => ServerProcess.start(args)));
  return { nodes, prefix };
}
