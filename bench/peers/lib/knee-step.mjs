/**
 * One step of the knee sweep judged: a fanout run at one publication rate is sustained when
 * every delivery arrived once and in order, nothing failed or dropped, the publisher kept the
 * rate, and p99 latency stayed within the bound. The step record says why when it was not.
 */
import { summarizeFanout } from "./report.mjs";

/** A publisher is behind when it sent fewer than this share of the publications due (less one, for rounding). */
const PUBLISHED_SHARE = 0.95;
/** Bench processes at or above this % of a core may be what limits the step (the load generator, not the server). */
export const CLIENT_BOUND_PERCENT = 90;

const perCore = (deliveriesPerS, cpuPercent) =>
  cpuPercent === undefined || cpuPercent <= 0 ? undefined : Math.round(deliveriesPerS / (cpuPercent / 100));

/** How the p99 reason of {@link failureReasons} starts. */
const P99_REASON = "p99 ";

/**
 * Why a step was not sustained, one short phrase each; empty when it was.
 * @param {ReturnType<typeof summarizeFanout>} f
 * @param {{ rate: number, p99BoundMs: number }} bound
 */
export function failureReasons(f, { rate, p99BoundMs }) {
  const reasons = [];
  if (f.interrupted) reasons.push(`the bench stopped early: ${f.interruptReason ?? "interrupted"}`);
  if (f.lost > 0) reasons.push(`${f.lost} lost`);
  if (f.duplicates > 0) reasons.push(`${f.duplicates} duplicated`);
  if (f.outOfOrder > 0) reasons.push(`${f.outOfOrder} out of order`);
  if (f.publishErrors > 0) reasons.push(`${f.publishErrors} publish errors`);
  if (f.connectionsFailed > 0) reasons.push(`${f.connectionsFailed} connections failed`);
  if (f.connectionsDropped > 0) reasons.push(`${f.connectionsDropped} connections dropped`);
  const due = rate * f.measuredSeconds;
  if (f.measuredPublished < due * PUBLISHED_SHARE - 1)
    reasons.push(`published ${(f.measuredPublished / f.measuredSeconds).toFixed(1)}/s of ${rate}/s`);
  if (f.measuredDeliveries === 0) reasons.push("no delivery in the measured window");
  if (f.p99Ms > p99BoundMs) reasons.push(`${P99_REASON}${f.p99Ms} ms > ${p99BoundMs} ms`);
  return reasons;
}

/** Whether a step failed on its p99 alone (every delivery made, in order, at the rate), as {@link failureReasons} words it. */
export function latencyOnly(step) {
  return step.error === undefined && step.reasons.length === 1 && step.reasons[0].startsWith(P99_REASON);
}

/**
 * The record of one step from its bench result: the rate, the verdict and its reasons, and
 * the figures the knee table shows (deliveries/s, server and Redis CPU, per core, latency).
 * @param {object} result `hubcast bench --json` output.
 * @param {{ rate: number, p99BoundMs: number, pids: number[], backendPids: number[] }} step
 */
export function stepRecord(result, { rate, p99BoundMs, pids, backendPids }) {
  const f = summarizeFanout(result, pids, backendPids);
  const reasons = failureReasons(f, { rate, p99BoundMs });
  const withBackend =
    f.serverCpuPercent === undefined || f.redisCpuPercent === undefined
      ? undefined
      : f.serverCpuPercent + f.redisCpuPercent;
  return {
    rate,
    pass: reasons.length === 0,
    reasons,
    deliveriesPerS: f.deliveriesPerS,
    serverCpuPercent: f.serverCpuPercent,
    redisCpuPercent: f.redisCpuPercent,
    deliveriesPerSPerCore: perCore(f.deliveriesPerS, f.serverCpuPercent),
    deliveriesPerSPerCoreWithRedis: perCore(f.deliveriesPerS, withBackend),
    cpuUsPerDelivery: f.cpuUsPerDelivery,
    p50Ms: f.p50Ms,
    p99Ms: f.p99Ms,
    maxMs: f.maxMs,
    lost: f.lost,
    duplicates: f.duplicates,
    outOfOrder: f.outOfOrder,
    clientProcesses: f.clientProcesses,
    clientCpuPercentPerProcess: f.clientCpuPercentPerProcess,
    clientBound: (f.clientCpuPercentPerProcess ?? 0) >= CLIENT_BOUND_PERCENT,
  };
}

/** The record of a step whose bench did not report (it or a server failed to start or run). */
export function failedStepRecord(rate, error) {
  return { rate, pass: false, reasons: [error], error };
}
