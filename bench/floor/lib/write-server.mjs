/**
 * The write floor's server, in its own process: a bare `net` server on loopback that keeps
 * every accepted socket (noDelay, as WebSocket servers set it) and, on `run`, writes one
 * 66-byte WebSocket text frame (2-byte header, 64-byte payload, unmasked as a server sends
 * it), built once per round and stamped with the round's start (stamps.mjs), to every socket
 * with `socket.write`, once per round, rounds `intervalMs` apart. With `framesPerTick` > 1
 * each socket gets that many frames per round between `socket.cork()` and `socket.uncork()`
 * (one writev per socket).
 *
 * The measured window is rounds `warmup` … `warmup + rounds − 1`: from the start of the
 * first measured round to the scheduled start of the round after the last, so it includes
 * the work each write leaves for after the loop. CPU in the window is read both with
 * process.cpuUsage() (getrusage) and from /proc/self/stat, and the client's from
 * /proc/<pid>/stat of every reading client (together), and the machine's from /proc/stat.
 *
 * Commands: listen, status, run, exit.
 */
import { createServer } from "node:net";
import { serve } from "./processes.mjs";
import { cpusAllowed, diff, machineCpu, openFiles, procCpu, quantile } from "./proc.mjs";
import { FRAME_BYTES, monotonicUs, stampedFrame } from "./stamps.mjs";

const sockets = [];
let closed = 0;
let receivedBytes = 0;
let peakFiles = 0;

const server = createServer((socket) => {
  socket.setNoDelay(true);
  socket.on("data", (chunk) => {
    receivedBytes += chunk.length;
  });
  socket.on("error", () => {});
  socket.on("close", () => {
    closed++;
  });
  sockets.push(socket);
});

/** The reading clients' CPU together (undefined when one of them is gone). */
function clientsCpu(clientPids) {
  const each = clientPids.map((pid) => procCpu(pid));
  if (each.length === 0 || each.includes(undefined)) return undefined;
  return {
    userUs: each.reduce((a, c) => a + c.userUs, 0),
    systemUs: each.reduce((a, c) => a + c.systemUs, 0),
  };
}

function sample(clientPids) {
  return {
    atNs: process.hrtime.bigint(),
    rusage: process.cpuUsage(),
    proc: procCpu("self"),
    mainThread: procCpu("self", process.pid),
    client: clientsCpu(clientPids),
    machine: machineCpu(),
  };
}

/** The CPU between two samples, in µs, by source. */
function window(a, b) {
  const client = a.client !== undefined && b.client !== undefined ? diff(a.client, b.client) : undefined;
  return {
    wallUs: Number(b.atNs - a.atNs) / 1000,
    rusage: { userUs: b.rusage.user - a.rusage.user, systemUs: b.rusage.system - a.rusage.system },
    proc: diff(a.proc, b.proc),
    mainThread: diff(a.mainThread, b.mainThread),
    client,
    machine: diff(a.machine, b.machine),
  };
}

async function run({ rounds, warmup, intervalMs, framesPerTick, clientPids }) {
  const k = framesPerTick;
  const targets = sockets.filter((s) => !s.destroyed);
  if (targets.length !== sockets.length)
    throw new Error(`${sockets.length - targets.length} of ${sockets.length} sockets closed before the run`);
  const total = warmup + rounds;
  const loopMs = [];
  const settledMs = [];
  let leftQueued = 0;
  let start;
  let end;
  const t0 = performance.now() + intervalMs;
  for (let round = 0; round <= total; round++) {
    const wait = t0 + round * intervalMs - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    if (round === warmup) start = sample(clientPids);
    if (round === total) {
      end = sample(clientPids);
      break;
    }
    const s = performance.now();
    // A new frame each round: the previous one may still sit in a socket's queue.
    const frame = stampedFrame(round >= warmup ? monotonicUs() : 0);
    if (k === 1) {
      for (let i = 0; i < targets.length; i++) {
        const socket = targets[i];
        socket.write(frame);
        if (socket.writableLength > 0) leftQueued++;
      }
    } else {
      for (let i = 0; i < targets.length; i++) {
        const socket = targets[i];
        socket.cork();
        for (let j = 0; j < k; j++) socket.write(frame);
        socket.uncork();
        if (socket.writableLength > 0) leftQueued++;
      }
    }
    const e = performance.now();
    if (round >= warmup) {
      loopMs.push(e - s);
      // Until the event loop is free again: includes the write callbacks queued by the loop.
      setImmediate(() => settledMs.push(performance.now() - s));
    }
  }
  const w = window(start, end);
  const writes = rounds * targets.length;
  const perWrite = (us) => us / writes;
  return {
    connections: targets.length,
    rounds,
    warmup,
    intervalMs,
    framesPerTick: k,
    frameBytes: FRAME_BYTES,
    socketWrites: writes,
    frames: writes * k,
    bytesPerConnection: total * k * FRAME_BYTES,
    writesLeftQueued: leftQueued,
    closedDuringRun: closed,
    bytesFromClients: receivedBytes,
    loopMs: stats(loopMs),
    settledMs: stats(settledMs),
    window: w,
    perSocketWriteUs: {
      rusageUser: perWrite(w.rusage.userUs),
      rusageSystem: perWrite(w.rusage.systemUs),
      procUser: perWrite(w.proc.userUs),
      procSystem: perWrite(w.proc.systemUs),
      mainThreadUser: perWrite(w.mainThread.userUs),
      mainThreadSystem: perWrite(w.mainThread.systemUs),
      clientUser: w.client === undefined ? undefined : perWrite(w.client.userUs),
      clientSystem: w.client === undefined ? undefined : perWrite(w.client.systemUs),
      machine: Object.fromEntries(Object.entries(w.machine).map(([key, us]) => [key, perWrite(us)])),
    },
    openFiles: peakFiles,
    cpusAllowed: cpusAllowed(),
  };
}

function stats(values) {
  return {
    n: values.length,
    p50: quantile(values, 0.5),
    p90: quantile(values, 0.9),
    p99: quantile(values, 0.99),
    max: Math.max(...values),
    mean: values.reduce((a, b) => a + b, 0) / values.length,
  };
}

serve({
  listen: () =>
    new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: "127.0.0.1", port: 0, backlog: 511 }, () =>
        resolve({ port: server.address().port, pid: process.pid }),
      );
    }),
  status: () => {
    peakFiles = Math.max(peakFiles, openFiles());
    return { accepted: sockets.length, closed, openFiles: peakFiles };
  },
  run,
});
