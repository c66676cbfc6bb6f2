import { existsSync } from "node:fs";
import { chromium } from "playwright-core";
import type { Browser, BrowserContext, Page } from "playwright-core";

/** Debian's Chromium, which the browser tests drive through playwright-core. */
export const CHROMIUM_PATH = "/usr/bin/chromium";
/** False on machines without Chromium: browser tests skip there. */
export const HAS_CHROMIUM = existsSync(CHROMIUM_PATH);

const CHROMIUM_ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Starts a headless Chromium; the caller closes it (afterAll). */
export function launchChromium(timeoutMs: number): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: timeoutMs });
}

/**
 * Opens `url` in a fresh context of `browser` and collects what the page reports as broken:
 * `console.error` lines and uncaught errors. The caller closes `context` (afterEach).
 */
export async function openPage(
  browser: Browser,
  url: string,
  timeoutMs: number,
): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`console.error: ${message.text()}`);
  });
  page.on("pageerror", (error) => errors.push(`uncaught: ${error.stack ?? error.message}`));
  await page.goto(url, { timeout: timeoutMs });
  return { context, page, errors };
}
