/**
 * The admin page in real Chromium against two nodes sharing Redis, as an operator uses it:
 * log in, see both nodes, watch a count change live, find a channel, publish into it and see
 * the message reach a client, disconnect a user. Hostile channel names, user ids and payloads
 * must show as text. Screenshots go to .test-artifacts/admin/ for a reviewer to look at.
 */
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { Client } from "../packages/client/src/index.js";
import type { PublicationPush } from "../packages/client/src/index.js";
import { createNode } from "../packages/server/src/node.js";
import type { HubcastNode } from "../packages/server/src/node.js";
import { HAS_CHROMIUM, launchChromium, openPage } from "./support/chromium.js";
import { RawClient } from "./support/raw-client.js";
import { RedisServer } from "./support/redis.js";
import { TEST_SECRET, sign } from "./support/tokens.js";

const WAIT_MS = 10_000;
const PASSWORD = "correct horse battery staple";
const SHOTS = fileURLToPath(new URL("../.test-artifacts/admin/", import.meta.url));
/** A channel name that is valid and would be markup if it were ever put on the page as HTML. */
const HOSTILE_CHANNEL = "chat:<img/src/onerror=window.__pwned=1>";
const HOSTILE_USER = "<script>window.__pwned=2</script>";

describe.skipIf(!HAS_CHROMIUM)(
  "the admin page (skipped unless Chromium is installed: apt-get install chromium)",
  () => {
    let redis: RedisServer;
    const nodes: HubcastNode[] = [];
    const clients: RawClient[] = [];
    const sdkClients: Client[] = [];
    let browser: Browser;
    let page: Page;
    let errors: string[];
    let wsUrl = "";

    beforeAll(async () => {
      redis = await RedisServer.start();
      for (let i = 0; i < 2; i += 1) {
        const node = await createNode({
          port: 0,
          logLevel: "silent",
          demo: false,
          engine: "redis",
          redisUrl: redis.url,
          redisPrefix: "admin-browser",
          nodeTtlMs: 1_500,
          adminPassword: PASSWORD,
          tokenHmacSecret: TEST_SECRET,
          namespaces: { chat: { historySize: 50, presence: true, allowPublish: true } },
        });
        nodes.push(node);
        await node.start();
      }
      wsUrl = `${nodes[1]?.address.url.replace(/^http/, "ws")}/ws`;
      mkdirSync(SHOTS, { recursive: true });
      browser = await launchChromium(WAIT_MS);
      const opened = await openPage(browser, `${nodes[0]?.address.url}/admin`, WAIT_MS);
      page = opened.page;
      errors = opened.errors;
      page.on("dialog", (dialog) => void dialog.accept()); // the disconnect confirmation
    }, 60_000);

    afterAll(async () => {
      for (const c of sdkClients) c.disconnect();
      await Promise.all(clients.map((c) => c.close()));
      await browser?.close();
      await Promise.all(nodes.map((n) => n.close()));
      await redis?.stop();
    });

    async function client(user: string): Promise<RawClient> {
      const token = await sign({ sub: user });
      const c = await RawClient.open(wsUrl);
      await c.ok("connect", { token });
      clients.push(c);
      return c;
    }

    const shot = (name: string): Promise<Buffer> => page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });

    it("refuses a wrong password, then logs in and shows both nodes", async () => {
      await page.getByTestId("password").fill("not the password");
      await page.getByTestId("login").click();
      await expect.poll(() => page.getByTestId("login-error").textContent()).toMatch(/wrong password/);
      await page.getByTestId("password").fill(PASSWORD);
      await page.getByTestId("login").click();
      await page.getByTestId("nodes").locator("tbody tr").nth(1).waitFor({ timeout: WAIT_MS });
      expect(await page.getByTestId("nodes").locator("tbody tr").count()).toBe(2);
      await expect.poll(() => page.getByTestId("status").textContent(), { timeout: WAIT_MS }).toBe("live");
      await shot("cluster");
    });

    it("shows a new connection on the other node without a reload", async () => {
      const total = async (): Promise<number> => {
        const cells = await page.getByTestId("nodes").locator("tbody tr td:nth-child(6)").allTextContents();
        return cells.reduce((sum, cell) => sum + Number(cell.replaceAll(",", "")), 0);
      };
      const before = await total();
      await client("watcher");
      await expect.poll(total, { timeout: WAIT_MS }).toBe(before + 1);
    });

    it("finds a channel, shows hostile names and payloads as text, and publishes into it from the page", async () => {
      // The reader is an SDK client, as an app's page would be.
      const reader = new Client(wsUrl, { websocket: WebSocket, token: await sign({ sub: HOSTILE_USER }) });
      sdkClients.push(reader);
      const received: PublicationPush[] = [];
      const subscription = reader.newSubscription(HOSTILE_CHANNEL);
      subscription.on("publication", (publication) => received.push(publication));
      subscription.subscribe();
      reader.connect();
      await subscription.ready();
      await subscription.publish({ html: "<b onmouseover=window.__pwned=3>bold</b>" });
      await page.getByTestId("tab-channels").click();
      await page.getByTestId("channels-prefix").fill("chat:");
      await page.getByTestId("channels-search").click();
      await page.getByTestId("channels").getByText(HOSTILE_CHANNEL, { exact: true }).click();
      await expect.poll(() => page.getByTestId("channel-summary").textContent()).toContain(HOSTILE_CHANNEL);
      await expect.poll(() => page.getByTestId("presence").textContent()).toContain(HOSTILE_USER);
      await expect.poll(() => page.getByTestId("history").textContent()).toContain("<b onmouseover");
      await page.getByTestId("publish-data").fill('{"from": "the admin page"}');
      await page.getByTestId("publish").click();
      await expect.poll(() => page.getByTestId("publish-result").textContent()).toMatch(/published/);
      await expect.poll(() => received.at(-1)?.data, { timeout: WAIT_MS }).toEqual({ from: "the admin page" });
      await shot("channel");
      // Nothing the server sent was ever markup: no script ran, no element came from the data.
      expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
      expect(await page.locator("main img, main script, main b").count()).toBe(0);
    });

    it("disconnects a user's connections on every node", async () => {
      const victim = await client("mallory");
      await page.getByTestId("tab-users").click();
      await page.getByTestId("users-prefix").fill("mall");
      await page.getByTestId("users-search").click();
      await page.getByTestId("users").getByText("mallory", { exact: true }).waitFor({ timeout: WAIT_MS });
      await shot("users");
      await page.getByTestId("users").locator("tbody tr", { hasText: "mallory" }).getByTestId("disconnect").click();
      await expect.poll(() => page.getByTestId("users-result").textContent()).toMatch(/disconnected mallory/);
      const closed = await victim.closed;
      expect(closed.code).toBe(3501);
    });

    it("logs out, and the page asks for the password again; nothing broke on the way", async () => {
      await page.getByTestId("logout").click();
      await page.getByTestId("password").waitFor({ timeout: WAIT_MS });
      expect(errors.filter((e) => !/Failed to load resource.*401/.test(e))).toEqual([]);
    });
  },
);
