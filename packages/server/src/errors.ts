import { ErrorCode, errorCatalogue } from "@hubcast/protocol";
import type { ErrorBody } from "@hubcast/protocol";

/** A command failed in a way the client should be told about, with a catalogue code. */
export class ReplyError extends Error {
  override readonly name = "ReplyError";
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }

  toBody(): ErrorBody {
    return { code: this.code, message: this.message, temporary: errorCatalogue[this.code].temporary };
  }
}

/** The engine could not serve a command right now (backend unreachable, timed out). */
export const internalError = (what: string): ReplyError =>
  new ReplyError(ErrorCode.internal, `${what} failed; retry later`);
