/**
 * The unipool side of bench/servers/cluster-target.ts: the bench handler in an `HttpServer` run
 * by `createApp` with `cluster.workers`. In its own module so that only this side loads unipool
 * (see cluster-target.ts).
 */
import 'reflect-metadata';
import { createApp, type Application } from '../../src';
import { BenchHttpServer } from './bench-http-server';
import { nullLogger } from './null-logger';

export function createClusterBenchApp(workers: number): Application {
  return createApp({
    servers: [BenchHttpServer],
    config: { http: { host: '127.0.0.1', port: 0, maxConnections: 20_000, keepAliveTimeout: 5000 }, cluster: { workers }, shutdown: { timeout: 5000, exitDelay: 2000 } },
    logger: nullLogger,
    env: {},
    handleSignals: false,
  });
}
