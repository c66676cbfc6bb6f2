/**
 * Entry point of a bench worker process, forked by the coordinator with an IPC channel. It
 * waits for its plan, then follows the coordinator's messages; it exits when told to finish
 * or when the coordinator goes away.
 */
import type { FromWorker, ToWorker } from "../ipc.js";
import { BenchWorker } from "./worker.js";

let worker: BenchWorker | undefined;

function send(message: FromWorker): void {
  if (process.connected) process.send?.(message);
}

process.on("message", (message: ToWorker) => {
  switch (message.type) {
    case "plan":
      worker = new BenchWorker(message.plan, send);
      worker.start();
      return;
    case "run":
      worker?.run(message.startAtUs, message.measureFromUs, message.stopAtUs);
      return;
    case "pause":
      worker?.pause(message.paused);
      return;
    case "finish": {
      const final = worker?.finish();
      // The report goes first: closing thousands of connections takes a loaded machine seconds.
      // Then give the close frames a moment to leave, and go.
      const closeAndExit = (): void => {
        worker?.closeAll();
        setTimeout(() => process.exit(0), 300);
      };
      if (final !== undefined && process.connected) process.send?.(final, undefined, {}, closeAndExit);
      else closeAndExit();
      return;
    }
  }
});

process.on("disconnect", () => {
  // The coordinator is gone (or done with us): nothing left to report to.
  setTimeout(() => process.exit(0), 300);
});
