// A crowd of SDK clients in one process, for load tests: connects `count` clients to `url` at
// once, subscribes each to `channel`, and reports progress as JSON lines on stdout:
// {"subscribed": n, "tryLater": n} every 250 ms, {"received": n} for a publication whose data
// is "ping-<k>", and exits when stdin closes. Plain JavaScript so it runs without a build step.
import { Client } from "@hubcast/client";
import { WebSocket } from "ws";

const [url, countText, channel] = process.argv.slice(2);
const count = Number(countText);
let tryLater = 0;
const clients = [];
const receivedBy = new Map();

for (let i = 0; i < count; i++) {
  const client = new Client(url, {
    websocket: WebSocket,
    minReconnectDelayMs: 100,
    maxReconnectDelayMs: 5_000,
    timeoutMs: 30_000,
  });
  client.on("error", () => {}); // refused attempts are expected in a storm; progress is reported below
  client.on("disconnected", ({ code }) => {
    if (code === 3008) tryLater += 1;
  });
  const sub = client.newSubscription(channel);
  sub.on("error", () => {}); // temporary subscribe errors during the storm are retried by the SDK
  sub.on("publication", ({ data }) => {
    if (typeof data === "string" && data.startsWith("ping-")) receivedBy.set(data, (receivedBy.get(data) ?? 0) + 1);
  });
  sub.subscribe();
  client.connect();
  clients.push({ client, sub });
}

const report = () => {
  const subscribed = clients.filter(({ sub }) => sub.state === "subscribed").length;
  process.stdout.write(`${JSON.stringify({ subscribed, tryLater, received: Object.fromEntries(receivedBy) })}\n`);
};
const timer = setInterval(report, 250);
process.stdin.resume();
process.stdin.on("end", () => {
  clearInterval(timer);
  for (const { client } of clients) client.disconnect();
  process.exit(0);
});
