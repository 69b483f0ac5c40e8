/**
 * The server `stop-count.sh` runs under `valgrind --tool=callgrind`: an HTTP server on the bench's
 * handler with STOP_N idle keep-alive connections (from stop-client.js, a child process), stopped
 * STOP_IDLE_MS after they went idle, as in the `shutdown-idle` scenario. `STOP_SIDE`:
 * - `terminus`: `node:http` + `@godaddy/terminus` (stopped through its signal handler);
 * - `unipool`: the bench's unipool HTTP server in `createApp` (`app.stop()`).
 * The stop runs between two calls that mark it for callgrind: `os.getPriority()` just before
 * (`--zero-before=uv_os_getpriority`) and `os.loadavg()` once it resolved
 * (`--dump-before=uv_loadavg`); neither side calls them anywhere else. Prints `stopped`.
 */
import { fork } from 'node:child_process';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import { benchHandler } from '../servers/handlers';

const side = process.env.STOP_SIDE ?? 'terminus';
const count = Number(process.env.STOP_N ?? 1000);
/**
 * How long the connections sit idle before the stop: past unipool's drain grace, so both sides
 * close every idle socket at once (see bench/scenarios/shutdown.ts). Given by the script (read
 * from unipool's export there), so the terminus side never loads unipool.
 */
const IDLE_BEFORE_STOP_MS = Number(process.env.STOP_IDLE_MS ?? 700);

async function start(): Promise<{ port: number; stop: () => Promise<void> }> {
  if (side === 'unipool') {
    // Loaded on this side only, as in the bench's targets.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('reflect-metadata');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { createApp } = require('../../src') as typeof import('../../src');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { BenchHttpServer } = require('../servers/bench-http-server') as typeof import('../servers/bench-http-server');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { nullLogger } = require('../servers/null-logger') as typeof import('../servers/null-logger');
    const section = { host: '127.0.0.1', port: 0, maxConnections: 20_000, keepAliveTimeout: 60_000 };
    const app = createApp({ servers: [BenchHttpServer], config: { http: section, shutdown: { timeout: 5000 } }, logger: nullLogger, env: {}, handleSignals: false });
    await app.start();
    return { port: (app.servers[0].address() as AddressInfo).port, stop: async () => void (await app.stop()) };
  }
  const server = http.createServer({ keepAliveTimeout: 60_000 }, benchHandler);
  let finished: () => void = () => undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createTerminus } = require('@godaddy/terminus') as typeof import('@godaddy/terminus');
  createTerminus(server, { signals: ['SIGUSR2'], timeout: 5000, useExit0: false, onShutdown: async () => finished() });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    stop: () =>
      new Promise<void>((resolve) => {
        finished = () => {
          // terminus re-raises the signal after onShutdown: keep the process alive to report.
          process.removeAllListeners('SIGUSR2');
          process.on('SIGUSR2', () => undefined);
          resolve();
        };
        process.emit('SIGUSR2', 'SIGUSR2');
      }),
  };
}

async function main(): Promise<void> {
  const { port, stop } = await start();
  const client = fork(`${__dirname}/stop-client.js`, [String(port), String(count)], { execArgv: [] });
  await new Promise<void>((resolve, reject) => {
    client.once('message', () => resolve());
    client.once('exit', (code) => reject(new Error(`client exited (${code}) before opening its connections`)));
  });
  await new Promise((resolve) => setTimeout(resolve, IDLE_BEFORE_STOP_MS));
  os.getPriority(); // callgrind: zero the counts here
  await stop();
  os.loadavg(); // callgrind: dump the counts here
  client.kill();
  console.log('stopped');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
