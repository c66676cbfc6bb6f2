/**
 * "Did you mean …?" for command lines and config files: the one rule the server's CLI and
 * config checks and the bench's CLI share, so a typo gets the same suggestion everywhere.
 * Kept in the protocol package because it is the one package all of them depend on; it is a
 * subpath (`@hubcast/protocol/suggest`), so browser bundles never carry it.
 */

/** The candidate nearest to `word` by edit distance (case ignored), if one is near enough to be a likely typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  // A third of the word's length, at least 2: "--conections" finds "--connections", "--x" finds nothing far off.
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance: insertions, deletions and substitutions, one each. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}
