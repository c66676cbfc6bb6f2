import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { ADMIN_CSP } from "./http.js";
import { loadAdminFiles, serveAdminFile } from "./static.js";

const silent = pino({ level: "silent" });
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A folder holding `files`, removed after the test. */
function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "hubcast-admin-page-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

async function serveFolder(dir: string): Promise<string> {
  const files = await loadAdminFiles(silent, dir);
  const server: Server = createServer((req, res) =>
    serveAdminFile(req, res, (req.url ?? "/").split("?")[0] ?? "/", files),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("the admin page's files", () => {
  it("serves index.html at /admin and /admin/, the page's files and uPlot, with the CSP", async () => {
    const dir = folder({ "index.html": "<!doctype html><title>admin</title>", "admin.js": "1", "notes.txt": "no" });
    mkdirSync(join(dir, "sub"));
    writeFileSync(join(dir, "sub", "x.js"), "nested");
    const base = await serveFolder(dir);
    for (const path of ["/admin", "/admin/", "/admin/index.html"]) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(res.headers.get("content-security-policy")).toBe(ADMIN_CSP);
      expect(res.headers.get("cache-control")).toBe("no-cache");
      expect(await res.text()).toContain("<title>admin</title>");
    }
    expect((await fetch(`${base}/admin/admin.js`)).headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect((await fetch(`${base}/admin/uplot.css`)).headers.get("content-type")).toBe("text/css; charset=utf-8");
    for (const path of ["/admin/notes.txt", "/admin/sub/x.js", "/admin/missing.js"]) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(404);
      expect(res.headers.get("content-security-policy")).toBe(ADMIN_CSP);
    }
    const head = await fetch(`${base}/admin/`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
  });

  it("serves only the chart library when the page's folder is missing", async () => {
    const base = await serveFolder(join(tmpdir(), "hubcast-no-such-folder-0123"));
    expect((await fetch(`${base}/admin/`)).status).toBe(404);
    expect((await fetch(`${base}/admin/uplot.js`)).status).toBe(200);
  });
});
