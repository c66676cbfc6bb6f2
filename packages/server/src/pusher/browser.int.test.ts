/**
 * pusher-js's web build in real Chromium against a node's Pusher protocol: loaded by a script
 * tag from a page on the app's own origin (another loopback port than the node's), authorized
 * by that origin's endpoint as a web app's backend would, next to a pusher-js client in Node.
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  CHROMIUM_PATH,
  HAS_CHROMIUM,
  launchChromium,
  openPage as openBrowserPage,
} from "../../../../test/support/chromium.js";
import { TestCluster } from "../../../../test/support/nodes.js";
import type { PusherJs } from "../../../../test/support/pusher.js";
import {
  NATIVE_API_KEY,
  PUSHER_AUTH_PATH,
  PUSHER_JS_PATH,
  PusherBackendSite,
  TEST_APP,
  connected,
  next,
  pusherClient,
  serverSdk,
  subscribed,
  triggerEvent,
} from "../../../../test/support/pusher.js";

/** Bound on every wait for the page; generous because CI machines are slow, and nothing sleeps. */
const WAIT_MS = 10_000;

/** A presence member as the page records it. */
interface PageMember {
  id: string;
  info: unknown;
}

/** What the test page records, on `window.pusherTest`. */
interface PageState {
  socketId: string | undefined;
  /** The connection's states, in order (`connecting`, `connected`, `unavailable`, ...). */
  states: string[];
  /** Channels whose `pusher:subscription_succeeded` arrived. */
  subscribed: string[];
  subscriptionErrors: unknown[];
  headlines: unknown[];
  /** The presence channel's members at subscription, then its member_added and member_removed. */
  members: PageMember[];
  added: PageMember[];
  removed: PageMember[];
  /** `client-wave` events with the sender's user id. */
  waves: { data: unknown; userId: unknown }[];
}

declare global {
  // The page's globals, as the test reads them through page.evaluate.
  var pusherTest: PageState | undefined;
  var pusherRoom: { trigger(event: string, data: unknown): boolean } | undefined;
}

/** Who the page is and where it connects. */
interface PageOptions {
  /** The node's port (`ws://127.0.0.1:<nodePort>/app/{key}`). */
  nodePort: number;
  /** The page's presence member id, sent to the site's auth endpoint. */
  user: string;
  /** The presence channel it joins. */
  room: string;
  /** pusher-js's `unavailableTimeout`. @default 10_000, pusher-js's own */
  unavailableTimeoutMs?: number;
}

/** The page: pusher-js from the site by a script tag, connected to the node, recording what arrives. */
function pageHtml(options: PageOptions): string {
  const config = {
    // How long pusher-js tries before it reports `unavailable` (it goes on trying); its default is 10 s.
    unavailableTimeout: options.unavailableTimeoutMs ?? 10_000,
    wsHost: "127.0.0.1",
    wsPort: options.nodePort,
    forceTLS: false,
    enabledTransports: ["ws"],
    cluster: "test",
    channelAuthorization: {
      endpoint: PUSHER_AUTH_PATH,
      transport: "ajax",
      params: { user_id: options.user, user_name: `Web ${options.user}` },
    },
  };
  return `<!doctype html><html><head><link rel="icon" href="data:,"></head><body>
<script src="${PUSHER_JS_PATH}"></script>
<script>
  const state = { socketId: undefined, states: [], subscribed: [], subscriptionErrors: [], headlines: [],
    members: [], added: [], removed: [], waves: [] };
  window.pusherTest = state;
  const pusher = new Pusher(${JSON.stringify(TEST_APP.key)}, ${JSON.stringify(config)});
  pusher.connection.bind("connected", () => { state.socketId = pusher.connection.socket_id; });
  pusher.connection.bind("state_change", (change) => state.states.push(change.current));
  const watch = (channel) => {
    channel.bind("pusher:subscription_succeeded", () => state.subscribed.push(channel.name));
    channel.bind("pusher:subscription_error", (error) => state.subscriptionErrors.push(error));
    return channel;
  };
  const news = watch(pusher.subscribe("news"));
  news.bind("headline", (data) => state.headlines.push(data));
  const room = watch(pusher.subscribe(${JSON.stringify(options.room)}));
  window.pusherRoom = room;
  room.bind("pusher:subscription_succeeded", (members) => {
    members.each((member) => state.members.push({ id: member.id, info: member.info }));
  });
  room.bind("pusher:member_added", (member) => state.added.push({ id: member.id, info: member.info }));
  room.bind("pusher:member_removed", (member) => state.removed.push({ id: member.id, info: member.info }));
  room.bind("client-wave", (data, metadata) => state.waves.push({ data, userId: metadata && metadata.user_id }));
</script></body></html>`;
}

const title = HAS_CHROMIUM
  ? "pusher-js's web build in Chromium, loaded by a page on another origin"
  : `pusher-js's web build in Chromium (skipped: no Chromium at ${CHROMIUM_PATH}; apt-get install chromium)`;

