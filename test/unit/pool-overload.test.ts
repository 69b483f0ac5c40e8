import 'reflect-metadata';
import { performance } from 'node:perf_hooks';
import { expect } from 'chai';
import * as sinon from 'sinon';
import { ConnectionPoolEvent } from '../../src/core/pool-events';
import { PoolHealthStatus } from '../../src/core/pool-health';
import { ConfigValidationError } from '../../src/errors';
import type { Waiter } from '../../src/overload/admission-queue';
import { PressureLevel } from '../../src/overload/pressure-level';
import type { ShedReason } from '../../src/overload/shed-reason';
import { FakePool, fakeConn } from '../helpers/fake-pool';
import { collect } from '../helpers/pool-events';

/** A waiter that records what admission told it. */
function waiter(): Waiter & { heard: string[] } {
  const heard: string[] = [];
  return {
    waitPrev: null,
    waitNext: null,
    waitingSince: -1,
    heard,
    onAdmitted: () => heard.push('admitted'),
    onShed: (reason: ShedReason) => heard.push(`shed:${reason}`),
  };
}

describe('ConnectionPoolManager overload protection (issue 14)', () => {
  let clock: sinon.SinonFakeTimers;
  let pool: FakePool;

  beforeEach(() => {
    clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] });
  });

  afterEach(() => {
    pool?.destroy();
    clock.restore();
  });

  it('issue 14: limiter "none" and no pressure signal: no admission object, every unit admitted, no timer, no overload figures', () => {
    pool = FakePool.with();
    pool.setListening(true);
    expect(pool.admitsWork).to.equal(false);
    expect(pool.admitWork(null, 'normal', performance.now())).to.equal('admit');
    expect(pool.overloadLevel).to.equal(PressureLevel.None);
    expect(pool.getMetrics().overload).to.equal(undefined);
    expect(clock.countTimers()).to.equal(1); // the health interval only
  });

  it('issue 14: static limit 2 with a queue of 1: two admitted, one queued, one shed queue_full; the end of a unit admits the queued one and counts its wait', () => {
    pool = FakePool.with({ overload: { limiter: 'static', maxConcurrency: 2, queue: { size: 1, timeout: 500 } } });
    pool.setListening(true);
    const shed = collect(pool, ConnectionPoolEvent.WorkShed);
    const conn = pool.add(fakeConn())!;
    const t0 = performance.now();
    expect(pool.admitWork(null, 'normal', t0)).to.equal('admit');
    const s1 = pool.beginWork(conn, t0);
    expect(pool.admitWork(null, 'normal', t0)).to.equal('admit');
    pool.beginWork(conn, t0);
    const queued = waiter();
    expect(pool.admitWork(queued, 'normal', t0)).to.equal('queued');
    expect(pool.admitWork(waiter(), 'normal', t0)).to.equal('queue_full');
    expect(shed).to.deep.equal([{ reason: 'queue_full', priority: 'normal' }]);
    expect(pool.getMetrics().overload).to.deep.include({ limiter: 'static', limit: 2, inFlight: 2, queued: 1, state: 'none' });
    clock.tick(40);
    pool.endWork(conn, s1, false);
    expect(queued.heard).to.deep.equal(['admitted']);
    const o = pool.getMetrics().overload!;
    expect(o).to.deep.include({ inFlight: 2, queued: 0 });
    expect(o.shed).to.deep.equal({ limit: 0, queue_full: 1, queue_timeout: 0, pressure: 0 });
    expect(o.queueWait.count).to.equal(1);
    expect(o.queueWait.maxMs).to.be.within(39, 41);
  });

  it('issue 14: a queued unit that waits past queue.timeout is shed queue_timeout; a cancelled one is not', () => {
    pool = FakePool.with({ overload: { limiter: 'static', maxConcurrency: 1, queue: { size: 5, timeout: 100 } } });
    pool.setListening(true);
    const now = performance.now();
    expect(pool.admitWork(null, 'normal', now)).to.equal('admit');
    const late = waiter();
    const gone = waiter();
    expect(pool.admitWork(late, 'normal', now)).to.equal('queued');
    expect(pool.admitWork(gone, 'normal', now)).to.equal('queued');
    expect(pool.cancelWork(gone)).to.equal(true);
    clock.tick(101);
    expect(late.heard).to.deep.equal(['shed:queue_timeout']);
    expect(gone.heard).to.deep.equal([]);
  });

  it('issue 14: health is OVERLOADED while work is shed, and HEALTHY again once nothing was shed for a health interval', () => {
    pool = FakePool.with({ overload: { limiter: 'static', maxConcurrency: 1 } });
    pool.setListening(true);
    expect(pool.getHealth().status).to.equal(PoolHealthStatus.Healthy);
    pool.admitWork(null, 'normal', performance.now());
    expect(pool.admitWork(null, 'normal', performance.now())).to.equal('limit');
    const report = pool.getHealth();
    expect(report.status).to.equal(PoolHealthStatus.Overloaded);
    expect(report.reason).to.match(/shedding work: limit 1, 1 shed/);
    clock.tick(1500);
    expect(pool.getHealth().status).to.equal(PoolHealthStatus.Healthy);
  });

  it('issue 14: critical work passes the limit (up to maxLimit) and pressure; at refuseConnections new connections are refused as overloaded', () => {
    pool = FakePool.with({ overload: { limiter: 'static', maxConcurrency: 1, initialLimit: 1, maxLimit: 3 } });
    pool.setListening(true);
    const now = performance.now();
    expect(pool.admitWork(null, 'normal', now)).to.equal('admit');
    expect(pool.admitWork(null, 'critical', now)).to.equal('admit');
    pool.workAdmission!.setPressureLevel(PressureLevel.ShedWork);
    expect(pool.admitWork(null, 'normal', now)).to.equal('pressure');
    expect(pool.admitStream('normal')).to.equal('pressure');
    expect(pool.admitStream('critical')).to.equal(undefined);
    expect(pool.admitWork(null, 'critical', now)).to.equal('admit');
    expect(pool.admissionRefusal()).to.equal('overloaded');
    const rejected = collect(pool, ConnectionPoolEvent.ConnectionRejected);
    expect(pool.add(fakeConn())).to.equal(undefined);
    expect(rejected[0].reason).to.equal('overloaded');
    expect(pool.getMetrics().rejected.byReason).to.deep.equal({ overloaded: 1 });
    expect(pool.knownLabelValues().rejectReasons).to.include('overloaded');
  });

  it('issue 14: a live update turns the limiter on, changes it and turns it off; units in flight and queued carry over, LimitChanged reports each move', () => {
    pool = FakePool.with();
    pool.setListening(true);
    const changes = collect(pool, ConnectionPoolEvent.LimitChanged);
    const conn = pool.add(fakeConn())!;
    const t = performance.now();
    expect(pool.updateConfig({ overload: { limiter: 'static', maxConcurrency: 2, queue: { size: 4, timeout: 1000 } } }).applied).to.deep.equal(['overload']);
    pool.admitWork(null, 'normal', t);
    const s = pool.beginWork(conn, t);
    pool.admitWork(null, 'normal', t);
    pool.beginWork(conn, t);
    const queued = waiter();
    expect(pool.admitWork(queued, 'normal', t)).to.equal('queued');
    pool.updateConfig({ overload: { limiter: 'static', maxConcurrency: 3, queue: { size: 4, timeout: 1000 } } });
    expect(queued.heard).to.deep.equal(['admitted']);
    expect(pool.getMetrics().overload).to.deep.include({ limit: 3, inFlight: 3, queued: 0 });
    pool.endWork(conn, s, false);
    expect(pool.getMetrics().overload!.inFlight).to.equal(2);
    pool.updateConfig({ overload: { limiter: 'none' } });
    expect(pool.admitsWork).to.equal(false);
    expect(changes).to.deep.equal([
      { limit: 2, previous: Infinity },
      { limit: 3, previous: 2 },
      { limit: Infinity, previous: 3 },
    ]);
  });

  it('issue 14: graded actions are independent: with refuseConnections and closeKeepAlive at 0, reaching ShedWork sheds work but refuses no connection and keeps keep-alive; a critical connection is never refused for overload', () => {
    pool = FakePool.with({ overload: { limiter: 'static', maxConcurrency: 4, actions: { closeKeepAlive: 0, refuseConnections: 0, shedWork: 1 } } });
    pool.setListening(true);
    pool.workAdmission!.setPressureLevel(PressureLevel.ShedWork);
    expect(pool.admitWork(null, 'normal', performance.now())).to.equal('pressure');
    expect(pool.closesKeepAlive).to.equal(false);
    expect(pool.admissionRefusal()).to.equal(undefined);
    pool.updateConfig({ overload: { actions: { closeKeepAlive: 0.9, refuseConnections: 0.95, shedWork: 1 } } });
    pool.workAdmission!.setPressureLevel(PressureLevel.ShedWork); // a new block's level starts at none
    expect(pool.closesKeepAlive).to.equal(true);
    expect(pool.admissionRefusal()).to.equal('overloaded');
    expect(pool.add(fakeConn(), undefined, undefined, 'critical')).to.not.equal(undefined);
    expect(pool.add(fakeConn())).to.equal(undefined);
  });

  it('issue 14: a live update keeps the shed counts and the queue-wait histogram; the level starts again from the new block (review: a copied level stuck at shedWork for good)', () => {
    pool = FakePool.with({ overload: { limiter: 'static', maxConcurrency: 1 } });
    pool.setListening(true);
    pool.admitWork(null, 'normal', performance.now());
    expect(pool.admitWork(null, 'normal', performance.now())).to.equal('limit');
    pool.workAdmission!.setPressureLevel(PressureLevel.CloseKeepAlive);
    pool.updateConfig({ overload: { limiter: 'static', maxConcurrency: 2 } });
    const o = pool.getMetrics().overload!;
    expect(o.shed.limit).to.equal(1);
    expect(o.state).to.equal('none');
    expect(o).to.deep.include({ limit: 2, inFlight: 1 });
  });

  it('issue 14: an invalid overload block is refused at boot and on update with every problem and its path; the old block stays', () => {
    expect(() => FakePool.with({ overload: { limiter: 'fast', initialLimit: 0, minLimit: 5, maxLimit: 2 } }))
      .to.throw(ConfigValidationError)
      .with.property('message')
      .that.matches(/overload\.limiter/)
      .and.matches(/overload\.initialLimit/)
      .and.matches(/overload\.minLimit/);
    pool = FakePool.with({ overload: { limiter: 'static', maxConcurrency: 4 } });
    expect(() => pool.updateConfig({ overload: { queue: { size: 10, timeout: 0 } } })).to.throw(ConfigValidationError, /overload\.queue\.timeout/);
    expect(pool.getMetrics().overload!.limit).to.equal(4);
  });

  it('issue 14: destroy stops the pressure monitor and sheds what is queued; no timer is left', () => {
    pool = FakePool.with({ overload: { limiter: 'gradient2', queue: { size: 2, timeout: 1000 }, pressure: { maxEventLoopDelay: 200 } } });
    pool.setListening(true);
    const now = performance.now();
    for (let i = 0; i < 20; i++) pool.admitWork(null, 'normal', now);
    const queued = waiter();
    expect(pool.admitWork(queued, 'normal', now)).to.equal('queued');
    pool.destroy();
    expect(queued.heard).to.deep.equal(['shed:queue_timeout']);
    expect(clock.countTimers()).to.equal(0);
  });
});
