import { execFile, spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CLI } from "./processes.js";
import { withTimeout } from "./raw-client.js";

const run = promisify(execFile);

/** The hosts of a {@link TestNetwork}: three Hubcast hosts and one for Redis. */
export const HOSTS = { h1: 11, h2: 12, h3: 13, redis: 20 } as const;
/** One of {@link HOSTS}' names. */
export type HostName = keyof typeof HOSTS;

/** `ip` failures that mean "already gone", which makes deleting idempotent. */
const GONE = /Cannot find device|No such file or directory|Invalid "netns" value|Cannot open network namespace/;

/** Networks not yet destroyed, removed best-effort when the process exits. */
const live = new Set<TestNetwork>();
let exitHookInstalled = false;

async function ip(...args: string[]): Promise<string> {
  const { stdout } = await run("ip", args, { timeout: 10_000 });
  return stdout;
}

/** Why network namespaces cannot be used here (a probe create/delete failed); `undefined` when they can. */
export function netnsUnavailableReason(): string | undefined {
  const name = `hc${randomBytes(2).toString("hex")}-probe`;
  const steps = [
    ["netns", "add", name],
    ["link", "add", `${name.slice(0, 6)}-pb`, "type", "bridge"],
    ["link", "add", `${name.slice(0, 6)}-pv`, "type", "veth", "peer", "name", "eth0", "netns", name],
  ];
  let reason: string | undefined;
  for (const args of steps) {
    const result = spawnSync("ip", args, { encoding: "utf8", timeout: 10_000 });
    if (result.error !== undefined || result.status !== 0) {
      const detail = result.error?.message ?? result.stderr.trim();
      reason = `'ip ${args.join(" ")}' failed (${detail}); network namespaces need root (CAP_NET_ADMIN) and iproute2`;
      break;
    }
  }
  for (const args of [
    ["link", "del", `${name.slice(0, 6)}-pv`],
    ["link", "del", `${name.slice(0, 6)}-pb`],
    ["netns", "del", name],
  ]) {
    spawnSync("ip", args, { stdio: "ignore", timeout: 10_000 }); // a step that never ran has nothing to delete
  }
  return reason;
}

/** A /24 in 10.213.0.0/16 that no route or address in the root namespace overlaps. */
async function freeSubnet(): Promise<string> {
  for (let tries = 0; tries < 20; tries++) {
    const prefix = `10.213.${randomInt(0, 256)}`;
    const cidr = `${prefix}.0/24`;
    const covering = (await ip("-4", "-o", "route", "show", "table", "all", "match", cidr))
      .split("\n")
      .filter((l) => l !== "" && !l.startsWith("default"));
    const inside = (await ip("-4", "-o", "route", "show", "table", "all", "root", cidr)).trim();
    const addresses = (await ip("-4", "-o", "addr", "show", "to", cidr)).trim();
    if (covering.length === 0 && inside === "" && addresses === "") return prefix;
  }
  throw new Error("found no free 10.213.x.0/24 subnet in 20 tries");
}

/**
 * A private network on this machine: a bridge in the root namespace at `<subnet>.1/24` and
 * one network namespace per {@link HOSTS} entry, each joined to the bridge by a veth pair
 * (`eth0` inside at `<subnet>.<HOSTS[name]>`, `lo` up). Nothing is routed off the machine.
 * Every resource is named `hc<id>-…`, so concurrent runs do not collide.
 */
export class TestNetwork {
  /** The bridge, which is also the root namespace's address on the network. */
  readonly bridge: string;
  private destroyed: Promise<void> | undefined;

  private constructor(
    /** Four hex digits naming this network's resources. */
    readonly id: string,
    /** The first three octets, e.g. `10.213.57`. */
    readonly subnet: string,
  ) {
    this.bridge = `hc${id}-br`;
  }

