/**
 * In-process pool bookkeeping, run with --expose-gc in its own process. `impl`:
 * - `map`: the floor: a plain object set into and deleted from a Map, 1,000,000 times;
 * - `unipool`: `HttpConnectionPool.add` + `remove` 1,000,000 times (admission check, id,
 *   tracking, connection timer armed and cleared, sliding window, duration histogram), then
 *   1,000,000 `beginWork` + `endWork` on one connection (the per-request path).
 * Heap is measured after a forced GC before and after the measured loop.
 */
import 'reflect-metadata';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { HttpConnectionPool, HttpPoolConfig } from '../../src';
import { fail, toParent, workerArgs } from '../lib/worker';

const OPS = 1_000_000;
const WARMUP_OPS = 200_000;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

function heap(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

function time(loop: (n: number) => void): { opsPerSecond: number; heapDelta: number } {
  loop(WARMUP_OPS);
  const before = heap();
  const t0 = performance.now();
  loop(OPS);
  const seconds = (performance.now() - t0) / 1000;
  const after = heap();
  return { opsPerSecond: OPS / seconds, heapDelta: after - before };
}

function run(): Record<string, unknown> {
  const { impl } = workerArgs<{ impl: 'map' | 'unipool' }>();
  const raw = { bytesRead: 0, bytesWritten: 0 } as Socket;
  if (impl === 'map') {
    const map = new Map<number, { id: number; raw: Socket; started: number }>();
    let id = 0;
    const addRemove = time((n) => {
      for (let i = 0; i < n; i++) {
        const entry = { id: ++id, raw, started: Date.now() };
        map.set(entry.id, entry);
        map.delete(entry.id);
      }
    });
    return { addRemove };
  }
  const pool = new HttpConnectionPool();
  pool.configure(Object.assign(new HttpPoolConfig(), { maxConnections: 1_000_000 }));
  const addRemove = time((n) => {
    for (let i = 0; i < n; i++) {
      const conn = pool.add(raw, '127.0.0.1', 40_000);
      if (conn === undefined) throw new Error('refused');
      pool.remove(conn);
    }
  });
  const conn = pool.add(raw, '127.0.0.1', 40_000);
  if (conn === undefined) throw new Error('refused');
  const work = time((n) => {
    for (let i = 0; i < n; i++) pool.endWork(conn, pool.beginWork(conn), false);
  });
  pool.remove(conn);
  const m = pool.getMetrics();
  if (m.active !== 0 || m.totalConnections !== OPS + WARMUP_OPS + 1) throw new Error(`bookkeeping is off: ${JSON.stringify(m)}`);
  pool.destroy();
  return { addRemove, work };
}

try {
  const result = run();
  void toParent({ type: 'result', ...result }).then(() => process.exit(0));
} catch (err) {
  fail(err);
}
