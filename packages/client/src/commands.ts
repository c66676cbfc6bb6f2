import { ErrorCode } from "@hubcast/protocol";
import type { Command, Method, Methods, Reply } from "@hubcast/protocol";
import { HubcastError, TimeoutError } from "./errors.js";

type Timer = ReturnType<typeof setTimeout>;

interface Entry {
  readonly command: Command;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: Error) => void;
  timer: Timer | undefined;
  sent: boolean;
}

/** How a {@link CommandTable} talks to the outside. */
export interface CommandTableOptions {
  /** Bound on each command from call to reply, in ms. */
  timeoutMs: number;
  /** Writes one command to the current connection; a throw rejects that command (a HubcastError as is). */
  send: (command: Command) => void;
}

/** Per-call overrides for {@link CommandTable.call}. */
export interface CallOptions {
  /** Send even while the table is closed (the `connect` command itself). @default false */
  immediate?: boolean;
}

/**
 * Commands in flight and commands waiting for a connection. Ids are positive and never
 * reused within a client. Each command settles exactly once: by its reply, its timeout, or
 * a connection failure; a reply for an id no longer here (late, after a timeout) is ignored.
 */
export class CommandTable {
  private nextId = 1;
  private isOpen = false;
  private readonly queued: Entry[] = [];
  private readonly inflight = new Map<number, Entry>();

  constructor(private readonly options: CommandTableOptions) {}

  /** Sends `method` now when the table is open (or `immediate`), else queues it until {@link open}. */
  call<M extends Method>(
    method: M,
    request: Methods[M]["request"],
    opts: CallOptions = {},
  ): Promise<Methods[M]["result"]> {
    return new Promise<Methods[M]["result"]>((resolve, reject) => {
      const command = { id: this.nextId++, method, request } as Command;
      const entry: Entry = {
        command,
        resolve: resolve as (result: unknown) => void,
        reject,
        timer: undefined,
        sent: false,
      };
      entry.timer = setTimeout(() => this.expire(entry), this.options.timeoutMs);
      if (this.isOpen || opts.immediate === true) this.send(entry);
      else this.queued.push(entry);
    });
  }

  /** Marks the connection usable and sends every queued command, oldest first. */
  open(): void {
    this.isOpen = true;
    for (const entry of this.queued.splice(0)) this.send(entry);
  }

  /** Marks the connection unusable and rejects every sent command with `error`; queued ones keep waiting. */
  close(error: Error): void {
    this.isOpen = false;
    const sent = [...this.inflight.values()];
    this.inflight.clear();
    for (const entry of sent) this.finish(entry, error);
  }

  /** Rejects every command, sent or queued, with `error`. */
  failAll(error: Error): void {
    this.close(error);
    for (const entry of this.queued.splice(0)) this.finish(entry, error);
  }

  /** Settles the command `reply` answers. Returns false when no command waits for that id. */
  settle(reply: Reply): boolean {
    const entry = this.inflight.get(reply.id);
    if (entry === undefined) return false;
    this.inflight.delete(reply.id);
    const { method } = entry.command;
    if ("error" in reply) {
      this.finish(entry, HubcastError.fromReply(reply.error, method));
    } else if (reply.method !== method) {
      const message = `reply to ${method} command ${reply.id} carries "${reply.method}"`;
      this.finish(entry, new HubcastError({ code: ErrorCode.internal, message, temporary: false }));
    } else {
      this.finish(entry, undefined, reply.result);
    }
    return true;
  }

  private send(entry: Entry): void {
    entry.sent = true;
    this.inflight.set(entry.command.id, entry);
    try {
      this.options.send(entry.command);
    } catch (error) {
      this.inflight.delete(entry.command.id);
      if (error instanceof HubcastError) {
        this.finish(entry, error);
        return;
      }
      const message = `could not send ${entry.command.method}: ${String(error)}`;
      this.finish(entry, new HubcastError({ code: ErrorCode.internal, message, temporary: true, cause: error }));
    }
  }

  private expire(entry: Entry): void {
    entry.timer = undefined;
    const { id, method } = entry.command;
    if (entry.sent) {
      if (!this.inflight.delete(id)) return;
      this.finish(entry, new TimeoutError(`${method} got no reply within ${this.options.timeoutMs}ms`));
      return;
    }
    const index = this.queued.indexOf(entry);
    if (index < 0) return;
    this.queued.splice(index, 1);
    this.finish(entry, new TimeoutError(`${method} found no connection within ${this.options.timeoutMs}ms`));
  }

  private finish(entry: Entry, error: Error | undefined, result?: unknown): void {
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.timer = undefined;
    if (error === undefined) entry.resolve(result);
    else entry.reject(error);
  }
}
