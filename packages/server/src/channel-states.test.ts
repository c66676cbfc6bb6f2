import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ChannelStates } from "./channel-states.js";

describe("ChannelStates", () => {
  it("answers like a Map for any sequence of sets and deletes", () => {
    const channel = fc.constantFrom("a", "b", "c", "d");
    const op = fc.oneof(fc.record({ set: channel, live: fc.boolean() }), fc.record({ delete: channel }));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const states = new ChannelStates();
        const model = new Map<string, boolean>();
        for (const o of ops) {
          if ("set" in o) {
            states.set(o.set, o.live);
            model.set(o.set, o.live);
          } else {
            states.delete(o.delete);
            model.delete(o.delete);
          }
          expect(states.size).toBe(model.size);
          for (const c of ["a", "b", "c", "d"]) expect(states.get(c)).toBe(model.get(c));
          expect(new Map(states.entries())).toEqual(model);
          expect(new Set(states.keys())).toEqual(new Set(model.keys()));
        }
      }),
    );
  });
});
