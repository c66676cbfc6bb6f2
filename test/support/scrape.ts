import { get } from "node:http";

/** A Prometheus text exposition parsed into samples, each keyed exactly as printed: `name{label="value"}`. */
export function parseSamples(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const cut = line.lastIndexOf(" ");
    samples.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return samples;
}

/** One sample's value; throws when the series is missing. */
export function sample(samples: Map<string, number>, key: string): number {
  const value = samples.get(key);
  if (value === undefined) throw new Error(`no sample ${key} in the scrape`);
  return value;
}

/**
 * `GET /metrics` on a fresh TCP connection: no keep-alive, so that behind a shared port
 * (cluster mode) each scrape is a new connection the primary may give to any worker.
 * Rejects on any status but 200, or after `timeoutMs`.
 */
export function scrapeFresh(httpUrl: string, timeoutMs = 10_000): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    const req = get(`${httpUrl}/metrics`, { agent: false, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => {
        if (res.statusCode === 200) resolve(parseSamples(body));
        else reject(new Error(`GET /metrics answered ${res.statusCode}: ${body}`));
      });
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}