  /** Creates the bridge, the namespaces and the links; on failure removes what it made. */
  static async create(): Promise<TestNetwork> {
    const network = new TestNetwork(randomBytes(2).toString("hex"), await freeSubnet());
    live.add(network);
    installExitHook();
    try {
      await network.build();
    } catch (err) {
      await network.destroy();
      throw err;
    }
    return network;
  }

  /** The namespace of `host`. */
  namespace(host: HostName): string {
    return `hc${this.id}-${host}`;
  }

  /** The IPv4 address of `host`. */
  address(host: HostName): string {
    return `${this.subnet}.${HOSTS[host]}`;
  }

  /**
   * Takes `host` off the network like a pulled cable: its bridge-side veth goes down, so its
   * packets are dropped silently (no reset, no ICMP), in both directions.
   */
  async cutLink(host: HostName): Promise<void> {
    await ip("link", "set", this.namespace(host), "down");
  }

  /** Puts `host` back on the network (the bridge port forwards at once: no STP). */
  async restoreLink(host: HostName): Promise<void> {
    await ip("link", "set", this.namespace(host), "up");
  }

  /** Runs `command` inside `host`'s namespace to completion; rejects on a non-zero exit. */
  async exec(host: HostName, command: string, args: string[]): Promise<string> {
    const { stdout } = await run("ip", ["netns", "exec", this.namespace(host), command, ...args], { timeout: 10_000 });
    return stdout;
  }

  /** Starts `command` inside `host`'s namespace (`ip netns exec` execs it: same pid). */
  spawnIn(host: HostName, command: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    return spawn("ip", ["netns", "exec", this.namespace(host), command, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
  }

  /**
   * Kills whatever still runs in the namespaces, deletes them, the veths and the bridge.
   * Idempotent; rejects with every failure after trying every step.
   */
  destroy(): Promise<void> {
    this.destroyed ??= this.teardown().finally(() => live.delete(this));
    return this.destroyed;
  }

  /** {@link destroy} for a process 'exit' handler, synchronous and best-effort. */
  destroySync(): void {
    for (const args of this.teardownSteps()) {
      if (args[0] === "netns" && args[1] === "pids") {
        const pids = spawnSync("ip", args, { encoding: "utf8", timeout: 5_000 }).stdout ?? "";
        for (const pid of pids.split("\n").filter((p) => p !== "")) spawnSync("kill", ["-9", pid], { stdio: "ignore" });
      } else {
        spawnSync("ip", args, { stdio: "ignore", timeout: 5_000 });
      }
    }
    live.delete(this);
  }

  private async build(): Promise<void> {
    await ip(
      "link",
      "add",
      this.bridge,
      "type",
      "bridge",
      "stp_state",
      "0",
      "forward_delay",
      "0",
      "nf_call_iptables",
      "0",
      "nf_call_ip6tables",
      "0",
      "nf_call_arptables",
      "0",
    );
    await ip("addr", "add", `${this.subnet}.1/24`, "dev", this.bridge);
    await ip("link", "set", this.bridge, "up");
    for (const host of Object.keys(HOSTS) as HostName[]) {
      const ns = this.namespace(host);
      await ip("netns", "add", ns);
      // The root-side veth is named like the namespace; inside, the peer is plain eth0.
      await ip("link", "add", ns, "type", "veth", "peer", "name", "eth0", "netns", ns);
      await ip("link", "set", ns, "master", this.bridge, "up");
      await ip("-n", ns, "addr", "add", `${this.address(host)}/24`, "dev", "eth0");
      await ip("-n", ns, "link", "set", "eth0", "up");
      await ip("-n", ns, "link", "set", "lo", "up");
    }
  }

  /** `ip` arguments in teardown order; `netns pids` steps mean "kill these pids". */
  private teardownSteps(): string[][] {
    const namespaces = (Object.keys(HOSTS) as HostName[]).map((h) => this.namespace(h));
    return [
      ...namespaces.map((ns) => ["netns", "pids", ns]),
      ...namespaces.map((ns) => ["netns", "del", ns]),
      ...namespaces.map((ns) => ["link", "del", ns]),
      ["link", "del", this.bridge],
    ];
  }

  private async teardown(): Promise<void> {
    const errors: unknown[] = [];
    for (const args of this.teardownSteps()) {
      try {
        if (args[0] === "netns" && args[1] === "pids") {
          for (const pid of (await ip(...args)).split("\n").filter((p) => p !== "")) killGone(Number(pid));
        } else {
          await ip(...args);
        }
      } catch (err) {
        const stderr = (err as { stderr?: unknown }).stderr;
        if (typeof stderr === "string" && GONE.test(stderr)) continue; // already gone: nothing to do
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, `tearing down test network hc${this.id} failed`);
  }
}

/** SIGKILLs `pid`; one that exited meanwhile is fine. */
function killGone(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const network of live) network.destroySync();
  });
}

