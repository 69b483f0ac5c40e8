import type { Child, Message } from './child';
import type { BenchOptions } from './scenario';
import { summarize, type Summary } from './stats';

/**
 * The implementation side B of a throughput comparison runs: `unipool`, or with
 * `UNIPOOL_BENCH_AA=1` the bare library again, an A/A run that shows the noise floor and any
 * bias of the method itself (its ratios should sit around 1.000).
 */
export const SIDE_B_IMPL: 'unipool' | 'bare' = process.env.UNIPOOL_BENCH_AA === '1' ? 'bare' : 'unipool';

/** The two sides of a throughput comparison: A is the bare library, B the same handler under unipool. */
export interface Sides {
  a: Child;
  b: Child;
}

/** Result of `compareThroughput`. */
export interface ThroughputComparison {
  /** Rate B/A of each pair. */
  ratios: number[];
  /** Server CPU time per unit of work, B/A of each pair (above 1: unipool spends more). */
  cpuRatios: number[];
  a: Summary;
  b: Summary;
  /** Server CPU µs per unit of work on each side. */
  cpuA: Summary;
  cpuB: Summary;
}

interface CpuMessage extends Message {
  cpuUs: number;
  served: number;
}

/** A server's CPU time so far (user + system, µs) and the units of work it has done. */
export interface CpuReading {
  cpuUs: number;
  served: number;
}

/** CPU reading of a bench child process (it answers `cpu` messages, see `reportCpu`). */
async function childCpu(side: Child): Promise<CpuReading> {
  const m = await side.request<CpuMessage>({ type: 'cpu' }, 'cpu');
  return { cpuUs: m.cpuUs, served: m.served };
}

/** Result of `compareSides`: per side (index as given), side 0 being the reference. */
export interface SidesComparison {
  /** Rate of each side, per round. */
  rates: number[][];
  /** Server CPU µs per unit of work of each side, per round. */
  cpu: number[][];
  /** Rate side k / side 0 of each round (`ratios[0]` is all 1). */
  ratios: number[][];
  /** CPU per unit side k / side 0 of each round. */
  cpuRatios: number[][];
}

/**
 * Alternates short measured slices of the same load on side A and side B, both servers alive
 * the whole time in their own processes (so the idle one costs nothing), the order flipped
 * every pair (A B, B A, A B...) so a drift in machine load does not favour one side. Each
 * pair's ratio B/A is one sample. `measure` returns a rate (per second) for one side. Around
 * each slice the server reports its CPU time and units of work, which gives CPU per unit: far
 * less sensitive than the rate to other processes competing for the cores.
 */
export function compareThroughput(options: BenchOptions, sides: Sides, measure: (side: Child, seconds: number) => Promise<number>): Promise<ThroughputComparison> {
  return compareRates(options, sides, measure, childCpu);
}

/**
 * `compareThroughput` for sides of any kind: `cpu` reads a side's CPU time and units of work
 * (a bench child asks the process; a plain process, e.g. the shipped sample, is read from the
 * outside).
 */
export async function compareRates<S>(options: BenchOptions, sides: { a: S; b: S }, measure: (side: S, seconds: number) => Promise<number>, cpu: (side: S) => Promise<CpuReading>): Promise<ThroughputComparison> {
  const r = await compareSides(options, [sides.a, sides.b], measure, cpu);
  return { ratios: r.ratios[1], cpuRatios: r.cpuRatios[1], a: summarize(r.rates[0]), b: summarize(r.rates[1]), cpuA: summarize(r.cpu[0]), cpuB: summarize(r.cpu[1]) };
}

/**
 * `compareThroughput` for two or more sides: each round measures every side once, the order
 * rotated by one each round (two sides: A B, B A, ...), and the ratios of each side to side 0
 * are taken within the round. `cpu` reads a side's CPU time (default: a bench child's).
 */
export async function compareSides<S = Child>(options: BenchOptions, sides: readonly S[], measure: (side: S, seconds: number) => Promise<number>, readCpu: (side: S) => Promise<CpuReading> = childCpu as unknown as (side: S) => Promise<CpuReading>): Promise<SidesComparison> {
  if (options.warmup > 0) for (const side of sides) await measure(side, options.warmup);
  const slice = async (side: S): Promise<{ rate: number; cpu: number }> => {
    const before = await readCpu(side);
    const rate = await measure(side, options.duration);
    const after = await readCpu(side);
    return { rate, cpu: (after.cpuUs - before.cpuUs) / Math.max(1, after.served - before.served) };
  };
  const n = sides.length;
  const rates: number[][] = sides.map(() => []);
  const cpu: number[][] = sides.map(() => []);
  const ratios: number[][] = sides.map(() => []);
  const cpuRatios: number[][] = sides.map(() => []);
  for (let i = 0; i < options.pairs; i++) {
    const round: Array<{ rate: number; cpu: number }> = new Array(n);
    for (let k = 0; k < n; k++) {
      const j = (k + i) % n;
      round[j] = await slice(sides[j]);
    }
    for (let j = 0; j < n; j++) {
      rates[j].push(round[j].rate);
      cpu[j].push(round[j].cpu);
      ratios[j].push(round[j].rate / round[0].rate);
      cpuRatios[j].push(round[j].cpu / round[0].cpu);
    }
    const [a, ...others] = round;
    const tail = others.map((o, k) => `${String.fromCharCode(66 + k)} ${Math.round(o.rate)}/s ${o.cpu.toFixed(1)} µs cpu (rate ${(o.rate / a.rate).toFixed(3)}, cpu ${(o.cpu / a.cpu).toFixed(3)} x A)`);
    options.log(`  round ${i + 1}/${options.pairs}: A ${Math.round(a.rate)}/s ${a.cpu.toFixed(1)} µs cpu  ${tail.join('  ')}`);
  }
  return { rates, cpu, ratios, cpuRatios };
}
