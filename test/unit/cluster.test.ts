import 'reflect-metadata';
import { availableParallelism } from 'node:os';
import { expect } from 'chai';
import { ClusterConfig } from '../../src/cluster/cluster-config';
import { clusterRole, workerCount } from '../../src/cluster/cluster-role';
import { keepOnHandover, slotShare, workerShare } from '../../src/cluster/connection-budget';
import { RestartBackoff } from '../../src/cluster/restart-backoff';
import { budgetFromEnv } from '../../src/cluster/cluster-worker';
import { ConfigLoader } from '../../src/config/config-loader';
import { validateSection } from '../../src/config/validate-config';
import { ConfigValidationError } from '../../src/errors';

describe('cluster section and budget (unit)', () => {
  it('the cluster section: workers is a number or "auto", defaults to 0 (one process), and is validated like the other sections', () => {
    expect(validateSection(ClusterConfig, undefined, 'cluster').value).to.include({ workers: 0, minReady: 1, restartDelay: 1000, maxRestartDelay: 30_000, readyTimeout: 30_000 });
    expect(validateSection(ClusterConfig, { workers: 'auto' }, 'cluster').problems).to.deep.equal([]);
    const { problems } = validateSection(ClusterConfig, { workers: 'many', restartDelay: 5000, maxRestartDelay: 1000, minReady: 0 }, 'cluster');
    expect(problems.map((p) => p.path).sort()).to.deep.equal(['cluster.minReady', 'cluster.restartDelay', 'cluster.workers']);
    expect(problems.find((p) => p.path === 'cluster.workers')!.message).to.equal('must be a whole number from 0 to 1024, or "auto"');
    const cross = validateSection(ClusterConfig, { workers: 2, minReady: 3, restartDelay: 5000, maxRestartDelay: 1000 }, 'cluster').problems;
    expect(cross.map((p) => `${p.path}: ${p.message}`)).to.have.members(['cluster.restartDelay: must not be greater than maxRestartDelay (1000)', 'cluster.minReady: must not be greater than workers (2)']);
  });

  it('UNIPOOL_CLUSTER_WORKERS sets the worker count (a number or auto); the variables a primary gives its workers are not overrides', () => {
    const loader = new ConfigLoader(new Map([['cluster', ClusterConfig]]));
    expect((loader.load({}, { UNIPOOL_CLUSTER_WORKERS: '3' }).get('cluster') as ClusterConfig).workers).to.equal(3);
    const auto = loader.load({}, { UNIPOOL_CLUSTER_WORKERS: 'auto', UNIPOOL_CLUSTER_WORKER: '1', UNIPOOL_CLUSTER_BUDGET: '{}' }).get('cluster') as ClusterConfig;
    expect(workerCount(auto)).to.equal(availableParallelism());
    expect(() => loader.load({}, { UNIPOOL_CLUSTER_WORKERS: '-1' })).to.throw(ConfigValidationError, /cluster.workers/);
  });

  it('the role: no section or workers 0 runs one process; workers > 0 makes this (non-worker) process the primary', () => {
    expect(clusterRole(undefined)).to.equal('single');
    expect(clusterRole(Object.assign(new ClusterConfig(), { workers: 0 }))).to.equal('single');
    expect(clusterRole(Object.assign(new ClusterConfig(), { workers: 2 }))).to.equal('primary');
  });

  it('one limit: slot shares add up to maxConnections exactly, whatever the division leaves', () => {
    for (const [max, slots] of [[10, 2], [10, 3], [7, 4], [1, 2], [1000, 7]]) {
      let sum = 0;
      for (let slot = 0; slot < slots; slot++) sum += slotShare(max, slot, slots);
      expect(sum, `${max} over ${slots}`).to.equal(max);
    }
    expect(slotShare(10, 0, 3)).to.equal(4);
    expect(slotShare(10, 2, 3)).to.equal(3);
    expect(slotShare(10, 0, 1)).to.equal(10);
  });

  it('one limit on handover: the outgoing worker keeps what it holds plus half of what is free, the new one gets the rest of the slot', () => {
    const keep = keepOnHandover(5, 1);
    expect(keep).to.equal(3);
    expect(workerShare(10, 'http', { slot: 0, slots: 2, held: { http: keep } })).to.equal(2);
    expect(workerShare(10, 'other', { slot: 0, slots: 2, held: { http: keep } })).to.equal(5);
    expect(keepOnHandover(5, 5)).to.equal(5);
    expect(workerShare(10, 'http', { slot: 0, slots: 2, held: { http: 5 } })).to.equal(0);
  });

  it('a worker reads its budget from UNIPOOL_CLUSTER_BUDGET; none (or garbage) is the whole budget', () => {
    expect(budgetFromEnv({ UNIPOOL_CLUSTER_BUDGET: '{"slot":1,"slots":3}' })).to.deep.equal({ slot: 1, slots: 3 });
    expect(budgetFromEnv({})).to.deep.equal({ slot: 0, slots: 1 });
    expect(budgetFromEnv({ UNIPOOL_CLUSTER_BUDGET: 'nope' })).to.deep.equal({ slot: 0, slots: 1 });
  });

  it('restart backoff: restartDelay doubled per crash in a row, capped at maxRestartDelay, reset by a stable run', () => {
    const backoff = new RestartBackoff(100, 1000, 60_000);
    expect([1, 2, 3, 4, 5, 6].map(() => backoff.next(10))).to.deep.equal([100, 200, 400, 800, 1000, 1000]);
    expect(backoff.crashes).to.equal(6);
    expect(backoff.next(60_000)).to.equal(100);
    expect(backoff.next(5)).to.equal(200);
  });
});
