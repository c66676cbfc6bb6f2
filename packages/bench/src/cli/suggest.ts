/**
 * "Did you mean …?" for the bench's command line, with the rule the server's CLI uses
 * (`closest` from `@hubcast/protocol/suggest`).
 */
import { closest } from "@hubcast/protocol/suggest";

/**
 * A `parseArgs` failure as a one-line message for the user: an unknown flag gets the nearest
 * known one (`--conections` → `--connections`, `--rat=5` → `--rate`), a flag without its value
 * says so; other failures keep the first line of Node's message.
 */
export function flagsErrorMessage(err: unknown, flags: readonly string[]): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: string }).code;
  const quoted = /'(-{1,2}[^'\s]+)/.exec(message)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && quoted !== undefined) {
    const guess = closest(
      quoted.split("=")[0] ?? quoted,
      flags.map((f) => `--${f}`),
    );
    return guess === undefined ? `unknown option '${quoted}'` : `unknown option '${quoted}'; did you mean ${guess}?`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && quoted !== undefined) {
    if (/argument missing/.test(message)) return `${quoted} needs a value`;
    // Node refuses a value that starts with a dash: most often the value was forgotten.
    if (/ambiguous/.test(message))
      return `${quoted} needs a value before the next option (a value starting with "-" is written ${quoted}=-…)`;
  }
  const positional = /'([^']*)'/.exec(message)?.[1];
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL" && positional !== undefined)
    return `unexpected argument '${positional}': the scenario is the only word without a flag; options are --name value`;
  const [first = message] = message.split("\n");
  return first.replace(/\.$/, "");
}

/** The message for a scenario that is not one of `scenarios`, with the nearest one when it looks like a typo. */
export function unknownScenarioMessage(word: string, scenarios: readonly string[]): string {
  if (word.startsWith("-"))
    return `the scenario comes first, before '${word}': hubcast bench <${scenarios.join("|")}> [options]`;
  const guess = closest(word, scenarios);
  return guess === undefined
    ? `unknown scenario "${word}"; use one of: ${scenarios.join(", ")}`
    : `unknown scenario "${word}"; did you mean "${guess}"?`;
}
