import { Agent as HttpAgent, request as httpRequest } from "node:http";
import type { IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { WsTarget } from "../ws/handshake.js";

/** Sockets kept open for POSTs per target and worker: sends are short and rare next to deliveries. */
const MAX_SEND_SOCKETS = 32;

/** What a POST's outcome is reported to: its emulated connection. */
export interface SendOwner {
  /** The server took the frames (204, or 202 when it forwarded them to another node). */
  onSent(): void;
  /** The server refused them, or the request failed; the connection cannot go on. */
  onSendFailed(message: string): void;
}

function drain(res: IncomingMessage, owner: SendOwner): void {
  const status = res.statusCode ?? 0;
  if (status === 204 || status === 202) {
    res.resume();
    owner.onSent();
    return;
  }
  let body = "";
  res.setEncoding("utf8");
  res.on("data", (chunk: string) => {
    if (body.length < 300) body += chunk;
  });
  res.once("end", () => owner.onSendFailed(`send HTTP ${status}: ${body.trim().slice(0, 200)}`));
}

/**
 * The upstream half of the emulations, shared by every connection of a worker:
 * `POST <emulation>/send` over a small pool of keep-alive sockets (node:http's agent), so
 * thousands of streams need no socket of their own for what they send.
 */
export class EmulationSender {
  private readonly agent = new HttpAgent({ keepAlive: true, maxSockets: MAX_SEND_SOCKETS });
  private readonly tlsAgent = new HttpsAgent({ keepAlive: true, maxSockets: MAX_SEND_SOCKETS });

  /**
   * POSTs `body` (`{"stream","frames"}`) to `path` on `target`; `owner` hears how it went, once.
   * A pooled socket the server closed as idle just as the request went out fails with
   * ECONNRESET, the request unread (the keep-alive race: Node's agent retires a
   * socket a second before the server's announced timeout, which a loaded event loop can
   * overrun). Such a POST is sent again, as browsers do, rather than counted as a failed
   * connection: each retry retires one pooled socket, and one on a new socket is final. Any
   * other failure is reported.
   */
  post(target: WsTarget, path: string, body: string, localAddress: string | undefined, owner: SendOwner): void {
    const send = target.secure ? httpsRequest : httpRequest;
    const req = send({
      host: target.host,
      port: target.port,
      path,
      method: "POST",
      agent: target.secure ? this.tlsAgent : this.agent,
      headers: {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
        host: target.hostHeader,
      },
      ...(localAddress === undefined ? {} : { localAddress }),
    });
    req.once("response", (res: IncomingMessage) => drain(res, owner));
    req.once("error", (err: NodeJS.ErrnoException) => {
      if (req.reusedSocket && err.code === "ECONNRESET") this.post(target, path, body, localAddress, owner);
      else owner.onSendFailed(`send failed: ${err.code ?? err.message}`);
    });
    req.end(body);
  }

  /** Closes the pooled sockets. */
  close(): void {
    this.agent.destroy();
    this.tlsAgent.destroy();
  }
}
