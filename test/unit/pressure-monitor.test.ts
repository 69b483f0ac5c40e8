import 'reflect-metadata';
import { expect } from 'chai';
import sinon from 'sinon';
import { delayBeyondResolutionMs, HysteresisGate, OverloadActions, PressureLevel, PressureMonitor, PressureSettings, ProcessPressureSources, pressureConfigured, type PressureSources } from '../../src/overload';

/** Sources a test drives: each read returns the value the test set last. */
class StubSources implements PressureSources {
  delay = 0;
  elu = 0;
  heap = 0;
  rss = 0;
  started = 0;
  stopped = 0;
  reads = { delay: 0, elu: 0, heap: 0, rss: 0 };
  start(): void {
    this.started++;
  }
  stop(): void {
    this.stopped++;
  }
  eventLoopDelayMs(): number {
    this.reads.delay++;
    return this.delay;
  }
  eventLoopUtilization(): number {
    this.reads.elu++;
    return this.elu;
  }
  heapUsedBytes(): number {
    this.reads.heap++;
    return this.heap;
  }
  rssBytes(): number {
    this.reads.rss++;
    return this.rss;
  }
}

function settings(over: Partial<PressureSettings> = {}): PressureSettings {
  return Object.assign(new PressureSettings(), { sampleInterval: 100, ...over });
}

