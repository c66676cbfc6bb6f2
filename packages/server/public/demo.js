// The Hubcast demo chat: one room at a time in the built-in `demo` namespace (channels
// `demo:<room>`), last messages from history, live messages, presence, recovery notices.
// Every piece of user text reaches the page through textContent, never innerHTML.
import { Client } from "./sdk/hubcast.js";

const DEFAULT_ROOMS = ["lobby", "random", "dev"];
const ROOM_NAME = /^[A-Za-z0-9_-]{1,32}$/;
const MAX_TEXT_CHARS = 2000;
const MAX_NICK_CHARS = 32;
const HISTORY_LIMIT = 50;
const NICK_KEY = "hubcast-demo:nick";
// How long a nickname edit settles before the tab announces it.
const NICK_ANNOUNCE_DELAY_MS = 600;
// One local node: when it restarts, tabs should be back within a couple of seconds. The SDK's
// default cap (20 s) is for crowds of clients that must spread out after losing a server.
const MAX_RECONNECT_DELAY_MS = 2_000;
// Subscription close code of our own unsubscribe() (the SDK's LocalCode.disconnectCalled).
const UNSUBSCRIBE_CALLED = 1;

/** @param {string} testId */
function byTestId(testId) {
  const el = document.querySelector(`[data-testid="${testId}"]`);
  if (el === null) throw new Error(`demo page: no element with data-testid="${testId}"`);
  return el;
}

const ui = {
  status: byTestId("status"),
  nick: /** @type {HTMLInputElement} */ (byTestId("nick")),
  roomList: /** @type {HTMLUListElement} */ (document.getElementById("room-list")),
  joinForm: /** @type {HTMLFormElement} */ (document.getElementById("join-form")),
  joinInput: /** @type {HTMLInputElement} */ (byTestId("join-room")),
  roomName: byTestId("room-name"),
  messages: byTestId("messages"),
  sendForm: /** @type {HTMLFormElement} */ (document.getElementById("send-form")),
  input: /** @type {HTMLInputElement} */ (byTestId("message-input")),
  presence: byTestId("presence"),
  presenceCount: byTestId("presence-count"),
};

/** Every connection id this page has had, so our messages stay "own" after a reconnect. */
const myIds = new Set();
/** Connection id → the nickname last seen in its messages. */
const nicks = new Map();
const rooms = [...DEFAULT_ROOMS];
/** The room shown: { name, sub, subscribedOnce, loaded, loadSeq, buffer, lastOffset, presence, presenceSeq }. */
let room;

// ---- nickname -------------------------------------------------------------------------

function readStoredNick() {
  try {
    return localStorage.getItem(NICK_KEY);
  } catch (error) {
    console.warn("hubcast demo: localStorage is unavailable; the nickname will not be kept", error);
    return null;
  }
}

function storeNick(nick) {
  try {
    localStorage.setItem(NICK_KEY, nick);
  } catch (error) {
    console.warn("hubcast demo: could not save the nickname", error);
  }
}

function currentNick() {
  const nick = ui.nick.value.trim().slice(0, MAX_NICK_CHARS);
  return nick === "" ? ui.nick.placeholder : nick;
}

const storedNick = readStoredNick();
ui.nick.value = storedNick ?? `guest-${1000 + Math.floor(Math.random() * 9000)}`;
ui.nick.placeholder = ui.nick.value;
if (storedNick === null) storeNick(ui.nick.value);
let nickTimer;
ui.nick.addEventListener("input", () => {
  storeNick(currentNick());
  renderPresence();
  clearTimeout(nickTimer);
  nickTimer = setTimeout(() => {
    if (room !== undefined) void announce(room);
  }, NICK_ANNOUNCE_DELAY_MS);
});

