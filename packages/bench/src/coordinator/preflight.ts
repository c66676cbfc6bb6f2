import { Incoming, incomingFrame } from "../peers/index.js";
import type { ApiAuth, ProtocolAdapter } from "../peers/index.js";
import { EmulationSender } from "../emulation/sender.js";
import { openLink } from "../open-link.js";
import { Transport } from "../transport.js";
import type { LinkEnd } from "../transport.js";
import { parseWsTarget } from "../ws/handshake.js";

/** A target or option the run cannot work with; the message says what to fix. */
export class PreflightError extends Error {
  override readonly name = "PreflightError";
  readonly code = "BENCH_PREFLIGHT";
}

type Step = { operation: "connect" | "subscribe" | "publish"; frame: string | undefined; channel: string };

/**
 * Opens one connection to `url` over `transport` and walks it through `steps` (connect,
 * subscribe, publish), failing with a {@link PreflightError} that names the problem and its
 * fix: target unreachable, upgrade refused, no emulation endpoint, namespace missing,
 * publishing not allowed.
 */
export function probe(
  url: string,
  adapter: ProtocolAdapter,
  steps: Step[],
  timeoutMs = 5_000,
  transport: Transport = Transport.websocket,
): Promise<void> {
  const emulated = transport !== Transport.websocket;
  const sender = emulated ? new EmulationSender() : undefined;
  return new Promise<void>((resolve, reject) => {
    const incoming = incomingFrame();
    let stepIndex = -1;
    let done = false;
    const finish = (error: string | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ws.close();
      sender?.close();
      if (error === undefined) resolve();
      else reject(new PreflightError(error));
    };
    const next = (): void => {
      stepIndex += 1;
      const step = steps[stepIndex];
      if (step === undefined) return finish(undefined);
      // A server that greets first answers the connect without being asked.
      if (step.frame === undefined)
        return step.operation === "connect" && adapter.serverGreets === true ? undefined : next();
      ws.sendText(step.frame);
    };
    const timer = setTimeout(
      () =>
        finish(
          `${url} did not answer within ${timeoutMs} ms (${steps[stepIndex]?.operation ?? "WebSocket upgrade"}); is it a ${adapter.name} server?`,
        ),
      timeoutMs,
    );
    const ws = openLink(
      {
        transport,
        target: parseWsTarget(url),
        subprotocol: adapter.subprotocol,
        handshakeTimeoutMs: timeoutMs,
        connectFrame: emulated ? steps[0]?.frame : undefined,
        sender,
      },
      {
        // Emulated, the connect frame went with the request: wait for its reply.
        onOpen(): void {
          if (emulated) stepIndex = 0;
          else next();
        },
        onText(payload: Buffer): void {
          const kind = adapter.parse(payload, incoming);
          if (kind === Incoming.ping) ws.sendText(incoming.answer);
          else if (kind === Incoming.reply && incoming.id === stepIndex + 1) next();
          else if (kind === Incoming.error && incoming.id === stepIndex + 1) {
            const step = steps[stepIndex] as Step;
            const hint = adapter.explainError?.({
              operation: step.operation,
              code: incoming.errorCode,
              message: incoming.message,
              channel: step.channel,
            });
            finish(
              `${url}: ${step.operation} was refused (error ${incoming.errorCode}: ${incoming.message})${hint === undefined ? "" : `; ${hint}`}`,
            );
          }
        },
        onEnd(end: LinkEnd): void {
          if (end.error === "ECONNREFUSED")
            return finish(`cannot reach ${url}: connection refused; is the server running there? check --url`);
          if (end.error === "ENOTFOUND" || end.error === "EAI_AGAIN")
            return finish(`cannot resolve the host of ${url}; check --url`);
          if (emulated && end.error?.startsWith("HTTP 404") === true)
            return finish(
              `${url}: the server has no emulation endpoint beside this path (HTTP 404); --transport ${transport} needs a Hubcast node that serves /emulation, or use --transport websocket`,
            );
          if (emulated && end.error !== undefined)
            return finish(`cannot open an emulated ${transport} connection at ${url}: ${end.error}; check --url`);
          if (end.error !== undefined)
            return finish(
              `cannot open a WebSocket to ${url}: ${end.error}; check --url (the WebSocket path is part of it, e.g. /ws)`,
            );
          finish(
            `${url} closed the connection during the ${steps[stepIndex]?.operation ?? "upgrade"} (code ${end.code}${end.reason === "" ? "" : ` ${end.reason}`})`,
          );
        },
      },
    );
  });
}

/** Steps that check a target can connect, subscribe to `channel`, and (when `publishChannel` is set) publish there. */
export function probeSteps(
  adapter: ProtocolAdapter,
  channel: string | undefined,
  publishChannel: string | undefined,
): Step[] {
  const steps: Step[] = [{ operation: "connect", frame: adapter.connect(1), channel: channel ?? "" }];
  if (channel !== undefined)
    steps.push({ operation: "subscribe", frame: adapter.subscribe(channel, steps.length + 1), channel });
  if (publishChannel !== undefined)
    steps.push({
      operation: "publish",
      frame: adapter.publish(publishChannel, '"probe"', steps.length + 1),
      channel: publishChannel,
    });
  return steps;
}

/** Checks the server API answers a publish with the credentials in `auth`. */
export async function probeApi(
  apiUrl: string,
  auth: ApiAuth,
  adapter: ProtocolAdapter,
  channel: string,
): Promise<void> {
  const request = adapter.apiPublish?.(channel, '"probe"', auth);
  if (request === undefined) throw new PreflightError(`--protocol ${adapter.name} has no server API; drop --api-url`);
  let res: Response;
  try {
    res = await fetch(`${apiUrl}${request.path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...request.headers },
      body: request.body,
      signal: AbortSignal.timeout(5_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new PreflightError(`cannot reach the server API at ${apiUrl} (${cause}); check --api-url`);
  }
  if (res.status === 200) return;
  const body = (await res.text()).slice(0, 300);
  const fix =
    adapter.explainApiError?.({ status: res.status, body, auth }) ??
    (res.status === 401
      ? "check --api-key"
      : res.status === 404
        ? "start the server with --api-key (the API is off without one), and check --api-url"
        : "check the channel's namespace in the server config");
  throw new PreflightError(`the server API refused a publish to "${channel}" (HTTP ${res.status}: ${body}); ${fix}`);
}
