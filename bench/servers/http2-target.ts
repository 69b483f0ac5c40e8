/**
 * The HTTP/2 server under test, in its own process. `impl`:
 * - `bare`: `http2.createSecureServer` with the bench handler (node's compatibility API);
 * - `unipool`: the same handler in an `Http2Server` run by `createApp`.
 * Replies `ready` with the port; reports CPU time and requests served on `cpu`.
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createApp, Http2ConnectionPool, Http2PoolConfig, Http2Server, PoolConfig, UsePool } from '../../src';
import { benchHandler, served } from './handlers';
import { nullLogger } from './null-logger';
import { fail, onParentMessage, reportCpu, toParent, workerArgs } from '../lib/worker';

interface Args {
  impl: 'bare' | 'unipool';
  tls: { cert: string; key: string };
}

type AnyRequest = IncomingMessage | http2.Http2ServerRequest;
type AnyResponse = ServerResponse | http2.Http2ServerResponse;

/** The bench handler takes node's HTTP/1.1 types; the compatibility API answers the same calls. */
const handler = benchHandler as unknown as (req: AnyRequest, res: AnyResponse) => void;

@UsePool(Http2ConnectionPool)
class BenchHttp2Server extends Http2Server {
  constructor(@PoolConfig(Http2PoolConfig, 'http2') config: Http2PoolConfig) {
    super(config);
  }
  handle(req: AnyRequest, res: AnyResponse): void {
    handler(req, res);
  }
}

const args = workerArgs<Args>();

async function start(): Promise<number> {
  if (args.impl === 'unipool') {
    const app = createApp({
      servers: [BenchHttp2Server],
      config: { http2: { host: '127.0.0.1', port: 0, maxConnections: 20_000, tls: args.tls }, shutdown: { timeout: 5000 } },
      logger: nullLogger,
      env: {},
      handleSignals: false,
    });
    await app.start();
    return (app.servers[0].address() as AddressInfo).port;
  }
  const server = http2.createSecureServer({ cert: readFileSync(args.tls.cert), key: readFileSync(args.tls.key) }, handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

start().then((port) => {
  onParentMessage(async (msg) => {
    if (msg.type === 'cpu') await reportCpu(served.count);
  });
  return toParent({ type: 'ready', port, pid: process.pid });
}, fail);
