import type { Codec } from "@hubcast/protocol";
import { JsonCodec, ProtobufCodec, Subprotocol } from "@hubcast/protocol";

/**
 * The protocol's codecs, one instance each for the whole node: fan-out encodes a publication
 * once per codec object, so every transport that speaks JSON (WebSocket, the HTTP emulations)
 * must use this very instance to share the encoding.
 */
export const WIRE_CODECS: ReadonlyMap<string, Codec> = new Map<string, Codec>([
  [Subprotocol.json, new JsonCodec()],
  [Subprotocol.protobuf, new ProtobufCodec()],
]);

/** The JSON codec of {@link WIRE_CODECS}. */
export const JSON_CODEC = WIRE_CODECS.get(Subprotocol.json) as Codec;
