import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const protocolDir = fileURLToPath(new URL("..", import.meta.url));
const binDir = fileURLToPath(new URL("../../../node_modules/.bin", import.meta.url));
const buf = join(binDir, "buf");

/** Every file under `dir`, as paths relative to it, sorted. */
function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

/** Why `buf` cannot run here, or undefined when it can. */
function bufMissing(): string | undefined {
  try {
    execFileSync(buf, ["--version"], { stdio: "pipe" });
    return undefined;
  } catch (err) {
    return `buf is not runnable (${err instanceof Error ? err.message.split("\n")[0] : String(err)}); \`npm ci\` installs it from @bufbuild/buf`;
  }
}

describe("generated Protobuf code", () => {
  it("is what `npm run gen:proto -w @hubcast/protocol` makes from proto/ (regenerate after editing the .proto)", (ctx) => {
    const missing = bufMissing();
    if (missing !== undefined) {
      ctx.skip(missing);
      return;
    }
    const out = mkdtempSync(join(tmpdir(), "hubcast-gen-"));
    try {
      const env = { ...process.env, PATH: `${binDir}:${process.env["PATH"] ?? ""}` };
      execFileSync(buf, ["generate", "--output", out], { cwd: protocolDir, env, stdio: "pipe" });
      const committed = join(protocolDir, "src/gen");
      const fresh = join(out, "src/gen");
      expect(files(committed), "files in src/gen").toEqual(files(fresh));
      for (const file of files(fresh)) {
        expect(readFileSync(join(committed, file), "utf8"), `src/gen/${file} is stale`).toBe(
          readFileSync(join(fresh, file), "utf8"),
        );
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe("@hubcast/protocol runtime code", () => {
  const srcDir = join(protocolDir, "src");
  const runtime = files(srcDir).filter((file) => file.endsWith(".ts") && !file.endsWith(".test.ts"));

  it.each(runtime)("%s imports nothing but its siblings and @bufbuild/protobuf (browser-safe)", (file) => {
    const source = readFileSync(join(srcDir, file), "utf8");
    const specifiers = [...source.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"/gm)].map(
      (match) => match[1] ?? "",
    );
    expect(source, `${file} loads a module at run time`).not.toMatch(/\b(?:import|require)\(/);
    for (const specifier of specifiers) {
      expect(specifier, `${file} imports ${specifier}`).toMatch(/^(\.\.?\/|@bufbuild\/protobuf(\/(wire|codegenv2))?$)/);
    }
  });
});
