import { PublishExpiredError } from "../broker/broker.js";
import { RelayCallError, RelayClosedError, RelayTimeoutError } from "./errors.js";
import type { RelayLink } from "./relay-link.js";
import type { RelayCall, RelayEvent, RelayMessage, RelayOp, RelayOps } from "./relay-protocol.js";

interface Pending {
  op: RelayOp;
  deadline: number;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

/** Settings of a {@link RelayClient}. */
export interface RelayClientOptions {
  /** A request without a reply after this many ms rejects with RelayTimeoutError. @default 5_000 */
  timeoutMs?: number;
}

/**
 * The worker's side of a relay link: requests with ids, each settled by its reply, by the
 * timeout, or by the link closing; unasked events go to `onEvent` in arrival order. One
 * sweep timer, running only while requests are outstanding, enforces every timeout.
 */
export class RelayClient {
  private readonly pending = new Map<number, Pending>();
  private readonly timeoutMs: number;
  private nextId = 1;
  private open = true;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly link: RelayLink,
    private readonly onEvent: (event: RelayEvent) => void,
    options: RelayClientOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 5_000;
    link.listen(
      (message) => this.receive(message),
      () => this.shut(new RelayClosedError("the relay link closed: the cluster primary is gone")),
    );
  }

  /** False once the link has closed; every later call rejects with RelayClosedError. */
  get isOpen(): boolean {
    return this.open;
  }

  /** Runs `call` in the primary; resolves with its result. */
  call<K extends RelayOp>(call: Extract<RelayCall, { op: K }>): Promise<RelayOps[K]["result"]> {
    if (!this.open) return Promise.reject(new RelayClosedError(`relay ${call.op}: the link is closed`));
    const id = this.nextId++;
    const reply = new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { op: call.op, deadline: Date.now() + this.timeoutMs, resolve, reject });
    });
    this.sweepTimer ??= setInterval(() => this.sweep(), Math.max(10, Math.floor(this.timeoutMs / 10))).unref();
    this.link.send({ kind: "request", id, call });
    // The primary is trusted to answer each op with its own result type.
    return reply as Promise<RelayOps[K]["result"]>;
  }

  /** Closes the link; outstanding requests reject with RelayClosedError. */
  close(): void {
    this.shut(new RelayClosedError("the relay client was closed"));
    this.link.close();
  }

  private receive(message: RelayMessage): void {
    if (message.kind === "request") return; // only the primary serves requests
    if (message.kind !== "reply") {
      this.onEvent(message);
      return;
    }
    const pending = this.pending.get(message.id);
    if (pending === undefined) return; // timed out already
    this.pending.delete(message.id);
    if (message.ok) pending.resolve(message.value);
    else if (message.expired === true) pending.reject(new PublishExpiredError(message.error));
    else pending.reject(new RelayCallError(`relay ${pending.op} failed in the primary: ${message.error}`));
    this.stopSweepIfIdle();
  }

  /** Rejects requests past their deadline. Timeouts are uniform, so the oldest come first in the map. */
  private sweep(): void {
    const now = Date.now();
    for (const [id, pending] of this.pending) {
      if (pending.deadline > now) break;
      this.pending.delete(id);
      pending.reject(
        new RelayTimeoutError(`relay ${pending.op}: no reply from the primary within ${this.timeoutMs} ms`),
      );
    }
    this.stopSweepIfIdle();
  }

  private stopSweepIfIdle(): void {
    if (this.pending.size > 0 || this.sweepTimer === undefined) return;
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  private shut(err: Error): void {
    if (!this.open) return;
    this.open = false;
    for (const pending of this.pending.values()) pending.reject(err);
    this.pending.clear();
    this.stopSweepIfIdle();
  }
}
