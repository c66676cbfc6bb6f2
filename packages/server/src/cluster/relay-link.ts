import type { Worker } from "node:cluster";
import { MessageChannel } from "node:worker_threads";
import type { MessagePort } from "node:worker_threads";
import type { RelayMessage } from "./relay-protocol.js";
import { isRelayMessage } from "./relay-protocol.js";

/**
 * One end of the link between a worker's IpcEngine and the primary's relay. Messages arrive
 * in the order they were sent, each once; binary fields (`Uint8Array`) survive the trip.
 */
export interface RelayLink {
  /** Sends `message`; a message sent after the other end has gone is dropped (the `closed` callback says so). */
  send(message: RelayMessage): void;
  /** Delivers every message received from now on to `receive`, and calls `closed` once when the other end goes. Called once. */
  listen(receive: (message: RelayMessage) => void, closed: () => void): void;
  /** Stops listening (and, for an in-process pair, closes both ends). */
  close(): void;
}

/** How relay messages are wrapped on a node:cluster IPC channel, to tell them from the cluster's own messages. */
export interface RelayEnvelope {
  hubcast: "relay";
  message: RelayMessage;
}

/** True for a relay message wrapped for IPC. */
export function isRelayEnvelope(value: unknown): value is RelayEnvelope {
  return (
    typeof value === "object" &&
    value !== null &&
    "hubcast" in value &&
    value.hubcast === "relay" &&
    "message" in value &&
    isRelayMessage(value.message)
  );
}

/** The IPC operations a relay link needs: `process` in a worker, a `cluster.Worker` in the primary. */
interface IpcEndpoint {
  send(message: RelayEnvelope, callback: (err: Error | null) => void): void;
  isConnected(): boolean;
  on(event: "message", listener: (message: unknown) => void): void;
  on(event: "disconnect", listener: () => void): void;
  off(event: "message", listener: (message: unknown) => void): void;
  off(event: "disconnect", listener: () => void): void;
}

class IpcLink implements RelayLink {
  private detach: (() => void) | undefined;

  constructor(
    private readonly endpoint: IpcEndpoint,
    private readonly onError: (err: Error) => void,
  ) {}

  send(message: RelayMessage): void {
    if (!this.endpoint.isConnected()) return;
    this.endpoint.send({ hubcast: "relay", message }, (err) => {
      // A send racing the other end's exit fails; `closed` reports that, so only other failures are errors.
      if (err !== null && this.endpoint.isConnected()) this.onError(err);
    });
  }

  listen(receive: (message: RelayMessage) => void, closed: () => void): void {
    const onMessage = (value: unknown): void => {
      if (isRelayEnvelope(value)) receive(value.message);
    };
    let done = false;
    const onDisconnect = (): void => {
      if (done) return;
      done = true;
      closed();
    };
    this.endpoint.on("message", onMessage);
    this.endpoint.on("disconnect", onDisconnect);
    this.detach = () => {
      this.endpoint.off("message", onMessage);
      this.endpoint.off("disconnect", onDisconnect);
    };
  }

  close(): void {
    this.detach?.();
    this.detach = undefined;
  }
}

/** The worker's end, over its IPC channel to the primary. `onError` hears failed sends. */
export function processLink(proc: NodeJS.Process, onError: (err: Error) => void): RelayLink {
  return new IpcLink(
    {
      send: (message, callback) => {
        if (proc.send === undefined)
          callback(new Error("this process has no IPC channel: it was not started as a cluster worker"));
        else proc.send(message, undefined, {}, callback);
      },
      isConnected: () => proc.connected,
      on: (event: string, listener: (message: unknown) => void) => proc.on(event, listener),
      off: (event: string, listener: (message: unknown) => void) => proc.off(event, listener),
    },
    onError,
  );
}

/** The primary's end of the link to one worker. `onError` hears failed sends. */
export function workerLink(worker: Worker, onError: (err: Error) => void): RelayLink {
  return new IpcLink(
    {
      send: (message, callback) => worker.send(message, callback),
      isConnected: () => worker.isConnected(),
      on: (event: string, listener: (message: unknown) => void) => worker.on(event, listener),
      off: (event: string, listener: (message: unknown) => void) => worker.off(event, listener),
    },
    onError,
  );
}

class PortLink implements RelayLink {
  constructor(private readonly port: MessagePort) {}

  send(message: RelayMessage): void {
    this.port.postMessage(message);
  }

  listen(receive: (message: RelayMessage) => void, closed: () => void): void {
    this.port.on("message", (value: unknown) => {
      if (isRelayMessage(value)) receive(value);
    });
    this.port.once("close", closed);
  }

  close(): void {
    this.port.close();
  }
}

/**
 * Two linked ends in one process, over a MessageChannel (messages are copied as they are
 * between processes): for tests, and for running a relay beside its engine.
 */
export function linkedPair(): [RelayLink, RelayLink] {
  const { port1, port2 } = new MessageChannel();
  return [new PortLink(port1), new PortLink(port2)];
}
