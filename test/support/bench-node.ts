import { ServerProcess } from "./processes.js";
import { configFile } from "./redis-nodes.js";

/**
 * `hubcast start` as the bench tests need it: a `bench` namespace that takes client publishes,
 * and no connection or command rate limits in the way of a load run. The caller stops it.
 */
export function startBenchNode(): Promise<ServerProcess> {
  const config = configFile({ namespaces: { bench: { allowPublish: true } }, demo: false });
  return ServerProcess.start([
    "--port",
    "0",
    "--config",
    config,
    "--max-connections-per-second",
    "0",
    "--command-rate-per-second",
    "0",
  ]);
}
