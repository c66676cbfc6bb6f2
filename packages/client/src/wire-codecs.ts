import type { Codec } from "@hubcast/protocol";
import type { WireProtocol } from "./options.js";

/**
 * The codec for each wire protocol a build of the SDK speaks. A protocol left out cannot be
 * chosen: `@hubcast/client` carries JSON only, so that Protobuf stays out of its bundles, and
 * `@hubcast/client/protobuf` adds Protobuf.
 */
export type WireCodecs = Readonly<Partial<Record<WireProtocol, Codec>>>;

/**
 * The codec for `protocol` from `codecs`. Throws a TypeError naming the import that has it
 * when this build leaves `protocol` out.
 */
export function wireCodec(codecs: WireCodecs, protocol: WireProtocol): Codec {
  const codec = codecs[protocol];
  if (codec !== undefined) return codec;
  throw new TypeError(
    `protocol "${protocol}" is not in this build of the SDK, which speaks ${Object.keys(codecs).join(", ")} only: ` +
      `import { Client } from "@hubcast/client/${protocol}" (in a page: /sdk/hubcast-${protocol}.js) to use it`,
  );
}
