/**
 * The unipool side of bench/servers/overload-target.ts: `cpuHandler` in an `HttpServer` run by
 * `createApp`, with the scenario's `overload` block in its `http` section. In its own module so
 * that only this side loads unipool (see overload-target.ts).
 */
import 'reflect-metadata';
import { appendFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createApp, HttpConnectionPool, HttpPoolConfig, HttpServer, PoolConfig, UsePool } from '../../src';
import { cpuHandler, served } from './handlers';
import { nullLogger } from './null-logger';
import type { OverloadTargetArgs } from './overload-target';

/** The handler as a unipool server (`handle = fn`, the form framework apps use). */
@UsePool(HttpConnectionPool)
class CpuHttpServer extends HttpServer {
  handle = cpuHandler;
  constructor(@PoolConfig(HttpPoolConfig, 'http') config: HttpPoolConfig) {
    super(config);
  }
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

/** Starts the unipool side; resolves with its port. */
export async function startOverloadUnipool(args: OverloadTargetArgs): Promise<number> {
  const section = { host: '127.0.0.1', port: 0, maxConnections: 20_000, ...(args.overload ? { overload: args.overload } : {}) };
  const app = createApp({ servers: [CpuHttpServer], config: { http: section }, logger: nullLogger, env: {}, handleSignals: false });
  await app.start();
  const server = app.servers[0] as CpuHttpServer;
  const trace = process.env.UNIPOOL_BENCH_OVERLOAD_TRACE;
  if (trace && args.overload) traceOverload(server, `${trace}-${(args.label ?? 'unipool').replace(/\W+/g, '-')}.jsonl`);
  return (server.address() as AddressInfo).port;
}
