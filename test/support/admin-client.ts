import { expect } from "vitest";
import type { NodeOptions } from "../../packages/server/src/options.js";

/** The admin password the admin tests start nodes with. */
export const ADMIN_PASSWORD = "admin-password-0123";

/** Namespaces the admin tests use: one with history and presence, one with neither. */
export const ADMIN_NAMESPACES: NodeOptions["namespaces"] = {
  chat: { historySize: 100, presence: true, allowPublish: true },
  plain: { allowPublish: true },
};

/** Connections are who their token says (`token: "alice"` is user alice; none: anonymous). */
export const byToken = {
  authenticate: ({ token }: { token: string | undefined }) => Promise.resolve({ user: token ?? "" }),
};

/** An admin API answer as the tests look at it. */
export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body of a JSON answer; `undefined` for others. */
  body: unknown;
}

/** How {@link call} sends a request. */
export interface CallOptions {
  method?: string;
  body?: unknown;
  /** Sent as is instead of JSON-encoding `body`. */
  raw?: string;
  cookie?: string;
  /** Send `X-Hubcast-Admin: 1` (the CSRF header). @default true */
  csrf?: boolean;
  headers?: Record<string, string>;
}

/** One request to a node's admin UI. */
export async function call(base: string, path: string, options: CallOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.csrf ?? true) headers["X-Hubcast-Admin"] = "1";
  if (options.cookie !== undefined) headers["Cookie"] = options.cookie;
  const payload = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  if (payload !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(`${base}${path}`, { method: options.method ?? "GET", headers, body: payload });
  const text = await res.text();
  const json = res.headers.get("content-type")?.startsWith("application/json") === true;
  return { status: res.status, headers: res.headers, text, body: json ? (JSON.parse(text) as unknown) : undefined };
}

/** A POST with a JSON body and the CSRF header. */
export const post = (base: string, path: string, body: unknown, cookie?: string): Promise<Answer> =>
  call(base, path, { method: "POST", body, cookie });

/** Logs in and returns the `Cookie` header value that carries the session. */
export async function login(base: string): Promise<string> {
  const answer = await post(base, "/admin/api/login", { password: ADMIN_PASSWORD });
  expect(answer.status).toBe(204);
  const cookie = answer.headers.get("set-cookie")?.split(";", 1)[0];
  if (cookie === undefined) throw new Error("no session cookie");
  return cookie;
}

/** The error code of a failed answer. */
export const errorCode = (answer: Answer): unknown =>
  (answer.body as { error?: { code?: unknown } } | undefined)?.error?.code;

/** Reads `count` server-sent events from a stream; resolves with their names, data and arrival times. */
export async function readEvents(
  body: ReadableStream<Uint8Array>,
  count: number,
): Promise<{ event: string; data: string; at: number }[]> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const events: { event: string; data: string; at: number }[] = [];
  let buffer = "";
  try {
    while (events.length < count) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended after ${events.length} events`);
      buffer += decoder.decode(value, { stream: true });
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event !== undefined && data !== undefined) events.push({ event, data, at: Date.now() });
      }
    }
  } finally {
    reader.releaseLock();
  }
  return events;
}
