/**
 * Limits on publication data that every entry point checks the same way (clients over JSON and
 * Protobuf, the server API, the emitter), so history never holds what a reader cannot encode.
 */

/**
 * The highest `maxDataDepth` a node accepts: far below the nesting at which `JSON.stringify`
 * exhausts the stack, so any data that passed the check can be encoded again.
 */
export const MAX_DATA_DEPTH = 512;
