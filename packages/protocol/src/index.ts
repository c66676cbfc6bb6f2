export * from "./codes.js";
export * from "./frames.js";
export * from "./validate.js";
export * from "./codec.js";
export * from "./json-codec.js";
export * from "./protobuf-codec.js";
export * from "./data-limits.js";
