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
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { performance } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import { benchHandler, inflight, served } from './handlers';
import { assertUnipoolNotLoaded } from './unipool-free';
import { cpuMsSince, fail, onParentMessage, reportCpu, toParent, workerArgs } from '../lib/worker';

export interface HttpTargetArgs {
  impl: 'bare' | 'terminus' | 'unipool';
  keepAliveTimeout?: number;
  stopAtInflight?: number;
  maxConnections?: number;
  /** PEM files: serve HTTPS. */
  tls?: { cert: string; key: string };
  /** unipool: the section's `overload` block (e.g. a limiter that never limits, to price admission). */
  overload?: Record<string, unknown>;
}

const args = workerArgs<HttpTargetArgs>();
const keepAliveTimeout = args.keepAliveTimeout ?? 5000;

async function start(): Promise<{ port: number; stop: () => Promise<Record<string, unknown>> }> {
  if (args.impl === 'unipool') {
    // Loaded for this side only (see unipool-free.ts).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { startUnipool } = require('./http-target-unipool') as typeof import('./http-target-unipool');
    return startUnipool(args, keepAliveTimeout);
  }
  const server = args.tls
    ? https.createServer({ keepAliveTimeout, cert: readFileSync(args.tls.cert), key: readFileSync(args.tls.key) }, benchHandler)
    : http.createServer({ keepAliveTimeout }, benchHandler);
  let stop: () => Promise<Record<string, unknown>>;
  if (args.impl === 'terminus') {
    let t0 = 0;
    let cpu0 = process.cpuUsage();
    let finished: (ms: number) => void = () => undefined;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { createTerminus } = require('@godaddy/terminus') as typeof import('@godaddy/terminus');
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
  if (args.impl !== 'unipool') assertUnipoolNotLoaded(args.impl);
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
}).catch(fail);
