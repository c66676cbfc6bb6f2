import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";

/**
 * One fenced code block of a markdown file. The info string's first word is `lang` (what
 * GitHub highlights by), the other words are `flags`: a doc marks a block it shows but that
 * a test cannot run (it starts a server, it only sets a variable) with ```` ```sh no-run ````.
 */
export interface FencedBlock {
  lang: string;
  flags: readonly string[];
  /** The block's text, with the fence's own indentation (a block inside a list item) removed. */
  text: string;
  /** 1-based line of the opening fence, for failure messages. */
  line: number;
  /** The nearest heading above the block, without its `#`s; `""` before the first heading. */
  heading: string;
  /**
   * What an HTML comment on the closest non-blank line above the fence says (`run: publish`
   * for `<!-- run: publish -->`), trimmed; `undefined` when that line is not a comment.
   */
  marker: string | undefined;
}

/** Every fenced block (``` or ~~~, CommonMark) of `markdown`, in order. Headings inside blocks are not headings. */
export function fencedBlocks(markdown: string): FencedBlock[] {
  const blocks: FencedBlock[] = [];
  let heading = "";
  let marker: string | undefined;
  let open:
    | {
        fence: string;
        indent: number;
        lang: string;
        flags: string[];
        line: number;
        lines: string[];
        marker: string | undefined;
      }
    | undefined;
  markdown.split("\n").forEach((line, i) => {
    if (open !== undefined) {
      const close = new RegExp(`^ {0,3}${open.fence[0] === "`" ? "`" : "~"}{${open.fence.length},}\\s*$`);
      if (close.test(line)) {
        const { lang, flags, lines, marker: above } = open;
        blocks.push({ lang, flags, text: lines.join("\n"), line: open.line, heading, marker: above });
        open = undefined;
      } else {
        open.lines.push(line.replace(new RegExp(`^ {0,${open.indent}}`), ""));
      }
      return;
    }
    const fence = /^( {0,3})(`{3,}|~{3,})\s*([^`]*)$/.exec(line);
    if (fence !== null) {
      const [lang = "", ...flags] = (fence[3] ?? "").trim().split(/\s+/).filter(Boolean);
      const indent = fence[1]?.length ?? 0;
      open = { fence: fence[2] ?? "```", indent, lang, flags, line: i + 1, lines: [], marker };
      marker = undefined;
      return;
    }
    const title = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (title !== null) heading = title[1] ?? "";
    if (line.trim() !== "") marker = /^\s*<!--\s*(.*?)\s*-->\s*$/.exec(line)?.[1];
  });
  return blocks;
}

/** The blocks of the markdown file at `file` in `lang` that a test should run: all but those flagged `no-run`. */
export function runnableBlocks(file: URL | string, lang: string): FencedBlock[] {
  return fencedBlocks(readFileSync(file, "utf8")).filter((b) => b.lang === lang && !b.flags.includes("no-run"));
}

/** What a shell example printed, and how it exited. */
export interface ShellResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a `sh` block with Debian's POSIX shell (`/bin/sh -eu`, so a failing command or an unset
 * variable fails the example) and only the environment given plus `PATH`; resolves however
 * it exits, rejects only when it cannot start or runs past `timeoutMs`.
 */
export function runShellBlock(
  block: FencedBlock,
  env: Readonly<Record<string, string>>,
  timeoutMs = 10_000,
): Promise<ShellResult> {
  return new Promise((resolve, reject) => {
    execFile(
      "/bin/sh",
      ["-euc", block.text],
      { env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", ...env }, timeout: timeoutMs },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== "number")
          reject(new Error(`the example at line ${block.line} did not finish: ${err.message}`));
        else resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr });
      },
    );
  });
}
