/**
 * The plan of a run, a pure function of the options and the machine's readings: how many
 * server workers, bench processes and source addresses the connections need, what the
 * broadcast rate costs against the platform floor, how long the run takes, and every
 * prerequisite with its verdict and its fix.
 */

/** Descriptors each process keeps for itself (stdio, IPC, listening sockets, libuv, logs): a 20,000 limit leaves 19,000 connections. */
export const FD_HEADROOM = 1_000;
/** Share of the ephemeral ports a source address is planned to use; the rest is left to TIME_WAIT from earlier runs and other programs. */
export const PORT_SHARE = 0.75;
/**
 * Share of one parity's half of the ephemeral ports that unbound connections to one destination
 * are planned to use. connect() tries the ports of one parity first (__inet_hash_connect), and
 * once they are taken toward a destination every connect scans all of them before the other
 * half: the 2026-12-07 run on 14 nodes crawled at 14,200 connections per node, with 14,116
 * even ports (bench/results/2026-12-07-250000-scale-connect-stall).
 */
export const CONNECT_PARITY_SHARE = 0.9;
/** Share of --ramp-rate the ramp is planned to reach: the 100,000-connection run got 808/s of 1,500/s asked (docs/performance.md). */
export const RAMP_EFFICIENCY = 0.5;
/** Above this share of the machine's cores, the floor cost of the deliveries alone draws a warning: the clients, the ramp and Hubcast's own work need the rest. */
export const FLOOR_LOAD_WARN = 0.5;
/**
 * Connections bound to source addresses above which the plan warns. A bind with port 0 makes
 * the kernel search for a free port (inet_csk_get_port), and that search grew with the ports
 * already bound: the 250,000 run of 2026-12-07 stalled at 83,000 bound over 12 addresses, the
 * bench processes at 100 % system time in that function (bench/results/2026-12-07-250000-scale-bind-stall).
 * Unbound connections get their port from connect(), per destination.
 */
export const BIND_SEARCH_WARN = 50_000;
/** Hubcast nodes listen with this backlog (listenBacklog's default); the kernel caps it at net.core.somaxconn. */
export const NODE_BACKLOG = 4_096;
/** Half-open connections the ramp needs the kernel to hold: Node.js's own listen backlog. */
const RAMP_HALF_OPEN = 511;
/** Most bench processes `hubcast bench` takes, and most workers a primary runs. */
const MAX_PROCESSES = 256;
const MAX_WORKERS = 1_024;

/**
 * Memory one connection costs, by what holds it, in bytes, with where each figure was measured.
 * The run's report gives the figures of the run itself (summary.md, "Memory").
 */
export const MEMORY_PER_CONNECTION = {
  /** Growth of the server's RSS per connection, by topology. */
  server: {
    /** Independent nodes: 1.8–2.0 KiB on each of the 20 nodes of the 250,000-connection run (bench/results/2026-12-07-250000-scale-nodes). */
    nodes: 2 * 1024,
    /** Cluster mode, every worker and the primary (cluster-wide /metrics): 9.2 KiB in this tool's 20,000-connection check run (README.md); the primary holds sockets in flight. */
    cluster: 9.2 * 1024,
  },
  /** Kernel memory of one loopback connection, both sockets: slab grew 10.0 KiB per pair (docs/architecture-at-scale.md). */
  kernel: 10 * 1024,
  /** Growth of a bench process's RSS per connection: 58 MiB with 100 connections, 121 MiB with 10,000, in the same check run. */
  client: 6.4 * 1024,
};
/** RSS of one Node.js process before it holds connections: 58–100 MiB in the check run (bench process, worker, primary, bench coordinator). */
export const PROCESS_BASE_BYTES = 100 * 1024 * 1024;

/** The write floor used when no bench/floor result can be read: the 2026-12-07 run's. */
export const FALLBACK_FLOOR = {
  serverUsPerWrite: 9.16,
  clientUsPerWrite: 9.75,
  source: "bench/floor/results/2026-12-07T0144.md (no result file found)",
};

