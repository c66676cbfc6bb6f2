import { existsSync } from "node:fs";
import { chromium } from "playwright-core";
import type { Browser } from "playwright-core";

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
