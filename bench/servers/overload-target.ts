/**
 * The server under test of the overload scenario, in its own process, serving `GET /cpu?ms=N`
 * (`cpuHandler`). `impl`:
 * - `bare`: `node:http`;
 * - `overload-protection`: `node:http` with the `overload-protection` npm package in front of
 *   the handler (its defaults: event-loop delay over 42 ms, sampled every 5 ms -> 503);
 * - `unipool`: the handler in an `HttpServer` run by `createApp`; `overload` is put in the
 *   `http` section as is (once the block is wired, a side is one line of the scenario's table).
 * Replies `ready` with the port. Messages: `eld-reset` starts a new event-loop delay window,
 * `eld` replies its p99 and max (ms); `cpu` replies CPU time and requests served.
 */
import 'reflect-metadata';
import * as http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import protect from 'overload-protection';
import { createApp, HttpConnectionPool, HttpPoolConfig, HttpServer, PoolConfig, UsePool } from '../../src';
import { cpuHandler, served } from './handlers';
import { nullLogger } from './null-logger';
import { fail, onParentMessage, reportCpu, toParent, workerArgs } from '../lib/worker';

interface Args {
  impl: 'bare' | 'overload-protection' | 'unipool';
  /** unipool: the `overload` block of the `http` section. */
  overload?: Record<string, unknown>;
}

/** The handler as a unipool server (`handle = fn`, the form framework apps use). */
@UsePool(HttpConnectionPool)
class CpuHttpServer extends HttpServer {
  handle = cpuHandler;
  constructor(@PoolConfig(HttpPoolConfig, 'http') config: HttpPoolConfig) {
    super(config);
  }
}

const args = workerArgs<Args>();
/** Event-loop delay as the server sees it, 10 ms resolution (as `ProcessPressureSources`). */
const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();

async function start(): Promise<number> {
  if (args.impl === 'unipool') {
    const section = { host: '127.0.0.1', port: 0, maxConnections: 20_000, ...(args.overload ? { overload: args.overload } : {}) };
    const app = createApp({ servers: [CpuHttpServer], config: { http: section }, logger: nullLogger, env: {}, handleSignals: false });
    await app.start();
    return (app.servers[0].address() as AddressInfo).port;
  }
  let handler = cpuHandler;
  if (args.impl === 'overload-protection') {
    const guard = protect('http', { production: true });
    handler = (req, res) => {
      if (!guard(req, res)) cpuHandler(req, res);
    };
  }
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

start().then((port) => {
  onParentMessage(async (msg) => {
    if (msg.type === 'eld-reset') {
      delay.reset();
      await toParent({ type: 'eld-reset' });
    } else if (msg.type === 'eld') {
      await toParent({ type: 'eld', p99Ms: delay.count ? delay.percentile(99) / 1e6 : 0, maxMs: delay.count ? delay.max / 1e6 : 0 });
    } else if (msg.type === 'cpu') {
      await reportCpu(served.count);
    }
  });
  return toParent({ type: 'ready', port, pid: process.pid });
}, fail);