const fmt = (n) => Math.round(n).toLocaleString("en-US");
const fmt1 = (n) => (Math.round(n * 10) / 10).toLocaleString("en-US");
const mib = (bytes) => `${fmt(bytes / 2 ** 20)} MiB`;

/**
 * The delivery rate the options ask for, and what it costs at the floor: the server's
 * `socket.write()` per delivery and the client's read of it, in cores.
 */
export function deliveryLoad(o, cores, floor) {
  const deliveriesPerS = o.connections / o.broadcastInterval;
  const serverCores = (deliveriesPerS * floor.serverUsPerWrite) / 1e6;
  const clientCores = (deliveriesPerS * floor.clientUsPerWrite) / 1e6;
  const share = (serverCores + clientCores) / cores;
  // The interval at which the floor's cost is FLOOR_LOAD_WARN of the cores.
  const sustainableIntervalS =
    (o.connections * (floor.serverUsPerWrite + floor.clientUsPerWrite)) / 1e6 / (FLOOR_LOAD_WARN * cores);
  const perBroadcast = o.connections / o.channels;
  return {
    rate: o.channels / o.broadcastInterval,
    deliveriesPerS,
    serverCores,
    clientCores,
    share,
    sustainableIntervalS,
    connectionsPerBroadcast: perBroadcast,
    // One broadcast's writes, spread over every core at best.
    broadcastWriteS: (perBroadcast * floor.serverUsPerWrite) / 1e6 / cores,
    floor,
  };
}

/** Seconds each stage of the run is planned to take, and when the load must stop to shut down within the budget. */
export function timePlan(o, workers, total) {
  const stages = {
    serverStart: 5 + 2 * workers,
    ramp: total / (o.rampRate * RAMP_EFFICIENCY),
    steady: 1 + o.warmup + o.duration,
    benchEnd: 25, // the bench waits up to 15 s for late deliveries, then its processes close their sockets
    shutdown: o.drainWindowMs / 1000 + 10, // the drain, then up to 5 s before the primary kills a worker
  };
  const totalS = Object.values(stages).reduce((a, b) => a + b, 0);
  return { stages, totalS, stopLoadAtS: o.budget - stages.benchEnd - stages.shutdown };
}

/** Checks that a count given on the command line is enough, or picks one; the check names the fix. */
function processCount(given, needed, floor, name, flag, perProcess, total) {
  const count = given ?? Math.max(floor, needed);
  const check = {
    name,
    value: `${count} × ≤ ${fmt(Math.ceil(total / count))} connections`,
    need: `≥ ${needed} (${fmt(total)} connections ÷ ${fmt(perProcess)} per process)`,
    level: count >= needed ? "ok" : "fail",
  };
  if (count < needed) check.fix = `use --${flag} ${needed} or more (or raise the open-files hard limit)`;
  return { count, check };
}

/**
 * The plan for options `o` on machine `m` (readMachine()), with `extra` readings taken at
 * start (busyPercent, unbindable source addresses, whether the build is there).
 */
