import type { CloseInfo } from "./errors.js";

/** Frames one POST may carry (the node's limit). */
const MAX_FRAMES_PER_POST = 64;
/** Past this many characters a POST takes no more frames, to stay under proxies' body limits (nginx: 1 MB). */
const MAX_POST_CHARS = 262_144;
const decoder = new TextDecoder();

/**
 * Sends an emulated connection's frames to the node by `POST <send URL>`, in order: frames
 * sent within one turn of the event loop go in one POST, and a POST waits until the one before
 * it was answered, so the node gets them in the order they were sent. Frames wait until the
 * stream's id is known. A POST that fails (network, or any answer but 202/204: 404 means the
 * node no longer has the connection) ends the connection through `onFailed`: its frames may or
 * may not have arrived, and a reconnect resynchronises what matters (publishes are resent with
 * their idempotency key).
 */
export class EmulationSender {
  private stream: string | undefined;
  private readonly queue: string[] = [];
  private busy = false;
  private scheduled = false;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly signal: AbortSignal,
    private readonly onFailed: (close: CloseInfo, error: Error) => void,
  ) {}

  /** The id from the stream's first line; queued frames go out now. */
  setStream(stream: string): void {
    this.stream = stream;
    this.schedule();
  }

  /** Queues one frame (a JSON text). */
  send(frame: string | Uint8Array): void {
    if (this.closed) return;
    this.queue.push(typeof frame === "string" ? frame : decoder.decode(frame));
    this.schedule();
  }

  /** Sends nothing more. */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
  }

  // One POST per turn: frames sent in the same turn (a resubscribe of many channels) share it.
  private schedule(): void {
    if (this.scheduled || this.busy) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.closed || this.busy || this.stream === undefined || this.queue.length === 0) return;
    let count = 0;
    let chars = 0;
    while (count < this.queue.length && count < MAX_FRAMES_PER_POST && (count === 0 || chars < MAX_POST_CHARS))
      chars += (this.queue[count++] as string).length;
    const frames = this.queue.splice(0, count);
    // The frames are JSON already: joined, not parsed and serialised again.
    const body = `{"stream":${JSON.stringify(this.stream)},"frames":[${frames.join(",")}]}`;
    this.busy = true;
    // text/plain keeps a cross-origin POST "simple": no preflight round trip per send.
    fetch(this.url, { method: "POST", body, headers: { "Content-Type": "text/plain" }, signal: this.signal }).then(
      (response) => {
        this.busy = false;
        if (response.status === 202 || response.status === 204) {
          this.flush();
          return;
        }
        void response.body?.cancel();
        const reason = `POST ${this.url} answered ${response.status}`;
        this.fail({ code: 1006, reason }, new Error(reason));
      },
      (error: unknown) => {
        this.busy = false;
        const reason = `POST ${this.url} failed`;
        this.fail({ code: 1006, reason }, error instanceof Error ? error : new Error(reason));
      },
    );
  }

  private fail(close: CloseInfo, error: Error): void {
    if (this.closed) return;
    this.close();
    this.onFailed(close, error);
  }
}
