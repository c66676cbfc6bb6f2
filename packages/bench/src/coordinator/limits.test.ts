import { describe, expect, it } from "vitest";
import { layoutOf } from "../layout.js";
import { BenchUsageError, resolveBenchOptions } from "../options.js";
import type { BenchOptions } from "../options.js";
import { checkClientLimits } from "./limits.js";

const layout = (o: Partial<BenchOptions>) =>
  layoutOf(resolveBenchOptions({ scenario: "connect", urls: ["ws://127.0.0.1:8080/ws"], ...o }));
const limits = { openFiles: 20_000, ports: { low: 32_768, high: 60_999 } };

describe("client limits", () => {
  it("refuses more sockets per process than the open-files limit, naming the fix", () => {
    const check = () => checkClientLimits(layout({ connections: 40_000, processes: 1, sourceAddresses: 2 }), limits);
    expect(check).toThrow(BenchUsageError);
    expect(check).toThrow(
      /each worker process would open 40,000 sockets, but the open-files limit is 20,000; use more processes \(--processes 3\)/,
    );
  });

  it("refuses more connections per source address than ephemeral ports, naming the fix", () => {
    const check = () => checkClientLimits(layout({ connections: 60_000, processes: 4 }), limits);
    expect(check).toThrow(
      /60,000 connections to 127.0.0.1:8080 from 1 source address need 60,000 ephemeral ports each, but only 28,232 are available .*--source-addresses 3/,
    );
    expect(() =>
      checkClientLimits(layout({ connections: 60_000, processes: 4, sourceAddresses: 3 }), limits),
    ).not.toThrow();
  });

  it("spreads by default: 100,000 connections get enough processes", () => {
    const l = layout({ connections: 100_000, sourceAddresses: 4 });
    expect(l.processes).toBeGreaterThanOrEqual(7);
    expect(() => checkClientLimits(l, limits)).not.toThrow();
  });

  it("keeps 127.0.0.x source addresses to loopback targets", () => {
    expect(() => layout({ urls: ["ws://10.0.0.1:8080/ws"], sourceAddresses: 2 })).toThrow(
      /only reach loopback targets/,
    );
  });
});
