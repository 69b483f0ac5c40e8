/**
 * The server `count.sh` runs under `valgrind --tool=cachegrind`: it answers the bench's handler
 * and exits at the N-th request, so the instructions it executed can be read per request.
 * `COUNT_MODE`: `bare` (`node:http`), `loaded` (the same with unipool's modules loaded and
 * unused) or `unipool` (the bench's unipool HTTP server). `COUNT_N` requests, port `COUNT_PORT`.
 * Prints `ready` once it listens.
 */
import * as http from 'node:http';
import { benchHandler, served } from '../servers/handlers';

const mode = process.env.COUNT_MODE ?? 'bare';
const total = Number(process.env.COUNT_N);
const port = Number(process.env.COUNT_PORT);

function counted(): void {
  if (served.count === total) setImmediate(() => process.exit(0));
}

async function main(): Promise<void> {
  if (mode === 'unipool') {
    // Loaded only on this side, as in the bench's targets.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('reflect-metadata');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { createApp } = require('../../src') as typeof import('../../src');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { BenchHttpServer } = require('../servers/bench-http-server') as typeof import('../servers/bench-http-server');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { nullLogger } = require('../servers/null-logger') as typeof import('../servers/null-logger');
    const handle = BenchHttpServer.prototype.handle;
    BenchHttpServer.prototype.handle = function (this: InstanceType<typeof BenchHttpServer>, req: http.IncomingMessage, res: http.ServerResponse): void {
      handle.call(this, req, res);
      counted();
    };
    const app = createApp({ servers: [BenchHttpServer], config: { http: { host: '127.0.0.1', port, maxConnections: 20_000, keepAliveTimeout: 5000 } }, logger: nullLogger, env: {}, handleSignals: false });
    await app.start();
  } else {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    if (mode === 'loaded') require('../../src');
    const server = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
      benchHandler(req, res);
      counted();
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  }
  console.log('ready');
}

void main();