// ---- rendering ------------------------------------------------------------------------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Keeps the list pinned to the bottom only when the reader was already there. */
function appendToMessages(node) {
  const list = ui.messages;
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(node);
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function notice(text) {
  const item = el("li", "notice", text);
  item.dataset.testid = "notice";
  appendToMessages(item);
}

/**
 * The nickname a tab announces when it enters a room, or undefined when the data is not an
 * announcement. Connections are anonymous, so presence lists connection ids: announcements
 * (and messages) are how the other tabs learn the name behind each id, after a reconnect too.
 */
function parseHello(data) {
  if (data === null || typeof data !== "object" || data.hello !== true) return undefined;
  return typeof data.nick === "string" && data.nick.trim() !== ""
    ? data.nick.trim().slice(0, MAX_NICK_CHARS)
    : undefined;
}

/** A chat message from publication data, or undefined when the data is not one. */
function parseMessage(data) {
  if (data === null || typeof data !== "object" || Array.isArray(data)) return undefined;
  if (typeof data.text !== "string") return undefined;
  const nick =
    typeof data.nick === "string" && data.nick.trim() !== "" ? data.nick.trim().slice(0, MAX_NICK_CHARS) : "anonymous";
  const ts = typeof data.ts === "number" && Number.isFinite(data.ts) ? data.ts : undefined;
  return { nick, text: data.text.slice(0, MAX_TEXT_CHARS), ts };
}

function renderMessage(message, own, receivedAt) {
  const item = el("li", own ? "message own" : "message");
  item.dataset.testid = "message";
  const meta = el("div", "meta");
  const nick = el("span", "nick", message.nick);
  nick.dataset.testid = "message-nick";
  const when = new Date(message.ts ?? receivedAt);
  const time = el("time", "time", when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  time.dateTime = when.toISOString();
  const text = el("div", "text", message.text);
  text.dataset.testid = "message-text";
  meta.append(nick, time);
  item.append(meta, text);
  appendToMessages(item);
}

/** Shows one publication once: offsets at or below the last shown are repeats. */
function showPublication(r, pub) {
  if (typeof pub.offset === "number") {
    if (r.lastOffset !== undefined && pub.offset <= r.lastOffset) return;
    r.lastOffset = pub.offset;
  }
  const sender = pub.info?.client;
  const hello = parseHello(pub.data);
  if (hello !== undefined) {
    learnNick(r, sender, hello);
    return;
  }
  const message = parseMessage(pub.data);
  if (message === undefined) {
    notice("(a message this page cannot read)");
    return;
  }
  learnNick(r, sender, message.nick);
  renderMessage(message, sender !== undefined && myIds.has(sender), Date.now());
}

function learnNick(r, sender, nick) {
  if (sender === undefined || nicks.get(sender) === nick) return;
  nicks.set(sender, nick);
  if (r.presence !== undefined && sender in r.presence) renderPresence();
}

function displayName(clientId) {
  if (myIds.has(clientId)) return currentNick();
  return nicks.get(clientId) ?? `#${clientId.slice(0, 8)}`;
}

function renderPresence() {
  const clients = room?.presence ?? {};
  const ids = Object.keys(clients).sort((a, b) => {
    if (myIds.has(a) !== myIds.has(b)) return myIds.has(a) ? -1 : 1;
    return displayName(a).localeCompare(displayName(b));
  });
  const items = ids.map((id) => {
    const item = el("li", myIds.has(id) ? "presence-entry me" : "presence-entry", displayName(id));
    item.dataset.testid = "presence-entry";
    item.title = id;
    if (myIds.has(id)) item.append(el("span", "you", " (you)"));
    return item;
  });
  ui.presence.replaceChildren(...items);
  ui.presenceCount.textContent = ids.length === 0 ? "" : `(${ids.length})`;
}

function renderRooms() {
  const items = rooms.map((name) => {
    const button = el("button", "room", `#${name}`);
    button.type = "button";
    button.dataset.testid = `room-${name}`;
    if (room?.name === name) button.setAttribute("aria-current", "true");
    button.addEventListener("click", () => goToRoom(name));
    const item = el("li");
    item.append(button);
    return item;
  });
  ui.roomList.replaceChildren(...items);
}

function setStatus(state) {
  ui.status.textContent = state;
  ui.status.dataset.state = state;
}

// ---- the client -----------------------------------------------------------------------

function errorText(error) {
  return error instanceof Error ? error.message : String(error);
}

const wsUrl = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`;
const client = new Client(wsUrl, { name: "hubcast-demo", maxReconnectDelayMs: MAX_RECONNECT_DELAY_MS });
client.on("state", ({ to }) => setStatus(to));
client.on("connected", (event) => {
  myIds.add(event.client);
  renderPresence();
});
client.on("error", ({ error }) => console.warn("hubcast demo: client error", error));

/** Loads the last messages, then shows live ones that came meanwhile; `after` is a notice to add last. */
async function loadHistory(r, after) {
  const seq = ++r.loadSeq;
  r.loaded = false;
  r.buffer = [];
  r.lastOffset = undefined;
  ui.messages.replaceChildren();
  ui.messages.dataset.state = "loading";
  let publications = [];
  try {
    // Newest first, so a long history gives its last messages; shown oldest first.
    const result = await r.sub.history({ limit: HISTORY_LIMIT, reverse: true });
    publications = [...result.publications].reverse();
  } catch (error) {
    if (r !== room || seq !== r.loadSeq) return;
    notice(`could not load history: ${errorText(error)}`);
  }
  if (r !== room || seq !== r.loadSeq) return;
  r.loaded = true;
  for (const pub of publications) showPublication(r, pub);
  for (const pub of r.buffer.splice(0)) showPublication(r, pub);
  if (after !== undefined) notice(after);
  ui.messages.dataset.state = "ready";
}

async function refreshPresence(r) {
  const seq = ++r.presenceSeq;
  try {
    const result = await r.sub.presence();
    if (r !== room || seq !== r.presenceSeq) return;
    r.presence = result.clients;
    renderPresence();
  } catch (error) {
    // The next subscribe or join/leave refreshes it again.
    console.warn(`hubcast demo: presence of #${r.name} failed`, error);
  }
}

