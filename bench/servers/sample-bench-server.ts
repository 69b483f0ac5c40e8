/**
 * The bench's own unipool HTTP server (`BenchHttpServer`, the bench's handler, the `http` section
 * the bench servers use, the null logger, no environment) started as a plain process, as the
 * `sample-process` scenario starts the sample: none of the sample's code is loaded. With
 * `UNIPOOL_BENCH_SAMPLE_VARIANT=bench-server` it shows what that scenario's harness (a plain
 * process, CPU from /proc, no warm-up per slice) measures for the server `http-keepalive`
 * measures. Prints the sample's `http ... listening on <host>:<port>` line.
 */
import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../src';
import { BenchHttpServer } from './bench-http-server';
import { nullLogger } from './null-logger';

async function main(): Promise<void> {
  const app = createApp({
    servers: [BenchHttpServer],
    config: { http: { host: '127.0.0.1', port: 0, maxConnections: 20_000, keepAliveTimeout: 5000 }, shutdown: { timeout: 5000 } },
    logger: nullLogger,
    env: {},
    handleSignals: false,
  });
  await app.start();
  const addr = app.servers[0].address() as AddressInfo;
  console.log(`http   bench listening on ${addr.address}:${addr.port} (variant bench-server)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
