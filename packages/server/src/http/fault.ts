import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { Metrics } from "../metrics.js";
import { ApiErrorCode, apiErrorBody } from "./api-errors.js";

/** What a request's fault boundary needs: where to count and log. */
export interface FaultReporting {
  faults: Pick<Metrics, "unexpectedError">;
  logger: Logger;
}

/** Ends a request that failed unexpectedly: 500 when nothing was sent yet, else the socket is dropped. Logged and counted once. */
export function failRequest(state: FaultReporting, req: IncomingMessage, res: ServerResponse, err: unknown): void {
  state.faults.unexpectedError("api");
  state.logger.error(
    { err, method: req.method, path: (req.url ?? "").split("?", 1)[0] },
    "unexpected error while serving an HTTP request; answered 500",
  );
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(500, {
    "Content-Type": "application/json; charset=utf-8",
    "Cache-Control": "no-store",
    Connection: "close",
  });
  res.end(JSON.stringify(apiErrorBody(ApiErrorCode.internal, "internal error; see the node's log")));
}
