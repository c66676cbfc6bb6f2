// The packages as a user meets them: packed and published to a real registry (Verdaccio, on
// loopback), then installed each alone into an empty project. Only @hubcast/* comes from the
// local registry (a scoped .npmrc line); everything else comes from npm's usual registry.
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubcastClosure, type PublishedPackage, publishedPackages, repoRoot } from "./support/packages.js";
import { BackgroundCommand, type CommandResult, LocalRegistry, run } from "./support/registry.js";

/** What `npm pack --json` reports of one tarball. */
interface Packed {
  filename: string;
  files: { path: string }[];
}

/** Top-level entries a tarball may hold; anything else was packed by mistake. */
const ALLOWED_ROOTS = new Set(["dist", "src", "bin", "public", "proto", "package.json", "README.md", "LICENSE"]);
/** Files that serve only the repository: tests, contract suites, build state, ignore files. */
const NOT_FOR_USERS = /\.(test|contract)\.|\.tsbuildinfo$|(^|\/)tsconfig[^/]*\.json$|(^|\/)\.npmignore$/;

const packages = publishedPackages();
const rootLicense = readFileSync(join(repoRoot, "LICENSE"), "utf8");

let work = "";
let registry: LocalRegistry | undefined;
const packs = new Map<string, Packed>();
const publishOutput = new Map<string, string>();
const started: BackgroundCommand[] = [];

/** Throws with the command's output unless it exited 0; returns its output. */
function succeeded(result: CommandResult, what: string): string {
  const output = `${result.stdout}${result.stderr}`;
  if (result.code !== 0) throw new Error(`${what} exited with ${result.code}:\n${output}`);
  return output;
}

/** An empty project (package.json and an .npmrc sending @hubcast to the local registry). */
function emptyProject(name: string): string {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, "package.json"), `${JSON.stringify({ name, private: true, type: "module" }, null, 2)}\n`);
  writeFileSync(join(dir, ".npmrc"), registry?.npmrc() ?? "");
  return dir;
}

/** `npm install` in `dir`; fails on a non-zero exit, returns everything npm printed. */
async function install(dir: string, specs: string[]): Promise<string> {
  const result = await run("npm", ["install", ...specs, "--no-audit", "--no-fund", "--loglevel=warn"], dir, 90_000);
  return succeeded(result, `npm install ${specs.join(" ")}`);
}

const installedHubcast = (project: string): string[] => readdirSync(join(project, "node_modules", "@hubcast")).sort();

async function packAndPublish({ dir, manifest }: PublishedPackage, into: string): Promise<void> {
  // The tarball `npm pack` makes is the one published, so what is checked is what users get.
  const packed = succeeded(
    await run("npm", ["pack", "--json", "--pack-destination", into], join(repoRoot, dir)),
    "npm pack",
  );
  const [tarball] = JSON.parse(packed.slice(packed.indexOf("["))) as Packed[];
  if (tarball === undefined) throw new Error(`npm pack printed no tarball for ${manifest.name}`);
  packs.set(manifest.name, tarball);
  // Publishing a tarball runs no lifecycle scripts: nothing is rebuilt on the way out.
  const published = await run("npm", ["publish", join(into, tarball.filename), "--loglevel=warn"], into);
  publishOutput.set(manifest.name, succeeded(published, `npm publish ${tarball.filename}`));
}

beforeAll(async () => {
  for (const { dir } of packages) {
    if (!existsSync(join(repoRoot, dir, "dist"))) throw new Error(`${dir}/dist is missing: run npm run build first`);
  }
  work = mkdtempSync(join(tmpdir(), "hubcast-registry-"));
  mkdirSync(join(work, "registry"));
  registry = await LocalRegistry.start(join(work, "registry"));
  const token = await registry.addUser("release-check", randomUUID());
  const publisher = join(work, "publish");
  mkdirSync(publisher);
  writeFileSync(join(publisher, ".npmrc"), registry.npmrc(token));
  for (const pkg of packages) await packAndPublish(pkg, publisher);
}, 90_000);

afterAll(async () => {
  for (const command of started) await command.stop();
  await registry?.stop();
  if (work !== "") rmSync(work, { recursive: true, force: true });
}, 40_000);

