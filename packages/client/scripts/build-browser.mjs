// Builds the browser bundles that ship in dist/browser/ and that every node serves under /sdk/.
// Run after `tsc -b`: @hubcast/protocol is bundled from its compiled dist/.
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = new URL("..", import.meta.url);
const { name, version, license } = JSON.parse(await readFile(new URL("package.json", here), "utf8"));

/** Every bundle: the JSON-only ones carry no Protobuf; `@hubcast/protocol` is side-effect free, so esbuild drops it. */
const BUNDLES = [
  { outfile: "hubcast.js", entry: "src/index.ts", format: "esm" },
  { outfile: "hubcast.iife.js", entry: "src/index.ts", format: "iife", globalName: "Hubcast" },
  { outfile: "hubcast-protobuf.js", entry: "src/protobuf.ts", format: "esm" },
];

await Promise.all(
  BUNDLES.map((bundle) =>
    build({
      absWorkingDir: fileURLToPath(here),
      entryPoints: [bundle.entry],
      outfile: `dist/browser/${bundle.outfile}`,
      bundle: true,
      format: bundle.format,
      globalName: bundle.globalName,
      platform: "browser",
      // Browsers from 2020 on: every one with WebSocket subprotocols, ES modules and `??`.
      target: "es2020",
      minify: true,
      sourcemap: true,
      banner: { js: `/*! ${name} ${version} (${bundle.outfile}) | ${license} */` },
      logLevel: "warning",
    }),
  ),
);

// The script-tag bundle exports nothing and defines a global; its types say so.
const IIFE_TYPES = `// The script-tag bundle (${name} ${version}) exports nothing: it defines the global \`Hubcast\`.
import type * as HubcastSdk from "../index.js";
declare global {
  /** The Hubcast client SDK, defined by \`<script src=".../hubcast.iife.js">\`. */
  var Hubcast: typeof HubcastSdk;
}
export {};
`;
await writeFile(new URL("dist/browser/hubcast.iife.d.ts", here), IIFE_TYPES);
