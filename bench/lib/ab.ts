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
  if (options.warmup > 0) {
    await measure(sides.a, options.warmup);
    await measure(sides.b, options.warmup);
  }
  const slice = async (side: S): Promise<{ rate: number; cpu: number }> => {
    const before = await cpu(side);
    const rate = await measure(side, options.duration);
    const after = await cpu(side);
    return { rate, cpu: (after.cpuUs - before.cpuUs) / Math.max(1, after.served - before.served) };
  };
  const a: number[] = [];
  const b: number[] = [];
  const cpuA: number[] = [];
  const cpuB: number[] = [];
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  for (let i = 0; i < options.pairs; i++) {
    let ra: { rate: number; cpu: number };
    let rb: { rate: number; cpu: number };
    if (i % 2 === 0) {
      ra = await slice(sides.a);
      rb = await slice(sides.b);
    } else {
      rb = await slice(sides.b);
      ra = await slice(sides.a);
    }
    a.push(ra.rate);
    b.push(rb.rate);
    cpuA.push(ra.cpu);
    cpuB.push(rb.cpu);
    ratios.push(rb.rate / ra.rate);
    cpuRatios.push(rb.cpu / ra.cpu);
    options.log(`  pair ${i + 1}/${options.pairs}: A ${Math.round(ra.rate)}/s ${ra.cpu.toFixed(1)} µs cpu  B ${Math.round(rb.rate)}/s ${rb.cpu.toFixed(1)} µs cpu  rate B/A ${(rb.rate / ra.rate).toFixed(3)}  cpu B/A ${(rb.cpu / ra.cpu).toFixed(3)}`);
  }
  return { ratios, cpuRatios, a: summarize(a), b: summarize(b), cpuA: summarize(cpuA), cpuB: summarize(cpuB) };
}
