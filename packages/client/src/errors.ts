import { ErrorCode, errorCatalogue } from "@hubcast/protocol";
import type { ErrorBody } from "@hubcast/protocol";

/** What every SDK error carries. */
export interface HubcastErrorInit {
  /** An {@link ErrorCode} (1xx), from the server's error reply or the SDK. */
  code: number;
  /** What went wrong, for people; becomes `error.message`. */
  message: string;
  /** The same operation may succeed if retried later. @default the catalogue's value for `code`, else false */
  temporary?: boolean;
  /** The underlying error, kept as `error.cause`. */
  cause?: unknown;
}

const catalogue: Readonly<Record<number, { temporary: boolean } | undefined>> = errorCatalogue;

/**
 * A command failed: the server replied with an error, or the SDK gave up on it. `code` is an
 * {@link ErrorCode}; `temporary` says whether retrying the same command can succeed.
 * The SDK's own failures are the subclasses {@link TimeoutError}, {@link ConnectionClosedError}
 * and {@link ClientClosedError}; a server's `error` reply is a plain HubcastError.
 */
export class HubcastError extends Error {
  /** `"HubcastError"`, or the subclass's name. */
  override readonly name: string = "HubcastError";
  /** An {@link ErrorCode} (100–114): `error.code === ErrorCode.permissionDenied`, for example. */
  readonly code: number;
  /** True when the same command may succeed if sent again later (see the catalogue in docs/protocol.md). */
  readonly temporary: boolean;

  /** Apps rarely build these; the SDK rejects commands with them. */
  constructor(init: HubcastErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.temporary = init.temporary ?? catalogue[init.code]?.temporary ?? false;
  }

  /** Builds the error for a server `error` reply, tolerating a malformed body. */
  static fromReply(body: ErrorBody, method: string): HubcastError {
    const code = typeof body.code === "number" ? body.code : ErrorCode.internal;
    const message = typeof body.message === "string" ? body.message : `${method} failed`;
    const temporary = typeof body.temporary === "boolean" ? body.temporary : undefined;
    return new HubcastError({ code, message, temporary });
  }
}

/** No reply (or no connection to send on) within the command timeout. Code `timeout`, temporary. */
export class TimeoutError extends HubcastError {
  /** `"TimeoutError"`. */
  override readonly name: string = "TimeoutError";

  /** A timeout error with `code` 111 and `temporary: true`. */
  constructor(message: string) {
    super({ code: ErrorCode.timeout, message, temporary: true });
  }
}

/** What closed a connection: a WebSocket close code, a server `disconnect` code, or a {@link LocalCode}. */
export interface CloseInfo {
  /**
   * Below 100: a {@link LocalCode}; 100–999: an {@link ErrorCode} (a refused `connect`, for
   * example); 1000 and up: a WebSocket {@link CloseCode} or the code of a `disconnect` push.
   */
  code: number;
  /** Why, for people and logs; not meant to be parsed. */
  reason: string;
}

/**
 * The connection a command was sent on closed before its reply arrived; whether the server
 * acted on it is unknown. Code `notConnected`, temporary. `close` says why the connection closed.
 */
export class ConnectionClosedError extends HubcastError {
  /** `"ConnectionClosedError"`. */
  override readonly name: string = "ConnectionClosedError";
  /** The code and reason the connection closed with. */
  readonly close: CloseInfo;

  /** An error with `code` 109 and `temporary: true` for a connection that closed with `close`. */
  constructor(close: CloseInfo) {
    super({
      code: ErrorCode.notConnected,
      message: `connection closed before the reply (${close.code} ${close.reason})`,
      temporary: true,
    });
    this.close = close;
  }
}

/** `client.disconnect()` was called while the command waited. Code `notConnected`, not temporary. */
export class ClientClosedError extends HubcastError {
  /** `"ClientClosedError"`. */
  override readonly name: string = "ClientClosedError";

  /** An error with `code` 109 and `temporary: false`. */
  constructor() {
    super({ code: ErrorCode.notConnected, message: "client.disconnect() was called", temporary: false });
  }
}
