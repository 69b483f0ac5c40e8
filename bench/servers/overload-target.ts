/**
 * The server under test of the overload scenario, in its own process, serving `GET /cpu?ms=N`
 * (`cpuHandler`). `impl`:
 * - `bare`: `node:http`;
 * - `overload-protection`: `node:http` with the `overload-protection` npm package in front of
 *   the handler (its defaults: event-loop delay over 42 ms, sampled every 5 ms -> 503);
 * - `unipool` (overload-target-unipool.ts, loaded by this side only): the handler in an
 *   `HttpServer` run by `createApp`; `overload` is put in the `http` section as is.
 * Replies `ready` with the port. Messages: `eld-reset` starts a new event-loop delay window,
 * `eld` replies its p99 and max (ms); `cpu` replies CPU time and requests served.
 * `UNIPOOL_BENCH_OVERLOAD_TRACE=<file prefix>` (unipool sides with an `overload` block): every
 * 250 ms appends one JSON line of `pool.getMetrics().overload` (limit, in flight, shed, loop
 * delay...) plus the controller's backlog estimate and requests served to `<prefix>-<label>.jsonl`,
 * to see the limiter move over a run.
 */
import * as http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import protect from 'overload-protection';
import { cpuHandler, served } from './handlers';
import { assertUnipoolNotLoaded } from './unipool-free';
import { fail, onParentMessage, reportCpu, toParent, workerArgs } from '../lib/worker';

export interface OverloadTargetArgs {
  impl: 'bare' | 'overload-protection' | 'unipool';
  /** unipool: the `overload` block of the `http` section. */
  overload?: Record<string, unknown>;
  /** The side's label (names the trace file). */
  label?: string;
}

const args = workerArgs<OverloadTargetArgs>();
/** Event-loop delay as the server sees it, 10 ms resolution (as `ProcessPressureSources`). */
const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();

async function start(): Promise<number> {
  if (args.impl === 'unipool') {
    // Only this side loads unipool: its module graph costs a bare server in the same process
    // about 4 % per request (bench/servers/unipool-free.ts).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { startOverloadUnipool } = require('./overload-target-unipool') as typeof import('./overload-target-unipool');
    return startOverloadUnipool(args);
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
  assertUnipoolNotLoaded(args.impl);
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
