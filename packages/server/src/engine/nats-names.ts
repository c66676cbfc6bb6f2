/**
 * Where a deployment's data lives on NATS. Every name derives from one prefix, so deployments
 * (and tests) can share a NATS server; channels become one subject token each.
 */
export class NatsNames {
  /** The prefix as one subject token and name part: A-Z a-z 0-9 _ - only. */
  readonly token: string;

  constructor(prefix: string) {
    this.token = prefix.replace(/[^A-Za-z0-9_-]/g, "_");
  }

  /** The stream holding every channel's history. */
  get stream(): string {
    return `HUBCAST_${this.token}`;
  }

  /** A KV bucket of this deployment: `presence`, `nodes` or `dedupe`. */
  bucket(name: string): string {
    return `HUBCAST_${this.token}_${name}`;
  }

  /** Subjects the history stream captures. */
  get historySubjects(): string {
    return `hc.${this.token}.h.>`;
  }

  /** Where the stream republishes what it stored; nodes subscribe to one channel each. */
  get liveSubjects(): string {
    return `hc.${this.token}.live.>`;
  }

  /** The subject a channel's history is appended to. */
  history(channel: string): string {
    return `hc.${this.token}.h.${channelToken(channel)}`;
  }

  /** The subject a channel's publications, joins and leaves reach nodes on. */
  live(channel: string): string {
    return `hc.${this.token}.live.${channelToken(channel)}`;
  }

  /** Control messages to every node. */
  get control(): string {
    return `hc.${this.token}.control`;
  }
}

/**
 * A channel as one subject token (and KV key part): base64url, so dots, wildcards and spaces in
 * channel names can neither split a subject nor match another channel's.
 */
export function channelToken(channel: string): string {
  return channel === "" ? "=" : Buffer.from(channel, "utf8").toString("base64url");
}

/** Header names on stored and live messages. */
export const HEADER = {
  offset: "Hc-Offset",
  epoch: "Hc-Epoch",
  info: "Hc-Info",
  /** `marker` (a position without a publication), `join` or `leave`; absent on publications. */
  kind: "Hc-Kind",
  /** Set by the stream on republished messages. */
  sequence: "Nats-Sequence",
} as const;
