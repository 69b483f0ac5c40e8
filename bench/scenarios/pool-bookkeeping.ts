import { withChildren, type Message } from '../lib/child';
import { runCli } from '../lib/cli';
import { alternate, row, type Scenario } from '../lib/scenario';

interface Timing {
  opsPerSecond: number;
  heapDelta: number;
}

interface WorkerResult extends Message {
  addRemove: Timing;
  work?: Timing;
}

/** Heap growth over 1,000,000 add+remove that still counts as flat: under one byte per operation. */
const FLAT_BYTES = 1024 * 1024;

function once(impl: 'map' | 'unipool'): Promise<WorkerResult> {
  return withChildren(async (start) => start('workers/pool-bookkeeping-worker', { impl }, ['--expose-gc']).next<WorkerResult>('result', 60_000));
}

/**
 * 1,000,000 add+remove on `HttpConnectionPool` in process (B) against a bare Map set+delete
 * (A, the floor), alternated in fresh processes; heap after vs before with forced GC.
 */
export const poolBookkeeping: Scenario = {
  name: 'pool-bookkeeping',
  title: 'Pool bookkeeping, 1,000,000 add+remove in process',
  run: async (options) => {
    const runs: WorkerResult[] = [];
    const floor: WorkerResult[] = [];
    const { ratios } = await alternate(
      options.pairs,
      async () => {
        const r = await once('map');
        floor.push(r);
        return r.addRemove.opsPerSecond;
      },
      async () => {
        const r = await once('unipool');
        runs.push(r);
        return r.addRemove.opsPerSecond;
      },
      options.log,
    );
    return [
      row('pool-bookkeeping', 'add+remove', 'ops/s', runs.map((r) => r.addRemove.opsPerSecond), { op: '>=', value: 2_000_000 }, { mapOpsPerSecond: floor.map((r) => r.addRemove.opsPerSecond) }),
      row('pool-bookkeeping', 'heap after - before 1M add+remove', 'bytes', runs.map((r) => r.addRemove.heapDelta), { op: '<=', value: FLAT_BYTES }),
      row('pool-bookkeeping', 'add+remove ratio unipool/Map floor', 'x', ratios),
      row('pool-bookkeeping', 'beginWork+endWork (per request)', 'ops/s', runs.map((r) => (r.work as Timing).opsPerSecond)),
      row('pool-bookkeeping', 'heap after - before 1M beginWork+endWork', 'bytes', runs.map((r) => (r.work as Timing).heapDelta), { op: '<=', value: FLAT_BYTES }),
    ];
  },
};

if (require.main === module) void runCli([poolBookkeeping]);
