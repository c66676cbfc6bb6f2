import type { Codec } from "@hubcast/protocol";

/**
 * What fan-out needs of an encoding: pushes and publications as bytes ready to frame. Every
 * transport's encoding has these, the WebSocket protocol codecs and the one-way stream
 * encodings (SSE, NDJSON) alike.
 */
export type PushEncoder = Pick<Codec, "binary" | "encodePush" | "encodePublication">;

/**
 * The encoding a session speaks: pushes and publications, and, on a two-way link, replies to
 * commands and the decoding of the client's frames. A one-way stream's encoding has neither:
 * its client sends nothing, and its subscriptions are made by the node, not by commands.
 */
export interface SessionCodec extends PushEncoder {
  readonly encodeReply?: Codec["encodeReply"];
  readonly decodeClientFrame?: Codec["decodeClientFrame"];
}