/** Creates a {@link TestNetwork}; call `destroy()` when done. */
export function createNetwork(): Promise<TestNetwork> {
  return TestNetwork.create();
}

/** A process started in a namespace and awaited until a line of its stdout says it is ready. */
export class NetnsProcess {
  /** Every stdout line so far, for diagnostics. */
  readonly lines: string[] = [];
  private readonly exited: Promise<void>;

  private constructor(readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once("exit", () => resolve());
    });
  }

  /** Starts `command` in `host` and resolves once `isReady(line)` holds for a stdout line (10 s bound). */
  static async start(
    network: TestNetwork,
    host: HostName,
    command: string,
    args: string[],
    options: { isReady: (line: string) => boolean; env?: NodeJS.ProcessEnv },
  ): Promise<NetnsProcess> {
    const proc = new NetnsProcess(network.spawnIn(host, command, args, options.env));
    let stderr = "";
    proc.child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    let buffered = "";
    const ready = new Promise<void>((resolve, reject) => {
      proc.child.stdout?.on("data", (d: Buffer) => {
        buffered += d.toString();
        for (let cut = buffered.indexOf("\n"); cut >= 0; cut = buffered.indexOf("\n")) {
          const line = buffered.slice(0, cut);
          buffered = buffered.slice(cut + 1);
          proc.lines.push(line);
          if (options.isReady(line)) resolve();
        }
      });
      proc.child.once("exit", (code) =>
        reject(new Error(`${command} in ${host} exited with ${code}: ${stderr.slice(-500)}`)),
      );
    });
    try {
      await withTimeout(ready, 10_000, `${command} in ${host} to be ready`);
      return proc;
    } catch (err) {
      await proc.stop();
      throw err;
    }
  }

  /** Sends `signal` (default SIGKILL: tests stop hosts abruptly) and waits up to 10 s for the exit. */
  async stop(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await withTimeout(this.exited, 10_000, "a process in a namespace to exit");
  }
}

/** `redis-server` without persistence listening on `host`'s address, port 6379. */
export async function startRedisIn(
  network: TestNetwork,
  host: HostName,
): Promise<{ process: NetnsProcess; url: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "hubcast-redis-"));
  const address = network.address(host);
  const args = [
    "--port",
    "6379",
    "--bind",
    address,
    "--protected-mode",
    "no",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
  ];
  try {
    const proc = await NetnsProcess.start(network, host, "redis-server", args, {
      isReady: (line) => line.includes("Ready to accept connections"),
    });
    const stop = async (): Promise<void> => {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    };
    return { process: proc, url: `redis://${address}:6379`, stop };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** `hubcast start …args` on `host`, resolved once it logs "hubcast listening". */
export function startHubcastIn(network: TestNetwork, host: HostName, args: string[]): Promise<NetnsProcess> {
  const isReady = (line: string): boolean => {
    try {
      return (JSON.parse(line) as { msg?: unknown }).msg === "hubcast listening";
    } catch {
      return false; // not a JSON log line: not the one we wait for
    }
  };
  return NetnsProcess.start(network, host, process.execPath, [CLI, "start", ...args], {
    isReady,
    env: { HUBCAST_LOG_LEVEL: "info" },
  });
}
