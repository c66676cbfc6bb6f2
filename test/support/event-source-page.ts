import type { Browser, Page } from "playwright-core";

/** What a page's plain EventSource saw so far. */
export interface EventSourceState {
  /** `subscribed` events: one per channel each time the stream (re)opens. */
  opens: number;
  /** Publications (`message` events), in order: the event id and the parsed data. */
  messages: { id: string; publication: { channel: string; data: unknown; offset?: number } }[];
  /** Bodies of `disconnect` events. */
  disconnects: { code: number; reason: string; reconnect: boolean }[];
}

/**
 * A Chromium page on `baseUrl` (same origin as the node, or a proxy in front of it) with a
 * plain `EventSource` on `path`, recording what it receives; read it with {@link state}.
 */
export class EventSourcePage {
  private constructor(readonly page: Page) {}

  static async open(browser: Browser, baseUrl: string, path: string): Promise<EventSourcePage> {
    const page = await browser.newPage();
    await page.goto(`${baseUrl}/healthz`);
    await page.evaluate((streamPath) => {
      const seen = { opens: 0, messages: [] as unknown[], disconnects: [] as unknown[] };
      (window as unknown as { seen: typeof seen }).seen = seen;
      const source = new EventSource(streamPath);
      source.addEventListener("subscribed", () => {
        seen.opens += 1;
      });
      source.addEventListener("disconnect", (e) => seen.disconnects.push(JSON.parse((e as MessageEvent).data)));
      source.onmessage = (e) => seen.messages.push({ id: e.lastEventId, publication: JSON.parse(e.data as string) });
    }, path);
    return new EventSourcePage(page);
  }

  state(): Promise<EventSourceState> {
    return this.page.evaluate(() => (window as unknown as { seen: EventSourceState }).seen);
  }

  close(): Promise<void> {
    return this.page.close();
  }
}