function onSubscribed(r, event) {
  if (r !== room) return;
  if (!r.subscribedOnce) {
    r.subscribedOnce = true;
    void loadHistory(r);
  } else if (event.recovered === true) {
    notice("reconnected, nothing missed");
  } else {
    void loadHistory(r, "reconnected; reloaded history");
  }
  void refreshPresence(r);
  void announce(r);
}

/** Tells the room which nickname this connection goes by (see parseHello). */
async function announce(r) {
  try {
    await r.sub.publish({ hello: true, nick: currentNick() });
  } catch (error) {
    // Only the name shown to others is missing; the next subscribe or message fixes it.
    console.warn("hubcast demo: could not announce the nickname", error);
  }
}

function enterRoom(name) {
  if (room?.name === name) return;
  const old = room;
  room = undefined; // the old subscription's last events must not touch the page
  if (old !== undefined) {
    old.sub.unsubscribe();
    client.removeSubscription(old.sub);
  }
  const sub = client.newSubscription(`demo:${name}`);
  const r = {
    name,
    sub,
    subscribedOnce: false,
    loaded: false,
    loadSeq: 0,
    buffer: [],
    lastOffset: undefined,
    presence: undefined,
    presenceSeq: 0,
  };
  room = r;
  sub.on("publication", (pub) => {
    if (r !== room) return;
    if (r.loaded) showPublication(r, pub);
    else r.buffer.push(pub);
  });
  sub.on("subscribed", (event) => onSubscribed(r, event));
  sub.on("join", () => {
    if (r === room) void refreshPresence(r);
  });
  sub.on("leave", () => {
    if (r === room) void refreshPresence(r);
  });
  sub.on("membersSummary", () => {
    if (r === room) void refreshPresence(r);
  });
  sub.on("unsubscribed", ({ code, reason }) => {
    if (r === room && code !== UNSUBSCRIBE_CALLED) notice(`left #${name}: ${reason} (${code})`);
  });
  sub.on("error", ({ error }) => console.warn(`hubcast demo: subscription to #${name}`, error));

  if (!rooms.includes(name)) rooms.push(name);
  ui.roomName.textContent = name;
  document.title = `#${name} · Hubcast demo chat`;
  ui.messages.replaceChildren();
  ui.messages.dataset.state = "loading";
  renderPresence();
  renderRooms();
  sub.subscribe();
}

function goToRoom(name) {
  enterRoom(name);
  history.replaceState(null, "", `#${name}`);
  ui.input.focus();
}

function roomFromHash() {
  const name = decodeURIComponent(location.hash.slice(1));
  return ROOM_NAME.test(name) ? name : undefined;
}

// ---- forms ----------------------------------------------------------------------------

ui.joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const name = ui.joinInput.value.trim();
  if (!ROOM_NAME.test(name)) {
    ui.joinInput.setCustomValidity("1–32 letters, digits, _ or -");
    ui.joinInput.reportValidity();
    return;
  }
  ui.joinInput.value = "";
  goToRoom(name);
});
ui.joinInput.addEventListener("input", () => ui.joinInput.setCustomValidity(""));

ui.sendForm.addEventListener("submit", (event) => {
  event.preventDefault();
  void send();
});

async function send() {
  const text = ui.input.value.trim();
  const r = room;
  if (text === "" || r === undefined) return;
  if (text.length > MAX_TEXT_CHARS) {
    notice(`messages are at most ${MAX_TEXT_CHARS} characters`);
    return;
  }
  ui.input.value = "";
  try {
    await r.sub.publish({ nick: currentNick(), text, ts: Date.now() });
  } catch (error) {
    console.warn("hubcast demo: publish failed", error);
    if (r !== room) return;
    notice(`not sent: ${errorText(error)}`);
    if (ui.input.value === "") ui.input.value = text;
  }
}

window.addEventListener("hashchange", () => {
  const name = roomFromHash();
  if (name !== undefined) enterRoom(name);
});

setStatus("disconnected");
enterRoom(roomFromHash() ?? DEFAULT_ROOMS[0]);
client.connect();
