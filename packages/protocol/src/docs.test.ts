import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { ServerFrame } from "./index.js";
import {
  CloseCode,
  ErrorCode,
  JsonCodec,
  METHODS,
  PUSH_TYPES,
  closeCatalogue,
  UnsubscribeCode,
  unsubscribeCatalogue,
  errorCatalogue,
  parseClientFrame,
  shouldReconnect,
} from "./index.js";

/**
 * Keeps docs/protocol.md true to this package: its code tables match the catalogues, every
 * method and push has a section, and every example frame is one the server and SDK accept,
 * spelled exactly as the JSON codec writes it. The doc's convention: in ```json blocks each
 * line is one frame, `→ ` marks client→server, `← ` server→client, and unmarked lines are
 * plain JSON (config snippets).
 */

const DOC_PATH = "docs/protocol.md";
const doc = readFileSync(new URL("../../../docs/protocol.md", import.meta.url), "utf8");
const docLines = doc.split("\n");
const codec = new JsonCodec();
const decoder = new TextDecoder();

const CLIENT_MARK = "→ ";
const SERVER_MARK = "← ";

/** The lines of one `## title` section, up to the next `## ` heading. */
function section(title: string): string[] {
  const start = docLines.indexOf(`## ${title}`);
  if (start < 0) throw new Error(`${DOC_PATH} has no "## ${title}" section`);
  const end = docLines.findIndex((line, i) => i > start && line.startsWith("## "));
  return docLines.slice(start + 1, end < 0 ? undefined : end);
}

/** Data rows of the markdown tables in `lines`, keyed by their first cell; separator rows skipped. */
function tableRows(lines: readonly string[]): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of lines) {
    if (!line.startsWith("|")) continue;
    const cells = line
      .split("|")
      .slice(1, -1)
      .map((cell) => cell.trim());
    if (cells.every((cell) => /^:?-+:?$/.test(cell))) continue;
    const key = cells[0] ?? "";
    if (rows.has(key)) throw new Error(`${DOC_PATH}: two table rows start with "${key}"`);
    rows.set(key, cells);
  }
  return rows;
}

const unticked = (cell: string | undefined): string => (cell ?? "").replace(/^`(.*)`$/, "$1");
const yesNo = (flag: boolean): string => (flag ? "yes" : "no");

interface ExampleLine {
  /** 1-based line number in the doc, for failure messages. */
  line: number;
  direction: "client" | "server" | "none";
  /** The line without its direction mark. */
  text: string;
}

interface JsonBlock {
  line: number;
  lines: ExampleLine[];
}

function jsonBlocks(): JsonBlock[] {
  const blocks: JsonBlock[] = [];
  let current: JsonBlock | undefined;
  let inOtherFence = false;
  docLines.forEach((raw, index) => {
    const line = index + 1;
    if (raw.startsWith("```")) {
      if (current !== undefined) {
        blocks.push(current);
        current = undefined;
      } else if (inOtherFence) {
        inOtherFence = false;
      } else if (raw.trim() === "```json") {
        current = { line, lines: [] };
      } else {
        inOtherFence = true;
      }
      return;
    }
    if (current === undefined || raw.trim() === "") return;
    if (raw.startsWith(CLIENT_MARK))
      current.lines.push({ line, direction: "client", text: raw.slice(CLIENT_MARK.length) });
    else if (raw.startsWith(SERVER_MARK))
      current.lines.push({ line, direction: "server", text: raw.slice(SERVER_MARK.length) });
    else current.lines.push({ line, direction: "none", text: raw });
  });
  if (current !== undefined) throw new Error(`${DOC_PATH}:${current.line}: json block is never closed`);
  return blocks;
}

const blocks = jsonBlocks();
const exampleLines = blocks.flatMap((block) => block.lines);

function parseJson(example: ExampleLine): unknown {
  try {
    return JSON.parse(example.text) as unknown;
  } catch (err) {
    throw new Error(`${DOC_PATH}:${example.line}: not valid JSON (${(err as Error).message}): ${example.text}`);
  }
}

/** What the server's codec writes for a decoded server frame: the doc must spell it the same. */
function reencode(frame: ServerFrame): string {
  const bytes = frame.kind === "reply" ? codec.encodeReply(frame.reply) : codec.encodePush(frame.push);
  return decoder.decode(bytes);
}

describe(`${DOC_PATH} error code table`, () => {
  const rows = tableRows(section("Error codes"));

  it.each(Object.values(ErrorCode))("lists error %i with its catalogue name, temporary flag and meaning", (code) => {
    const entry = errorCatalogue[code];
    const row = rows.get(String(code));
    expect(row, `no row for error code ${code}`).toBeDefined();
    expect(unticked(row?.[1]), `name of error ${code}`).toBe(entry.name);
    expect(row?.[2], `temporary column of error ${code}`).toBe(yesNo(entry.temporary));
    expect(row?.[3], `meaning of error ${code}`).toBe(entry.meaning);
  });

  it("lists no code the catalogue does not have", () => {
    const documented = [...rows.keys()].filter((key) => /^\d+$/.test(key));
    expect(documented.sort()).toEqual(Object.values(ErrorCode).map(String).sort());
  });
});