describe.skipIf(!HAS_CHROMIUM)(title, () => {
  const cluster = new TestCluster();
  const clients: PusherJs[] = [];
  const contexts: BrowserContext[] = [];
  let site: PusherBackendSite | undefined;
  let browser: Browser | undefined;
  let port = 0;

  beforeAll(async () => {
    // Signing needs no node: the site starts first, so the node can allow only its origin.
    site = new PusherBackendSite(serverSdk(0));
    const origin = await site.start();
    const { node } = await cluster.node({ pusherApps: [TEST_APP], apiKey: NATIVE_API_KEY, allowedOrigins: origin });
    port = node.address.port;
    browser = await launchChromium(WAIT_MS);
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.disconnect();
    await Promise.all(contexts.splice(0).map((context) => context.close()));
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    await cluster.cleanup();
  });

  /** Opens the page in a fresh context; it starts connecting at once. */
  async function loadPage(options: PageOptions): Promise<{ page: Page; errors: string[] }> {
    if (browser === undefined || site === undefined) throw new Error("the browser or the site did not start");
    const path = `/${options.user}-${options.room}-${options.nodePort}.html`;
    site.pages.set(path, pageHtml(options));
    expect(new URL(site.url).port).not.toBe(String(options.nodePort));
    const { context, page, errors } = await openBrowserPage(browser, `${site.url}${path}`, WAIT_MS);
    contexts.push(context);
    return { page, errors };
  }

  /** Opens the page for `user` and waits until both its channels are subscribed. */
  async function openPage(user: string, room: string): Promise<{ page: Page; errors: string[] }> {
    const { page, errors } = await loadPage({ user, room, nodePort: port });
    await until(page, () => {
      const s = globalThis.pusherTest;
      return s !== undefined && (s.subscribed.length === 2 || s.subscriptionErrors.length > 0);
    });
    expect((await state(page)).subscriptionErrors).toEqual([]);
    return { page, errors };
  }

  /** Waits until `check`, run in the page (Chromium polls it), holds; it reads `globalThis.pusherTest`. */
  async function until(page: Page, check: () => boolean): Promise<void> {
    await page.waitForFunction(check, undefined, { timeout: WAIT_MS });
  }

  async function state(page: Page): Promise<PageState> {
    const s = await page.evaluate(() => globalThis.pusherTest);
    if (s === undefined) throw new Error("the page has no pusherTest state");
    return s;
  }

  async function nodeClient(user: string): Promise<PusherJs> {
    const client = pusherClient(port, serverSdk(port), { id: user, info: { name: `Node ${user}` } });
    clients.push(client);
    await connected(client);
    return client;
  }

  it("connects to /app/{key}, subscribes a public channel and receives a server event", async () => {
    const { page, errors } = await openPage("web-1", "presence-lobby");
    expect((await state(page)).socketId).toMatch(/^\d+\.\d+$/);
    await triggerEvent(port, { channel: "news", event: "headline", data: { title: "hello, browser" } });
    await until(page, () => (globalThis.pusherTest?.headlines.length ?? 0) > 0);
    expect((await state(page)).headlines).toEqual([{ title: "hello, browser" }]);
    expect(errors).toEqual([]);
  });

  it("is a presence member with a Node client: member lists, member_added/removed and client events both ways", async () => {
    const room = "presence-room-1";
    const { page, errors } = await openPage("web-1", room);
    expect((await state(page)).members).toEqual([{ id: "web-1", info: { name: "Web web-1" } }]);

    const node = await nodeClient("node-1");
    const { channel, data: members } = await subscribed<{ count: number; members: Record<string, unknown> }>(
      node,
      room,
    );
    expect(members.count).toBe(2);
    expect(members.members).toEqual({ "web-1": { name: "Web web-1" }, "node-1": { name: "Node node-1" } });
    await until(page, () => (globalThis.pusherTest?.added.length ?? 0) > 0);
    expect((await state(page)).added).toEqual([{ id: "node-1", info: { name: "Node node-1" } }]);

    // Node → browser: a client event carries the sender's user id on a presence channel.
    expect(channel.trigger("client-wave", { from: "node" })).toBe(true);
    await until(page, () => (globalThis.pusherTest?.waves.length ?? 0) > 0);
    expect((await state(page)).waves).toEqual([{ data: { from: "node" }, userId: "node-1" }]);

    // Browser → Node.
    const wave = next<unknown>(channel, "client-wave");
    expect(await page.evaluate(() => globalThis.pusherRoom?.trigger("client-wave", { from: "browser" }))).toBe(true);
    expect(await wave).toEqual({ from: "browser" });

    node.disconnect();
    await until(page, () => (globalThis.pusherTest?.removed.length ?? 0) > 0);
    expect((await state(page)).removed).toEqual([{ id: "node-1", info: { name: "Node node-1" } }]);
    expect(errors).toEqual([]);
  });

  it("cannot connect from an origin the node's allowedOrigins does not list", async () => {
    const { node } = await cluster.node({ pusherApps: [TEST_APP], allowedOrigins: "http://127.0.0.1:1" });
    const { page, errors } = await loadPage({
      user: "web-1",
      room: "presence-lobby",
      nodePort: node.address.port,
      unavailableTimeoutMs: 500,
    });
    await until(page, () => globalThis.pusherTest?.states.includes("unavailable") === true);
    const s = await state(page);
    expect(s.states).not.toContain("connected");
    expect(s.subscribed).toEqual([]);
    // Chromium tells why: the node answered the handshake with 403.
    expect(errors.join("\n")).toMatch(/WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/app\/[^']+' failed.*403/);
  });
});
