// Hubcast admin page. Runs under a strict Content-Security-Policy (scripts and styles from
// this origin only, no inline code): every value from the server (channel names, user ids,
// payloads) is put on the page as text, never as markup.

const API = "/admin/api";
/** Fifteen minutes of one-second samples, as the nodes keep them. */
const WINDOW_SECONDS = 900;

const $ = (id) => document.getElementById(id);

/** A request to the admin API; non-GET requests carry the header that proves they come from this page. */
async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["X-Hubcast-Admin"] = "1";
    headers["Content-Type"] = "application/json";
  }
  const res = await fetch(`${API}${path}`, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const json = text === "" ? {} : JSON.parse(text);
  if (res.status === 401 && path !== "/login") showLogin();
  if (!res.ok) throw new Error(json?.error?.message ?? `HTTP ${res.status}`);
  return json;
}

/** A table cell (or any element) holding `text` as text. */
function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = String(text);
  if (className !== undefined) node.className = className;
  return node;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) tr.append(cell instanceof Node ? cell : el("td", cell));
  return tr;
}

const num = (value, digits = 0) =>
  el("td", Number(value ?? 0).toLocaleString("en", { maximumFractionDigits: digits }), "num");
const mib = (bytes) => (bytes / 1_048_576).toFixed(1);
function uptime(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

function setStatus(text, state) {
  const status = $("status");
  status.textContent = text;
  status.dataset.state = state;
}

// ---- session ---------------------------------------------------------------------------

function showLogin() {
  stopLive();
  $("login").classList.remove("hidden");
  $("tabs").classList.add("hidden");
  $("logout").classList.add("hidden");
  for (const view of document.querySelectorAll(".view")) view.classList.add("hidden");
  setStatus("", "");
  $("password").focus();
}

async function start() {
  try {
    await api("/session");
  } catch {
    showLogin();
    return;
  }
  $("login").classList.add("hidden");
  $("tabs").classList.remove("hidden");
  $("logout").classList.remove("hidden");
  show("cluster");
  await loadCluster();
  startLive();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    await api("/login", { method: "POST", body: { password: $("password").value } });
    $("password").value = "";
    await start();
  } catch (err) {
    $("login-error").textContent = err.message;
  }
});

$("logout").addEventListener("click", async () => {
  await api("/logout", { method: "POST" }).catch(() => undefined);
  showLogin();
});

// ---- views -----------------------------------------------------------------------------

