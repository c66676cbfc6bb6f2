import { describe, expect, it } from "vitest";
import { fencedBlocks } from "./doc-examples.js";

describe("fencedBlocks", () => {
  it("reads language, flags, text, line and heading; strips a list item's indentation; ignores # inside blocks", () => {
    const markdown = [
      "# Title",
      "## Publish",
      "```sh",
      "curl -s x",
      "# a shell comment, not a heading",
      "```",
      "1. In a list:",
      "   ```sh no-run",
      "   hubcast start",
      "     indented more",
      "   ```",
      "~~~json",
      '{"a": "```"}',
      "~~~",
    ].join("\n");
    expect(fencedBlocks(markdown)).toEqual([
      { lang: "sh", flags: [], text: "curl -s x\n# a shell comment, not a heading", line: 3, heading: "Publish" },
      { lang: "sh", flags: ["no-run"], text: "hubcast start\n  indented more", line: 8, heading: "Publish" },
      { lang: "json", flags: [], text: '{"a": "```"}', line: 12, heading: "Publish" },
    ]);
  });

  it("gives an unlabelled block the empty language", () => {
    expect(fencedBlocks("```\nplain\n```\n")).toMatchObject([{ lang: "", text: "plain", heading: "" }]);
  });

  it("reads the comment on the closest non-blank line above a fence as its marker, and only that", () => {
    const markdown = "<!-- run: a -->\n\n```js\n1\n```\n<!-- run: b -->\ntext between\n```js\n2\n```\n```js\n3\n```\n";
    expect(fencedBlocks(markdown).map((b) => b.marker)).toEqual(["run: a", undefined, undefined]);
  });
});
