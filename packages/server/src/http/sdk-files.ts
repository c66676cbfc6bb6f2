import { createHash } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Logger } from "pino";
import { ApiErrorCode, apiErrorBody } from "./api-errors.js";

/** The URL prefix every node serves the browser SDK under, demo on or off. */
export const SDK_PREFIX = "/sdk/";

/** Unversioned names change with every upgrade: browsers revalidate them after this long (seconds). */
const UNVERSIONED_MAX_AGE_S = 300;
const IMMUTABLE = "public, max-age=31536000, immutable";

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".js": "text/javascript; charset=utf-8",
  ".map": "application/json; charset=utf-8",
};

interface SdkFile {
  body: Buffer;
  type: string;
  /** Strong validator: a hash of the body. */
  etag: string;
}

/** The browser bundles of `@hubcast/client`, read once at startup. */
export interface SdkFiles {
  /** The `@hubcast/client` version; `/sdk/<version>/<file>` serves the same files as immutable. */
  readonly version: string;
  /** By file name (`hubcast.js`, `hubcast.js.map`, …). Empty when the bundles are missing. */
  readonly files: ReadonlyMap<string, SdkFile>;
  /** Why `files` is empty, for the 404 body; `undefined` when the bundles were found. */
  readonly missing: string | undefined;
}

/** Where the bundles are in an installed `@hubcast/client`, found through the package, as a registry install lays it out. */
function clientPackageDir(): string {
  return dirname(createRequire(import.meta.url).resolve("@hubcast/client/package.json"));
}

function typeOf(name: string): string | undefined {
  return CONTENT_TYPES[name.slice(name.lastIndexOf("."))];
}

async function readBundles(dir: string): Promise<Map<string, SdkFile>> {
  const files = new Map<string, SdkFile>();
  for (const name of await readdir(dir)) {
    const type = typeOf(name);
    if (type === undefined) continue;
    const body = await readFile(join(dir, name));
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`;
    files.set(name, { body, type, etag });
  }
  return files;
}

/**
 * Reads the browser bundles of `@hubcast/client` (its `dist/browser/`, or `dir` when given).
 * Never throws: when the package or its bundles are missing, logs one warning and returns no
 * files, so the node still starts and `/sdk/` answers 404 saying why.
 */
export async function loadSdkFiles(logger: Logger, dir?: string): Promise<SdkFiles> {
  let version = "";
  let bundleDir = dir;
  let missing: string | undefined;
  let files = new Map<string, SdkFile>();
  try {
    const packageDir = clientPackageDir();
    version =
      (JSON.parse(await readFile(join(packageDir, "package.json"), "utf8")) as { version?: string }).version ?? "";
    bundleDir ??= join(packageDir, "dist", "browser");
  } catch (err) {
    missing = "@hubcast/client is not installed beside @hubcast/server; reinstall @hubcast/server";
    logger.warn({ err }, `the browser SDK is not served under ${SDK_PREFIX}: ${missing}`);
    return { version, files, missing };
  }
  let readError: unknown;
  try {
    files = await readBundles(bundleDir);
  } catch (err) {
    readError = err; // usually ENOENT: a clone where `npm run build` has not run
  }
  if (![...files.keys()].some((name) => name.endsWith(".js"))) {
    missing = `the browser SDK is not built (no bundles in ${bundleDir}); run \`npm run build\` in the repository`;
    logger.warn({ err: readError }, `the browser SDK is not served under ${SDK_PREFIX}: ${missing}`);
    files = new Map();
  }
  return { version, files, missing };
}

// Any origin may load the SDK: it is public code, and pages on other origins are its users.
const SHARED_HEADERS = {
  "Access-Control-Allow-Origin": "*",
  "Cross-Origin-Resource-Policy": "cross-origin",
  "X-Content-Type-Options": "nosniff",
} as const;

function notFound(res: ServerResponse, message: string): void {
  res.writeHead(404, {
    ...SHARED_HEADERS,
    "Content-Type": "application/json; charset=utf-8",
    "Cache-Control": "no-store",
  });
  res.end(JSON.stringify(apiErrorBody(ApiErrorCode.notFound, message)));
}

/** True when `If-None-Match` names `etag` (weak comparison, as RFC 9110 asks for GET). */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch.split(",").some((tag) => {
    const t = tag.trim();
    return t === "*" || t.replace(/^W\//, "") === etag;
  });
}

/**
 * Answers a GET or HEAD under `/sdk/`: `/sdk/<file>` revalidated after a short max-age,
 * `/sdk/<version>/<file>` immutable, both with an ETag (a matching `If-None-Match` gets 304),
 * CORS open to every origin. Anything else, or every path when the bundles are missing, is a
 * 404 with the API's error body.
 */
export function serveSdk(req: IncomingMessage, res: ServerResponse, path: string, sdk: SdkFiles): void {
  if (sdk.missing !== undefined) {
    notFound(res, `the browser SDK is not available on this node: ${sdk.missing}`);
    return;
  }
  const rest = path.slice(SDK_PREFIX.length);
  const slash = rest.indexOf("/");
  const versioned = slash !== -1;
  const name = versioned ? rest.slice(slash + 1) : rest;
  const file = versioned && rest.slice(0, slash) !== sdk.version ? undefined : sdk.files.get(name);
  if (file === undefined) {
    const names = [...sdk.files.keys()].filter((n) => n.endsWith(".js")).sort();
    notFound(
      res,
      `no SDK file ${path}; the files are ${names.join(", ")} (and their .map), also under ${SDK_PREFIX}${sdk.version}/`,
    );
    return;
  }
  const headers = {
    ...SHARED_HEADERS,
    ETag: file.etag,
    "Cache-Control": versioned ? IMMUTABLE : `public, max-age=${UNVERSIONED_MAX_AGE_S}`,
  };
  if (matches(req.headers["if-none-match"], file.etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, "Content-Type": file.type, "Content-Length": file.body.length });
  res.end(req.method === "HEAD" ? undefined : file.body);
}