describe('pressure: hysteresis and the monitor', () => {
  describe('HysteresisGate', () => {
    it('enters at the threshold at once', () => {
      const gate = new HysteresisGate({ enter: 1, exitRatio: 0.8, holdTime: 1000 });
      expect(gate.update(0.99, 0)).to.equal(false);
      expect(gate.update(1, 1)).to.equal(true);
      expect(gate.active).to.equal(true);
    });

    it('leaves only under enter x exitRatio, and only after holdTime spent there', () => {
      const gate = new HysteresisGate({ enter: 1, exitRatio: 0.8, holdTime: 1000 });
      gate.update(2, 0);
      expect(gate.update(0.85, 100)).to.equal(false); // under the threshold, above the exit level
      expect(gate.update(0.7, 200)).to.equal(false);
      expect(gate.update(0.7, 1199)).to.equal(false);
      expect(gate.update(0.9, 1200)).to.equal(false); // back above the exit level: the hold restarts
      expect(gate.update(0.7, 1300)).to.equal(false);
      expect(gate.update(0.7, 2300)).to.equal(true);
      expect(gate.active).to.equal(false);
    });

    it('no flapping: input oscillating around the threshold makes exactly one transition', () => {
      const gate = new HysteresisGate({ enter: 1, exitRatio: 0.8, holdTime: 2000 });
      let transitions = 0;
      for (let i = 0; i < 200; i++) if (gate.update(i % 2 === 0 ? 1.05 : 0.5, i * 500)) transitions++;
      expect(transitions).to.equal(1);
    });
  });

  describe('PressureMonitor', () => {
    let clock: sinon.SinonFakeTimers;
    beforeEach(() => {
      clock = sinon.useFakeTimers({ now: 0 });
    });
    afterEach(() => clock.restore());

    it('raises the graded level as event-loop delay rises, one change callback per level, and lowers it after the hold time', () => {
      const sources = new StubSources();
      const changes: Array<[PressureLevel, PressureLevel, number]> = [];
      const monitor = new PressureMonitor(settings({ maxEventLoopDelay: 100 }), new OverloadActions(), {
        sources,
        clock: () => clock.now,
        onChange: (level, previous, snap) => void changes.push([level, previous, snap.pressure]),
      });
      monitor.start();
      sources.delay = 50;
      clock.tick(100);
      expect(monitor.level).to.equal(PressureLevel.None);
      sources.delay = 92; // 0.92: closeKeepAlive starts at 0.9
      clock.tick(100);
      sources.delay = 96; // 0.96: refuseConnections at 0.95
      clock.tick(100);
      sources.delay = 150; // 1.5: shedWork at 1
      clock.tick(100);
      expect(monitor.level).to.equal(PressureLevel.ShedWork);
      expect(changes).to.deep.equal([
        [PressureLevel.CloseKeepAlive, PressureLevel.None, 0.92],
        [PressureLevel.RefuseConnections, PressureLevel.CloseKeepAlive, 0.96],
        [PressureLevel.ShedWork, PressureLevel.RefuseConnections, 1.5],
      ]);
      sources.delay = 10; // far under every exit level (start x 0.8)
      clock.tick(1900);
      expect(monitor.level).to.equal(PressureLevel.ShedWork);
      clock.tick(200);
      expect(monitor.level).to.equal(PressureLevel.None);
      expect(changes).to.have.length(4);
      monitor.close();
    });

    it('no flapping: a signal oscillating around a threshold every sample gives one transition', () => {
      const sources = new StubSources();
      let changes = 0;
      const monitor = new PressureMonitor(settings({ maxRssBytes: 1000 }), Object.assign(new OverloadActions(), { closeKeepAlive: 0, refuseConnections: 0, shedWork: 1 }), { sources, clock: () => clock.now, onChange: () => changes++ });
      monitor.start();
      for (let i = 0; i < 100; i++) {
        sources.rss = i % 2 === 0 ? 1010 : 700;
        clock.tick(100);
      }
      expect(changes).to.equal(1);
      expect(monitor.level).to.equal(PressureLevel.ShedWork);
      monitor.close();
    });

    it('pressure is the highest value / threshold of the configured signals: ELU, heap and RSS each count', () => {
      const sources = new StubSources();
      const monitor = new PressureMonitor(settings({ maxEventLoopUtilization: 0.9, maxHeapUsedBytes: 1000, maxRssBytes: 4000 }), new OverloadActions(), { sources, clock: () => clock.now });
      sources.elu = 0.45;
      sources.heap = 700;
      sources.rss = 1000;
      monitor.sample(clock.now);
      expect(monitor.snapshot.pressure).to.equal(0.7);
      sources.rss = 4400;
      monitor.sample(clock.now);
      expect(monitor.snapshot.pressure).to.be.closeTo(1.1, 1e-9);
      expect(monitor.level).to.equal(PressureLevel.ShedWork);
      sources.elu = 0.99;
      monitor.sample(clock.now);
      expect(monitor.snapshot.pressure).to.be.closeTo(1.1, 1e-9);
      expect(monitor.snapshot).to.include({ eventLoopUtilization: 0.99, heapUsedBytes: 700, rssBytes: 4400 });
    });

    it('reads only the signals that are configured (event-loop delay too when asked to track it)', () => {
      const sources = new StubSources();
      const samples: number[] = [];
      const monitor = new PressureMonitor(settings({ maxHeapUsedBytes: 1000 }), new OverloadActions(), { sources, clock: () => clock.now, trackEventLoopDelay: true, onSample: (s) => void samples.push(s.eventLoopDelayMs) });
      sources.delay = 7;
      monitor.sample(0);
      expect(sources.reads).to.deep.equal({ delay: 1, elu: 0, heap: 1, rss: 0 });
      expect(samples).to.deep.equal([7]);
      expect(monitor.level).to.equal(PressureLevel.None); // tracked delay is not a threshold
      expect(pressureConfigured(settings())).to.equal(false);
      expect(pressureConfigured(settings({ maxRssBytes: 1 }))).to.equal(true);
    });

    it('close() stops the timer and the sources; the interval is unref\'d', () => {
      const sources = new StubSources();
      const monitor = new PressureMonitor(settings({ maxEventLoopDelay: 100 }), new OverloadActions(), { sources, clock: () => clock.now });
      monitor.start();
      monitor.start();
      expect(clock.countTimers()).to.equal(1);
      const timer = (monitor as unknown as { timer: NodeJS.Timeout }).timer;
      expect(timer.hasRef()).to.equal(false);
      monitor.close();
      expect(clock.countTimers()).to.equal(0);
      expect([sources.started, sources.stopped]).to.deep.equal([1, 1]);
      clock.tick(1000);
      expect(sources.reads.delay).to.equal(0);
    });
  });

  it('issue 14: maxEventLoopDelay compares the delay beyond the sampling interval (an idle loop reading 10-15 ms is no pressure; 20 ms recorded at 10 ms resolution is 10 ms of delay), and the snapshot keeps the recorded p99', () => {
    const sources = Object.assign(new StubSources(), { resolutionMs: 10 });
    const monitor = new PressureMonitor(settings({ maxEventLoopDelay: 20 }), Object.assign(new OverloadActions(), { shedWork: 1 }), { sources, clock: () => 0 });
    sources.delay = 25;
    monitor.sample(0);
    expect(monitor.snapshot.eventLoopDelayMs).to.equal(25);
    expect(monitor.snapshot.pressure).to.be.closeTo(15 / 20, 1e-9);
    expect(monitor.level).to.equal(PressureLevel.None);
    sources.delay = 30;
    monitor.sample(1);
    expect(monitor.snapshot.pressure).to.be.closeTo(1, 1e-9);
    expect(monitor.level).to.equal(PressureLevel.ShedWork);
  });

  it('issue 14: event-loop delay is what lies beyond the histogram\'s 10 ms sampling interval: an idle loop (10-15 ms recorded) reads about 0, never below 0', () => {
    expect(delayBeyondResolutionMs(10.2)).to.be.closeTo(0.2, 1e-9);
    expect(delayBeyondResolutionMs(8)).to.equal(0);
    expect(delayBeyondResolutionMs(45)).to.equal(35);
    expect(delayBeyondResolutionMs(45, 20)).to.equal(25);
  });

  it('ProcessPressureSources read the process: event-loop delay (p99 of perf_hooks), ELU in 0..1, heap and RSS in bytes', async () => {
    const sources = new ProcessPressureSources();
    sources.start();
    try {
      // Block the loop for ~30 ms, then let the 10 ms-resolution timer observe the delay.
      const until = performance.now() + 30;
      while (performance.now() < until);
      await new Promise<void>((resolve) => setImmediate(resolve));
      await new Promise<void>((resolve) => setTimeout(resolve, 25));
      expect(sources.eventLoopDelayMs()).to.be.above(5);
      const elu = sources.eventLoopUtilization();
      expect(elu).to.be.within(0, 1);
      expect(sources.heapUsedBytes()).to.be.above(1_000_000);
      expect(sources.rssBytes()).to.be.above(sources.heapUsedBytes());
    } finally {
      sources.stop();
    }
  });
});
