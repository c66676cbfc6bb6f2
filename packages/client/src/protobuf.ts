/**
 * The Hubcast client SDK with the Protobuf wire encoding: everything `@hubcast/client` exports,
 * with a {@link Client} that also speaks `protocol: "protobuf"`. Import from here only when you
 * use Protobuf; it adds the Protobuf runtime and schema to your bundle.
 * @module
 */
import { ProtobufCodec } from "@hubcast/protocol";
import { Client as JsonClient } from "./client.js";
import type { WireCodecs } from "./wire-codecs.js";

export * from "./index.js";

/**
 * The {@link JsonClient | Client} of `@hubcast/client`, speaking `protocol: "protobuf"` as well
 * as `"json"` (still the default). Everything else is the same; instances are also
 * `instanceof` the JSON-only `Client`.
 */
export class Client extends JsonClient {
  protected static override readonly codecs: WireCodecs = { ...JsonClient.codecs, protobuf: new ProtobufCodec() };
}
