import { compareThroughput, SIDE_B_IMPL } from '../lib/ab';
import { withChildren, type Child, type Message } from '../lib/child';
import { row, type BenchOptions, type Row, type Scenario } from '../lib/scenario';

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
        await load.next('ready');
        const ports = new Map<Child, number>();
        for (const side of [a, b]) ports.set(side, (await side.next<{ type: string; port: number }>('ready')).port);
        const failures = new Map<Child, number>([
          [a, 0],
          [b, 0],
        ]);
        const result = await compareThroughput(options, { a, b }, async (side, seconds) => {
          const r = await load.request<LoadResult>(
            { type: 'run', url: `${spec.scheme}://127.0.0.1:${ports.get(side)}/`, connections: spec.connections, streams: spec.streams, duration: seconds, warmup: 0, headers: spec.headers },
            'result',
            seconds * 1000 + 30_000,
          );
          failures.set(side, (failures.get(side) as number) + r.errors + r.non2xx + r.timeouts);
          return r.rps;
        });
        return [
          row(spec.name, 'req/s ratio unipool/bare', 'x', result.ratios, { op: '>=', value: spec.target }, {
            bareRps: result.a,
            unipoolRps: result.b,
            failures: { bare: failures.get(a), unipool: failures.get(b) },
          }),
          row(spec.name, 'server CPU per request unipool/bare', 'x', result.cpuRatios, spec.cpuTarget === undefined ? undefined : { op: '<=', value: spec.cpuTarget }, {
            bareCpuUsPerRequest: result.cpuA,
            unipoolCpuUsPerRequest: result.cpuB,
          }),
        ];
      }),
  };
}
