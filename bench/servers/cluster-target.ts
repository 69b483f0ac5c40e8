/**
 * The HTTP server of the cluster scenario, as a `node:cluster` primary with `workers` workers.
 * `impl`:
 * - `bare`: the primary forks the workers itself; each runs `node:http` with the bench handler;
 * - `unipool` (cluster-target-unipool.ts, loaded by this side only): `createApp` with
 *   `cluster.workers` (the same handler in an `HttpServer`).
 * The primary replies `ready` with the shared port; `cpu` with the CPU time of the primary and
 * every worker (from /proc) and the requests they served; `roll` (unipool) runs a rolling
 * restart and replies `rolled` with its duration.
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Application } from '../../src';
import { benchHandler, served } from './handlers';
import { assertUnipoolNotLoaded } from './unipool-free';
import { fail, onParentMessage, toParent, workerArgs } from '../lib/worker';

export interface ClusterTargetArgs {
  impl: 'bare' | 'unipool';
  workers: number;
}

const args = workerArgs<ClusterTargetArgs>();
/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICK_US = 10_000;

/** The unipool app of this side (primary and workers): required here only, so the bare side never loads unipool (unipool-free.ts). */
function createBenchApp(): Application {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createClusterBenchApp } = require('./cluster-target-unipool') as typeof import('./cluster-target-unipool');
  return createClusterBenchApp(args.workers);
}

/** A worker answers the primary's `served` with its count (unipool's own messages pass it by). */
function answerServed(): void {
  process.on('message', (msg: { type?: string }) => {
    if (msg?.type === 'served') process.send?.({ type: 'served', count: served.count });
  });
}

/** CPU time (µs) of a process from /proc, 0 if it is gone. */
function processCpuUs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_US;
  } catch {
    return 0;
  }
}

async function workerServed(): Promise<number> {
  const workers = Object.values(cluster.workers ?? {}).filter((w) => w?.isConnected());
  const counts = await Promise.all(
    workers.map(
      (w) =>
        new Promise<number>((resolve) => {
          const timer = setTimeout(() => resolve(0), 2000);
          const on = (msg: { type?: string; count?: number }): void => {
            if (msg?.type !== 'served') return;
            clearTimeout(timer);
            w!.off('message', on);
            resolve(msg.count ?? 0);
          };
          w!.on('message', on);
          w!.send({ type: 'served' });
        }),
    ),
  );
  return counts.reduce((a, b) => a + b, 0);
}

async function primary(): Promise<void> {
  const port = new Promise<number>((resolve) => cluster.once('listening', (_w, address) => resolve(address.port)));
  let app: Application | undefined;
  if (args.impl === 'unipool') {
    app = createBenchApp();
    await app.start();
  } else {
    for (let i = 0; i < args.workers; i++) cluster.fork();
    await new Promise<void>((resolve) => {
      let listening = 0;
      cluster.on('listening', () => ++listening === args.workers && resolve());
    });
    assertUnipoolNotLoaded('bare primary');
  }
  // Requests served by workers that were replaced (rolling restart) still count.
  let retired = 0;
  cluster.on('exit', () => undefined);
  onParentMessage(
    async (msg) => {
      if (msg.type === 'cpu') {
        let cpuUs = process.cpuUsage().user + process.cpuUsage().system;
        for (const w of Object.values(cluster.workers ?? {})) cpuUs += processCpuUs(w?.process.pid);
        await toParent({ type: 'cpu', cpuUs, served: retired + (await workerServed()) });
      } else if (msg.type === 'roll' && app) {
        const before = await workerServed();
        const t0 = performance.now();
        const result = await app.restartWorkers();
        retired += before;
        await toParent({ type: 'rolled', ms: performance.now() - t0, replaced: result.replaced });
      }
    },
    async () => {
      if (app) await app.stop();
    },
  );
  await toParent({ type: 'ready', port: await port, pid: process.pid });
}

if (cluster.isPrimary) {
  primary().catch(fail);
} else if (args.impl === 'unipool') {
  answerServed();
  createBenchApp().start().catch(() => process.exit(1));
} else {
  answerServed();
  http.createServer({ keepAliveTimeout: 5000 }, benchHandler).listen(0, '127.0.0.1', () => assertUnipoolNotLoaded('bare worker'));
}
