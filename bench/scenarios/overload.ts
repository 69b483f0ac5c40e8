import { runCli } from '../lib/cli';
import { withChildren, type Child, type Message } from '../lib/child';
import { row, type BenchOptions, type Row, type Scenario } from '../lib/scenario';
import { summarize } from '../lib/stats';

/** One server configuration under test: a line of the table. */
export interface OverloadSide {
  label: string;
  impl: 'bare' | 'overload-protection' | 'unipool';
  /** unipool: the `http` section's `overload` block. */
  overload?: Record<string, unknown>;
}

/**
 * The servers compared.
 *
 * `static`, `maxConcurrency` 10: a CPU-bound synchronous handler has one unit in flight; what
 * waits is the rest of the event-loop turn, which the controller counts in units of the
 * handler's own time. 10 units of a 2 ms handler are 20 ms of work queued at most: the latency
 * budget one would give a 2 ms request (10 x its own time) and still several units per turn,
 * so the core never idles between turns. The rule for users: `maxConcurrency = acceptable
 * queueing delay / handler time` (x cores for work that leaves the loop); nothing here is
 * fitted to this machine.
 * `gradient2`: the defaults.
 */
export const OVERLOAD_SIDES: readonly OverloadSide[] = [
  { label: 'bare node:http', impl: 'bare' },
  { label: 'unipool limiter none', impl: 'unipool' },
  { label: 'unipool static', impl: 'unipool', overload: { limiter: 'static', maxConcurrency: 10 } },
  { label: 'unipool gradient2', impl: 'unipool', overload: { limiter: 'gradient2' } },
  { label: 'overload-protection', impl: 'overload-protection' },
];

/**
 * The sides a run drives: all, or with `UNIPOOL_BENCH_OVERLOAD_SIDES=a,b` those whose label
 * contains one of the words (the first, bare node:http, always: capacity is measured on it).
 */
function selectedSides(): readonly OverloadSide[] {
  const words = (process.env.UNIPOOL_BENCH_OVERLOAD_SIDES ?? '').split(',').map((w) => w.trim()).filter(Boolean);
  if (words.length === 0) return OVERLOAD_SIDES;
  return OVERLOAD_SIDES.filter((side, i) => i === 0 || words.some((w) => side.label.includes(w)));
}

/** Arrival rates, as multiples of the measured capacity of one server. */
export const LOAD_FACTORS: readonly number[] = [0.5, 1, 2, 4];

/** The factors a run drives: all, or `UNIPOOL_BENCH_OVERLOAD_FACTORS=0.5,4` (quick checks). */
function selectedFactors(): readonly number[] {
  const picked = (process.env.UNIPOOL_BENCH_OVERLOAD_FACTORS ?? '').split(',').map(Number).filter((f) => f > 0);
  return picked.length > 0 ? picked : LOAD_FACTORS;
}
/** CPU each request burns in the handler (ms). */
const CPU_MS = 2;
/** A 2xx answered later than this is not goodput. */
const GOOD_WITHIN_MS = 1000;
/** The open-loop client abandons a request after this (ms). */
const CLIENT_TIMEOUT_MS = 2000;
/** Closed-loop connections for the capacity measurement. */
const CAPACITY_CONNECTIONS = 8;

interface OpenLoopResult extends Message {
  sent: number;
  ok: number;
  good: number;
  shed: number;
  otherStatus: number;
  timeouts: number;
  errors: number;
  goodput: number;
  p50: number;
  p99: number;
}

interface Point {
  goodputRatio: number[];
  goodput: number[];
  p50: number[];
  p99: number[];
  shed: number[];
  timeouts: number[];
  eldP99: number[];
}

async function measureCapacity(options: BenchOptions, load: Child, port: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await load.request<{ type: string; rps: number }>(
      { type: 'run', url: `http://127.0.0.1:${port}/cpu?ms=${CPU_MS}`, connections: CAPACITY_CONNECTIONS, duration: options.duration, warmup: i === 0 ? options.warmup : 0 },
      'result',
      (options.duration + options.warmup) * 1000 + 30_000,
    );
    samples.push(r.rps);
    options.log(`  capacity run ${i + 1}/3: ${Math.round(r.rps)} req/s (closed loop, ${CAPACITY_CONNECTIONS} connections)`);
  }
  return samples;
}

/**
 * Waits until the server has stopped serving (requests it counts stay the same for 300 ms: the
 * backlog of abandoned requests of the previous point is done), then starts its event-loop delay
 * window, so one point's backlog does not load the next.
 */
