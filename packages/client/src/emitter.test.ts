import { afterEach, describe, expect, it, vi } from "vitest";
import { Emitter } from "./emitter.js";
import type { ErrorEvent } from "./emitter.js";

interface TestEvents {
  tick: number;
  error: ErrorEvent;
}

class TestEmitter extends Emitter<TestEvents> {
  fire<K extends keyof TestEvents>(name: K, event: TestEvents[K]): void {
    this.emit(name, event);
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("Emitter", () => {
  it("calls listeners in order and stops after the returned unsubscribe", () => {
    const emitter = new TestEmitter();
    const seen: string[] = [];
    const offA = emitter.on("tick", (n) => seen.push(`a${n}`));
    emitter.on("tick", (n) => seen.push(`b${n}`));
    emitter.fire("tick", 1);
    offA();
    emitter.fire("tick", 2);
    expect(seen).toEqual(["a1", "b1", "b2"]);
  });

  it("off() removes a listener; once() runs at most once", () => {
    const emitter = new TestEmitter();
    const listener = vi.fn();
    const onceListener = vi.fn();
    emitter.on("tick", listener);
    emitter.once("tick", onceListener);
    emitter.off("tick", listener);
    emitter.fire("tick", 1);
    emitter.fire("tick", 2);
    expect(listener).not.toHaveBeenCalled();
    expect(onceListener).toHaveBeenCalledTimes(1);
    expect(onceListener).toHaveBeenCalledWith(1);
    expect(emitter.listenerCount("tick")).toBe(0);
  });

  it("a throwing listener does not stop the others and is reported as an error event", () => {
    const emitter = new TestEmitter();
    const errors: Error[] = [];
    emitter.on("error", ({ error }) => errors.push(error));
    const after = vi.fn();
    emitter.on("tick", () => {
      throw new Error("boom");
    });
    emitter.on("tick", after);
    emitter.fire("tick", 7);
    expect(after).toHaveBeenCalledWith(7);
    expect(errors.map((e) => e.message)).toEqual(["boom"]);
  });

  it("falls back to console.error without an error listener, and for a throwing error listener", () => {
    const consoleError = vi.spyOn(console, "error").mockImplementation(() => {});
    const emitter = new TestEmitter();
    emitter.on("tick", () => {
      throw "not an Error";
    });
    emitter.fire("tick", 1);
    expect(consoleError).toHaveBeenCalledTimes(1);
    expect(consoleError.mock.calls[0]?.[1]).toBeInstanceOf(Error);

    emitter.on("error", () => {
      throw new Error("error listener broke");
    });
    emitter.fire("error", { error: new Error("x") });
    expect(consoleError).toHaveBeenCalledTimes(2);
  });

  it("an error event with no listener goes to console.error as one line, once for a run of the same error", () => {
    const consoleError = vi.spyOn(console, "error").mockImplementation(() => {});
    const emitter = new TestEmitter();
    emitter.fire("error", { error: new Error("lonely") });
    expect(consoleError).toHaveBeenCalledWith(
      'hubcast: Error: lonely (no "error" listener; the same error again is not shown)',
    );
    emitter.fire("error", { error: new Error("lonely") }); // a retry failing the same way
    expect(consoleError).toHaveBeenCalledTimes(1);
    emitter.fire("error", { error: new TypeError("other") });
    emitter.fire("error", { error: new Error("lonely") });
    expect(consoleError).toHaveBeenCalledTimes(3);
    expect(consoleError.mock.calls.every((args) => args.length === 1 && !String(args[0]).includes("\n    at "))).toBe(
      true,
    );
  });

  it("listeners added during an emit run from the next emit", () => {
    const emitter = new TestEmitter();
    const late = vi.fn();
    emitter.once("tick", () => emitter.on("tick", late));
    emitter.fire("tick", 1);
    expect(late).not.toHaveBeenCalled();
    emitter.fire("tick", 2);
    expect(late).toHaveBeenCalledWith(2);
  });
});
