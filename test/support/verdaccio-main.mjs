// Runs a Verdaccio registry in a process of its own (LocalRegistry in registry.ts), so that
// stopping it is one kill: reads the config file named by argv[2], listens on a free loopback
// port and prints {"port": n} on stdout once it accepts connections.
import { runServer } from "verdaccio";

const server = await runServer(process.argv[2]);
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
