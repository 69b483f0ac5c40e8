/**
 * The server under test of the overload scenario, in its own process, serving `GET /cpu?ms=N`
 * (`cpuHandler`). `impl`:
 * - `bare`: `node:http`;
 * - `overload-protection`: `node:http` with the `overload-protection` npm package in front of
 *   the handler (its defaults: event-loop delay over 42 ms, sampled every 5 ms -> 503);
 * - `unipool`: the handler in an `HttpServer` run by `createApp`; `overload` is put in the
 *   `http` section as is (once the block is wired, a side is one line of the scenario's table).
 * Replies `ready` with the port. Messages: `eld-reset` starts a new event-loop delay window,
 * `eld` replies its p99 and max (ms); `cpu` replies CPU time and requests served.
 * `UNIPOOL_BENCH_OVERLOAD_TRACE=<file prefix>` (unipool sides with an `overload` block): every
 * 250 ms appends one JSON line of `pool.getMetrics().overload` (limit, in flight, shed, loop
 * delay...) plus the controller's backlog estimate and requests served to `<prefix>-<label>.jsonl`,
 * to see the limiter move over a run.
 */
import 'reflect-metadata';
import { appendFileSync } from 'node:fs';
import * as http from 'node:http';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import protect from 'overload-protection';
import { createApp, HttpConnectionPool, HttpPoolConfig, HttpServer, PoolConfig, UsePool } from '../../src';
import { cpuHandler, served } from './handlers';
import { nullLogger } from './null-logger';
import { fail, onParentMessage, reportCpu, toParent, workerArgs } from '../lib/worker';

interface Args {
  impl: 'bare' | 'overload-protection' | 'unipool';
  /** unipool: the `overload` block of the `http` section. */
  overload?: Record<string, unknown>;
  /** The side's label (names the trace file). */
  label?: string;
}

/** The handler as a unipool server (`handle = fn`, the form framework apps use). */
@UsePool(HttpConnectionPool)
class CpuHttpServer extends HttpServer {
  handle = cpuHandler;
  constructor(@PoolConfig(HttpPoolConfig, 'http') config: HttpPoolConfig) {
    super(config);
  }
}

const args = workerArgs<Args>();
/** Event-loop delay as the server sees it, 10 ms resolution (as `ProcessPressureSources`). */
const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();

async function start(): Promise<number> {
  if (args.impl === 'unipool') {
    const section = { host: '127.0.0.1', port: 0, maxConnections: 20_000, ...(args.overload ? { overload: args.overload } : {}) };
    const app = createApp({ servers: [CpuHttpServer], config: { http: section }, logger: nullLogger, env: {}, handleSignals: false });
    await app.start();
    const server = app.servers[0] as CpuHttpServer;
    const trace = process.env.UNIPOOL_BENCH_OVERLOAD_TRACE;
    if (trace && args.overload) traceOverload(server, `${trace}-${(args.label ?? 'unipool').replace(/\W+/g, '-')}.jsonl`);
    return (server.address() as AddressInfo).port;
  }
  let handler = cpuHandler;
  if (args.impl === 'overload-protection') {
    const guard = protect('http', { production: true });
    handler = (req, res) => {
      if (!guard(req, res)) cpuHandler(req, res);
    };
  }
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Appends the pool's overload figures to `file` every 250 ms (see the header). */
function traceOverload(server: CpuHttpServer, file: string): void {
  const t0 = performance.now();
  const timer = setInterval(() => {
    const pool = server.pool;
    const work = pool.workAdmission;
    const line = { t: Math.round(performance.now() - t0), served: served.count, backlog: work ? Math.round(work.backlog * 10) / 10 : null, ...pool.getMetrics().overload };
    appendFileSync(file, JSON.stringify(line) + '\n');
  }, 250);
  timer.unref();
}

start().then((port) => {
  onParentMessage(async (msg) => {
    if (msg.type === 'eld-reset') {
      delay.reset();
      await toParent({ type: 'eld-reset' });
    } else if (msg.type === 'eld') {
      await toParent({ type: 'eld', p99Ms: delay.count ? delay.percentile(99) / 1e6 : 0, maxMs: delay.count ? delay.max / 1e6 : 0 });
    } else if (msg.type === 'cpu') {
      await reportCpu(served.count);
    }
  });
  return toParent({ type: 'ready', port, pid: process.pid });
}, fail);
