import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { ErrorCode } from "./codes.js";
import type { Codec, RawPublication } from "./codec.js";
import { ProtocolDecodeError } from "./codec.js";
import type { Command, Push, Reply, ServerFrame } from "./frames.js";
import { Subprotocol } from "./frames.js";
import { ClientFrameSchema, ServerFrameSchema } from "./gen/hubcast/v1/hubcast_pb.js";
import type * as pb from "./gen/hubcast/v1/hubcast_pb.js";
import type { DataLimits } from "./data-limits.js";
import { DataFault, MAX_DATA_DEPTH, parseJsonData } from "./data-limits.js";
import { deltaBytes, encodeJsonData } from "./json-codec.js";
import {
  CASE_METHOD,
  clientInfoInit,
  commandInit,
  pushFromMessage,
  pushInit,
  replyFromMessage,
  replyInit,
} from "./protobuf-convert.js";
import type { ClientFrame } from "./validate.js";
import { parseClientFrame } from "./validate.js";

const DEFAULT_LIMITS: DataLimits = { maxDataDepth: MAX_DATA_DEPTH };
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const PONG = toBinary(ClientFrameSchema, create(ClientFrameSchema, { frame: { case: "pong", value: {} } }));

/** A request field the Protobuf encoding carried but the JSON shape cannot hold. */
class WireFieldError extends Error {}

function invalid(message: string, id?: number, code: number = ErrorCode.badRequest): ClientFrame {
  return id === undefined ? { kind: "invalid", code, message } : { kind: "invalid", id, code, message };
}

function safeCount(value: bigint, field: string): number {
  if (value > MAX_SAFE) throw new WireFieldError(`field "${field}" is larger than 2^53-1`);
  return Number(value);
}

function positionShape(p: pb.StreamPosition | undefined, field: string): { offset: number; epoch: string } | undefined {
  return p === undefined ? undefined : { offset: safeCount(p.offset, `${field}.offset`), epoch: p.epoch };
}

/**
 * Publish data must be UTF-8 JSON text within the depth limit: JSON subscribers receive these
 * very bytes. Depth is scanned on the bytes before the one parse; nothing is re-encoded.
 */
function parseData(data: Uint8Array, maxDataDepth: number): unknown {
  if (data.length === 0) return undefined; // validation then says the field is required
  const parsed = parseJsonData(data, maxDataDepth);
  if (parsed.ok) return parsed.value;
  if (parsed.fault === DataFault.tooDeep) throw new WireFieldError(`field "data" ${parsed.problem}`);
  throw new WireFieldError(
    `field "data" must be UTF-8 JSON text (any JSON value; subscribers of both encodings get these bytes)`,
  );
}

/** A request message as the JSON encoding's request object, for the shared checks of validate.ts. */
function requestShape(method: pb.Command["method"], limits: DataLimits): Record<string, unknown> {
  switch (method.case) {
    case undefined:
      return {};
    case "connect":
      return { token: method.value.token, name: method.value.name, version: method.value.version };
    case "subscribe": {
      const { channel, since, token, delta } = method.value;
      return { channel, since: positionShape(since, "since"), token, delta };
    }
    case "publish":
      return {
        channel: method.value.channel,
        data: parseData(method.value.data, limits.maxDataDepth),
        idempotencyKey: method.value.idempotencyKey,
      };
    case "history": {
      const { channel, limit, since, reverse } = method.value;
      return {
        channel,
        limit: limit === undefined ? undefined : safeCount(limit, "limit"),
        since: positionShape(since, "since"),
        reverse,
      };
    }
    case "refresh":
      return { token: method.value.token };
    case "unsubscribe":
    case "presence":
    case "presenceStats":
      return { channel: method.value.channel };
  }
}

function decodeCommand(cmd: pb.Command, limits: DataLimits): ClientFrame {
  if (cmd.id === 0) return invalid('command has no "id"');
  const m = cmd.method;
  if (m.case === undefined) {
    // A field number this schema does not know is a method from a newer protocol.
    const unknown = cmd.$unknown?.find((f) => f.no !== 1);
    if (unknown !== undefined)
      return invalid(`unknown method (Command field ${unknown.no})`, cmd.id, ErrorCode.methodNotFound);
    return invalid("command must hold exactly one method", cmd.id);
  }
  const method = CASE_METHOD[m.case];
  let body: Record<string, unknown>;
  try {
    body = requestShape(m, limits);
  } catch (err) {
    if (!(err instanceof WireFieldError)) throw err;
    return invalid(`${method}: ${err.message}`, cmd.id);
  }
  const frame = parseClientFrame({ id: cmd.id, [method]: body });
  if (frame.kind === "command" && frame.command.method === "publish" && m.case === "publish") {
    // A copy (not `.slice()`, which on a Node Buffer is a view): a view would pin the whole
    // socket read buffer for as long as history keeps the publication.
    frame.command.request.rawData = new Uint8Array(m.value.data);
  }
  return frame;
}

