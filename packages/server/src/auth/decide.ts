import { ErrorCode } from "@hubcast/protocol";
import type { ResolvedChannelOptions } from "../channels.js";
import { ReplyError } from "../errors.js";
import type { Identity } from "./access.js";
import { asReplyError, listsChannel } from "./access.js";
import type { TokenVerifier } from "./tokens.js";

/**
 * What a client may ask to do with a channel. `recovery` is the history read of a `subscribe`
 * with `since`: it obeys the same rule as `history`, except that the subscription it rides on
 * is the one being made (decide `subscribe` first).
 */
export const Operation = {
  subscribe: "subscribe",
  recovery: "recovery",
  publish: "publish",
  history: "history",
  presence: "presence",
  presenceStats: "presence_stats",
} as const;
export type Operation = (typeof Operation)[keyof typeof Operation];

/** One question for {@link decide}: may this connection do `operation` on `channel`? */
export interface AccessRequest {
  operation: Operation;
  channel: string;
  /** The channel's namespace options. */
  options: ResolvedChannelOptions;
  /** Who the connection is: its user (`""` anonymous) and the channels its credentials list. */
  connection: Pick<Identity, "user" | "channels">;
  /** The connection holds a live subscription to `channel` (subscribed and answered). */
  subscribed: boolean;
  /** The channel token sent with `subscribe`; read only for `subscribe` in `subscribe: "token"` namespaces. */
  token?: string | undefined;
  /** The node's token verifier; `undefined` when no token key is configured. */
  tokens: TokenVerifier | undefined;
}

/** The answer: allowed, or the error the client gets (101, 103, 108 or 113). */
export type AccessDecision = { readonly allowed: true } | { readonly allowed: false; readonly error: ReplyError };

const ALLOWED: AccessDecision = Object.freeze({ allowed: true });
const refuse = (code: ErrorCode, message: string): AccessDecision =>
  Object.freeze({ allowed: false, error: new ReplyError(code, message) });
const unauthorized = (message: string): AccessDecision => refuse(ErrorCode.unauthorized, message);
const denied = (message: string): AccessDecision => refuse(ErrorCode.permissionDenied, message);

/**
 * The one place that decides what a client may do with a channel. Clients only: the server
 * API and the emitter publish and read as the server and never ask.
 *
 * - subscribe: the namespace's `subscribe` rule (101; 113 for an expired channel token).
 * - publish: `allowPublish` (103), then the `publish` rule (103); `inherit` follows
 *   `subscribe`, and for `subscribe: "token"` means a live subscription.
 * - history, recovery: history on (108), `allowHistory` (103); `history` also needs a live
 *   subscription (103).
 * - presence, presence_stats: presence on (108), `allowPresence` (103), a live subscription (103).
 *
 * Resolves with the decision; rejects only when the token keys cannot be fetched.
 */
export async function decide(request: AccessRequest): Promise<AccessDecision> {
  const { operation, channel, options } = request;
  switch (operation) {
    case Operation.subscribe:
      return subscribeRule(request);
    case Operation.publish:
      if (!options.allowPublish) return denied(`clients may not publish to "${channel}"`);
      return publishRule(request);
    case Operation.recovery:
    case Operation.history:
      if (options.history.size === 0) return refuse(ErrorCode.notAvailable, `history is off for "${channel}"`);
      if (!options.allowHistory) return denied(`clients may not read history of "${channel}"`);
      return operation === Operation.recovery ? ALLOWED : needsSubscription(request, "history");
    case Operation.presence:
    case Operation.presenceStats:
      if (!options.presence) return refuse(ErrorCode.notAvailable, `presence is off for "${channel}"`);
      if (!options.allowPresence) return denied(`clients may not read presence of "${channel}"`);
      return needsSubscription(request, "presence");
  }
}

/** {@link decide}, rejecting with the refusal's ReplyError. */
export async function authorize(request: AccessRequest): Promise<void> {
  const decision = await decide(request);
  if (!decision.allowed) throw decision.error;
}

function needsSubscription({ subscribed, channel }: AccessRequest, what: string): AccessDecision {
  return subscribed ? ALLOWED : denied(`subscribe to "${channel}" before reading its ${what}`);
}

async function subscribeRule(request: AccessRequest): Promise<AccessDecision> {
  if (request.options.subscribe === "token") return channelToken(request);
  const refused = identityRefusal(request.options.subscribe, request, "subscribe to");
  return refused === undefined ? ALLOWED : unauthorized(refused);
}

function publishRule(request: AccessRequest): AccessDecision {
  const { options, channel, subscribed } = request;
  const rule =
    options.publish === "inherit"
      ? options.subscribe === "token"
        ? "subscribers"
        : options.subscribe
      : options.publish;
  if (rule === "subscribers")
    return subscribed ? ALLOWED : denied(`only subscribers may publish to "${channel}": subscribe first`);
  const refused = identityRefusal(rule, request, "publish to");
  return refused === undefined ? ALLOWED : denied(refused);
}

/** Why the connection's identity does not meet `rule` for `doing` the channel; `undefined` when it does. */
function identityRefusal(
  rule: "anyone" | "authenticated" | "listed",
  { channel, connection }: AccessRequest,
  doing: string,
): string | undefined {
  switch (rule) {
    case "anyone":
      return undefined;
    case "authenticated":
      return connection.user === "" ? `anonymous connections may not ${doing} "${channel}"` : undefined;
    case "listed":
      return listsChannel(connection.channels, channel)
        ? undefined
        : `the connection's token does not list "${channel}" in its "channels" claim`;
  }
}

async function channelToken({ channel, token, connection, tokens }: AccessRequest): Promise<AccessDecision> {
  if (token === undefined || token === "")
    return unauthorized(`subscribing to "${channel}" needs a channel token (field "token")`);
  if (tokens === undefined)
    return unauthorized(`"${channel}" needs a channel token, but this node has no token key configured to check it`);
  let claims: Awaited<ReturnType<TokenVerifier["verifyChannel"]>>;
  try {
    claims = await tokens.verifyChannel(token);
  } catch (err) {
    const reply = asReplyError(err);
    if (reply instanceof ReplyError) return Object.freeze({ allowed: false, error: reply });
    throw reply; // the keys could not be fetched: not the client's fault, not a refusal
  }
  if (claims.channel !== channel) return unauthorized(`the channel token is for "${claims.channel}", not "${channel}"`);
  if (claims.user !== connection.user)
    return unauthorized("the channel token was minted for another user than the connection's");
  return ALLOWED;
}
