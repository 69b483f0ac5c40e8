import { expect } from 'chai';
import { HealthThresholds } from '../../src/config/pool-config';
import { PoolHealth, PoolHealthStatus, type HealthInputs } from '../../src/core/pool-health';

function inputs(over: Partial<HealthInputs> = {}): HealthInputs {
  return { listening: true, draining: false, active: 0, maxConnections: 100, requests: 0, errors: 0, p95LatencyMs: 0, ...over };
}

describe('PoolHealth', () => {
  let health: PoolHealth;
  let t: HealthThresholds;

  beforeEach(() => {
    t = new HealthThresholds();
    health = new PoolHealth(t);
  });

  const status = (over: Partial<HealthInputs>): PoolHealthStatus => health.evaluate(inputs(over), 0).status;

  it('is HEALTHY with nothing to worry about', () => {
    const r = health.evaluate(inputs({ active: 10 }), 42);
    expect(r).to.deep.equal({ status: 'HEALTHY', reason: 'ok', utilization: 0.1, errorRate: 0, p95LatencyMs: 0, checkedAt: 42 });
  });

  it('uses the utilisation thresholds (>= degraded, >= overloaded)', () => {
    expect(status({ active: 79 })).to.equal('HEALTHY');
    expect(status({ active: 80 })).to.equal('DEGRADED');
    expect(status({ active: 94 })).to.equal('DEGRADED');
    expect(status({ active: 95 })).to.equal('OVERLOADED');
    expect(status({ active: 100 })).to.equal('OVERLOADED');
  });

  it('treats a pool without capacity as 0 % utilised', () => {
    expect(health.evaluate(inputs({ active: 5, maxConnections: 0 }), 0).utilization).to.equal(0);
  });

  it('keeps a level until the value falls below threshold * (1 - hysteresis)', () => {
    expect(status({ active: 80 })).to.equal('DEGRADED');
    expect(status({ active: 79 })).to.equal('DEGRADED');
    expect(status({ active: 73 })).to.equal('DEGRADED');
    expect(status({ active: 71 })).to.equal('HEALTHY');
    expect(status({ active: 79 })).to.equal('HEALTHY');
  });

  it('steps down from OVERLOADED through DEGRADED with hysteresis at each level', () => {
    expect(status({ active: 95 })).to.equal('OVERLOADED');
    expect(status({ active: 90 })).to.equal('OVERLOADED'); // >= 95 * 0.9 = 85.5
    expect(status({ active: 86 })).to.equal('OVERLOADED');
    expect(status({ active: 85 })).to.equal('DEGRADED');
    expect(status({ active: 75 })).to.equal('DEGRADED');
    expect(status({ active: 70 })).to.equal('HEALTHY');
  });

  it('drops straight to HEALTHY from OVERLOADED when the value falls far enough', () => {
    expect(status({ active: 99 })).to.equal('OVERLOADED');
    expect(status({ active: 10 })).to.equal('HEALTHY');
  });

  it('does not flap around a boundary', () => {
    const seen: PoolHealthStatus[] = [];
    for (let i = 0; i < 100; i++) seen.push(status({ active: i % 2 ? 80 : 78 }));
    expect(seen[0]).to.equal('HEALTHY');
    expect(new Set(seen.slice(1))).to.deep.equal(new Set(['DEGRADED']));
  });

  it('flaps without hysteresis (the setting is what prevents it)', () => {
    t.hysteresis = 0;
    const seen = new Set<PoolHealthStatus>();
    for (let i = 0; i < 4; i++) seen.add(status({ active: i % 2 ? 80 : 79 }));
    expect(seen.size).to.equal(2);
  });

  it('judges error rate only with at least minRequests in the window', () => {
    expect(status({ requests: 19, errors: 19 })).to.equal('HEALTHY');
    const r = health.evaluate(inputs({ requests: 20, errors: 1 }), 0);
    expect(r.status).to.equal('DEGRADED');
    expect(r.errorRate).to.equal(0.05);
    expect(r.reason).to.equal('error rate 0.050 over 20 requests');
    expect(status({ requests: 100, errors: 25 })).to.equal('OVERLOADED');
  });

  it('judges p95 latency only with at least minRequests in the window', () => {
    expect(status({ requests: 5, p95LatencyMs: 99_999 })).to.equal('HEALTHY');
    const r = health.evaluate(inputs({ requests: 20, p95LatencyMs: 1000 }), 0);
    expect(r.status).to.equal('DEGRADED');
    expect(r.p95LatencyMs).to.equal(1000);
    expect(r.reason).to.equal('p95 latency 1000.0 ms');
    expect(status({ requests: 20, p95LatencyMs: 5000 })).to.equal('OVERLOADED');
    expect(status({ requests: 20, p95LatencyMs: 4600 })).to.equal('OVERLOADED');
    expect(status({ requests: 20, p95LatencyMs: 4000 })).to.equal('DEGRADED');
    expect(status({ requests: 20, p95LatencyMs: 800 })).to.equal('HEALTHY');
  });

  it('reports the worst dimension, joining reasons of equal severity', () => {
    const r = health.evaluate(inputs({ active: 85, requests: 40, errors: 20, p95LatencyMs: 2000 }), 0);
    expect(r.status).to.equal('OVERLOADED');
    expect(r.reason).to.equal('error rate 0.500 over 40 requests');
    const both = new PoolHealth(new HealthThresholds()).evaluate(inputs({ active: 85, requests: 40, errors: 2, p95LatencyMs: 10 }), 0);
    expect(both.status).to.equal('DEGRADED');
    expect(both.reason).to.equal('utilization 0.85 (85/100); error rate 0.050 over 40 requests');
  });

  it('adds protocol findings', () => {
    const extra = [{ status: PoolHealthStatus.Overloaded, reason: 'certificate expired' }];
    expect(health.evaluate(inputs({ extra }), 0)).to.deep.include({ status: 'OVERLOADED', reason: 'certificate expired' });
    expect(health.evaluate(inputs({ extra: [] }), 0).status).to.equal('HEALTHY');
  });

  it('is UNAVAILABLE when not listening or draining, whatever the figures', () => {
    expect(health.evaluate(inputs({ listening: false, active: 99 }), 0)).to.deep.include({ status: 'UNAVAILABLE', reason: 'not listening' });
    expect(health.evaluate(inputs({ draining: true }), 0)).to.deep.include({ status: 'UNAVAILABLE', reason: 'draining' });
  });

  it('follows thresholds changed in place', () => {
    expect(status({ active: 50 })).to.equal('HEALTHY');
    health.thresholds = Object.assign(new HealthThresholds(), { degradedUtilization: 0.5 });
    expect(status({ active: 50 })).to.equal('DEGRADED');
  });
});
