const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;
const DATA_FIELD = Buffer.from("data");
const NEWLINE = Buffer.from("\n");

/** Where the readers below deliver: one complete message (a line, an event's data), valid only during the call. */
export interface MessageSink {
  onMessage(message: Buffer): void;
  /** A message grew past the reader's limit; nothing more is read. */
  onMessageError(message: string): void;
}

/** Something that turns body bytes, cut anywhere, into messages. */
export interface MessageReader {
  push(data: Buffer): void;
}

/**
 * Splits a byte stream into lines (LF, an optional CR before it dropped), cut anywhere by the
 * transport. A line that lies whole in one input is handed on as a view of it, without a
 * copy; only the unfinished tail is copied and kept, up to `maxLineBytes`.
 */
export class LineReader implements MessageReader {
  private carry: Buffer | undefined;
  private failed = false;

  constructor(
    private readonly sink: MessageSink,
    private readonly maxLineBytes: number,
  ) {}

  push(data: Buffer): void {
    if (this.failed) return;
    let start = 0;
    let lf = data.indexOf(LF);
    if (this.carry !== undefined) {
      if (lf < 0) return this.keep(Buffer.concat([this.carry, data]));
      const line = Buffer.concat([this.carry, data.subarray(0, lf)]);
      this.carry = undefined;
      this.emit(line);
      start = lf + 1;
      lf = data.indexOf(LF, start);
    }
    while (lf >= 0) {
      this.emit(data.subarray(start, lf));
      start = lf + 1;
      lf = data.indexOf(LF, start);
    }
    if (start < data.length) this.keep(Buffer.from(data.subarray(start)));
  }

  private keep(tail: Buffer): void {
    if (tail.length > this.maxLineBytes) {
      this.failed = true;
      this.carry = undefined;
      this.sink.onMessageError(`a line is longer than ${this.maxLineBytes} bytes`);
      return;
    }
    this.carry = tail;
  }

  private emit(line: Buffer): void {
    if (this.failed) return;
    this.sink.onMessage(line.length > 0 && line[line.length - 1] === CR ? line.subarray(0, -1) : line);
  }
}

/**
 * NDJSON (`POST /emulation`): one JSON frame per line; empty lines are skipped.
 */
export class NdjsonReader implements MessageReader, MessageSink {
  private readonly lines: LineReader;

  constructor(
    private readonly sink: MessageSink,
    maxLineBytes: number,
  ) {
    this.lines = new LineReader(this, maxLineBytes);
  }

  push(data: Buffer): void {
    this.lines.push(data);
  }

  /** @internal */
  onMessage(line: Buffer): void {
    if (line.length > 0) this.sink.onMessage(line);
  }

  /** @internal */
  onMessageError(message: string): void {
    this.sink.onMessageError(message);
  }
}

/**
 * Server-Sent Events (`GET /emulation?connect=…`): each event's data (its `data:` lines joined
 * by LF, one leading space dropped) is one message, delivered at the blank line that ends the
 * event. Comments (`:` lines, the keepalive), `event:`, `id:` and `retry:` are read past; an
 * event without data delivers nothing. An event cut across inputs keeps its data copied until
 * its end arrives.
 */
export class SseReader implements MessageReader, MessageSink {
  private readonly lines: LineReader;
  private data: Buffer | undefined;
  /** Whether `data` is our own copy, or a view of the input that is about to be reused. */
  private owned = false;

  constructor(
    private readonly sink: MessageSink,
    maxEventBytes: number,
  ) {
    this.lines = new LineReader(this, maxEventBytes);
  }

  push(input: Buffer): void {
    this.lines.push(input);
    if (this.data !== undefined && !this.owned) {
      this.data = Buffer.from(this.data);
      this.owned = true;
    }
  }

  /** @internal */
  onMessage(line: Buffer): void {
    if (line.length === 0) {
      const data = this.data;
      this.data = undefined;
      if (data !== undefined) this.sink.onMessage(data);
      return;
    }
    if (line[0] === COLON) return;
    if (line.length < 5 || line.compare(DATA_FIELD, 0, 4, 0, 4) !== 0) return;
    if (line.length > 4 && line[4] !== COLON) return; // a field whose name only starts with "data"
    let value = line.subarray(5);
    if (value[0] === SPACE) value = value.subarray(1);
    if (this.data === undefined) {
      this.data = value;
      this.owned = false;
    } else {
      this.data = Buffer.concat([this.data, NEWLINE, value]);
      this.owned = true;
    }
  }

  /** @internal */
  onMessageError(message: string): void {
    this.sink.onMessageError(message);
  }
}
