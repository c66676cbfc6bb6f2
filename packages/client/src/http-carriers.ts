import type { Carrier, CarrierEvents, CarrierFactory } from "./carrier.js";
import { EmulationSender } from "./emulation-sender.js";
import type { CloseInfo } from "./errors.js";
import type { EmulationUrls } from "./transports.js";

/** The close code reported when a stream fails or ends without the node's `disconnect` (as a WebSocket's abnormal close). */
const ABNORMAL = 1006;
const decoder = new TextDecoder();

/** The id an emulated stream's first line carries: `{"emulation":{"stream":"<id>"}}`. */
function streamId(line: string): string | undefined {
  try {
    const id: unknown = (JSON.parse(line) as { emulation?: { stream?: unknown } } | null)?.emulation?.stream;
    return typeof id === "string" ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A connection emulated over HTTP: the node's frames come down a stream that the first frame
 * sent (always `connect`) opens, and later frames go up by POST ({@link EmulationSender}). It
 * reports `onOpen` at once, since the stream can only open with the `connect` frame in hand;
 * the node's first reply shows that it was reached. After the stream's first line (its id),
 * each line or event is one frame. A stream that fails or ends closes with 1006: a node that
 * closes on purpose sends a `disconnect` push first, which tells the client the real code.
 */
abstract class EmulatedCarrier implements Carrier {
  protected readonly abort = new AbortController();
  protected readonly sender: EmulationSender;
  private opened = false;
  private done = false;
  private stream: string | undefined;

  constructor(
    protected readonly streamUrl: string,
    sendUrl: string,
    private readonly events: CarrierEvents,
  ) {
    this.sender = new EmulationSender(sendUrl, this.abort.signal, (close, error) => {
      this.events.onError(error);
      this.end(close);
    });
    // After the constructor returned: the link holds this carrier before it sends `connect`.
    queueMicrotask(() => {
      if (!this.done) this.events.onOpen();
    });
  }

  send(frame: string | Uint8Array): void {
    if (this.done) return;
    if (this.opened) {
      this.sender.send(frame);
      return;
    }
    this.opened = true;
    this.open(typeof frame === "string" ? frame : decoder.decode(frame));
  }

  close(): void {
    this.done = true;
    this.sender.close();
    this.abort.abort();
    this.stop();
  }

  /** Opens the stream with the `connect` frame. */
  protected abstract open(connect: string): void;
  /** Releases what {@link open} holds beyond the abort signal. */
  protected stop(): void {}

  /** One line or event of the stream. */
  protected line(text: string): void {
    if (this.done || text === "") return;
    if (this.stream !== undefined) {
      this.events.onFrame(text);
      return;
    }
    this.stream = streamId(text);
    if (this.stream === undefined) {
      const reason = "the stream did not start with its id";
      this.events.onError(new Error(`${reason}: ${text.slice(0, 100)}`));
      this.end({ code: ABNORMAL, reason });
      return;
    }
    this.sender.setStream(this.stream);
  }

  /** The stream failed or ended: closes once, and tells the link. */
  protected end(close: CloseInfo, error?: Error): void {
    if (this.done) return;
    this.close();
    if (error !== undefined) this.events.onError(error);
    this.events.onClose(close);
  }
}

/** NDJSON down a `fetch` with a streaming response body (`POST <stream URL>`, `connect` as the body). */
class HttpStreamCarrier extends EmulatedCarrier {
  protected open(connect: string): void {
    void this.read(connect).catch((error: unknown) => {
      const reason = "the HTTP stream failed";
      this.end({ code: ABNORMAL, reason }, error instanceof Error ? error : new Error(reason));
    });
  }

  private async read(connect: string): Promise<void> {
    const response = await fetch(this.streamUrl, {
      method: "POST",
      body: connect,
      // text/plain: no preflight before a cross-origin stream.
      headers: { "Content-Type": "text/plain", Accept: "application/x-ndjson" },
      signal: this.abort.signal,
      cache: "no-store",
    });
    const body = response.body;
    if (!response.ok || body === null) {
      const detail = response.ok ? "no body" : await response.text().catch(() => "");
      const reason = `POST ${this.streamUrl} answered ${response.status}`;
      this.end({ code: ABNORMAL, reason }, new Error(`${reason}: ${detail.slice(0, 200)}`));
      return;
    }
    const reader = body.getReader();
    const text = new TextDecoder();
    let pending = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      pending += text.decode(value, { stream: true });
      let newline = pending.indexOf("\n");
      while (newline >= 0) {
        this.line(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
        newline = pending.indexOf("\n");
      }
    }
    this.end({ code: ABNORMAL, reason: "the HTTP stream ended" });
  }
}

/** The part of the `EventSource` API this carrier uses. */
interface EventSourceLike {
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  close(): void;
}
type EventSourceConstructor = new (url: string) => EventSourceLike;

/** Server-Sent Events by `EventSource` (`GET <stream URL>?connect=…`), one frame per event. */
class SseCarrier extends EmulatedCarrier {
  private source: EventSourceLike | undefined;

  protected open(connect: string): void {
    const url = new URL(this.streamUrl);
    url.searchParams.set("connect", connect);
    const Source = (globalThis as unknown as { EventSource: EventSourceConstructor }).EventSource;
    const source = new Source(url.href);
    this.source = source;
    source.onmessage = (event) => this.line(String(event.data));
    // EventSource reconnects by itself after an error; the client's own backoff does instead.
    source.onerror = () => this.end({ code: ABNORMAL, reason: "the event stream failed or ended" });
  }

  protected override stop(): void {
    if (this.source === undefined) return;
    this.source.onmessage = null;
    this.source.onerror = null;
    this.source.close();
  }
}

/**
 * Carriers over HTTP-streaming: `fetch` reads the node's frames as NDJSON from
 * `POST <stream URL>`, and frames are sent by `POST <send URL>`. JSON only. The URLs come from
 * `urls` when a carrier is created (the link's own URL, the WebSocket one, is not used); it may throw.
 */
export function httpStreamCarrier(urls: () => EmulationUrls): CarrierFactory {
  return (_url, _codec, events) => {
    const { stream, send } = urls();
    return new HttpStreamCarrier(stream, send, events);
  };
}

/**
 * Carriers over Server-Sent Events: the global `EventSource` reads the node's frames from
 * `GET <stream URL>?connect=…`, and frames are sent by `POST <send URL>`. JSON only. URLs as
 * for {@link httpStreamCarrier}.
 */
export function sseCarrier(urls: () => EmulationUrls): CarrierFactory {
  return (_url, _codec, events) => {
    const { stream, send } = urls();
    return new SseCarrier(stream, send, events);
  };
}
