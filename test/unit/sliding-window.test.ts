import { expect } from 'chai';
import * as sinon from 'sinon';
import { LatencyHistogram, bucketIndex } from '../../src/core/latency-histogram';
import { SlidingWindow, WINDOW_SLOTS } from '../../src/core/sliding-window';

describe('SlidingWindow', () => {
  let now: number;
  const clock = (): number => now;

  beforeEach(() => {
    now = 0;
  });

  function request(w: SlidingWindow, ms: number, error = false): void {
    w.recordRequest(bucketIndex(ms), ms, error);
  }

  it('sums requests, errors and latency over the window', () => {
    const w = new SlidingWindow(10_000, clock);
    request(w, 10);
    now = 3000;
    request(w, 20, true);
    now = 6000;
    request(w, 30);
    const s = w.snapshot();
    expect(s.requests).to.equal(3);
    expect(s.errors).to.equal(1);
    expect(s.latency.count).to.equal(3);
    expect(s.latency.sum).to.equal(60);
    expect(s.latency.max).to.equal(30);
  });

  it('expires a slot once a whole window has passed since its start', () => {
    const w = new SlidingWindow(10_000, clock);
    request(w, 5, true);
    w.recordConnection();
    now = 9999;
    expect(w.snapshot().requests).to.equal(1);
    now = 10_000;
    const s = w.snapshot();
    expect(s.requests).to.equal(0);
    expect(s.errors).to.equal(0);
    expect(s.latency.count).to.equal(0);
    expect(s.connectionsPerSecond).to.equal(0);
  });

  it('expires slot by slot as time moves', () => {
    const w = new SlidingWindow(10_000, clock);
    for (let t = 0; t < 10_000; t += 1000) {
      now = t;
      request(w, 1);
    }
    now = 10_000;
    expect(w.snapshot().requests).to.equal(9);
    now = 14_500;
    expect(w.snapshot().requests).to.equal(5);
    now = 1_000_000;
    expect(w.snapshot().requests).to.equal(0);
  });

  it('clears the whole ring after a gap longer than the window', () => {
    const w = new SlidingWindow(10_000, clock);
    for (let i = 0; i < 100; i++) request(w, 1);
    now = 55_555;
    request(w, 2);
    const s = w.snapshot();
    expect(s.requests).to.equal(1);
    expect(s.latency.max).to.equal(2);
  });

  it('computes connections per second over the time actually covered', () => {
    const w = new SlidingWindow(10_000, clock);
    for (let i = 0; i < 10; i++) w.recordConnection();
    // Younger than one second: a rate is per second, so divide by one second.
    now = 999;
    expect(w.snapshot().connectionsPerSecond).to.equal(10);
    // Five seconds old: ten connections over five seconds.
    now = 4999;
    expect(w.snapshot().connectionsPerSecond).to.equal(2);
  });

  it('settles to the real rate in steady state', () => {
    const w = new SlidingWindow(10_000, clock);
    // 20 connections per second for 60 s.
    for (now = 0; now < 60_000; now += 50) w.recordConnection();
    expect(w.snapshot().connectionsPerSecond).to.be.closeTo(20, 0.5);
    now += 500;
    expect(w.snapshot().connectionsPerSecond).to.be.closeTo(20, 2);
  });

  it('uses Date.now by default (fake timers)', () => {
    const fake = sinon.useFakeTimers({ now: 1_000_000 });
    try {
      const w = new SlidingWindow(2000);
      w.recordConnection();
      fake.tick(1999);
      expect(w.snapshot().connectionsPerSecond).to.equal(0.5);
      fake.tick(1);
      expect(w.snapshot().connectionsPerSecond).to.equal(0);
    } finally {
      fake.restore();
    }
  });

  it('keeps a fixed number of slots', () => {
    const w = new SlidingWindow(1000, clock);
    const internals = w as unknown as { latency: unknown[]; errors: Float64Array; connections: Float64Array };
    for (let i = 0; i < 100_000; i++) {
      now = i;
      request(w, i % 50, i % 7 === 0);
      w.recordConnection();
    }
    expect(internals.latency).to.have.length(WINDOW_SLOTS);
    expect(internals.errors).to.have.length(WINDOW_SLOTS);
    expect(internals.connections).to.have.length(WINDOW_SLOTS);
    expect(w.snapshot().requests).to.be.at.most(1000);
  });

  it('hands each reused slot to the retired histogram once, so live + retired is every request', () => {
    const retired = new LatencyHistogram();
    const w = new SlidingWindow(1000, clock, retired);
    for (let i = 0; i < 5000; i++) {
      now = i;
      request(w, 1 + (i % 10));
    }
    const all = new LatencyHistogram();
    all.merge(retired);
    w.addLiveLatency(all);
    expect(all.count).to.equal(5000);
    expect(retired.count).to.equal(5000 - w.snapshot().requests);
    w.retire();
    expect(retired.count).to.equal(5000);
    expect(w.snapshot().requests).to.equal(0);
  });

  it('moves to the next slot exactly at a slot boundary when the caller passes its clock read', () => {
    const w = new SlidingWindow(10_000, clock); // 1000 ms slots
    w.recordRequest(bucketIndex(1), 1, true, 999.999); // still the first slot
    w.recordRequest(bucketIndex(2), 2, false, 1000); // the second
    now = 10_999.5; // the first slot has expired, the second has not
    let s = w.snapshot();
    expect(s.requests).to.equal(1);
    expect(s.errors).to.equal(0);
    expect(s.latency.max).to.equal(2);
    w.recordRequest(bucketIndex(3), 3, true, 10_999.9); // the newest slot, with its error
    now = 11_000;
    s = w.snapshot();
    expect(s.requests).to.equal(1);
    expect(s.errors).to.equal(1);
    expect(s.latency.sum).to.equal(3);
  });

  it('is not stalled by a time from another clock far ahead of its own', () => {
    const w = new SlidingWindow(10_000, clock);
    now = 5000;
    w.recordRequest(bucketIndex(1), 1, false, 1.7e12); // a Date.now() passed by mistake
    request(w, 1);
    expect(w.snapshot().requests).to.equal(2);
    now = 15_001; // one window later both have expired, as they would have with the right clock
    expect(w.snapshot().requests).to.equal(0);
    request(w, 1);
    expect(w.snapshot().requests).to.equal(1);
  });

  it('counts a time just behind the newest slot in the newest slot instead of moving back', () => {
    const w = new SlidingWindow(10_000, clock);
    now = 5000;
    request(w, 1);
    now = 4999; // another caller's clock read a moment earlier
    request(w, 1);
    now = 5000;
    request(w, 1);
    expect(w.snapshot().requests).to.equal(3);
  });

  it('never uses a slot shorter than 1 ms', () => {
    const w = new SlidingWindow(5, clock);
    request(w, 1);
    now = 9;
    expect(w.snapshot().requests).to.equal(1);
    now = 10;
    expect(w.snapshot().requests).to.equal(0);
  });
});
