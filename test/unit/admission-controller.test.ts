import 'reflect-metadata';
import { expect } from 'chai';
import sinon from 'sinon';
import { validateSection } from '../../src';
import { AdmissionController, OverloadConfig, PressureLevel, criticalPathMatcher, type AdmissionOutcome, type PressureSources, type ShedReason, type WorkPriority } from '../../src/overload';
import { QueuedWork as Work } from '../helpers/queued-work';


class StubSources implements PressureSources {
  delay = 0;
  start(): void {}
  stop(): void {}
  eventLoopDelayMs(): number {
    return this.delay;
  }
  eventLoopUtilization(): number {
    return 0;
  }
  heapUsedBytes(): number {
    return 0;
  }
  rssBytes(): number {
    return 0;
  }
}

function config(plain: Record<string, unknown>): OverloadConfig {
  const { value, problems } = validateSection(OverloadConfig, plain, 'overload');
  expect(problems).to.deep.equal([]);
  return value!;
}

describe('AdmissionController (limiter + queue + pressure + priority)', () => {
  let clock: sinon.SinonFakeTimers;
  let sources: StubSources;
  let sheds: Array<[ShedReason, WorkPriority]>;
  let controller: AdmissionController | undefined;
  const make = (plain: Record<string, unknown>, extra: Partial<ConstructorParameters<typeof AdmissionController>[1]> = {}) => {
    controller = new AdmissionController(config(plain), { clock: () => clock.now, pressureSources: sources, onShed: (r, p) => void sheds.push([r, p]), ...extra });
    return controller;
  };

  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 0 });
    sources = new StubSources();
    sheds = [];
  });
  afterEach(() => {
    controller?.close();
    controller = undefined;
    clock.restore();
  });

  it('limiter none without pressure admits everything, holds no timer and limits nothing', () => {
    const c = make({});
    c.start();
    for (let i = 0; i < 1000; i++) expect(c.acquire(null, 'normal', 0)).to.equal('admit');
    expect(c.limit).to.equal(Infinity);
    expect(c.inflight).to.equal(1000);
    expect(clock.countTimers()).to.equal(0);
  });

  it('over the limit work goes to the queue and is admitted, in order, as units release', () => {
    const c = make({ limiter: 'static', maxConcurrency: 2, queue: { size: 2, timeout: 100 } });
    const [a, b, q1, q2] = [new Work('a'), new Work('b'), new Work('q1'), new Work('q2')];
    expect([c.acquire(a, 'normal', 0), c.acquire(b, 'normal', 0)]).to.deep.equal(['admit', 'admit']);
    expect([c.acquire(q1, 'normal', 1), c.acquire(q2, 'normal', 2)]).to.deep.equal(['queued', 'queued']);
    expect(c.queued).to.equal(2);
    c.release(0, 10, false);
    expect(q1.admittedAt).to.equal(10);
    expect(q2.admittedAt).to.equal(-1);
    expect([c.inflight, c.queued]).to.deep.equal([2, 1]);
  });

  it('queue full -> shed with reason queue_full (fifo: the newcomer; lifo: the oldest waiter)', () => {
    const c = make({ limiter: 'static', maxConcurrency: 1, queue: { size: 1, timeout: 100 } });
    c.acquire(new Work(), 'normal', 0);
    c.acquire(new Work(), 'normal', 0);
    expect(c.acquire(new Work(), 'normal', 0)).to.equal('queue_full');
    expect(c.shed.queue_full).to.equal(1);
    c.close();

    const lifo = make({ limiter: 'static', maxConcurrency: 1, queue: { size: 1, timeout: 100, order: 'lifo' } });
    const [old, fresh] = [new Work('old'), new Work('fresh')];
    lifo.acquire(new Work(), 'normal', 0);
    lifo.acquire(old, 'normal', 0);
    expect(lifo.acquire(fresh, 'normal', 1)).to.equal('queued');
    expect(old.shedFor).to.equal('queue_full');
    expect(sheds).to.deep.equal([['queue_full', 'normal'], ['queue_full', 'normal']]);
  });

  it('queue timeout -> shed with reason queue_timeout, through the waiter and the counters', () => {
    const c = make({ limiter: 'static', maxConcurrency: 1, queue: { size: 10, timeout: 100 } });
    const w = new Work();
    c.acquire(new Work(), 'normal', clock.now);
    expect(c.acquire(w, 'normal', clock.now)).to.equal('queued');
    clock.tick(99);
    expect(w.shedFor).to.equal(undefined);
    clock.tick(1);
    expect(w.shedFor).to.equal('queue_timeout');
    expect(c.shed.queue_timeout).to.equal(1);
    expect(c.queued).to.equal(0);
    expect(sheds).to.deep.equal([['queue_timeout', 'normal']]);
  });

  it('over the limit with no queue (or a unit that cannot wait) -> shed with reason limit', () => {
    const c = make({ limiter: 'static', maxConcurrency: 1 });
    c.acquire(null, 'normal', 0);
    expect(c.acquire(new Work(), 'normal', 0)).to.equal('limit');
    const q = make({ limiter: 'static', maxConcurrency: 1, queue: { size: 5, timeout: 100 } });
    q.acquire(null, 'normal', 0);
    expect(q.acquire(null, 'normal', 0)).to.equal('limit');
  });

  it('a waiter whose client went away is cancelled and never admitted', () => {
    const c = make({ limiter: 'static', maxConcurrency: 1, queue: { size: 5, timeout: 100 } });
    const [gone, next] = [new Work('gone'), new Work('next')];
    c.acquire(null, 'normal', 0);
    c.acquire(gone, 'normal', 0);
    c.acquire(next, 'normal', 0);
    expect(c.cancel(gone)).to.equal(true);
    c.release(0, 5, false);
    expect([gone.admittedAt, next.admittedAt]).to.deep.equal([-1, 5]);
  });

  it('pressure shedWork -> normal work shed with reason pressure, critical work still admitted; the level change is reported', () => {
    const levels: PressureLevel[] = [];
    const c = make({ pressure: { maxEventLoopDelay: 100, sampleInterval: 100 } }, { onPressureChanged: (level) => void levels.push(level) });
    c.start();
    expect(c.acquire(null, 'normal', clock.now)).to.equal('admit');
    sources.delay = 150;
    clock.tick(100);
    expect(c.pressureLevel).to.equal(PressureLevel.ShedWork);
    expect(c.acquire(null, 'normal', clock.now)).to.equal('pressure');
    expect(c.acquire(null, 'critical', clock.now)).to.equal('admit');
    expect(levels).to.deep.equal([PressureLevel.ShedWork]);
    expect(sheds).to.deep.equal([['pressure', 'normal']]);
  });

  it('priority: critical work is not held by the limit (only by maxLimit) and never queued behind normal work', () => {
    const c = make({ limiter: 'static', maxConcurrency: 1, initialLimit: 1, maxLimit: 3, queue: { size: 5, timeout: 100 } });
    const waiting = new Work();
    c.acquire(null, 'normal', 0);
    expect(c.acquire(waiting, 'normal', 0)).to.equal('queued');
    expect(c.acquire(null, 'critical', 0)).to.equal('admit');
    expect(c.acquire(null, 'critical', 0)).to.equal('admit');
    expect(c.acquire(null, 'critical', 0)).to.equal('limit'); // maxLimit 3 reached
    expect(waiting.admittedAt).to.equal(-1);
  });

  it('limit changes surface through onLimitChanged (for LimitChanged events)', () => {
    const changes: Array<[number, number]> = [];
    const c = make({ limiter: 'aimd', initialLimit: 4, minLimit: 1, maxLimit: 10, sampleWindow: 10, minSamples: 1 }, { onLimitChanged: (limit, previous) => void changes.push([limit, previous]) });
    for (let t = 0; t < 4; t++) c.acquire(null, 'normal', t);
    c.release(0, 5, false); // opens a window, closing at 15
    expect(changes).to.deep.equal([]);
    c.release(0, 20, false); // window closes: 4 in flight >= half of 4 -> 5
    expect(changes).to.deep.equal([[5, 4]]);
    c.release(0, 25, true); // a drop in the next window (20..30)...
    c.release(0, 40, false); // ...which closes here: floor(5 x 0.9) = 4
    expect(changes).to.deep.equal([[5, 4], [4, 5]]);
  });

  it('gradient2 sees the wait before a CPU-bound synchronous handler: rising event-loop delay lowers the limit and sheds, with one unit ever in flight', () => {
    const limits: number[] = [];
    const c = make({ limiter: 'gradient2', initialLimit: 20, minLimit: 1, maxLimit: 100, sampleWindow: 100, minSamples: 5, pressure: { sampleInterval: 100 } }, { onLimitChanged: (limit) => void limits.push(limit) });
    c.start();
    const outcomes: Record<string, number> = {};
    const run = (ms: number, delay: number): void => {
      sources.delay = delay;
      for (let i = 0; i < ms; i++) {
        const now = clock.now;
        const outcome: AdmissionOutcome = c.acquire(null, 'normal', now);
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        if (outcome === 'admit') c.release(now, now + 2, false); // 2 ms of CPU, synchronously
        expect(c.inflight).to.equal(0);
        clock.tick(1); // one arrival per ms
      }
    };
    run(2000, 1); // baseline: 2 ms of work + 1 ms of loop delay
    const steady = c.limit;
    expect(steady).to.be.at.least(20);
    expect(outcomes).to.deep.equal({ admit: 2000 });
    for (const delay of [4, 8, 12, 16, 20, 30, 40]) run(300, delay);
    expect(c.limit).to.be.below(steady);
    expect(limits.some((l, i) => i > 0 && l < limits[i - 1])).to.equal(true);
    expect(outcomes.limit).to.be.above(0); // shed although only one unit is ever in flight
    expect(c.backlog).to.be.closeTo(40, 1);
    // the loop recovers: the backlog estimate falls and work is admitted again
    delete outcomes.admit;
    run(300, 1);
    expect(outcomes.admit).to.be.above(100);
  });

  /**
   * One server core under open-loop load, turn by turn as node runs it: the requests that
   * arrived during a turn are handled in the next one, back to back; an admitted one burns
   * `unitMs` of CPU synchronously (acquire, handler, release), a shed one `shedMs`. Returns the
   * units admitted and shed, and the longest turn wait of an admitted unit.
   */
  const drive = (c: AdmissionController, o: { seconds: number; perMs: number; unitMs: number; shedMs: number; from: number }) => {
    let t = o.from;
    let due = 0;
    const r = { admitted: 0, shed: 0, maxWait: 0, end: 0 };
    while (t < o.from + o.seconds * 1000) {
      const start = t;
      const n = Math.floor(due);
      due -= n;
      for (let i = 0; i < n; i++) {
        const outcome = c.acquire(null, 'normal', t);
        if (outcome === 'admit') {
          r.maxWait = Math.max(r.maxWait, t - start);
          const began = t;
          t += o.unitMs;
          c.release(began, t, false);
          r.admitted++;
        } else {
          expect(outcome).to.equal('limit');
          t += o.shedMs;
          r.shed++;
        }
        expect(c.inflight).to.equal(0);
      }
      if (t === start) t += 1; // idle: the next arrivals come in the next ms
      clock.tick(0); // the check phase: the turn ends
      due += (t - start) * o.perMs;
    }
    r.end = t;
    return r;
  };

  it('issue 14: a CPU-bound synchronous handler (one unit ever in flight): units admitted earlier in the loop turn count against the limit until the turn ends, so each turn admits limit units and sheds the rest at once', () => {
    const c = make({ limiter: 'static', maxConcurrency: 10 });
    // 4x overload: 2 arrivals per ms against 2 ms units (500/s).
    const warm = drive(c, { seconds: 0.1, perMs: 2, unitMs: 2, shedMs: 0.05, from: 0 });
    const turns: Array<{ admitted: number; shed: number }> = [];
    let t = warm.end;
    for (let k = 0; k < 5; k++) {
      const start = t;
      const outcomes = Array.from({ length: 40 }, () => {
        const outcome = c.acquire(null, 'normal', t);
        if (outcome === 'admit') {
          t += 2;
          c.release(t - 2, t, false);
        } else t += 0.05;
        return outcome;
      });
      clock.tick(0);
      // the first 10 units of the turn (each ended before the next: one ever in flight), then 30 shed: at most 20 ms queued
      expect(outcomes.slice(0, 10)).to.deep.equal(Array(10).fill('admit'));
      turns.push({ admitted: outcomes.filter((x) => x === 'admit').length, shed: outcomes.filter((x) => x === 'limit').length });
      expect(t - start).to.be.closeTo(21.5, 1e-9);
    }
    expect(turns).to.deep.equal(Array(5).fill({ admitted: 10, shed: 30 }));
    expect(c.shed.limit).to.equal(warm.shed + 150);
  });

  it('issue 14: the loop delay counted is the part beyond the sources\' sampling interval: an idle loop (10-15 ms recorded at 10 ms resolution) is no backlog', () => {
    const process10 = Object.assign(new StubSources(), { resolutionMs: 10 });
    const c = make({ limiter: 'gradient2', pressure: { sampleInterval: 100 } }, { pressureSources: process10 });
    c.start();
    process10.delay = 12;
    clock.tick(100);
    expect(c.loopDelayMs).to.be.closeTo(2, 1e-9);
    process10.delay = 8;
    clock.tick(100);
    expect(c.loopDelayMs).to.equal(0);
    process10.delay = 45;
    clock.tick(100);
    expect(c.loopDelayMs).to.equal(35);
  });

  it('issue 14: turns count once a unit has ended (before, every admitted unit is in flight); units ended in an earlier turn do not count; delay the turns showed is not counted again as backlog, delay they did not show is', () => {
    const c = make({ limiter: 'gradient2', initialLimit: 10, pressure: { sampleInterval: 100 } });
    c.start();
    clock.tick(100); // first sample: delay 0
    expect(c.acquire(null, 'normal', 100)).to.equal('admit');
    expect(c.acquire(null, 'normal', 150)).to.equal('admit');
    expect(clock.countTimers()).to.equal(1); // the monitor only: no turn tracked yet
    c.release(100, 102, false);
    c.release(150, 152, false);
    // an async unit admitted now ends in a later turn: it counts while in flight, not after
    expect(c.acquire(null, 'normal', 155)).to.equal('admit');
    clock.tick(0); // the turn ends
    // one turn of 30 ms: 9 units admitted (1 still in flight + 9 ended = 10), then shed
    const outcomes = [];
    for (let t = 160; t <= 190; t += 2) {
      const outcome = c.acquire(null, 'normal', t);
      outcomes.push(outcome);
      if (outcome === 'admit') c.release(t, t + 2, false);
    }
    expect(outcomes.filter((o) => o === 'admit')).to.have.length(9);
    c.release(155, 191, false); // the async one ends: its place frees, it is not a unit of this turn
    expect(c.acquire(null, 'normal', 192)).to.equal('admit'); // the turn's 10th unit
    c.release(192, 193, false);
    expect(c.acquire(null, 'normal', 193)).to.equal('limit'); // 10 units of this turn ahead
    clock.tick(0);
    expect(c.acquire(null, 'normal', 194)).to.equal('admit'); // a new turn
    c.release(194, 195, false);
    // a loop delay of 30 ms measured after a 32 ms turn: explained, no backlog
    sources.delay = 30;
    clock.tick(100);
    expect([c.loopDelayMs, c.unexplainedDelayMs, c.backlog]).to.deep.equal([30, 0, 0]);
    // next interval: 10 arrivals, each alone in its turn, the same delay (a timer, GC, the core lent away): counted by Little's law
    for (let t = 200; t < 300; t += 10) {
      c.acquire(null, 'normal', t);
      c.release(t, t + 2, false);
      clock.tick(0);
    }
    clock.tick(100);
    expect(c.unexplainedDelayMs).to.equal(30);
    expect(c.backlog).to.be.closeTo((10 / 100) * 30, 1e-9);
  });

  it('issue 14: gradient2 with default knobs, 4x open-loop load on a 2 ms synchronous handler: goodput >= 0.9 x capacity, the limit falls from its start within the first second (100 ms sample windows) and settles at 7 or under (queueSize 2), the work queued in a turn stays within limit x unit time', () => {
    const limits: Array<[number, number]> = [];
    const c = make({ limiter: 'gradient2' }, { onLimitChanged: (limit) => void limits.push([clock.now, limit]) });
    // 10 s at 0.5x (the baseline RTT), then 10 s at 4x; a shed request costs 50 us.
    const calm = drive(c, { seconds: 10, perMs: 0.25, unitMs: 2, shedMs: 0.05, from: 0 });
    expect(calm.shed).to.equal(0);
    expect(c.limit).to.be.at.least(20);
    const overload = drive(c, { seconds: 10, perMs: 2, unitMs: 2, shedMs: 0.05, from: calm.end });
    const goodputPerSecond = overload.admitted / ((overload.end - calm.end) / 1000);
    expect(goodputPerSecond).to.be.at.least(0.9 * 500);
    expect(Math.min(...limits.map(([, l]) => l))).to.be.at.least(1);
    // a step per 100 ms window (smoothing 0.2): below 16 one second into the overload
    const after1s = limits.filter(([at]) => at <= calm.end + 1000).map(([, l]) => l);
    expect(after1s.length).to.be.at.least(3);
    expect(after1s[after1s.length - 1]).to.be.below(16);
    // settled near queueSize / (1 - 0.5) = 4, the floor of Gradient2's gradient
    expect(c.limit).to.be.within(3, 7);
    // work queued in a turn stays under the limit x 2 ms: below 40 ms (a sampled signal lets 1.5 s pile up)
    expect(overload.maxWait).to.be.below(20 * 2);
  });

  it('issue 14: a live change keeps a queued unit\'s wait: queued at 0 with a 1 s timeout, carried over at 600 ms, it is shed at 1 s (not 1.6 s) and its queue wait counts from 0', () => {
    const before = make({ limiter: 'static', maxConcurrency: 1, queue: { size: 4, timeout: 1000 } });
    expect(before.acquire(null, 'normal', 0)).to.equal('admit');
    const late = new Work('late');
    const admitted = new Work('admitted');
    expect(before.acquire(late, 'normal', 0)).to.equal('queued');
    clock.tick(300);
    expect(before.acquire(admitted, 'normal', 300)).to.equal('queued');
    clock.tick(300);
    const after = new AdmissionController(config({ limiter: 'static', maxConcurrency: 1, queue: { size: 4, timeout: 1000 } }), { clock: () => clock.now, pressureSources: sources });
    after.adopt(before, 600);
    expect(after.queued).to.equal(2);
    clock.tick(399);
    expect(late.shedFor).to.equal(undefined);
    clock.tick(1);
    expect(late.shedFor).to.equal('queue_timeout');
    expect(after.shed.queue_timeout).to.equal(1);
    after.release(0, 1100, false);
    expect(admitted.admittedAt).to.equal(1100);
    expect(after.queueWait.count).to.equal(1);
    expect(after.queueWait.max).to.equal(800);
    after.close();
  });

  it('issue 14 review: a unit carried over past the new config\'s (shorter) queue timeout is shed queue_timeout at once, even with a slot free', () => {
    const before = make({ limiter: 'static', maxConcurrency: 1, queue: { size: 4, timeout: 1000 } });
    expect(before.acquire(null, 'normal', 0)).to.equal('admit');
    const old = new Work('old');
    expect(before.acquire(old, 'normal', 0)).to.equal('queued');
    clock.tick(600);
    const after = new AdmissionController(config({ limiter: 'static', maxConcurrency: 10, queue: { size: 4, timeout: 500 } }), { clock: () => clock.now, pressureSources: sources });
    after.adopt(before, 600);
    expect(old.shedFor).to.equal('queue_timeout');
    expect(old.admittedAt).to.equal(-1);
    expect(after.shed.queue_timeout).to.equal(1);
    after.close();
  });

  it('issue 14 review: gradient2 with default knobs holds its limit through a long overload (180 s at 4x): the long-term RTT spans minutes, not seconds, so it does not catch up and let the limit grow back', () => {
    const c = make({ limiter: 'gradient2' });
    const calm = drive(c, { seconds: 10, perMs: 0.25, unitMs: 2, shedMs: 0.05, from: 0 });
    const overload = drive(c, { seconds: 180, perMs: 2, unitMs: 2, shedMs: 0.05, from: calm.end });
    expect(c.limit).to.be.at.most(8);
    expect(overload.maxWait).to.be.below(40);
  });

  it('close() stops the monitor and the queue timer and hands back the waiters', () => {
    const c = make({ limiter: 'gradient2', queue: { size: 5, timeout: 100 }, initialLimit: 1, minLimit: 1 });
    c.start();
    const w = new Work();
    c.acquire(null, 'normal', 0);
    c.acquire(w, 'normal', 0);
    expect(clock.countTimers()).to.equal(2);
    expect(c.close()).to.deep.equal([w]);
    expect(clock.countTimers()).to.equal(0);
  });

  it('criticalPathMatcher matches exact paths with the query ignored; an empty list matches nothing', () => {
    const critical = criticalPathMatcher(['/healthz', '/readyz']);
    expect(['/healthz', '/readyz?full=1', '/healthz/x', '/', '/health'].map(critical)).to.deep.equal([true, true, false, false, false]);
    expect(criticalPathMatcher([])('/healthz')).to.equal(false);
  });
});
