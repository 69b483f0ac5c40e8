import { summarize, type Summary } from './stats';

/** Options every scenario gets from the runner. */
export interface BenchOptions {
  /** A/B pairs per comparison (at least 3). */
  pairs: number;
  /** Seconds of measured load per throughput run. */
  duration: number;
  /** Seconds of unmeasured load before each throughput run. */
  warmup: number;
  /** Progress lines go here (stderr), not into the table. */
  log(line: string): void;
}

/** A target a figure must meet. */
export interface Target {
  op: '>=' | '<=';
  value: number;
}

/** One line of the results table. */
export interface Row {
  scenario: string;
  /** What the figure is, e.g. `req/s ratio unipool/bare`. */
  measure: string;
  unit: string;
  median: number;
  min: number;
  max: number;
  target?: Target;
  /** Whether the median meets the target (absent when there is none). */
  pass?: boolean;
  /** Raw samples and side figures (absolute values of each side, failures...). */
  detail?: Record<string, unknown>;
}

/** A benchmark scenario: runs its A/B pairs and returns its table rows. */
export interface Scenario {
  name: string;
  title: string;
  /** Why it cannot run on this checkout (a protocol not merged yet), if so. */
  unavailable?(): string | undefined;
  run(options: BenchOptions): Promise<Row[]>;
}

/** Builds a row from samples, judging the median against the target. */
export function row(scenario: string, measure: string, unit: string, samples: readonly number[] | Summary, target?: Target, detail?: Record<string, unknown>): Row {
  const s = Array.isArray(samples) ? summarize(samples) : (samples as Summary);
  const pass = target === undefined ? undefined : target.op === '>=' ? s.median >= target.value : s.median <= target.value;
  return { scenario, measure, unit, median: s.median, min: s.min, max: s.max, target, pass, detail: { samples: s.samples, ...detail } };
}

/**
 * Runs `pairs` A/B pairs and returns both sides' samples and the ratio B/A of every pair (B is
 * unipool, A the bare library: for a throughput figure a ratio below 1 means unipool is slower).
 * The order within a pair flips every pair (A B, B A, ...) so a drift in machine load over
 * the run does not always favour the side that runs second.
 */
export async function alternate(pairs: number, runA: (pair: number) => Promise<number>, runB: (pair: number) => Promise<number>, log?: (line: string) => void): Promise<{ a: number[]; b: number[]; ratios: number[] }> {
  const a: number[] = [];
  const b: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < pairs; i++) {
    let va: number;
    let vb: number;
    if (i % 2 === 0) {
      va = await runA(i);
      vb = await runB(i);
    } else {
      vb = await runB(i);
      va = await runA(i);
    }
    a.push(va);
    b.push(vb);
    ratios.push(vb / va);
    log?.(`  pair ${i + 1}/${pairs}: A ${fmt(va)}  B ${fmt(vb)}  B/A ${(vb / va).toFixed(3)}`);
  }
  return { a, b, ratios };
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? Math.round(v).toString() : v.toFixed(2);
}
