import { join } from 'node:path';
import { compareRates } from '../lib/ab';
import { withChildren, type Message } from '../lib/child';
import { runCli } from '../lib/cli';
import { PlainProcess } from '../lib/plain-process';
import { listeningPort, processCpuUnavailable, processCpuUs } from '../lib/process-cpu';
import { row, type BenchOptions, type Row, type Scenario } from '../lib/scenario';

interface LoadResult extends Message {
  rps: number;
  ok: number;
  errors: number;
  non2xx: number;
  timeouts: number;
}

const CONNECTIONS = 50;
/** The repository root: `npm start` runs there. */
const ROOT = join(__dirname, '..', '..', '..');
/** What `npm start` runs. */
const SAMPLE_MAIN = join(ROOT, 'dist', 'samples', 'multi-protocol', 'main.js');
/** Config sections of the sample whose port the bench frees (the shipped fixed ports may be taken on a shared machine). */
const SAMPLE_SECTIONS = ['HTTP', 'HTTPS', 'GRPC', 'WS', 'HTTP2', 'ADMIN'];

/** The variant that runs the bench's own server instead of the sample (compared with bare on the bench's handler). */
const BENCH_SERVER = 'bench-server';

/**
 * Side B: the shipped sample (`UNIPOOL_BENCH_SAMPLE_VARIANT` unset), one variant of it (see
 * bench/servers/sample-variant.ts), or `bench-server`: the bench's own unipool server in a
 * plain process (bench/servers/sample-bench-server.ts), for finding where its cost comes from.
 */
function sampleCommand(variant: string | undefined): string[] {
  if (variant === BENCH_SERVER) return [join(__dirname, '..', 'servers', 'sample-bench-server.js')];
  return variant ? [join(__dirname, '..', 'servers', 'sample-variant.js'), variant] : [SAMPLE_MAIN];
}

/**
 * The multi-protocol sample's HTTP server measured as a user meets it: the process `npm start`
 * starts (`dist/samples/multi-protocol/main.js`, its shipped config, the caller's environment,
 * all five servers, the admin endpoint, its logger), against a bare `node:http` process with the
 * same routes and headers (bench/servers/sample-bare.ts). Only the ports differ: each is
 * `UNIPOOL_<SECTION>_PORT=0`, so the run never collides with a sample already running. Each
 * server is pinned to the server CPU, autocannon to the other (when `taskset` is there); CPU
 * time is read from `/proc/<pid>/stat` around each slice, requests are autocannon's 2xx. The
 * bench's own `UNIPOOL_BENCH_*` variables are left out of the servers' environment (the sample
 * reads every `UNIPOOL_*` variable as config and would refuse them).
 * `UNIPOOL_BENCH_SAMPLE_NODE_ARGS` adds node options to both (e.g. `--cpu-prof`).
 */
export const sampleProcess: Scenario = {
  name: 'sample-process',
  title: 'npm start (the multi-protocol sample, shipped config) vs bare node:http, HTTP keep-alive hello, 50 connections',
  unavailable: processCpuUnavailable,
  run: (options: BenchOptions): Promise<Row[]> =>
    withChildren(async (start) => {
      const variant = process.env.UNIPOOL_BENCH_SAMPLE_VARIANT || undefined;
      const nodeArgs = (process.env.UNIPOOL_BENCH_SAMPLE_NODE_ARGS ?? '').split(' ').filter(Boolean);
      const load = start('clients/autocannon-client', {}, [], 'load');
      const freePorts = Object.fromEntries(SAMPLE_SECTIONS.map((s) => [`UNIPOOL_${s}_PORT`, '0']));
      // The bench's own UNIPOOL_BENCH_* knobs are not the sample's: it would reject them as unknown config keys.
      const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('UNIPOOL_BENCH_'))), ...freePorts };
      // A variant that answers with the bench's handler is compared with bare node answering with the same one.
      const bareArgs = variant === BENCH_SERVER || variant?.split('+').includes('bench-handler') ? ['0', 'bench-handler'] : [];
      const a = new PlainProcess('bare node:http', process.execPath, [...nodeArgs, join(__dirname, '..', 'servers', 'sample-bare.js'), ...bareArgs], { env, cwd: ROOT, cpu: 'server' });
      const b = new PlainProcess(variant ? `sample (${variant})` : 'sample', process.execPath, [...nodeArgs, ...sampleCommand(variant)], { env, cwd: ROOT, cpu: 'server' });
      try {
        await load.next('ready');
        const ports = new Map<PlainProcess, number>();
        for (const side of [a, b]) ports.set(side, await side.waitFor((out) => listeningPort(out, 'http'), 60_000));
        const served = new Map<PlainProcess, number>([
          [a, 0],
          [b, 0],
        ]);
        const failures = new Map<PlainProcess, number>([
          [a, 0],
          [b, 0],
        ]);
        if (variant) options.log(`  side B: variant ${variant}`);
        const result = await compareRates(
          options,
          { a, b },
          async (side, seconds) => {
            const r = await load.request<LoadResult>({ type: 'run', url: `http://127.0.0.1:${ports.get(side)}/`, connections: CONNECTIONS, duration: seconds, warmup: 0 }, 'result', seconds * 1000 + 30_000);
            served.set(side, (served.get(side) as number) + r.ok);
            failures.set(side, (failures.get(side) as number) + r.errors + r.non2xx + r.timeouts);
            return r.rps;
          },
          async (side) => ({ cpuUs: processCpuUs(side.pid), served: served.get(side) as number }),
        );
        const label = variant ? `sample[${variant}]` : 'sample';
        return [
          row('sample-process', `req/s ratio ${label}/bare`, 'x', result.ratios, undefined, { bareRps: result.a, sampleRps: result.b, failures: { bare: failures.get(a), sample: failures.get(b) }, variant }),
          row('sample-process', `server CPU per request ${label}/bare`, 'x', result.cpuRatios, variant ? undefined : { op: '<=', value: 1.03 }, {
            bareCpuUsPerRequest: result.cpuA,
            sampleCpuUsPerRequest: result.cpuB,
          }),
        ];
      } finally {
        await Promise.all([a.stop(), b.stop()]);
      }
    }),
};

if (require.main === module) void runCli([sampleProcess]);
