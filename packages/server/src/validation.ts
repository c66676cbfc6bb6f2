/** Option validation shared by node and channel options: each throws a message naming the option and the fix. */
import { closest } from "@hubcast/protocol/suggest";

/** Thrown for a bad option; `option` names it in the caller's terms (`namespaces.chat.historySize`). */
export class OptionError extends TypeError {
  override readonly name = "OptionError";
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`${option}: ${message}`);
  }
}

export function checkInteger(option: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
    throw new OptionError(option, `must be ${range}, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function checkBoolean(option: string, value: boolean): boolean {
  if (typeof value !== "boolean") throw new OptionError(option, `must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

export function checkString(option: string, value: string, pattern?: RegExp, hint?: string): string {
  if (typeof value !== "string" || (pattern !== undefined && !pattern.test(value))) {
    throw new OptionError(option, `must be ${hint ?? "a string"}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Like {@link checkString} for keys and secrets: the message gives the length, never the value. */
export function checkSecret(option: string, value: string, pattern: RegExp, hint: string): string {
  if (typeof value !== "string") throw new OptionError(option, `must be ${hint}, got a ${typeof value}`);
  if (!pattern.test(value))
    throw new OptionError(option, `must be ${hint}, got ${value.length} characters (value not shown)`);
  return value;
}

/** Rejects keys the caller does not know, suggesting the closest known one. */
export function checkKnownKeys(where: string, value: object, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const guess = closest(key, known);
    const hint = guess === undefined ? `known options: ${known.join(", ")}` : `did you mean "${guess}"?`;
    throw new OptionError(where === "" ? key : `${where}.${key}`, `unknown option; ${hint}`);
  }
}