/** The command id of a frame that failed to decode, when its envelope is intact enough to hold one. */
function recoverId(data: Uint8Array): number | undefined {
  try {
    const frame = new BinaryReader(data);
    while (frame.pos < frame.len) {
      const [no, wireType] = frame.tag();
      if (no !== 1 || wireType !== WireType.LengthDelimited) {
        frame.skip(wireType, no);
        continue;
      }
      const command = new BinaryReader(frame.bytes());
      while (command.pos < command.len) {
        const [field, type] = command.tag();
        if (field === 1 && type === WireType.Varint) {
          const id = command.uint32();
          return id > 0 ? id : undefined;
        }
        command.skip(type, field);
      }
    }
  } catch {
    // The envelope itself is broken: no id to answer.
  }
  return undefined;
}

/**
 * Protocol v1 in Protobuf over binary frames (`hubcast.v1.protobuf`); schema in
 * `proto/hubcast/v1/hubcast.proto`. JSON values travel as bytes holding their JSON text, so a
 * publication's data goes from one encoding to the other without being re-encoded; a
 * `publish` whose data is not UTF-8 JSON text, or nests deeper than `maxDataDepth`, is refused
 * with 107 `bad_request`.
 */
export class ProtobufCodec implements Codec {
  readonly subprotocol = Subprotocol.protobuf;
  readonly binary = true;

  decodeClientFrame(data: Uint8Array | string, limits: DataLimits = DEFAULT_LIMITS): ClientFrame {
    if (typeof data === "string") return invalid("expected a binary frame");
    let frame: pb.ClientFrame;
    try {
      frame = fromBinary(ClientFrameSchema, data);
    } catch {
      return invalid("frame is not a valid Protobuf ClientFrame", recoverId(data));
    }
    switch (frame.frame.case) {
      case "pong":
        return { kind: "pong" };
      case "command":
        return decodeCommand(frame.frame.value, limits);
      case undefined:
        return invalid("frame holds neither a command nor a pong");
    }
  }

  encodeReply(reply: Reply): Uint8Array {
    return toBinary(
      ServerFrameSchema,
      create(ServerFrameSchema, { frame: { case: "reply", value: replyInit(reply) } }),
    );
  }

  encodePush(push: Push): Uint8Array {
    if (push.type === "publication") {
      const { channel, data, offset, info, delta, rawData } = push.body;
      if (delta === true) return this.encodePublication({ channel, data: deltaBytes(rawData), offset, info, delta });
      return this.encodePublication({ channel, data: encodeJsonData(data), offset, info });
    }
    return toBinary(ServerFrameSchema, create(ServerFrameSchema, { frame: { case: "push", value: pushInit(push) } }));
  }

  /**
   * Hot path, written by hand: ServerFrame{push: Push{publication: PublicationPush}}, with the
   * data bytes copied in as they are. The same bytes `toBinary` would write.
   */
  encodePublication(pub: RawPublication): Uint8Array {
    const w = new BinaryWriter();
    w.tag(2, WireType.LengthDelimited).fork(); // ServerFrame.push
    w.tag(1, WireType.LengthDelimited).fork(); // Push.publication
    if (pub.channel !== "") w.tag(1, WireType.LengthDelimited).string(pub.channel);
    if (pub.offset !== undefined) w.tag(2, WireType.Varint).uint64(pub.offset);
    if (pub.info !== undefined) {
      const { client, user, info } = clientInfoInit(pub.info);
      w.tag(3, WireType.LengthDelimited).fork();
      if (client !== "") w.tag(1, WireType.LengthDelimited).string(client);
      if (user !== "") w.tag(2, WireType.LengthDelimited).string(user);
      if (info.length > 0) w.tag(3, WireType.LengthDelimited).bytes(info);
      w.join();
    }
    if (pub.data.length > 0) w.tag(4, WireType.LengthDelimited).bytes(pub.data);
    if (pub.delta === true) w.tag(5, WireType.Varint).bool(true);
    return w.join().join().finish();
  }

  /** Throws a TypeError for a command this encoding cannot carry (an integer field that is not a safe non-negative integer). */
  encodeCommand(command: Command): Uint8Array {
    return toBinary(
      ClientFrameSchema,
      create(ClientFrameSchema, { frame: { case: "command", value: commandInit(command) } }),
    );
  }

  encodePong(): Uint8Array {
    return PONG;
  }

  decodeServerFrame(data: string | Uint8Array): ServerFrame {
    if (typeof data === "string") throw new ProtocolDecodeError("expected a binary frame, got text");
    let frame: pb.ServerFrame;
    try {
      frame = fromBinary(ServerFrameSchema, data);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new ProtocolDecodeError(`server frame is not a valid Protobuf ServerFrame: ${why}`);
    }
    switch (frame.frame.case) {
      case "reply":
        return { kind: "reply", reply: replyFromMessage(frame.frame.value) };
      case "push":
        return { kind: "push", push: pushFromMessage(frame.frame.value) };
      case undefined:
        throw new ProtocolDecodeError("server frame holds neither a reply nor a push");
    }
  }
}
