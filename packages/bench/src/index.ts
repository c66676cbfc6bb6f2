/**
 * @hubcast/bench: the load tool behind `hubcast bench`. The CLI entry is {@link benchCommand};
 * the pieces (histogram, lean WebSocket client, protocol adapters) are exported for reuse.
 */
export { benchCommand, writeReports } from "./cli/command.js";
export type { BenchIo } from "./cli/command.js";
export { BENCH_HELP, scenarioHelp, parseBenchArgs } from "./cli/args.js";
export { runBench, BenchRunError } from "./coordinator/run.js";
export { PreflightError } from "./coordinator/preflight.js";
export { resolveBenchOptions, BenchUsageError, Scenario } from "./options.js";
export type { BenchOptions, ResolvedBenchOptions } from "./options.js";
export type { BenchResult, LatencySummary, PhaseSpan, TargetStats, TimelinePoint } from "./report/result.js";
export { RunPhase } from "./report/result.js";
export { escapeHtml, lineChart } from "./report/svg.js";
export type { ChartSpec, Series } from "./report/svg.js";
export { Histogram } from "./histogram.js";
export type { HistogramSnapshot } from "./histogram.js";
export { SequenceCounter } from "./sequence.js";
export { adapters, adapterByName } from "./peers/index.js";
export type { ProtocolAdapter, IncomingFrame } from "./peers/index.js";
export { DEFAULT_PUSHER_APP, parsePusherApp } from "./pusher/app.js";
export type { PusherApp } from "./pusher/app.js";
export { WsConnection } from "./ws/connection.js";
export { FrameReader } from "./ws/frame-reader.js";
