/**
 * The HTTP (or, with `tls`, HTTPS) server under test, in its own process. `impl`:
 * - `bare`: `node:http` (`node:https`) with the bench handler (shutdown: `server.close()`, which also closes idle sockets);
 * - `terminus`: `node:http` + `@godaddy/terminus` (shutdown through its signal handler);
 * - `unipool`: the same handler in an `HttpServer` run by `createApp` (shutdown: `app.stop()`);
 *   `overload` goes into its section as is.
 * Replies `ready` with the port; on `stop` (or when `stopAtInflight` requests are in flight)
 * shuts down and replies `stopped` with the time from the call to the promise resolving and
 * the CPU time (user + system) the process used in it.
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { performance } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import { createTerminus } from '@godaddy/terminus';
import { createApp, HttpsConnectionPool, HttpsPoolConfig, HttpsServer, PoolConfig, UsePool } from '../../src';
import { BenchHttpServer } from './bench-http-server';
import { benchHandler, inflight, served } from './handlers';
import { nullLogger } from './null-logger';
import { fail, onParentMessage, reportCpu, toParent, workerArgs } from '../lib/worker';

interface Args {
  impl: 'bare' | 'terminus' | 'unipool';
  keepAliveTimeout?: number;
  stopAtInflight?: number;
  maxConnections?: number;
  /** PEM files: serve HTTPS. */
  tls?: { cert: string; key: string };
  /** unipool: the section's `overload` block (e.g. a limiter that never limits, to price admission). */
  overload?: Record<string, unknown>;
}

@UsePool(HttpsConnectionPool)
class BenchHttpsServer extends HttpsServer {
  constructor(@PoolConfig(HttpsPoolConfig, 'https') config: HttpsPoolConfig) {
    super(config);
  }
  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    benchHandler(req, res);
  }
}

const args = workerArgs<Args>();
const keepAliveTimeout = args.keepAliveTimeout ?? 5000;

/** CPU time (user + system, ms) this process used since `since` (a `process.cpuUsage()` read). */
function cpuMsSince(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}

async function start(): Promise<{ port: number; stop: () => Promise<Record<string, unknown>> }> {
  if (args.impl === 'unipool') {
    const section = { host: '127.0.0.1', port: 0, maxConnections: args.maxConnections ?? 20_000, keepAliveTimeout, ...(args.overload ? { overload: args.overload } : {}) };
    const app = createApp({
      servers: [args.tls ? BenchHttpsServer : BenchHttpServer],
      config: args.tls ? { https: { ...section, tls: args.tls }, shutdown: { timeout: 5000 } } : { http: section, shutdown: { timeout: 5000 } },
      logger: nullLogger,
      // UNIPOOL_BENCH_OTEL=1: OpenTelemetry on (every request recorded; the export, hourly to a closed port, never runs during a slice).
      env: process.env.UNIPOOL_BENCH_OTEL === '1' ? { OTEL_METRICS_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_METRIC_EXPORT_INTERVAL: '3600000' } : {},
      handleSignals: false,
    });
    await app.start();
    const port = (app.servers[0].address() as AddressInfo).port;
    return {
      port,
      stop: async () => {
        const t0 = performance.now();
        const cpu0 = process.cpuUsage();
        const result = await app.stop();
        return { ms: performance.now() - t0, cpuMs: cpuMsSince(cpu0), graceful: result.graceful, forced: result.forced, ok: result.ok };
      },
    };
  }
  const server = args.tls
    ? https.createServer({ keepAliveTimeout, cert: readFileSync(args.tls.cert), key: readFileSync(args.tls.key) }, benchHandler)
    : http.createServer({ keepAliveTimeout }, benchHandler);
  let stop: () => Promise<Record<string, unknown>>;
  if (args.impl === 'terminus') {
    let t0 = 0;
    let cpu0 = process.cpuUsage();
    let finished: (ms: number) => void = () => undefined;
    // signals: a private one, raised by emit() below so no OS signal timing is measured.
    createTerminus(server, {
      signals: ['SIGUSR2'],
      timeout: 5000,
      useExit0: false,
      onShutdown: async () => finished(performance.now() - t0),
    });
    // terminus re-raises the signal after onShutdown; keep the process alive to report.
    stop = () =>
      new Promise((resolve) => {
        finished = (ms) => {
          process.removeAllListeners('SIGUSR2');
          process.on('SIGUSR2', () => undefined);
          resolve({ ms, cpuMs: cpuMsSince(cpu0), ok: true });
        };
        t0 = performance.now();
        cpu0 = process.cpuUsage();
        process.emit('SIGUSR2', 'SIGUSR2');
      });
  } else {
    stop = () =>
      new Promise((resolve) => {
        const t0 = performance.now();
        const cpu0 = process.cpuUsage();
        server.close(() => resolve({ ms: performance.now() - t0, cpuMs: cpuMsSince(cpu0), ok: true }));
      });
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, stop };
}

start().then(({ port, stop }) => {
  let stopping: Promise<void> | undefined;
  const doStop = (): Promise<void> =>
    (stopping ??= stop().then((result) => toParent({ type: 'stopped', ...result })));
  if (args.stopAtInflight) {
    const at = args.stopAtInflight;
    inflight.onChange = (count) => {
      if (count >= at) void doStop();
    };
  }
  onParentMessage(async (msg) => {
    if (msg.type === 'stop') await doStop();
    else if (msg.type === 'cpu') await reportCpu(served.count);
  });
  return toParent({ type: 'ready', port, pid: process.pid });
}, fail);