export function makePlan(o, m, extra = {}) {
  const checks = [];
  const publishers = o.channels;
  const total = o.connections + publishers;
  const hard = m.openFiles?.hard ?? Number.POSITIVE_INFINITY;
  const perProcess = Number.isFinite(hard) ? hard - FD_HEADROOM : Number.MAX_SAFE_INTEGER;
  checks.push({
    name: "open files per process (hard limit)",
    value: Number.isFinite(hard) ? fmt(hard) : "unlimited",
    need: `${fmt(FD_HEADROOM)} for the process itself + its connections`,
    level: perProcess >= 1_000 ? "ok" : "fail",
    ...(perProcess >= 1_000 ? {} : { fix: "raise the hard limit (ulimit -Hn as root, LimitNOFILE= in systemd)" }),
  });
  const neededEach = Math.ceil(total / perProcess);
  const ports = m.portRange === undefined ? undefined : m.portRange[1] - m.portRange[0] + 1;
  // Unbound sockets get their port from connect(), per destination, within one parity's half.
  const connectPorts = ports === undefined ? Number.POSITIVE_INFINITY : Math.floor((ports / 2) * CONNECT_PARITY_SHARE);
  const nodes = o.topology !== "cluster";
  // Nodes: enough that each node's port takes its connections within that half.
  const neededNodes = nodes ? Math.ceil(total / connectPorts) : 0;
  const serverName = nodes ? "server nodes" : "server workers";
  const server = processCount(
    o.workers,
    neededEach,
    Math.max(2, neededNodes),
    serverName,
    "workers",
    perProcess,
    total,
  );
  const clients = processCount(o.processes, neededEach, 2, "bench processes", "processes", perProcess, total);
  if (server.count > MAX_WORKERS) Object.assign(server.check, { level: "fail", fix: `at most ${MAX_WORKERS} workers` });
  if (clients.count > MAX_PROCESSES)
    Object.assign(clients.check, {
      level: "fail",
      fix: `at most ${MAX_PROCESSES} bench processes; raise the open-files limit`,
    });
  checks.push(server.check, clients.check);

  if (m.nrOpen !== undefined)
    checks.push({
      name: "fs.nr_open",
      value: fmt(m.nrOpen),
      need: `≥ the open-files limit (${Number.isFinite(hard) ? fmt(hard) : "unlimited"})`,
      level: !Number.isFinite(hard) || m.nrOpen >= hard ? "ok" : "warn",
    });
  if (m.fileMax !== undefined) {
    const need = 2 * total + (m.filesAllocated ?? 0) + 10_000;
    checks.push({
      name: "fs.file-max",
      value: `${fmt(m.fileMax)} (${fmt(m.filesAllocated ?? 0)} open now)`,
      need: `≥ ${fmt(need)}: two descriptors per connection (server and client) + those open now`,
      level: m.fileMax >= need ? "ok" : "fail",
      ...(m.fileMax >= need ? {} : { fix: `sysctl -w fs.file-max=${Math.max(2_097_152, need)}` }),
    });
  }

  // Each node listens on a port of its own, so the connections spread over that many
  // destinations; a cluster has one.
  const destinations = nodes ? server.count : 1;
  const perDestination = Math.ceil(total / destinations);
  let addresses = o.sourceAddresses ?? 1;
  if (ports !== undefined) {
    const value = `${m.portRange[0]}–${m.portRange[1]} (${fmt(ports)} ports per source address and destination)`;
    const widen = 'widen the range: sysctl -w net.ipv4.ip_local_port_range="1024 65535"';
    if (nodes && o.sourceAddresses === undefined) {
      // Unbound: connect() picks each port for its destination alone.
      const ok = perDestination <= connectPorts;
      checks.push({
        name: "net.ipv4.ip_local_port_range",
        value,
        need: `${destinations} destinations × ≤ ${fmt(perDestination)} connections, unbound (planned: ≤ ${Math.round(CONNECT_PARITY_SHARE * 100)} % of one parity's ${fmt(Math.floor(ports / 2))} ports each, which connect() takes first)`,
        level: ok ? "ok" : "fail",
        ...(ok ? {} : { fix: `use --workers ${neededNodes} or more, or ${widen}` }),
      });
    } else {
      // Bound to source addresses: each bind takes a port of the address's own, whatever the destination.
      const planned = Math.floor(ports * PORT_SHARE);
      const needed = Math.ceil(total / planned);
      addresses = o.sourceAddresses ?? needed;
      const perAddress = Math.ceil(total / addresses);
      const ok = perAddress <= planned;
      checks.push({
        name: "net.ipv4.ip_local_port_range",
        value,
        need: `${addresses} source address${addresses === 1 ? "" : "es"} × ≤ ${fmt(perAddress)} connections (planned: ≤ ${Math.round(PORT_SHARE * 100)} % of the ports each)`,
        level: ok ? "ok" : perAddress > ports * 0.9 ? "fail" : "warn",
        ...(ok ? {} : { fix: `use --source-addresses ${needed}, or ${widen}` }),
      });
      if (addresses > 254) Object.assign(checks.at(-1), { level: "fail", fix: widen });
    }
  }
  if (addresses > 1 && total > BIND_SEARCH_WARN)
    checks.push({
      name: "source-address binds",
      value: `${fmt(total)} connections bound to ${addresses} source addresses`,
      need: `≤ ${fmt(BIND_SEARCH_WARN)}: each bind searches for a free port (inet_csk_get_port), and a run here stalled at 83,000 bound over 12 addresses`,
      level: "warn",
      fix: nodes
        ? "leave out --source-addresses: with one port per node, connect() finds ports per destination"
        : "use --topology nodes (one destination port per node, no binds needed)",
    });
  if ((extra.unbindable ?? []).length > 0)
    checks.push({
      name: "source addresses",
      value: `cannot bind ${extra.unbindable.join(", ")}`,
      need: `127.0.0.1 … 127.0.0.${addresses} bindable`,
      level: "fail",
      fix: "add the addresses to the loopback interface (ip addr add 127.0.0.2/8 dev lo)",
    });
  if (m.tcpTwReuse !== undefined)
    checks.push({
      name: "net.ipv4.tcp_tw_reuse",
      value: String(m.tcpTwReuse),
      need: "1, or 2 (loopback only): ports in TIME_WAIT from an earlier run are reused",
      level: m.tcpTwReuse >= 1 ? "ok" : "warn",
      ...(m.tcpTwReuse >= 1 ? {} : { fix: "sysctl -w net.ipv4.tcp_tw_reuse=1, or wait a minute between runs" }),
    });
  if (m.somaxconn !== undefined)
    checks.push({
      name: "net.core.somaxconn",
      value: fmt(m.somaxconn),
      need: `≥ ${NODE_BACKLOG}: nodes listen with a backlog of ${NODE_BACKLOG}, capped by this`,
      level: m.somaxconn >= NODE_BACKLOG ? "ok" : "warn",
      ...(m.somaxconn >= NODE_BACKLOG ? {} : { fix: "sysctl -w net.core.somaxconn=65535" }),
    });
  if (m.tcpMaxSynBacklog !== undefined)
    checks.push({
      name: "net.ipv4.tcp_max_syn_backlog",
      value: fmt(m.tcpMaxSynBacklog),
      need: `≥ ${RAMP_HALF_OPEN} half-open connections during the ramp`,
      level: m.tcpMaxSynBacklog >= RAMP_HALF_OPEN ? "ok" : "warn",
      ...(m.tcpMaxSynBacklog >= RAMP_HALF_OPEN ? {} : { fix: "sysctl -w net.ipv4.tcp_max_syn_backlog=65535" }),
    });
  const load = deliveryLoad(o, m.cores, extra.floor ?? FALLBACK_FLOOR);
  if (m.tcpMemPages !== undefined) {
    // A broadcast in flight leaves about one small buffer (well under a page) in each receiving socket's queue.
    const needPages = 2 * Math.ceil(load.connectionsPerBroadcast);
    checks.push({
      name: "net.ipv4.tcp_mem (pages: low, pressure, high)",
      value: `${m.tcpMemPages.map(fmt).join(" ")} (pressure at ${mib(m.tcpMemPages[1] * m.pageBytes)})`,
      need: `pressure above one broadcast in flight: ${fmt(needPages)} pages`,
      level: m.tcpMemPages[1] >= needPages ? "ok" : "warn",
      ...(m.tcpMemPages[1] >= needPages ? {} : { fix: "raise net.ipv4.tcp_mem, or use more --channels" }),
    });
  }
  if (m.conntrackMax !== undefined) {
    const tracking = (m.conntrackCount ?? 0) > 0;
    const ok = !tracking || m.conntrackMax >= total * 1.1;
    checks.push({
      name: "net.netfilter.nf_conntrack_max",
      value: `${fmt(m.conntrackMax)} (${fmt(m.conntrackCount ?? 0)} tracked now)`,
      need: tracking ? `≥ ${fmt(total * 1.1)}: one entry per connection` : "nothing: no connection is tracked now",
      level: ok ? "ok" : "fail",
      ...(ok ? {} : { fix: `sysctl -w net.netfilter.nf_conntrack_max=${Math.ceil(total * 1.2)}` }),
    });
  }
  // The server's processes and the bench's, each with its leader (a primary, or redis-server).
  const processes = server.count + 1 + clients.count + 1;
  const perConnection =
    MEMORY_PER_CONNECTION.server[nodes ? "nodes" : "cluster"] +
    MEMORY_PER_CONNECTION.kernel +
    MEMORY_PER_CONNECTION.client;
  const memoryNeed = total * perConnection + processes * PROCESS_BASE_BYTES;
  const available = m.memory.availableBytes;
  checks.push({
    name: "free memory (MemAvailable)",
    value: mib(available),
    need: `about ${mib(memoryNeed)}: ${fmt1(perConnection / 1024)} KiB per connection (server, client, kernel) + ${mib(PROCESS_BASE_BYTES)} per process × ${processes}`,
    level: memoryNeed <= 0.8 * available ? "ok" : memoryNeed <= available ? "warn" : "fail",
    ...(memoryNeed <= 0.8 * available ? {} : { fix: "stop other programs, or lower --connections" }),
  });
  if (extra.busyPercent !== undefined)
    checks.push({
      name: "CPU busy before the run",
      value: `${fmt1(extra.busyPercent)} % of ${m.cores} cores`,
      need: "an otherwise idle machine (the figures are only smoke checks otherwise)",
      level: extra.busyPercent <= 25 ? "ok" : "warn",
    });
  checks.push({
    name: "delivery rate against the floor",
    value: `${fmt(load.deliveriesPerS)} deliveries/s = ${fmt1(load.share * 100)} % of ${m.cores} cores at the floor`,
    need: `≤ ${FLOOR_LOAD_WARN * 100} %: a broadcast every ≥ ${load.sustainableIntervalS.toFixed(2)} s to each of ${fmt(o.connections)} connections`,
    level: load.share <= FLOOR_LOAD_WARN ? "ok" : "warn",
    ...(load.share <= FLOOR_LOAD_WARN
      ? {}
      : {
          fix: `use --broadcast-interval ${Math.ceil(load.sustainableIntervalS)} or more; deliveries will fall behind otherwise`,
        }),
  });
  const time = timePlan(o, server.count, total);
  checks.push({
    name: "time budget",
    value: `${fmt(o.budget)} s`,
    need: `about ${fmt(time.totalS)} s (ramp ${fmt(time.stages.ramp)} s at ${Math.round(RAMP_EFFICIENCY * 100)} % of --ramp-rate ${fmt(o.rampRate)}/s)`,
    level: time.totalS <= o.budget ? "ok" : "fail",
    ...(time.totalS <= o.budget
      ? {}
      : { fix: `use --budget ${Math.ceil(time.totalS / 60) * 60}, or a faster --ramp-rate` }),
  });
  if (extra.missingRedis)
    checks.push({
      name: "redis-server",
      value: "not found on the PATH",
      need: "redis-server, for the nodes to share (--topology nodes)",
      level: "fail",
      fix: "install it (apt-get install redis-server), or use --topology cluster",
    });
  if (extra.missingBuild !== undefined)
    checks.push({
      name: "build",
      value: `${extra.missingBuild} is missing`,
      need: "the built server and bench",
      level: "fail",
      fix: "run npm ci && npm run build at the repository root",
    });
  return {
    topology: o.topology,
    connections: o.connections,
    publishers,
    total,
    workers: server.count,
    processes: clients.count,
    perProcessConnections: perProcess,
    sourceAddresses: addresses,
    destinations,
    ports,
    load,
    time,
    memoryNeedBytes: memoryNeed,
    checks,
    failed: checks.filter((c) => c.level === "fail"),
  };
}
