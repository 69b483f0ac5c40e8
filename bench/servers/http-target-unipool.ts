/**
 * The unipool side of bench/servers/http-target.ts: the bench handler in an `HttpServer` (or
 * `HttpsServer` with `tls`) run by `createApp`, shut down with `app.stop()`. In its own module
 * so that only this side loads unipool (see http-target.ts).
 */
import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createApp } from '../../src';
import { BenchHttpServer, BenchHttpsServer } from './bench-http-server';
import type { HttpTargetArgs } from './http-target';
import { nullLogger } from './null-logger';
import { cpuMsSince } from '../lib/worker';

export async function startUnipool(args: HttpTargetArgs, keepAliveTimeout: number): Promise<{ port: number; stop: () => Promise<Record<string, unknown>> }> {
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
