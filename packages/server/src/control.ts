import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Broker } from "./broker/broker.js";
import type { NodeRegistry } from "./registry/registry.js";

/** Messages nodes send each other over the broker's control channel (JSON). */
type ControlMessage =
  | { op: "survey"; id: string; from: string; question: string; args?: unknown }
  | { op: "answer"; id: string; to: string; node: string; answer: unknown }
  | { op: "disconnect"; user: string; from: string; app?: string }
  | { op: "deliver"; to: string; stream: string; frames: string[] };

/** What this node does when others ask or tell it something. */
export interface ControlHandlers {
  /**
   * Answers a survey question about this node (e.g. "channels"), with the asker's `args`
   * (`undefined` when none; they come from another node, so check them). The answer travels
   * over the broker to the asker: keep it small.
   */
  answer(question: string, args: unknown): unknown;
  /** Disconnects this node's connections of `user` (of Pusher app `app` only, when given); returns how many. */
  disconnectUser(user: string, app?: string): number;
  /**
   * Hands client frames that reached another node to this node's emulated connection
   * `stream` (commands POSTed for a stream this node serves); false when it has no such stream.
   */
  deliver(stream: string, frames: readonly string[]): boolean;
}

/** How long a survey waits for the nodes in the registry to answer. */
export const SURVEY_TIMEOUT_MS = 3_000;

/** How a survey asks. */
export interface SurveyOptions {
  /** Parameters of the question, as JSON, handed to every node's `answer`. @default none */
  args?: unknown;
  /** How long to wait for the nodes in the registry. @default SURVEY_TIMEOUT_MS */
  timeoutMs?: number;
}

/**
 * Cluster-wide questions and orders over the broker: a survey asks every node and gathers
 * the answers of the nodes the registry knows (or whatever came within the timeout); a
 * disconnect order reaches every node.
 */
export class ControlPlane {
  private readonly surveys = new Map<
    string,
    { answers: Map<string, unknown>; expected: Set<string>; done: () => void }
  >();
  private readonly encoder = new TextEncoder();

  constructor(
    private readonly nodeId: string,
    private readonly broker: Broker,
    private readonly registry: NodeRegistry,
    private readonly handlers: ControlHandlers,
    private readonly logger: Logger,
  ) {}

  /** Asks every node `question`; resolves with node id → answer (nodes that did not answer in time are missing). */
  async survey(question: string, options: SurveyOptions = {}): Promise<Map<string, unknown>> {
    const timeoutMs = options.timeoutMs ?? SURVEY_TIMEOUT_MS;
    const id = randomUUID();
    const expected = new Set((await this.registry.list()).map((n) => n.id));
    expected.add(this.nodeId);
    const answers = new Map<string, unknown>();
    let timer: NodeJS.Timeout | undefined;
    const complete = new Promise<void>((resolve) => {
      this.surveys.set(id, { answers, expected, done: resolve });
      timer = setTimeout(resolve, timeoutMs);
    });
    try {
      await this.send(
        options.args === undefined
          ? { op: "survey", id, from: this.nodeId, question }
          : { op: "survey", id, from: this.nodeId, question, args: options.args },
      );
      await complete;
    } finally {
      clearTimeout(timer);
      this.surveys.delete(id);
    }
    return answers;
  }

  /**
   * Sends client frames to the node `to` that serves the emulated connection `stream`. The
   * broker carries control messages to every node; only `to` acts on it. Resolves once
   * published: whether the stream still exists shows in the client's replies, or their timeout.
   */
  deliver(to: string, stream: string, frames: readonly string[]): Promise<void> {
    return this.send({ op: "deliver", to, stream, frames: [...frames] });
  }

  /** Tells every node to disconnect `user`'s connections (those signed in to Pusher app `app` only, when given). */
  disconnectUser(user: string, app?: string): Promise<void> {
    return this.send(
      app === undefined
        ? { op: "disconnect", user, from: this.nodeId }
        : { op: "disconnect", user, from: this.nodeId, app },
    );
  }

  /** The broker's `control` handler. */
  receive(bytes: Uint8Array): void {
    let message: ControlMessage;
    try {
      message = JSON.parse(new TextDecoder().decode(bytes)) as ControlMessage;
    } catch (err) {
      this.logger.warn({ err }, "unreadable control message");
      return;
    }
    switch (message.op) {
      case "survey": {
        let answer: unknown;
        try {
          answer = this.handlers.answer(message.question, message.args);
        } catch (err) {
          // A question this node cannot answer (arguments from a newer node, a bug) must not
          // reach the broker's delivery loop: answer nothing, so the asker is not kept waiting.
          this.logger.warn({ err, question: message.question }, "survey question not answered");
          answer = null;
        }
        this.send({ op: "answer", id: message.id, to: message.from, node: this.nodeId, answer }).catch(
          (err: unknown) => {
            this.logger.warn({ err }, "survey answer failed");
          },
        );
        return;
      }
      case "answer": {
        if (message.to !== this.nodeId) return;
        const survey = this.surveys.get(message.id);
        if (survey === undefined) return;
        survey.answers.set(message.node, message.answer);
        if ([...survey.expected].every((node) => survey.answers.has(node))) survey.done();
        return;
      }
      case "deliver": {
        if (message.to !== this.nodeId) return;
        if (!this.handlers.deliver(message.stream, message.frames))
          this.logger.debug({ stream: message.stream }, "frames for an emulated connection this node no longer has");
        return;
      }
      case "disconnect": {
        const count = this.handlers.disconnectUser(message.user, message.app);
        if (count > 0)
          this.logger.info({ user: message.user, count, from: message.from }, "disconnected a user on request");
        return;
      }
    }
  }

  private send(message: ControlMessage): Promise<void> {
    return this.broker.publishControl(this.encoder.encode(JSON.stringify(message)));
  }
}