describe("the packages in a registry", () => {
  it("publishes every package with its README and LICENSE, and without tests or build state", () => {
    expect([...packs.keys()]).toEqual(packages.map((p) => p.manifest.name));
    for (const { dir, manifest } of packages) {
      const paths = (packs.get(manifest.name)?.files ?? []).map((f) => f.path);
      const unexpected = paths.filter((p) => !ALLOWED_ROOTS.has(p.split("/")[0] ?? "") || NOT_FOR_USERS.test(p));
      expect(unexpected, manifest.name).toEqual([]);
      const entryPoints = [manifest.main, ...Object.values(manifest.bin ?? {})].map((p) => p?.replace(/^\.\//, ""));
      expect(paths, manifest.name).toEqual(
        expect.arrayContaining(["package.json", "README.md", "LICENSE", ...entryPoints]),
      );
      expect(readFileSync(join(repoRoot, dir, "LICENSE"), "utf8"), `${dir}/LICENSE`).toBe(rootLicense);
      // npm rewrites a package.json it finds faulty at publish time, and says so.
      expect(publishOutput.get(manifest.name), manifest.name).not.toContain("auto-corrected");
    }
  });

  it("pins @hubcast dependencies to the versions published with them", () => {
    const versions = new Map(packages.map((p) => [p.manifest.name, p.manifest.version]));
    for (const { manifest } of packages) {
      for (const [dep, range] of Object.entries(manifest.dependencies ?? {})) {
        if (dep.startsWith("@hubcast/")) expect(range, `${manifest.name} → ${dep}`).toBe(versions.get(dep));
      }
    }
  });

  it("installs @hubcast/server alone and @hubcast/client alone, and the SDK talks to `npx hubcast start`", async () => {
    const server = emptyProject("server-project");
    const serverInstall = await install(server, ["@hubcast/server"]);
    expect(serverInstall).not.toContain("EBADENGINE");
    expect(installedHubcast(server)).toEqual(hubcastClosure(packages, "@hubcast/server"));

    // The command is there right after the install, from the project's own copy.
    const help = await run("npx", ["--no-install", "hubcast", "--help"], server, 30_000);
    expect(succeeded(help, "npx hubcast --help")).toContain("Usage: hubcast <command>");

    const hubcast = BackgroundCommand.start(
      "npx",
      ["--no-install", "hubcast", "start", "--port", "0", "--log-format", "json"],
      server,
    );
    started.push(hubcast);
    const url = await hubcast.waitForLine(
      (line) => {
        if (!line.startsWith("{")) return undefined;
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        return entry.msg === "hubcast listening" ? entry.url : undefined;
      },
      30_000,
      "hubcast start to listen",
    );

    // The browser SDK comes with the server's dependency on @hubcast/client, from any origin.
    const bundle = await fetch(`${url}/sdk/hubcast.js`, { headers: { Origin: "https://app.example" } });
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get("access-control-allow-origin")).toBe("*");
    expect(await bundle.text()).toContain("hubcast.v1.json");

    const client = emptyProject("client-project");
    // ws: the WebSocket for Node 20, as the README of @hubcast/client says.
    const clientInstall = await install(client, ["@hubcast/client", "ws"]);
    expect(clientInstall).not.toContain("EBADENGINE");
    expect(installedHubcast(client)).toEqual(hubcastClosure(packages, "@hubcast/client"));

    // The example in the README that ships in the package, run as written against that server.
    const readme = readFileSync(join(client, "node_modules/@hubcast/client/README.md"), "utf8");
    const example = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example, "a ```js example in @hubcast/client's README").toBeDefined();
    const wsUrl = `${url?.replace(/^http/, "ws")}/ws`;
    writeFileSync(join(client, "example.mjs"), (example ?? "").replace("ws://localhost:8080/ws", wsUrl));
    // It exits on its own once it has received its publication and disconnected.
    const ran = await run(process.execPath, ["example.mjs"], client, 20_000);
    expect(succeeded(ran, "the README example")).toMatch(/^received \d+ \{"text":"hello from npm"\}$/m);
  }, 150_000);

  it("installs @hubcast/bench beside the server for `hubcast bench`, and alone as `hubcast-bench`", async () => {
    const project = emptyProject("bench-project");
    expect(await install(project, ["@hubcast/server", "@hubcast/bench"])).not.toContain("EBADENGINE");
    const viaServer = await run("npx", ["--no-install", "hubcast", "bench", "--help"], project, 30_000);
    expect(succeeded(viaServer, "npx hubcast bench --help")).toContain("Usage: hubcast bench");
    const alone = await run("npx", ["--no-install", "hubcast-bench", "--help"], project, 30_000);
    expect(succeeded(alone, "npx hubcast-bench --help")).toContain("Usage: hubcast bench");
  }, 120_000);
});
