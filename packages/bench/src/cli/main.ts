#!/usr/bin/env node
/** `hubcast-bench <scenario> [options]`: the same as `hubcast bench`, for installs without the server. */
import { benchCommand } from "./command.js";

benchCommand(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`hubcast bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
