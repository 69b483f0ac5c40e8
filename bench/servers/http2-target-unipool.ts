/**
 * The unipool side of bench/servers/http2-target.ts: the bench handler in an `Http2Server` run
 * by `createApp`. In its own module so that only this side loads unipool (see unipool-free.ts).
 */
import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { createApp, Http2ConnectionPool, Http2PoolConfig, Http2Server, PoolConfig, UsePool } from '../../src';
import { handler, type AnyRequest, type AnyResponse } from './http2-target-handler';
import { nullLogger } from './null-logger';

@UsePool(Http2ConnectionPool)
class BenchHttp2Server extends Http2Server {
  constructor(@PoolConfig(Http2PoolConfig, 'http2') config: Http2PoolConfig) {
    super(config);
  }
  handle(req: AnyRequest, res: AnyResponse): void {
    handler(req, res);
  }
}

export async function startUnipoolHttp2(tls: { cert: string; key: string }): Promise<number> {
  const app = createApp({
    servers: [BenchHttp2Server],
    config: { http2: { host: '127.0.0.1', port: 0, maxConnections: 20_000, tls }, shutdown: { timeout: 5000 } },
    logger: nullLogger,
    env: {},
    handleSignals: false,
  });
  await app.start();
  return (app.servers[0].address() as AddressInfo).port;
}
