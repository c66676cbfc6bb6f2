import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { CHROMIUM_PATH, HAS_CHROMIUM, launchChromium } from "../../../test/support/chromium.js";
import { OutageProxy } from "../../../test/support/outage-proxy.js";
import { HubcastNode } from "./node.js";

/** Bound on every wait for the page; generous because CI machines are slow, and nothing sleeps. */
const WAIT_MS = 15_000;
const TEST_MS = 60_000;

/** One browser tab on the demo, with whatever it reported as broken. */
interface DemoPage {
  page: Page;
  /** Console errors and uncaught page errors, in order. */
  errors: string[];
  /** Console errors this test expects (Chromium logs every failed WebSocket connect itself). */
  allowed: RegExp[];
}

/**
 * What Chromium logs by itself while the node is unreachable: failed WebSocket connects, and
 * the requests of the SDK's fallback transports (HTTP-streaming, SSE) it tries meanwhile.
 */
const OUTAGE_ERRORS = [
  /^console\.error: WebSocket connection to .* failed/,
  /^console\.error: Failed to load resource: net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE)/,
];

const unexpected = (pages: DemoPage[]): string[] =>
  pages.flatMap((p) => p.errors.filter((error) => !p.allowed.some((pattern) => pattern.test(error))));

describe("demo chat page (Chromium)", () => {
  let node: HubcastNode | undefined;
  let browser: Browser | undefined;
  let baseUrl = "";
  const contexts: BrowserContext[] = [];
  const opened: DemoPage[] = [];
  const proxies: OutageProxy[] = [];

  beforeAll(async () => {
    if (!HAS_CHROMIUM) return;
    node = new HubcastNode({ port: 0, logLevel: "silent" });
    baseUrl = (await node.start()).url;
    browser = await launchChromium(WAIT_MS);
  });

  afterEach(async () => {
    // Read before closing: a page that fails while closing is not the page's fault.
    const errors = unexpected(opened);
    opened.length = 0;
    await Promise.all(contexts.splice(0).map((context) => context.close()));
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
    expect(errors, "the demo page logged errors").toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await node?.close();
  });

  /** Opens the demo in a fresh context (its own localStorage) and waits until it is connected. */
  async function openDemo(hash = "", url = baseUrl): Promise<DemoPage> {
    if (browser === undefined) throw new Error("the browser did not start");
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    const demo: DemoPage = { page, errors: [], allowed: [] };
    opened.push(demo);
    page.on("console", (message) => {
      if (message.type() === "error") demo.errors.push(`console.error: ${message.text()}`);
    });
    page.on("pageerror", (error) => demo.errors.push(`uncaught: ${error.stack ?? error.message}`));
    await page.goto(`${url}/${hash}`, { timeout: WAIT_MS });
    await waitForStatus(page, "connected");
    return demo;
  }

  async function waitForStatus(page: Page, state: "connecting" | "connected"): Promise<void> {
    await page.locator(`[data-testid="status"][data-state="${state}"]`).waitFor({ timeout: WAIT_MS });
  }

  async function waitForPresence(page: Page, count: number): Promise<void> {
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="presence-entry"]').length === n, count, {
      timeout: WAIT_MS,
    });
  }

  async function waitForMessage(page: Page, text: string): Promise<void> {
    await page
      .getByTestId("messages")
      .getByTestId("message")
      .filter({ has: page.getByTestId("message-text").getByText(text, { exact: true }) })
      .waitFor({ timeout: WAIT_MS });
  }

  async function send(page: Page, text: string): Promise<void> {
    await page.getByTestId("message-input").fill(text);
    await page.getByTestId("message-input").press("Enter");
  }

  function failIfBroken(...pages: DemoPage[]): void {
    expect(unexpected(pages), "the demo page logged errors").toEqual([]);
  }

  it.skipIf(!HAS_CHROMIUM)(
    `two tabs chat live in the lobby and a later tab gets the message from history (needs ${CHROMIUM_PATH})`,
    async () => {
      const one = await openDemo();
      const two = await openDemo();
      await waitForPresence(one.page, 2);
      await waitForPresence(two.page, 2);
      expect(await one.page.getByTestId("nick").inputValue()).toMatch(/^guest-\d{4}$/);

      await one.page.getByTestId("nick").fill("alice");
      const text = `hello from one ${randomUUID()}`;
      await send(one.page, text);
      await waitForMessage(two.page, text);
      await waitForMessage(one.page, text);

      const own = one.page.getByTestId("message").filter({ hasText: text });
      expect(await own.getAttribute("class")).toContain("own");
      const theirs = two.page.getByTestId("message").filter({ hasText: text });
      expect(await theirs.getAttribute("class")).not.toContain("own");
      expect(await theirs.getByTestId("message-nick").textContent()).toBe("alice");
      expect(await two.page.getByTestId("presence-entry").count()).toBe(2);
      // Page two learned alice's nickname from her message.
      await two.page.getByTestId("presence-entry").filter({ hasText: "alice" }).waitFor({ timeout: WAIT_MS });

      const three = await openDemo();
      await waitForMessage(three.page, text);
      await waitForPresence(one.page, 3);
      failIfBroken(one, two, three);
    },
    TEST_MS,
  );

  it.skipIf(!HAS_CHROMIUM)(
    `switching rooms changes the subscription and user text stays text (needs ${CHROMIUM_PATH})`,
    async () => {
      const room = `r-${randomUUID().slice(0, 8)}`;
      const one = await openDemo();
      await one.page.getByTestId("join-room").fill(room);
      await one.page.getByTestId("join").click();
      await one.page.getByTestId("room-name").getByText(room, { exact: true }).waitFor({ timeout: WAIT_MS });
      await waitForPresence(one.page, 1);

      const two = await openDemo(`#${room}`);
      await waitForPresence(one.page, 2);
      const markup = `<img src=x onerror="document.title='pwned'"> ${randomUUID()}`;
      await send(two.page, markup);
      await waitForMessage(one.page, markup);
      expect(await one.page.locator('[data-testid="messages"] img').count()).toBe(0);

      // One leaves for dev: two sees it go, and one no longer gets this room's messages.
      await one.page.getByTestId("room-dev").click();
      await waitForPresence(two.page, 1);
      const later = `only in ${room} ${randomUUID()}`;
      await send(two.page, later);
      await waitForMessage(two.page, later);
      await one.page.getByTestId(`room-${room}`).click();
      // Back in the room, the message arrives from history, once.
      await waitForMessage(one.page, later);
      expect(await one.page.getByTestId("message").filter({ hasText: later }).count()).toBe(1);
      failIfBroken(one, two);
    },
    TEST_MS,
  );

  it.skipIf(!HAS_CHROMIUM)(
    `after the server restarts, tabs are back within seconds and know each other's nicknames (needs ${CHROMIUM_PATH})`,
    async () => {
      // Its own node, so that this one can restart on the same port.
      let own = new HubcastNode({ port: 0, logLevel: "silent", drainWindowMs: 500 });
      const { port, url } = await own.start();
      try {
        const one = await openDemo("", url);
        const two = await openDemo("", url);
        for (const [demo, nick] of [
          [one, "alice"],
          [two, "bob"],
        ] as const) {
          demo.allowed.push(...OUTAGE_ERRORS);
          await demo.page.getByTestId("nick").fill(nick);
        }
        await two.page.getByTestId("presence-entry").filter({ hasText: "alice" }).waitFor({ timeout: WAIT_MS });

        await own.drain();
        await waitForStatus(one.page, "connecting");
        // Down long enough for the reconnect backoff to grow past the demo's cap (2 s).
        await new Promise((resolve) => setTimeout(resolve, 4_000));
        own = new HubcastNode({ port, logLevel: "silent" });
        await own.start();
        const restartedAt = Date.now();
        await Promise.all([waitForStatus(one.page, "connected"), waitForStatus(two.page, "connected")]);
        // Cap plus connect and subscribe; the SDK's own 20 s cap would allow ~10 s on average.
        expect(Date.now() - restartedAt).toBeLessThan(4_000);

        // New connection ids on both sides, yet each tab names the other, without a message sent.
        await one.page.getByTestId("presence-entry").filter({ hasText: "bob" }).waitFor({ timeout: WAIT_MS });
        await two.page.getByTestId("presence-entry").filter({ hasText: "alice" }).waitFor({ timeout: WAIT_MS });
        expect(await one.page.getByTestId("message").count()).toBe(0);
        failIfBroken(one, two);
      } finally {
        await own.close();
      }
    },
    TEST_MS,
  );

  it.skipIf(!HAS_CHROMIUM)(
    `after a network outage a tab recovers what it missed (needs ${CHROMIUM_PATH})`,
    async () => {
      if (node === undefined) throw new Error("the node did not start");
      const proxy = new OutageProxy(node.address);
      proxies.push(proxy);
      const room = `r-${randomUUID().slice(0, 8)}`;
      const one = await openDemo(`#${room}`, await proxy.start());
      const two = await openDemo(`#${room}`);
      await waitForPresence(one.page, 2);
      const before = `before ${randomUUID()}`;
      await send(two.page, before);
      await waitForMessage(one.page, before);

      one.allowed.push(...OUTAGE_ERRORS);
      proxy.setUp(false);
      await waitForStatus(one.page, "connecting");
      const missed = `missed ${randomUUID()}`;
      await send(two.page, missed);
      await waitForMessage(two.page, missed);
      proxy.setUp(true);

      await waitForStatus(one.page, "connected");
      await one.page
        .getByTestId("notice")
        .filter({ hasText: "reconnected, nothing missed" })
        .waitFor({ timeout: WAIT_MS });
      await waitForMessage(one.page, missed);
      expect(await one.page.getByTestId("message").filter({ hasText: before }).count()).toBe(1);
      expect(await one.page.getByTestId("message").filter({ hasText: missed }).count()).toBe(1);
      failIfBroken(one, two);
    },
    TEST_MS,
  );
});
