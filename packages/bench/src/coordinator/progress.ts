/** Where the live progress line goes: standard error, redrawn in place on a terminal. */
export interface ProgressOutput {
  write(text: string): void;
  readonly isTTY: boolean;
}

/**
 * The live progress line. On a terminal it is redrawn in place as often as it is updated; to
 * a file or pipe it is printed as a new line at most once a second, so logs stay readable.
 */
export class ProgressLine {
  private lastPrintMs = 0;
  private drawn = false;

  constructor(
    private readonly out: ProgressOutput,
    private readonly enabled = true,
  ) {}

  /** Shows `text` (one line, no newline). */
  update(text: string, nowMs = Date.now()): void {
    if (!this.enabled) return;
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[2K${text}`);
      this.drawn = true;
      return;
    }
    if (nowMs - this.lastPrintMs < 1000) return;
    this.lastPrintMs = nowMs;
    this.out.write(`${text}\n`);
  }

  /** Prints a message on a line of its own, keeping the progress line below it. */
  note(text: string): void {
    if (!this.enabled) return;
    this.out.write(this.out.isTTY && this.drawn ? `\r\x1b[2K${text}\n` : `${text}\n`);
  }

  /** Ends the progress line (a newline on a terminal). */
  done(): void {
    if (this.enabled && this.out.isTTY && this.drawn) this.out.write("\n");
    this.drawn = false;
  }
}

const grouped = (n: number): string => Math.round(n).toLocaleString("en-US");

/** A latency in ms, shortened for the progress line. */
export function formatMs(ms: number | undefined): string {
  if (ms === undefined) return "-";
  return ms >= 100 ? `${Math.round(ms)}ms` : ms >= 10 ? `${ms.toFixed(1)}ms` : `${ms.toFixed(2)}ms`;
}

/** The progress line's text. */
export function progressText(p: {
  scenario: string;
  phase: string;
  elapsedS: number;
  ready: number;
  wanted: number;
  publishedPerS: number;
  deliveriesPerS: number;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  failed: number;
  dropped: number;
  publishErrors: number;
  lost: number;
}): string {
  const errors = p.failed + p.dropped + p.publishErrors;
  return (
    `${p.scenario} ${p.phase} ${p.elapsedS.toFixed(0)}s | conns ${grouped(p.ready)}/${grouped(p.wanted)}` +
    ` | pub ${grouped(p.publishedPerS)}/s | deliv ${grouped(p.deliveriesPerS)}/s` +
    ` | p50 ${formatMs(p.p50Ms)} p99 ${formatMs(p.p99Ms)} | errors ${grouped(errors)}` +
    (p.lost > 0 ? ` | gaps ${grouped(p.lost)}` : "")
  );
}
