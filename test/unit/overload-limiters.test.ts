import 'reflect-metadata';
import { expect } from 'chai';
import { AimdLimiter, Gradient2Limiter, OverloadConfig, SampleWindow, StaticLimiter, VegasLimiter, createLimiter, type Limiter } from '../../src/overload';

const bounds = { initialLimit: 20, minLimit: 1, maxLimit: 200 };
const gradient2 = (over: Partial<ConstructorParameters<typeof Gradient2Limiter>[0]> = {}) => new Gradient2Limiter({ ...bounds, smoothing: 0.2, rttTolerance: 1.5, longWindow: 600, queueSize: 4, ...over });
const vegas = (over: Partial<ConstructorParameters<typeof VegasLimiter>[0]> = {}) => new VegasLimiter({ ...bounds, smoothing: 1, probeMultiplier: 30, random: () => 0.99, ...over });
const aimd = (over: Partial<ConstructorParameters<typeof AimdLimiter>[0]> = {}) => new AimdLimiter({ ...bounds, backoffRatio: 0.9, timeout: 5000, ...over });

function feed(limiter: Limiter, n: number, rtt: number, inflight = limiter.limit, dropped = false): void {
  for (let i = 0; i < n; i++) limiter.onSample(rtt, inflight, dropped);
}

describe('overload limiters (arithmetic of Netflix concurrency-limits)', () => {
  describe('StaticLimiter', () => {
    it('keeps maxConcurrency whatever the samples say', () => {
      const limiter = new StaticLimiter(7);
      feed(limiter, 5, 1000, 7, true);
      expect(limiter.limit).to.equal(7);
    });
  });

  describe('AimdLimiter (AIMDLimit.java)', () => {
    it('adds 1 per sample while at least half the limit is in use and nothing drops', () => {
      const limiter = aimd();
      limiter.onSample(10, 10, false);
      expect(limiter.limit).to.equal(21);
      limiter.onSample(10, 11, false);
      expect(limiter.limit).to.equal(22);
    });

    it('does not grow when app-limited (under half the limit in flight)', () => {
      const limiter = aimd();
      feed(limiter, 5, 10, 9);
      expect(limiter.limit).to.equal(20);
    });

    it('multiplies by backoffRatio (floored) on a drop or an RTT over the timeout', () => {
      const limiter = aimd();
      limiter.onSample(10, 20, true);
      expect(limiter.limit).to.equal(18);
      limiter.onSample(5001, 1, false);
      expect(limiter.limit).to.equal(16);
    });

    it('stays within [minLimit, maxLimit]', () => {
      const limiter = aimd({ minLimit: 15, maxLimit: 22 });
      feed(limiter, 10, 10, 100);
      expect(limiter.limit).to.equal(22);
      feed(limiter, 10, 10, 100, true);
      expect(limiter.limit).to.equal(15);
    });
  });

  describe('VegasLimiter (VegasLimit.java)', () => {
    it('takes the first sample as the no-load RTT without moving the limit', () => {
      const limiter = vegas();
      limiter.onSample(10, 20, false);
      expect(limiter.limit).to.equal(20);
      expect(limiter.baselineRtt).to.equal(10);
    });

    it('grows by beta (6 x log10(limit)) when RTT is at the no-load RTT (no queue)', () => {
      const limiter = vegas();
      limiter.onSample(10, 20, false);
      limiter.onSample(10, 20, false);
      expect(limiter.limit).to.equal(26);
    });

    it('shrinks by log10(limit) when the estimated queue exceeds beta (RTT doubled)', () => {
      const limiter = vegas();
      feed(limiter, 2, 10, 20);
      limiter.onSample(20, 26, false); // queue = ceil(26 x (1 - 10/20)) = 13 > beta 6
      expect(limiter.limit).to.equal(25);
    });

    it('adds log10(limit) while the queue is under alpha, holds between alpha and beta', () => {
      const limiter = vegas({ alpha: 4, beta: 30 });
      feed(limiter, 1, 10, 20);
      limiter.onSample(11, 20, false); // queue = ceil(20 x (1 - 10/11)) = 2: over log10, under alpha
      expect(limiter.limit).to.equal(21);
      limiter.onSample(20, 21, false); // queue = ceil(21 x 0.5) = 11: between alpha and beta
      expect(limiter.limit).to.equal(21);
    });

    it('decreases on a drop; does not move when app-limited', () => {
      const limiter = vegas();
      feed(limiter, 1, 10, 20);
      limiter.onSample(12, 5, false);
      expect(limiter.limit).to.equal(20);
      limiter.onSample(12, 5, true);
      expect(limiter.limit).to.equal(19);
    });

    it('stays within [minLimit, maxLimit]', () => {
      const limiter = vegas({ maxLimit: 30, minLimit: 18 });
      feed(limiter, 5, 10, 100);
      expect(limiter.limit).to.equal(30);
      feed(limiter, 20, 10, 100, true);
      expect(limiter.limit).to.equal(18);
    });

    it('re-probes the no-load RTT every jitter x probeMultiplier x limit samples', () => {
      const limiter = vegas({ probeMultiplier: 1, random: () => 0 }); // jitter 0.5: every 10 samples at limit 20
      limiter.onSample(10, 1, false);
      feed(limiter, 8, 50, 1);
      expect(limiter.baselineRtt).to.equal(10);
      limiter.onSample(40, 1, false);
      expect(limiter.baselineRtt).to.equal(40);
    });
  });

  describe('Gradient2Limiter (Gradient2Limit.java)', () => {
    it('grows by queueSize x smoothing per sample while RTT stays at the long-term RTT', () => {
      const limiter = gradient2();
      limiter.onSample(10, 20, false); // 20 x 0.8 + (20 + 4) x 0.2 = 20.8
      expect(limiter.limit).to.equal(20);
      feed(limiter, 9, 10, 100);
      expect(limiter.limit).to.equal(28); // 20 + 10 x 0.8
      expect(limiter.baselineRtt).to.equal(10);
    });

    it('shrinks when RTT rises over rttTolerance x the long-term RTT (gradient floored at 0.5)', () => {
      const limiter = gradient2();
      feed(limiter, 10, 10, 100); // limit 28, long RTT 10
      limiter.onSample(40, 100, false); // gradient max(0.5, 1.5 x 10.1 / 40) = 0.5 -> 28 x 0.8 + 18 x 0.2 = 26
      expect(limiter.limit).to.equal(26);
      feed(limiter, 30, 40, 100);
      expect(limiter.limit).to.be.below(12);
    });

    it('tolerates RTT up to rttTolerance x the baseline without shrinking', () => {
      const limiter = gradient2();
      feed(limiter, 10, 10, 100);
      limiter.onSample(15, 100, false);
      expect(limiter.limit).to.equal(28);
    });

    it('does not move when app-limited (under half the limit in flight)', () => {
      const limiter = gradient2();
      feed(limiter, 10, 10, 9);
      feed(limiter, 10, 100, 9);
      expect(limiter.limit).to.equal(20);
    });

    it('stays within [minLimit, maxLimit]', () => {
      const limiter = gradient2({ minLimit: 10, maxLimit: 25 });
      feed(limiter, 30, 10, 100);
      expect(limiter.limit).to.equal(25);
      feed(limiter, 100, 1000, 100);
      expect(limiter.limit).to.equal(10);
    });

    it('long-term RTT drift: after a long overload the baseline falls back in ~30 samples, not the ~660 of the plain average, and the limit grows again', () => {
      const limiter = gradient2({ minLimit: 5 });
      feed(limiter, 10, 100, 1); // baseline 100 (app-limited: limit untouched)
      limiter.onSample(10, 100, false);
      // 100 x 599/601 + 10 x 2/601 = 99.70, then x 0.95 because 99.70 / 10 > 2
      expect(limiter.baselineRtt).to.be.closeTo(94.7155, 1e-3);
      feed(limiter, 40, 10, 100);
      expect(limiter.baselineRtt).to.be.below(21);
      expect(limiter.limit).to.be.above(20 + 30 * 0.8 - 1);
    });
  });

  describe('SampleWindow (WindowedLimit.java)', () => {
    function spyLimiter(): Limiter & { samples: Array<[number, number, boolean]> } {
      const samples: Array<[number, number, boolean]> = [];
      return { limit: 1, samples, onSample: (rtt, inflight, dropped) => void samples.push([rtt, inflight, dropped]) };
    }

    it('passes the window\'s average RTT, most units in flight and any drop once the window has lasted windowMs', () => {
      const limiter = spyLimiter();
      const window = new SampleWindow(limiter, 1000, 3);
      expect(window.add(0, 10, 1, false)).to.equal(false);
      expect(window.add(400, 20, 5, true)).to.equal(false);
      expect(window.add(999, 30, 2, false)).to.equal(false);
      expect(window.add(1000, 40, 3, false)).to.equal(true);
      expect(limiter.samples).to.deep.equal([[25, 5, true]]);
      // the next window starts empty
      window.add(1500, 8, 1, false);
      window.add(1700, 8, 1, false);
      window.add(2000, 8, 1, false);
      expect(limiter.samples).to.have.length(2);
      expect(limiter.samples[1]).to.deep.equal([8, 1, false]);
    });

    it('ignores samples under 0.1 ms; a window short of minSamples keeps gathering past windowMs (a slow pool still feeds the limiter), up to 10 x windowMs, then is dropped', () => {
      const limiter = spyLimiter();
      const window = new SampleWindow(limiter, 100, 3);
      window.add(0, 5, 1, false);
      window.add(50, 0.05, 1, false);
      expect(window.add(150, 5, 1, false)).to.equal(false);
      expect(limiter.samples).to.deep.equal([]);
      // 3 samples in 400 ms (7.5 a second): one window of 400 ms
      expect(window.add(400, 8, 2, false)).to.equal(true);
      expect(limiter.samples).to.deep.equal([[6, 2, false]]);
      // 2 samples over more than 10 x windowMs: dropped, the next window starts there
      window.add(500, 5, 1, false);
      expect(window.add(1600, 5, 1, false)).to.equal(false);
      window.add(1650, 9, 1, false);
      window.add(1700, 9, 1, false);
      expect(window.add(1800, 9, 1, false)).to.equal(true);
      expect(limiter.samples[1]).to.deep.equal([9, 1, false]);
    });
  });

  it('createLimiter builds the limiter the config names; none builds nothing', () => {
    const config = (limiter: OverloadConfig['limiter']) => Object.assign(new OverloadConfig(), { limiter });
    expect(createLimiter(config('none'))).to.equal(undefined);
    expect(createLimiter(config('static'))).to.be.instanceOf(StaticLimiter).and.to.include({ limit: 100 });
    expect(createLimiter(config('aimd'))).to.be.instanceOf(AimdLimiter).and.to.include({ limit: 20 });
    expect(createLimiter(config('vegas'))).to.be.instanceOf(VegasLimiter).and.to.include({ limit: 20 });
    expect(createLimiter(config('gradient2'))).to.be.instanceOf(Gradient2Limiter).and.to.include({ limit: 20 });
  });
});