describe(`${DOC_PATH} close code table`, () => {
  const rows = tableRows(section("Close codes"));

  it.each(Object.values(CloseCode))(
    "lists close code %i with its catalogue name, reconnect rule and meaning",
    (code) => {
      const entry = closeCatalogue[code];
      const row = rows.get(String(code));
      expect(row, `no row for close code ${code}`).toBeDefined();
      expect(unticked(row?.[1]), `name of close code ${code}`).toBe(entry.name);
      expect(row?.[2], `reconnect column of close code ${code}`).toBe(yesNo(shouldReconnect(code)));
      expect(row?.[3], `meaning of close code ${code}`).toBe(entry.meaning);
    },
  );

  it("lists no code the catalogue does not have", () => {
    const documented = [...rows.keys()].filter((key) => /^\d+$/.test(key));
    expect(documented.sort()).toEqual(Object.values(CloseCode).map(String).sort());
  });
});

describe(`${DOC_PATH} unsubscribe code table`, () => {
  const rows = tableRows(section("Unsubscribe codes"));

  it.each(Object.values(UnsubscribeCode))(
    "lists unsubscribe code %i with its catalogue name, resubscribe flag and meaning",
    (code) => {
      const entry = unsubscribeCatalogue[code];
      const row = rows.get(String(code));
      expect(row, `no row for unsubscribe code ${code}`).toBeDefined();
      expect(unticked(row?.[1])).toBe(entry.name);
      expect(row?.[2]).toBe(yesNo(entry.resubscribe));
      expect(row?.[3]).toBe(entry.meaning);
    },
  );
});

describe(`${DOC_PATH} headings`, () => {
  const methodHeadings = section("Methods").filter((line) => line.startsWith("### "));
  const pushHeadings = section("Pushes").filter((line) => line.startsWith("### "));

  it.each([...METHODS])("has a heading for method %s", (method) => {
    expect(methodHeadings).toContain(`### \`${method}\``);
  });

  it.each([...PUSH_TYPES])("has a heading for push %s", (type) => {
    expect(pushHeadings).toContain(`### \`${type}\``);
  });
});

describe(`${DOC_PATH} examples`, () => {
  it("has examples to check", () => {
    expect(blocks.length).toBeGreaterThan(10);
  });

  it.each(blocks.map((block) => [block.line, block] as const))(
    "json block at line %i holds valid frames",
    (_line, block) => {
      const commandIds: number[] = [];
      const replyIds: number[] = [];
      for (const example of block.lines) {
        const value = parseJson(example);
        const where = `${DOC_PATH}:${example.line}`;
        if (example.direction === "client") {
          const frame = parseClientFrame(value);
          if (frame.kind === "invalid")
            throw new Error(`${where}: the server would refuse this frame (${frame.message})`);
          const wire = frame.kind === "pong" ? codec.encodePong() : codec.encodeCommand(frame.command);
          expect(example.text, `${where}: client frame is not spelled as the codec writes it`).toBe(wire);
          if (frame.kind === "command") commandIds.push(frame.command.id);
        } else if (example.direction === "server") {
          let frame: ServerFrame;
          try {
            frame = codec.decodeServerFrame(example.text);
          } catch (err) {
            throw new Error(`${where}: the SDK cannot decode this frame (${(err as Error).message})`);
          }
          expect(example.text, `${where}: server frame is not spelled as the server writes it`).toBe(reencode(frame));
          if (frame.kind === "reply") {
            replyIds.push(frame.reply.id);
            if ("error" in frame.reply) {
              const { code, temporary } = frame.reply.error;
              const entry = (errorCatalogue as Record<number, { temporary: boolean } | undefined>)[code];
              expect(entry, `${where}: error code ${code} is not in the catalogue`).toBeDefined();
              expect(temporary, `${where}: temporary flag of error ${code}`).toBe(entry?.temporary);
            }
          } else if (frame.push.type === "disconnect") {
            const { code, reconnect } = frame.push.body;
            expect(code in closeCatalogue, `${where}: close code ${code} is not in the catalogue`).toBe(true);
            expect(reconnect, `${where}: reconnect flag of close code ${code}`).toBe(shouldReconnect(code));
          }
        }
      }
      // Every command shown gets exactly one reply in the same example, and every reply answers one.
      expect(
        [...replyIds].sort((a, b) => a - b),
        `${DOC_PATH}:${block.line}: replies do not match commands one to one`,
      ).toEqual([...commandIds].sort((a, b) => a - b));
    },
  );

  it.each([...METHODS])("shows a %s command with its reply", (method) => {
    const shown = exampleLines.some((example) => {
      if (example.direction !== "client") return false;
      const frame = parseClientFrame(parseJson(example));
      return frame.kind === "command" && frame.command.method === method;
    });
    expect(shown).toBe(true);
  });

  it.each([...PUSH_TYPES])("shows a %s push", (type) => {
    const shown = exampleLines.some((example) => {
      if (example.direction !== "server") return false;
      const frame = codec.decodeServerFrame(example.text);
      return frame.kind === "push" && frame.push.type === type;
    });
    expect(shown).toBe(true);
  });
});
