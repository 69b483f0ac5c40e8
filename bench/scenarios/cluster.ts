import { compareThroughput } from '../lib/ab';
import { runCli } from '../lib/cli';
import { withChildren, type Child, type Message } from '../lib/child';
import { row, type BenchOptions, type Row, type Scenario } from '../lib/scenario';

interface LoadResult extends Message {
  rps: number;
  total: number;
  errors: number;
  non2xx: number;
  timeouts: number;
}

const CONNECTIONS = 50;

/** Load of `seconds` on `port`; failed requests are errors, timeouts and non-2xx answers. */
function load(client: Child, port: number, seconds: number): Promise<LoadResult> {
  return client.request<LoadResult>({ type: 'run', url: `http://127.0.0.1:${port}/`, connections: CONNECTIONS, duration: seconds, warmup: 0 }, 'result', seconds * 1000 + 30_000);
}

/**
 * HTTP keep-alive hello under `node:cluster`: node's bare cluster (the primary forks workers
 * running `node:http`) against unipool's cluster mode with the same handler, 1 and 2 workers,
 * then a rolling restart of 2 workers under the same load. The servers are not pinned (the
 * workers must spread over the cores), so the load generator competes with them for the 2
 * CPUs: req/s says little about scaling here, CPU per request (primary + workers) more.
 */
export const clusterScenario: Scenario = {
  name: 'cluster',
  title: 'HTTP keep-alive under node:cluster, 1 and 2 workers, and a rolling restart under load',
  run: (options: BenchOptions): Promise<Row[]> =>
    withChildren(async (start) => {
      const rows: Row[] = [];
      const client = start('clients/autocannon-client', {}, [], 'load');
      await client.next('ready');
      for (const workers of [1, 2]) {
        options.log(` ${workers} worker(s)`);
        const a = start('servers/cluster-target', { impl: 'bare', workers });
        const b = start('servers/cluster-target', { impl: 'unipool', workers });
        const ports = new Map<Child, number>();
        for (const side of [a, b]) ports.set(side, (await side.next<{ type: string; port: number }>('ready', 60_000)).port);
        const failures = new Map<Child, number>([
          [a, 0],
          [b, 0],
        ]);
        const result = await compareThroughput(options, { a, b }, async (side, seconds) => {
          const r = await load(client, ports.get(side)!, seconds);
          failures.set(side, failures.get(side)! + r.errors + r.non2xx + r.timeouts);
          return r.rps;
        });
        rows.push(
          row('cluster', `${workers} worker(s): req/s ratio unipool/bare`, 'x', result.ratios, { op: '>=', value: 0.97 }, { bareRps: result.a, unipoolRps: result.b, failures: Object.fromEntries([...failures].map(([c, n]) => [c === a ? 'bare' : 'unipool', n])) }),
          row('cluster', `${workers} worker(s): CPU per request unipool/bare`, 'x', result.cpuRatios, undefined, { bareCpuUsPerRequest: result.cpuA, unipoolCpuUsPerRequest: result.cpuB }),
        );
        await Promise.all([a.stop(10_000), b.stop(10_000)]);
      }
      // Rolling restart of 2 workers during a keep-alive load.
      const failed: number[] = [];
      const rollMs: number[] = [];
      for (let i = 0; i < Math.min(options.pairs, 3); i++) {
        const app = start('servers/cluster-target', { impl: 'unipool', workers: 2 });
        const port = (await app.next<{ type: string; port: number }>('ready', 60_000)).port;
        const seconds = Math.max(options.duration, 8);
        const running = load(client, port, seconds);
        await new Promise((r) => setTimeout(r, 500));
        const rolled = await app.request<{ type: string; ms: number }>({ type: 'roll' }, 'rolled', 60_000);
        const r = await running;
        failed.push(r.errors + r.non2xx + r.timeouts);
        rollMs.push(rolled.ms);
        options.log(`  rolling restart ${i + 1}: ${Math.round(rolled.ms)} ms, ${r.total} requests, ${r.errors} errors, ${r.non2xx} non-2xx, ${r.timeouts} timeouts`);
        await app.stop(10_000);
      }
      rows.push(row('cluster', 'rolling restart of 2 workers under load: failed requests', 'requests', failed, { op: '<=', value: 0 }, { rollMs }));
      rows.push(row('cluster', 'rolling restart of 2 workers: duration', 'ms', rollMs));
      return rows;
    }),
};

if (require.main === module) void runCli([clusterScenario]);
