import 'reflect-metadata';
import { expect } from 'chai';
import * as sinon from 'sinon';
import { PoolHealthStatus } from '../../src/core/pool-health';
import { PressureLevel } from '../../src/overload/pressure-level';
import { GrpcCallPriority } from '../../src/protocols/grpc/grpc-call-priority';
import { GrpcHealthReporter, overloadedOnlyByShedding } from '../../src/protocols/grpc/grpc-health-reporter';
import { FakePool, fakeConn } from '../helpers/fake-pool';

describe('gRPC overload: default call priority and health while shedding (issue 14)', () => {
  it('issue 14: the default gRPC priority is critical for overload.criticalPaths and every grpc.health.v1.Health method, normal otherwise; a new list is read at once', () => {
    const priority = new GrpcCallPriority();
    const none: string[] = [];
    expect(priority.of('/demo.Echo/Echo', none)).to.equal('normal');
    expect(priority.of('/grpc.health.v1.Health/Check', none)).to.equal('critical');
    expect(priority.of('/grpc.health.v1.Health/Watch', none)).to.equal('critical');
    // A look-alike service is not the health service.
    expect(priority.of('/grpc.health.v1.HealthX/Check', none)).to.equal('normal');
    const paths = ['/demo.Echo/Echo'];
    expect(priority.of('/demo.Echo/Echo', paths)).to.equal('critical');
    expect(priority.of('/demo.Echo/EchoStream', paths)).to.equal('normal');
    // A live update hands a new (frozen) list: it is taken at once.
    expect(priority.of('/demo.Echo/Echo', ['/demo.Echo/EchoStream'])).to.equal('normal');
  });

  it('issue 14: OVERLOADED only because the pool sheds work keeps grpc.health.v1 SERVING; OVERLOADED for errors or latency still turns it NOT_SERVING', () => {
    expect(overloadedOnlyByShedding({ status: PoolHealthStatus.Overloaded, reason: 'shedding work: limit 1, 3 shed' })).to.equal(true);
    expect(overloadedOnlyByShedding({ status: PoolHealthStatus.Overloaded, reason: 'shedding work: pressure 1.20' })).to.equal(true);
    expect(overloadedOnlyByShedding({ status: PoolHealthStatus.Overloaded, reason: 'error rate 0.400 over 20 requests; shedding work: limit 1, 3 shed' })).to.equal(false);
    expect(overloadedOnlyByShedding({ status: PoolHealthStatus.Overloaded, reason: 'p95 latency 6000.0 ms' })).to.equal(false);
    expect(overloadedOnlyByShedding({ status: PoolHealthStatus.Healthy, reason: 'ok' })).to.equal(false);

    const reporter = new GrpcHealthReporter();
    reporter.setReady(true);
    reporter.setPoolHealth({ status: PoolHealthStatus.Overloaded, reason: 'shedding work: limit 1, 3 shed' });
    expect(reporter.status).to.equal('SERVING');
    reporter.setPoolHealth({ status: PoolHealthStatus.Overloaded, reason: 'error rate 0.400 over 20 requests' });
    expect(reporter.status).to.equal('NOT_SERVING');
    reporter.setPoolHealth({ status: PoolHealthStatus.Unavailable, reason: 'draining' });
    expect(reporter.status).to.equal('NOT_SERVING');
  });

  describe('with the pool manager (the wording the reporter relies on)', () => {
    let clock: sinon.SinonFakeTimers;
    let pool: FakePool | undefined;
    beforeEach(() => {
      clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] });
    });
    afterEach(() => {
      pool?.destroy();
      clock.restore();
    });

    it("issue 14: the core's health while shedding (for the limit, for pressure) is recognised as shedding only", () => {
      pool = FakePool.with({ overload: { limiter: 'static', maxConcurrency: 1 } });
      pool.setListening(true);
      const conn = pool.add(fakeConn())!;
      expect(pool.admitWork(null, 'normal', performance.now())).to.equal('admit');
      pool.beginWork(conn);
      expect(pool.admitWork(null, 'normal', performance.now())).to.equal('limit');
      const byLimit = pool.getHealth();
      expect(byLimit.status).to.equal(PoolHealthStatus.Overloaded);
      expect(overloadedOnlyByShedding(byLimit), byLimit.reason).to.equal(true);
      pool.workAdmission!.setPressureLevel(PressureLevel.ShedWork);
      const byPressure = pool.getHealth();
      expect(byPressure.status).to.equal(PoolHealthStatus.Overloaded);
      expect(overloadedOnlyByShedding(byPressure), byPressure.reason).to.equal(true);
    });
  });
});