async function settle(server: Child): Promise<void> {
  const served = async (): Promise<number> => (await server.request<{ type: string; served: number }>({ type: 'cpu' }, 'cpu', 60_000)).served;
  const deadline = Date.now() + 60_000;
  let last = await served();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const now = await served();
    if (now === last || Date.now() > deadline) break;
    last = now;
  }
  await server.request({ type: 'eld-reset' }, 'eld-reset', 60_000);
}

/**
 * Open-loop load (a fixed arrival rate) against `GET /cpu?ms=2` at 0.5x, 1x, 2x and 4x the
 * measured closed-loop capacity of one bare server, on each side of `OVERLOAD_SIDES`: goodput
 * (2xx within 1 s, per second, and as a share of capacity), p50/p99 of 2xx latency, shed
 * (503/429) and abandoned requests, and the server's event-loop delay p99.
 */
export const overload: Scenario = {
  name: 'overload',
  title: 'Overload: open-loop GET /cpu?ms=2 at 0.5x-4x capacity',
  run: (options: BenchOptions): Promise<Row[]> =>
    withChildren(async (start) => {
      const closedLoop = start('clients/autocannon-client', {}, [], 'load');
      const openLoop = start('clients/open-loop-client', {}, [], 'load');
      const sides = selectedSides();
      const factors = selectedFactors();
      const servers = sides.map((side) => start('servers/overload-target', { impl: side.impl, overload: side.overload, label: side.label }, [], 'server'));
      await closedLoop.next('ready');
      await openLoop.next('ready');
      const ports: number[] = [];
      for (const server of servers) ports.push((await server.next<{ type: string; port: number }>('ready')).port);

      const capacitySamples = await measureCapacity(options, closedLoop, ports[0]);
      const capacity = summarize(capacitySamples).median;
      const points = new Map<string, Point>();
      const rounds = options.pairs;
      for (let round = 0; round < rounds; round++) {
        for (const factor of factors) {
          // Rotate the order of the sides each round, so a drift in machine load favours none.
          for (let k = 0; k < servers.length; k++) {
            const i = (k + round) % servers.length;
            const side = sides[i];
            const rate = Math.round(capacity * factor);
            await settle(servers[i]);
            const r = await openLoop.request<OpenLoopResult>(
              { type: 'run', url: `http://127.0.0.1:${ports[i]}/cpu?ms=${CPU_MS}`, rate, duration: options.duration, goodWithinMs: GOOD_WITHIN_MS, timeoutMs: CLIENT_TIMEOUT_MS },
              'result',
              options.duration * 1000 + CLIENT_TIMEOUT_MS + 60_000,
            );
            const eld = await servers[i].request<{ type: string; p99Ms: number }>({ type: 'eld' }, 'eld', 60_000);
            const key = `${side.label} @ ${factor}x`;
            const p = points.get(key) ?? { goodputRatio: [], goodput: [], p50: [], p99: [], shed: [], timeouts: [], eldP99: [] };
            p.goodput.push(r.goodput);
            p.goodputRatio.push(r.goodput / capacity);
            p.p50.push(r.p50);
            p.p99.push(r.p99);
            p.shed.push(r.shed);
            p.timeouts.push(r.timeouts);
            p.eldP99.push(eld.p99Ms);
            points.set(key, p);
            options.log(`  round ${round + 1}/${rounds} ${key} (${rate} req/s): goodput ${Math.round(r.goodput)}/s, 2xx p50 ${r.p50.toFixed(1)} ms p99 ${r.p99.toFixed(1)} ms, shed ${r.shed}, timeouts ${r.timeouts}, errors ${r.errors}, server ELD p99 ${eld.p99Ms.toFixed(1)} ms`);
          }
        }
      }
      const rows: Row[] = [row('overload', `capacity, closed loop, bare node:http, GET /cpu?ms=${CPU_MS}`, 'req/s', capacitySamples)];
      for (const side of sides) {
        for (const factor of factors) {
          const key = `${side.label} @ ${factor}x`;
          const p = points.get(key)!;
          rows.push(
            row('overload', `${key}: goodput / capacity`, 'x', p.goodputRatio, undefined, { goodputPerSecond: p.goodput, capacity }),
            row('overload', `${key}: 2xx p50`, 'ms', p.p50),
            row('overload', `${key}: 2xx p99`, 'ms', p.p99),
            row('overload', `${key}: shed (503/429) per run`, 'count', p.shed),
            row('overload', `${key}: abandoned after ${CLIENT_TIMEOUT_MS} ms per run`, 'count', p.timeouts),
            row('overload', `${key}: server event-loop delay p99`, 'ms', p.eldP99),
          );
        }
      }
      return rows;
    }),
};

if (require.main === module) void runCli([overload]);
