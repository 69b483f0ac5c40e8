import { expect } from 'chai';
import { LATENCY_BUCKETS_MS, LatencyHistogram, bucketIndex } from '../../src/core/latency-histogram';

describe('LatencyHistogram', () => {
  describe('bucketIndex', () => {
    it('puts a value on a bound into that bucket and above the last bound into +Inf', () => {
      expect(bucketIndex(0)).to.equal(0);
      expect(bucketIndex(-5)).to.equal(0);
      expect(bucketIndex(0.05)).to.equal(0);
      expect(bucketIndex(0.0501)).to.equal(1);
      expect(bucketIndex(1)).to.equal(LATENCY_BUCKETS_MS.indexOf(1));
      expect(bucketIndex(1.0001)).to.equal(LATENCY_BUCKETS_MS.indexOf(2.5));
      expect(bucketIndex(60_000)).to.equal(LATENCY_BUCKETS_MS.length - 1);
      expect(bucketIndex(60_001)).to.equal(LATENCY_BUCKETS_MS.length);
      expect(bucketIndex(Infinity)).to.equal(LATENCY_BUCKETS_MS.length);
    });

    it('agrees with a linear scan for every bound and between bounds', () => {
      const bounds = [1, 2, 4, 8, 16];
      const linear = (ms: number): number => {
        const i = bounds.findIndex((b) => ms <= b);
        return i === -1 ? bounds.length : i;
      };
      for (let ms = 0; ms <= 20; ms += 0.25) expect(bucketIndex(ms, bounds)).to.equal(linear(ms), `ms=${ms}`);
    });
  });

  it('is empty at first: every figure is 0', () => {
    const h = new LatencyHistogram();
    expect(h.quantile(0.5)).to.equal(0);
    expect(h.mean()).to.equal(0);
    expect(h.count).to.equal(0);
    expect(h.counts.length).to.equal(LATENCY_BUCKETS_MS.length + 1);
  });

  it('counts, sums and keeps the max', () => {
    const h = new LatencyHistogram([10, 100]);
    for (const ms of [5, 50, 500, 7]) h.observe(ms);
    expect([...h.counts]).to.deep.equal([2, 1, 1]);
    expect(h.count).to.equal(4);
    expect(h.sum).to.equal(562);
    expect(h.max).to.equal(500);
    expect(h.mean()).to.equal(140.5);
  });

  it('estimates quantiles within the bucket that holds them', () => {
    const h = new LatencyHistogram();
    // 90 fast requests around 3 ms, 10 slow ones around 700 ms.
    for (let i = 0; i < 90; i++) h.observe(3 + (i % 10) * 0.2);
    for (let i = 0; i < 10; i++) h.observe(600 + i * 20);
    const p50 = h.quantile(0.5);
    expect(p50).to.be.within(2.5, 5);
    const p95 = h.quantile(0.95);
    expect(p95).to.be.within(500, 1000);
    expect(h.quantile(0.99)).to.be.within(500, 1000);
    expect(h.quantile(0.99)).to.be.at.least(p95);
  });

  it('interpolates linearly inside a bucket (exact for a uniform spread)', () => {
    const h = new LatencyHistogram([100]);
    for (let ms = 1; ms <= 100; ms++) h.observe(ms);
    expect(h.quantile(0.25)).to.equal(25);
    expect(h.quantile(0.5)).to.equal(50);
    expect(h.quantile(0.9)).to.equal(90);
    expect(h.quantile(1)).to.equal(100);
  });

  it('never reports a quantile above the observed max, and uses the max as the top of +Inf', () => {
    const h = new LatencyHistogram([10, 100]);
    for (let i = 0; i < 10; i++) h.observe(11);
    expect(h.quantile(0.99)).to.equal(11);
    const inf = new LatencyHistogram([10]);
    inf.observe(20);
    inf.observe(40);
    expect(inf.quantile(0.5)).to.equal(25);
    expect(inf.quantile(1)).to.equal(40);
  });

  it('starts quantile 0 at the lower bound of the first used bucket', () => {
    const h = new LatencyHistogram([10, 100]);
    h.observe(50);
    expect(h.quantile(0)).to.equal(10);
  });

  it('records by precomputed bucket index like observe()', () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    for (const ms of [0.01, 3, 42, 999, 70_000]) {
      a.observe(ms);
      b.observeAt(bucketIndex(ms), ms);
    }
    expect([...b.counts]).to.deep.equal([...a.counts]);
    expect(b.sum).to.equal(a.sum);
    expect(b.max).to.equal(a.max);
  });


  it('observe() tries the last bucket first and still lands every value where the search puts it', () => {
    // Runs that stay in a bucket, then move up, down, to +Inf and back, and values on the bounds.
    const values = [5, 5, 4, 2.5, 2.6, 1e9, 1e9, 60_000, 60_001, 0, 0.05, 0.06, -1, 42, 42, 41, 10, 10.0001, 30_000, 0.1];
    for (let ms = 0; ms <= 61_000; ms = ms * 1.7 + 0.01) values.push(ms);
    for (let ms = 61_000; ms > 0.01; ms /= 1.9) values.push(ms);
    const observed = new LatencyHistogram();
    const expected = new LatencyHistogram();
    for (const ms of values) {
      const before = [...observed.counts];
      observed.observe(ms);
      expected.observeAt(bucketIndex(ms), ms);
      const changed = [...observed.counts].findIndex((c, i) => c !== before[i]);
      expect(changed, `ms=${ms}`).to.equal(bucketIndex(ms));
    }
    expect([...observed.counts]).to.deep.equal([...expected.counts]);
    expect(observed.count).to.equal(values.length);
  });
  it('merges and resets', () => {
    const a = new LatencyHistogram([10]);
    const b = new LatencyHistogram([10]);
    a.observe(1);
    b.observe(20);
    b.observe(2);
    a.merge(b);
    expect([...a.counts]).to.deep.equal([2, 1]);
    expect(a.count).to.equal(3);
    expect(a.sum).to.equal(23);
    expect(a.max).to.equal(20);
    b.merge(new LatencyHistogram([10]));
    expect(b.max).to.equal(20);
    a.reset();
    expect([...a.counts]).to.deep.equal([0, 0]);
    expect(a.count + a.sum + a.max).to.equal(0);
  });

  it('keeps its memory fixed: a million observations leave the arrays as they were', () => {
    const h = new LatencyHistogram();
    const counts = h.counts;
    for (let i = 0; i < 1_000_000; i++) h.observe(i % 100_000);
    expect(h.counts).to.equal(counts);
    expect(h.counts.length).to.equal(LATENCY_BUCKETS_MS.length + 1);
    expect(h.count).to.equal(1_000_000);
    expect(Object.keys(h)).to.have.members(['bounds', 'data', 'counts', 'search', 'lastBucket']);
    expect((h as unknown as { lastBucket: unknown }).lastBucket).to.be.a('number');
    expect(h.counts.buffer.byteLength).to.equal((LATENCY_BUCKETS_MS.length + 4) * 8);
  });
});
