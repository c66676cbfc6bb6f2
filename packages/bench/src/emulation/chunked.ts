/** What a {@link ChunkedDecoder} hands on: body bytes (valid only during the call), then the end. */
export interface BodySink {
  onBody(data: Buffer): void;
  /** The last chunk (size 0) arrived: the response is complete. */
  onBodyEnd(): void;
  /** The bytes are not chunked encoding; nothing more is decoded. */
  onBodyError(message: string): void;
}

const State = { size: 0, extension: 1, sizeLf: 2, data: 3, dataCr: 4, dataLf: 5, done: 6 } as const;
type State = (typeof State)[keyof typeof State];

const CR = 0x0d;
const LF = 0x0a;
/** Hex digits a chunk size may have: 8 is 4 GiB, far past anything a stream sends in one chunk. */
const MAX_SIZE_DIGITS = 8;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/**
 * An incremental decoder of `Transfer-Encoding: chunked` bodies: bytes may be cut anywhere
 * (inside a size line, a chunk, its CRLF). Body bytes are handed on as views of the input,
 * never copied. Trailers after the last chunk are not read: the stream is over by then.
 */
export class ChunkedDecoder {
  private state: State = State.size;
  private size = 0;
  private digits = 0;

  constructor(private readonly sink: BodySink) {}

  /** True once the last chunk arrived (or the encoding was broken). */
  get done(): boolean {
    return this.state === State.done;
  }

  /** Decodes the next bytes of the body. */
  push(input: Buffer): void {
    let i = 0;
    const end = input.length;
    while (i < end) {
      switch (this.state) {
        case State.data: {
          const take = Math.min(this.size, end - i);
          this.size -= take;
          if (this.size === 0) this.state = State.dataCr;
          this.sink.onBody(input.subarray(i, i + take));
          i += take;
          break;
        }
        case State.size: {
          const c = input[i++] as number;
          const v = hexValue(c);
          if (v >= 0 && this.digits < MAX_SIZE_DIGITS) {
            this.size = this.size * 16 + v;
            this.digits += 1;
          } else if (this.digits > 0 && c === CR) this.state = State.sizeLf;
          else if (this.digits > 0 && c === LF) this.sizeEnded();
          else if (this.digits > 0 && (c === 0x3b /* ; */ || c === 0x20 || c === 0x09)) this.state = State.extension;
          else return this.broken(`bad chunk size byte 0x${c.toString(16)}`);
          break;
        }
        case State.extension: {
          const c = input[i++] as number;
          if (c === CR) this.state = State.sizeLf;
          else if (c === LF) this.sizeEnded();
          break;
        }
        case State.sizeLf:
          if (input[i++] !== LF) return this.broken("chunk size line not ended by CRLF");
          this.sizeEnded();
          break;
        case State.dataCr: {
          const c = input[i++];
          if (c === CR) this.state = State.dataLf;
          else if (c === LF) this.state = State.size;
          else return this.broken("chunk not followed by CRLF");
          break;
        }
        case State.dataLf:
          if (input[i++] !== LF) return this.broken("chunk not followed by CRLF");
          this.state = State.size;
          break;
        default:
          return;
      }
    }
  }

  private sizeEnded(): void {
    if (this.size === 0) {
      this.state = State.done;
      this.sink.onBodyEnd();
      return;
    }
    this.state = State.data;
    this.digits = 0;
  }

  private broken(message: string): void {
    this.state = State.done;
    this.sink.onBodyError(message);
  }
}
