import { OptionError } from "../validation.js";

/** One allowed origin: an exact `scheme://host[:port]`, or a wildcard for every subdomain of a host. */
type OriginRule = { exact: string } | { scheme: string; suffix: string };

const ORIGIN = /^(https?):\/\/([a-z0-9.-]+)(:\d{1,5})?$/;
const WILDCARD = /^(https?):\/\/\*\.([a-z0-9-]+(?:\.[a-z0-9-]+)+)(:\d{1,5})?$/;
/** One or more DNS labels: what `*` stands for in `https://*.example.com`. */
const LABELS = /^[a-z0-9-]+(?:\.[a-z0-9-]+)*$/;

function parseRule(entry: string): OriginRule {
  const text = entry.trim().toLowerCase();
  const wildcard = WILDCARD.exec(text);
  if (wildcard !== null) {
    const [, scheme = "", host = "", port = ""] = wildcard;
    return { scheme: `${scheme}://`, suffix: `.${host}${port}` };
  }
  if (ORIGIN.test(text)) return { exact: text };
  throw new OptionError(
    "allowedOrigins",
    `${JSON.stringify(entry.trim())} is not an origin; write scheme://host[:port] without a path (https://app.example.com), or https://*.example.com for every subdomain`,
  );
}

/**
 * The browser origins allowed to open WebSocket connections (node option `allowedOrigins`).
 * An entry matches an `Origin` header exactly (case-insensitive), or, written
 * `https://*.example.com`, matches any subdomain of `example.com` at any depth with the same
 * scheme and port, but not `example.com` itself. An empty list allows every origin.
 */
export class OriginPolicy {
  private readonly rules: readonly OriginRule[];

  /** Parses the comma-separated option; throws an OptionError naming `allowedOrigins` for a bad entry. */
  constructor(allowedOrigins: string) {
    this.rules = allowedOrigins.trim() === "" ? [] : allowedOrigins.split(",").map(parseRule);
  }

  /** True when every origin is allowed (the list is empty). */
  get allowsAny(): boolean {
    return this.rules.length === 0;
  }

  /**
   * Whether a request with this `Origin` header may connect. A request without the header
   * (`undefined`: a non-browser client) is allowed; `"null"` (sandboxed pages, files) is not,
   * unless the list is empty.
   */
  allows(origin: string | undefined): boolean {
    if (origin === undefined || this.rules.length === 0) return true;
    const text = origin.trim().toLowerCase();
    return this.rules.some((rule) => {
      if ("exact" in rule) return rule.exact === text;
      if (!text.startsWith(rule.scheme) || !text.endsWith(rule.suffix)) return false;
      const labels = text.slice(rule.scheme.length, text.length - rule.suffix.length);
      return LABELS.test(labels);
    });
  }
}
