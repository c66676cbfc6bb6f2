import { DEFAULT_PUSHER_APP } from "../../packages/bench/src/pusher/app.js";
import { ServerProcess } from "./processes.js";
import { configFile } from "./redis-nodes.js";

/** The server API key of {@link startBenchNode}'s nodes. */
export const BENCH_API_KEY = "bench-api-key-0123456789";

/**
 * `hubcast start` as the bench tests need it: a `bench` namespace that takes client publishes,
 * the bench's default Pusher app (`hubcast bench --protocol pusher` needs no `--pusher-app`
 * against it), the server API on {@link BENCH_API_KEY}, and no connection or command rate
 * limits in the way of a load run. `extraArgs` go to `hubcast start`. The caller stops it.
 */
export function startBenchNode(extraArgs: string[] = []): Promise<ServerProcess> {
  const config = configFile({
    namespaces: { bench: { allowPublish: true } },
    pusherApps: [{ ...DEFAULT_PUSHER_APP }],
    demo: false,
  });
  return ServerProcess.start([
    "--port",
    "0",
    "--config",
    config,
    "--api-key",
    BENCH_API_KEY,
    "--max-connections-per-second",
    "0",
    "--command-rate-per-second",
    "0",
    ...extraArgs,
  ]);
}
