import 'reflect-metadata';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { createApp, HttpConnectionPool, HttpPoolConfig, HttpServer, PoolConfig, UsePool } from '../../src';

/** A decorated HTTP server: the pool and the validated `http` section arrive by injection. */
@UsePool(HttpConnectionPool)
class HelloServer extends HttpServer {
  constructor(@PoolConfig(HttpPoolConfig, 'http') config: HttpPoolConfig) {
    super(config);
  }

  handle(_req: IncomingMessage, res: ServerResponse): void {
    res.end('hello from http-basic\n');
  }

  onReady(): void {
    const addr = this.address();
    console.log(`http-basic listening on http://${addr?.address}:${addr?.port}/`);
  }
}

const app = createApp({ servers: [HelloServer], config: process.env.UNIPOOL_CONFIG ?? join(__dirname, '../../../samples/http-basic/config.json') });
app.start().catch((err: Error) => {
  console.error(err.message);
  process.exitCode = 1;
});
