import { compareSides, SIDE_B_IMPL } from '../lib/ab';
import { withChildren, type Child, type Message } from '../lib/child';
import { row, type BenchOptions, type Row, type Scenario } from '../lib/scenario';
import { summarize } from '../lib/stats';

/** What one throughput comparison over HTTP(S) measures. */
export interface HttpThroughputSpec {
  name: string;
  title: string;
  /** Server process script (`servers/http-target`). */
  server: string;
  scheme: 'http' | 'https';
  connections: number;
  /** Concurrent streams per connection (HTTP/2 load generators only). */
  streams?: number;
  /** Load generator process script; default `clients/autocannon-client` (HTTP/1.1). */
  client?: string;
  headers?: Record<string, string>;
  target: number;
  /** Upper bound of the server CPU per request ratio, if the scenario has one. */
  cpuTarget?: number;
  unavailable?: () => string | undefined;
  /** Extra arguments of both server processes (e.g. TLS files), made once per scenario run. */
  serverArgs?: () => Promise<Record<string, unknown>>;
  /**
   * More unipool servers measured in the same rounds (e.g. with a feature on), each against
   * the bare server and against the plain unipool one: `args` are added to the server's.
   */
  extraSides?: ReadonlyArray<{ label: string; args: Record<string, unknown> }>;
}

interface LoadResult extends Message {
  type: string;
  rps: number;
  errors: number;
  non2xx: number;
  timeouts: number;
}

/**
 * A/B req/s of the same handler on the bare server (A) and under unipool (B), each server in
 * its own process, loaded in turn by autocannon from a third process.
 */
export function httpThroughputScenario(spec: HttpThroughputSpec): Scenario {
  return {
    name: spec.name,
    title: spec.title,
    unavailable: spec.unavailable,
    run: (options: BenchOptions): Promise<Row[]> =>
      withChildren(async (start) => {
        const extra = (await spec.serverArgs?.()) ?? {};
        const load = start(spec.client ?? 'clients/autocannon-client', {}, [], 'load');
        const a = start(spec.server, { impl: 'bare', ...extra }, [], 'server');
        const b = start(spec.server, { impl: SIDE_B_IMPL, ...extra }, [], 'server');
        const extraSides = spec.extraSides ?? [];
        const others = extraSides.map((side) => start(spec.server, { impl: SIDE_B_IMPL, ...extra, ...side.args }, [], 'server'));
        const all = [a, b, ...others];
        await load.next('ready');
        const ports = new Map<Child, number>();
        for (const side of all) ports.set(side, (await side.next<{ type: string; port: number }>('ready')).port);
        const failures = new Map<Child, number>(all.map((side) => [side, 0]));
        const result = await compareSides(options, all, async (side, seconds) => {
          const r = await load.request<LoadResult>(
            { type: 'run', url: `${spec.scheme}://127.0.0.1:${ports.get(side)}/`, connections: spec.connections, streams: spec.streams, duration: seconds, warmup: 0, headers: spec.headers },
            'result',
            seconds * 1000 + 30_000,
          );
          failures.set(side, (failures.get(side) as number) + r.errors + r.non2xx + r.timeouts);
          return r.rps;
        });
        const rows = [
          row(spec.name, 'req/s ratio unipool/bare', 'x', result.ratios[1], { op: '>=', value: spec.target }, {
            bareRps: summarize(result.rates[0]),
            unipoolRps: summarize(result.rates[1]),
            failures: { bare: failures.get(a), unipool: failures.get(b) },
          }),
          row(spec.name, 'server CPU per request unipool/bare', 'x', result.cpuRatios[1], spec.cpuTarget === undefined ? undefined : { op: '<=', value: spec.cpuTarget }, {
            bareCpuUsPerRequest: summarize(result.cpu[0]),
            unipoolCpuUsPerRequest: summarize(result.cpu[1]),
          }),
        ];
        extraSides.forEach((side, k) => {
          const j = k + 2;
          const perRound = (of: number[][]): number[] => of[j].map((v, i) => v / of[1][i]);
          rows.push(
            row(spec.name, `req/s ratio ${side.label}/bare`, 'x', result.ratios[j], undefined, { rps: summarize(result.rates[j]), failures: failures.get(all[j]) }),
            row(spec.name, `server CPU per request ${side.label}/bare`, 'x', result.cpuRatios[j], undefined, { cpuUsPerRequest: summarize(result.cpu[j]) }),
            row(spec.name, `req/s ratio ${side.label}/unipool`, 'x', perRound(result.rates)),
            row(spec.name, `server CPU per request ${side.label}/unipool`, 'x', perRound(result.cpu)),
          );
        });
        return rows;
      }),
  };
}