function show(name) {
  for (const view of document.querySelectorAll(".view")) view.classList.toggle("hidden", view.id !== `view-${name}`);
  for (const tab of document.querySelectorAll("#tabs button")) {
    if (tab.dataset.view === name) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (name === "channels") loadChannels();
  if (name === "users") loadUsers();
}

for (const tab of document.querySelectorAll("#tabs button"))
  tab.addEventListener("click", () => show(tab.dataset.view));

// ---- cluster: a table of nodes and charts of the last 15 minutes -------------------------

/** Per node: arrays of [seconds, connections, publications/s, deliveries/s, RSS MiB, lag ms]. */
const series = new Map();
const charts = new Map();
const CHARTS = [
  { id: "chart-connections", column: 1 },
  { id: "chart-publications", column: 2 },
  { id: "chart-deliveries", column: 3 },
  { id: "chart-memory", column: 4 },
  { id: "chart-lag", column: 5 },
];

function renderNodes(nodes) {
  const body = $("nodes-body");
  body.replaceChildren(
    ...nodes.map((node) =>
      row([
        el("td", `${node.id.slice(0, 8)}${node.self ? " (this)" : ""}`),
        node.address,
        node.version,
        uptime(node.uptimeMs),
        el("td", node.ready ? "ready" : "not ready", node.ready ? "ready-yes" : "ready-no"),
        num(node.connections),
        num(node.subscriptions),
        num(node.channels),
        num(node.publicationsPerSecond, 1),
        num(node.deliveriesPerSecond, 1),
        el("td", `${mib(node.rssBytes)} MiB`, "num"),
        el("td", `${Number(node.eventLoopLagMs).toFixed(1)} ms`, "num"),
      ]),
    ),
  );
  $("node-count").textContent = `(${nodes.length})`;
}

function addSample(nodeId, sample) {
  let points = series.get(nodeId);
  if (points === undefined) {
    points = [];
    series.set(nodeId, points);
  }
  // Whole seconds: every node samples once a second, so their points line up on one x axis.
  const at = Math.round(sample[0]);
  sample[0] = at;
  if (points.length > 0 && points[points.length - 1][0] >= at) return;
  points.push(sample);
  const oldest = at - WINDOW_SECONDS;
  while (points.length > 0 && points[0][0] < oldest) points.shift();
}

/** uPlot wants one shared x axis: the union of every node's sample times. */
function chartData(column) {
  const ids = [...series.keys()].sort();
  const times = [...new Set(ids.flatMap((id) => series.get(id).map((p) => p[0])))].sort((a, b) => a - b);
  const lines = ids.map((id) => {
    const byTime = new Map(series.get(id).map((p) => [p[0], p[column]]));
    return times.map((t) => byTime.get(t) ?? null);
  });
  return { ids, data: [times, ...lines] };
}

const COLORS = ["#2f6fde", "#d9822b", "#23864a", "#8e44ad", "#c2372c", "#16a085"];

function drawCharts() {
  if (typeof uPlot === "undefined") return;
  for (const { id, column } of CHARTS) {
    const { ids, data } = chartData(column);
    const host = $(id);
    const key = ids.join(",");
    const existing = charts.get(id);
    if (existing !== undefined && existing.key === key) {
      existing.plot.setData(data);
      continue;
    }
    existing?.plot.destroy();
    const plot = new uPlot(
      {
        width: Math.max(360, host.clientWidth || 420),
        height: 180,
        legend: { show: true },
        scales: { x: { time: true } },
        series: [
          {},
          ...ids.map((nodeId, i) => ({
            label: nodeId.slice(0, 8),
            stroke: COLORS[i % COLORS.length],
            width: 1.5,
            spanGaps: true,
          })),
        ],
      },
      data,
      host,
    );
    charts.set(id, { key, plot });
  }
}

async function loadCluster() {
  const cluster = await api("/cluster");
  series.clear();
  for (const [nodeId, samples] of Object.entries(cluster.history ?? {})) {
    for (const [ts, connections, pubs, deliveries, rss, lag] of samples)
      addSample(nodeId, [ts / 1000, connections, pubs, deliveries, rss / 1_048_576, lag]);
  }
  renderNodes(cluster.nodes);
  drawCharts();
}

// ---- live updates: pushed by the node, one event a second ---------------------------------

let live;

function startLive() {
  stopLive();
  live = new EventSource(`${API}/live`);
  live.addEventListener("open", () => setStatus("live", "live"));
  live.addEventListener("error", () => setStatus("reconnecting…", "offline"));
  live.addEventListener("cluster", (event) => {
    const { nodes, at } = JSON.parse(event.data);
    renderNodes(nodes);
    for (const node of nodes)
      addSample(node.id, [
        at / 1000,
        node.connections,
        node.publicationsPerSecond,
        node.deliveriesPerSecond,
        node.rssBytes / 1_048_576,
        node.eventLoopLagMs,
      ]);
    drawCharts();
  });
}

function stopLive() {
  live?.close();
  live = undefined;
}

// ---- channels ----------------------------------------------------------------------------

async function loadChannels() {
  const prefix = encodeURIComponent($("channels-prefix").value);
  const sort = encodeURIComponent($("channels-sort").value);
  const { channels, total } = await api(`/channels?prefix=${prefix}&sort=${sort}&limit=50`);
  $("channels-total").textContent = `${total} channel${total === 1 ? "" : "s"}`;
  $("channels-body").replaceChildren(
    ...channels.map((channel) => {
      const tr = row([channel.name, num(channel.subscribers), num(channel.publicationsPerSecond, 1)]);
      tr.className = "clickable";
      tr.addEventListener("click", () => openChannel(channel.name));
      return tr;
    }),
  );
}

$("channels-form").addEventListener("submit", (event) => {
  event.preventDefault();
  loadChannels().catch((err) => setStatus(err.message, "offline"));
});
$("channels-sort").addEventListener("change", () => loadChannels().catch(() => undefined));

// ---- one channel: presence, history, publish ----------------------------------------------

async function openChannel(name) {
  $("channel-name").value = name;
  show("channel");
  await loadChannel();
}

async function loadChannel() {
  const name = $("channel-name").value.trim();
  if (name === "") return;
  let channel;
  try {
    channel = await api(`/channel?name=${encodeURIComponent(name)}`);
  } catch (err) {
    $("channel-summary").textContent = err.message;
    $("presence").replaceChildren();
    $("history-body").replaceChildren();
    return;
  }
  const position =
    channel.position === null ? "no history" : `position ${channel.position.offset} (epoch ${channel.position.epoch})`;
  $("channel-summary").textContent = `${channel.name}: ${channel.subscribers} subscriber(s), ${position}`;
  $("presence").replaceChildren(
    ...(channel.presence === null
      ? [el("li", "presence is off for this namespace")]
      : channel.presence.length === 0
        ? [el("li", "nobody")]
        : channel.presence.map((p) => el("li", `${p.user === "" ? "(anonymous)" : p.user} · ${p.client}`))),
  );
  $("history-body").replaceChildren(
    ...channel.history.map((pub) =>
      row([num(pub.offset), pub.epoch, publisherOf(pub), el("td", JSON.stringify(pub.data, null, 1), "data")]),
    ),
  );
}

/** Who published: a user, an anonymous client, or the server side (the API, the admin page, the emitter). */
function publisherOf(pub) {
  if (pub.info === undefined) return "(server)";
  return pub.info.user === "" ? "(anonymous)" : pub.info.user;
}

$("channel-form").addEventListener("submit", (event) => {
  event.preventDefault();
  loadChannel();
});

$("publish-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = $("publish-result");
  let data;
  try {
    data = JSON.parse($("publish-data").value);
  } catch (err) {
    result.dataset.ok = "false";
    result.textContent = `not JSON: ${err.message}`;
    return;
  }
  try {
    const answer = await api("/publish", { method: "POST", body: { channel: $("channel-name").value.trim(), data } });
    result.dataset.ok = "true";
    result.textContent = answer.position === undefined ? "published" : `published at offset ${answer.position.offset}`;
    await loadChannel();
  } catch (err) {
    result.dataset.ok = "false";
    result.textContent = err.message;
  }
});

// ---- users: connections by user, and disconnect -------------------------------------------

async function loadUsers() {
  const prefix = encodeURIComponent($("users-prefix").value);
  const { users } = await api(`/users?prefix=${prefix}&limit=50`);
  $("users-body").replaceChildren(
    ...users.map((u) => {
      const button = el("button", "Disconnect", "danger");
      button.type = "button";
      button.dataset.testid = "disconnect";
      button.disabled = u.user === "";
      button.addEventListener("click", () => disconnect(u.user));
      const actions = el("td");
      actions.append(button);
      return row([u.user === "" ? "(anonymous)" : u.user, num(u.connections), actions]);
    }),
  );
}

async function disconnect(user) {
  if (!window.confirm(`Disconnect every connection of ${user}?`)) return;
  const result = $("users-result");
  try {
    await api("/disconnect", { method: "POST", body: { user } });
    result.dataset.ok = "true";
    result.textContent = `disconnected ${user}`;
    await loadUsers();
  } catch (err) {
    result.dataset.ok = "false";
    result.textContent = err.message;
  }
}

$("users-form").addEventListener("submit", (event) => {
  event.preventDefault();
  loadUsers().catch((err) => setStatus(err.message, "offline"));
});

start();
