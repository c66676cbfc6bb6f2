import { readFileSync } from "node:fs";
import { fencedBlocks } from "./doc-examples.js";

/** A fenced code block of a doc that a test runs: its language and text. */
export interface Example {
  lang: string;
  code: string;
}

/**
 * The code blocks of `markdown` marked `<!-- guide: name -->` on the line before the fence,
 * grouped by name, in document order. Blocks of one name form one program; a name like
 * `react/room.tsx` names one file of a program made of several.
 */
export function markedExamples(markdown: string): Map<string, Example[]> {
  const groups = new Map<string, Example[]>();
  for (const block of fencedBlocks(markdown)) {
    const name = /^guide: ([\w./-]+)$/.exec(block.marker ?? "")?.[1];
    if (name === undefined) continue;
    const group = groups.get(name) ?? [];
    group.push({ lang: block.lang, code: `${block.text}\n` });
    groups.set(name, group);
  }
  return groups;
}

/** The code of every block named `name`, joined in order; throws when there is none. */
export function program(examples: Map<string, Example[]>, name: string): string {
  const blocks = examples.get(name);
  if (blocks === undefined || blocks.length === 0) throw new Error(`no <!-- guide: ${name} --> block in the doc`);
  return blocks.map((block) => block.code).join("\n");
}

/** docs/sdk-guide.md, read from the repo. */
export function readGuide(): string {
  return readFileSync(new URL("../../docs/sdk-guide.md", import.meta.url), "utf8");
}
