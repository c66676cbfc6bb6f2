/**
 * The search for a system's knee: the highest publication rate it sustains. A geometric
 * ladder climbs from the start rate while steps pass (or descends while they fail, when the
 * first one fails), then bisects geometrically between the last passing and the first
 * failing rate. Pure: the step itself is the caller's `tryRate`, so the search is tested
 * without servers.
 */

/**
 * @typedef {object} LadderOptions
 * @property {number} startRate Publications/s of the first step.
 * @property {number} factor Ratio between consecutive ladder steps (> 1).
 * @property {number} maxSteps Ladder steps at most (refinement steps come on top).
 * @property {number} refineSteps Bisection steps between the last passing and the first failing rate.
 */

/**
 * @typedef {object} Step What `tryRate` resolves with; the search reads `rate` and `pass`.
 * @property {number} rate
 * @property {boolean} pass
 * @property {boolean} [stopped] The step could not be judged (Ctrl-C, or the system did not start): it neither
 *   passes nor fails, and the search ends with it.
 * @property {"ladder" | "refine"} [phase] Set by {@link findKnee}.
 */

/**
 * @typedef {object} Knee
 * @property {Step[]} steps Every step run, in order.
 * @property {Step | undefined} knee The highest passing step below `failed` (undefined: none passed).
 * @property {Step | undefined} failed The lowest failing step above `knee` (undefined: none failed, so the
 *   knee lies above the ladder's top and `knee` is only a lower bound).
 * @property {"found" | "above-ladder" | "below-ladder" | "stopped"} outcome `found`: bracketed between
 *   `knee` and `failed`; `above-ladder`: every step passed; `below-ladder`: every step failed;
 *   `stopped`: a step that could not be judged, or `shouldStop`, ended the search first.
 */

/** Rates rounded to 3 significant digits: the step is named by a rate a reader can type back. */
export const roundRate = (rate) => Number(rate.toPrecision(3));

/** Checks the ladder options; throws a TypeError naming the flag and what it accepts. */
export function checkLadderOptions(o) {
  const bad = (flag, value, want) => {
    throw new TypeError(`${flag} must be ${want}, got ${value}`);
  };
  if (!(Number.isFinite(o.startRate) && o.startRate > 0)) bad("--start-rate", o.startRate, "a positive number");
  if (!(Number.isFinite(o.factor) && o.factor > 1)) bad("--factor", o.factor, "a number above 1");
  if (!(Number.isInteger(o.maxSteps) && o.maxSteps >= 1)) bad("--max-steps", o.maxSteps, "an integer ≥ 1");
  if (!(Number.isInteger(o.refineSteps) && o.refineSteps >= 0)) bad("--refine", o.refineSteps, "an integer ≥ 0");
}

/**
 * Runs steps through `tryRate(rate)` until the knee is bracketed (then refines it), the
 * ladder's `maxSteps` are spent, or `shouldStop()` turns true (checked before every step).
 * @param {LadderOptions} o
 * @param {(rate: number, phase: "ladder" | "refine") => Promise<Step>} tryRate
 * @param {() => boolean} [shouldStop]
 * @returns {Promise<Knee>}
 */
export async function findKnee(o, tryRate, shouldStop = () => false) {
  checkLadderOptions(o);
  /** @type {Step[]} */
  const steps = [];
  const run = async (rate, phase) => {
    const step = { ...(await tryRate(roundRate(rate), phase)), phase };
    steps.push(step);
    return step;
  };
  let good;
  let bad;
  const first = await run(o.startRate, "ladder");
  if (first.stopped) return result(steps, good, bad, "stopped");
  if (first.pass) good = first;
  else bad = first;
  // Climb while passing, or descend while failing, one factor at a time.
  for (let n = 1; n < o.maxSteps && (good === undefined || bad === undefined); n++) {
    if (shouldStop()) return result(steps, good, bad, "stopped");
    const step = await run(first.pass ? good.rate * o.factor : bad.rate / o.factor, "ladder");
    if (step.stopped) return result(steps, good, bad, "stopped");
    if (step.pass) good = step;
    else bad = step;
  }
  if (good === undefined) return result(steps, good, bad, "below-ladder");
  if (bad === undefined) return result(steps, good, bad, "above-ladder");
  for (let n = 0; n < o.refineSteps; n++) {
    const mid = roundRate(Math.sqrt(good.rate * bad.rate));
    // Rounding can land on an end of the bracket: it is as narrow as rates are named.
    if (mid <= good.rate || mid >= bad.rate) break;
    if (shouldStop()) return result(steps, good, bad, "stopped");
    const step = await run(mid, "refine");
    if (step.stopped) return result(steps, good, bad, "stopped");
    if (step.pass) good = step;
    else bad = step;
  }
  return result(steps, good, bad, "found");
}

function result(steps, knee, failed, outcome) {
  return { steps, knee, failed, outcome };
}
