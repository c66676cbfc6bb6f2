import { ErrorCode, errorCatalogue } from "@hubcast/protocol";
import type { ErrorBody } from "@hubcast/protocol";

/** What every SDK error carries. */
export interface HubcastErrorInit {
  /** An {@link ErrorCode} (1xx), from the server's error reply or the SDK. */
  code: number;
  message: string;
  /** The same operation may succeed if retried later. @default the catalogue's value for `code`, else false */
  temporary?: boolean;
  cause?: unknown;
}

const catalogue: Readonly<Record<number, { temporary: boolean } | undefined>> = errorCatalogue;

/**
 * A command failed: the server replied with an error, or the SDK gave up on it. `code` is an
 * {@link ErrorCode}; `temporary` says whether retrying the same command can succeed.
 */
export class HubcastError extends Error {
  override readonly name: string = "HubcastError";
  readonly code: number;
  readonly temporary: boolean;

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
  override readonly name: string = "TimeoutError";

  constructor(message: string) {
    super({ code: ErrorCode.timeout, message, temporary: true });
  }
}

/** What closed a connection: a WebSocket close code, a server `disconnect` code, or a {@link LocalCode}. */
export interface CloseInfo {
  code: number;
  reason: string;
}

/**
 * The connection a command was sent on closed before its reply arrived; whether the server
 * acted on it is unknown. Code `notConnected`, temporary. `close` says why the connection closed.
 */
export class ConnectionClosedError extends HubcastError {
  override readonly name: string = "ConnectionClosedError";
  readonly close: CloseInfo;

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
  override readonly name: string = "ClientClosedError";

  constructor() {
    super({ code: ErrorCode.notConnected, message: "client.disconnect() was called", temporary: false });
  }
}
