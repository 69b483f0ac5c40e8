import { expect } from 'chai';
import * as sinon from 'sinon';
import { EventStreamHub, type EventSink } from '../../src/observability/dashboard/event-stream-hub';
import { DashboardFrames } from '../../src/observability/dashboard/dashboard-frames';
import type { ApplicationStats } from '../../src/observability/prometheus-collector';
import { FakePool, fakeConn } from '../helpers/fake-pool';
import { CapturingLogger } from '../../src/testing';

/** An in-memory response: what the hub wrote, whether it ended, and its `close` listeners. */
class FakeSink implements EventSink {
  chunks: string[] = [];
  ended = false;
  destroyed = false;
  writableLength = 0;
  private closeListeners: Array<() => void> = [];

  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }

  end(chunk?: string): void {
    if (chunk) this.chunks.push(chunk);
    this.ended = true;
  }

  destroy(): void {
    this.destroyed = true;
    this.clientLeft();
  }

  once(_event: 'close', listener: () => void): this {
    this.closeListeners.push(listener);
    return this;
  }

  /** The client went away: the response emits `close`. */
  clientLeft(): void {
    for (const l of this.closeListeners.splice(0)) l();
  }

  /** The parsed JSON of every unnamed (`data:` only) event. */
  frames(): Array<Record<string, unknown>> {
    return this.chunks
      .join('')
      .split('\n\n')
      .filter((e) => e.startsWith('data: '))
      .map((e) => JSON.parse(e.slice('data: '.length)) as Record<string, unknown>);
  }

  named(name: string): string[] {
    return this.chunks
      .join('')
      .split('\n\n')
      .filter((e) => e.startsWith(`event: ${name}\n`));
  }
}

describe('dashboard event stream (/events) hub', () => {
  let clock: sinon.SinonFakeTimers;
  let built: number;

  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 1_000_000 });
    built = 0;
  });

  afterEach(() => clock.restore());

  function hub(maxSubscribers = 2, maxBufferedBytes = 1024): EventStreamHub {
    return new EventStreamHub(() => ({ n: ++built }), { maxSubscribers, maxBufferedBytes }, new CapturingLogger());
  }

  it('no timer runs while nobody is subscribed: the first subscriber starts the 1 s frame timer, the last one leaving stops it', () => {
    const h = hub();
    expect(clock.countTimers()).to.equal(0);
    const a = new FakeSink();
    const b = new FakeSink();
    expect(h.subscribe(a)).to.equal(true);
    expect(h.subscribe(b)).to.equal(true);
    expect(clock.countTimers()).to.equal(1);
    a.clientLeft();
    expect(clock.countTimers()).to.equal(1);
    b.clientLeft();
    expect(h.subscribers).to.equal(0);
    expect(clock.countTimers()).to.equal(0);
    clock.tick(5000);
    expect(built).to.equal(2); // one immediate frame per subscriber, none after they left
  });

  it('sends a frame at once, then one JSON frame per second, built once per tick for every subscriber', () => {
    const h = hub();
    const a = new FakeSink();
    h.subscribe(a);
    expect(a.frames()).to.have.length(1);
    expect(a.chunks[0]).to.match(/^retry: \d+\n\n/);
    const b = new FakeSink();
    h.subscribe(b);
    clock.tick(999);
    expect(a.frames()).to.have.length(1);
    clock.tick(1);
    expect(a.frames()).to.have.length(2);
    clock.tick(2000);
    expect(a.frames()).to.have.length(4);
    expect(b.frames()).to.have.length(4);
    // Frames of one tick are one build shared by every subscriber.
    expect(a.frames().slice(1)).to.deep.equal(b.frames().slice(1));
    expect(built).to.equal(2 + 3);
    a.clientLeft();
    b.clientLeft();
  });

  it('refuses a subscriber over maxSubscribers (the admin server answers 503), and takes one again once a stream is gone', () => {
    const h = hub(2);
    const a = new FakeSink();
    h.subscribe(a);
    h.subscribe(new FakeSink());
    expect(h.hasRoom()).to.equal(false);
    const c = new FakeSink();
    expect(h.subscribe(c)).to.equal(false);
    expect(c.chunks).to.deep.equal([]);
    a.clientLeft();
    expect(h.hasRoom()).to.equal(true);
    expect(h.subscribe(c)).to.equal(true);
    h.close();
  });

  it('drops a subscriber that stopped reading once its unsent bytes pass the bound, and keeps serving the others', () => {
    const h = hub(2, 1024);
    const stuck = new FakeSink();
    const fine = new FakeSink();
    h.subscribe(stuck);
    h.subscribe(fine);
    stuck.writableLength = 2048; // the kernel buffer is full and node queues what it writes
    clock.tick(1000);
    expect(stuck.destroyed).to.equal(true);
    expect(h.subscribers).to.equal(1);
    clock.tick(1000);
    expect(fine.frames()).to.have.length(3);
    h.close();
  });

  it('drops a stream whose unsent bytes stayed above 0 for stallTimeoutMs (a peer gone without a RST, kernel buffers full), and keeps one that drains in time', () => {
    const logger = new CapturingLogger();
    const h = new EventStreamHub(() => ({ n: ++built }), { maxSubscribers: 2, maxBufferedBytes: 1024 * 1024, stallTimeoutMs: 10_000 }, logger);
    const stalled = new FakeSink();
    const slow = new FakeSink();
    h.subscribe(stalled);
    h.subscribe(slow);
    stalled.writableLength = 100; // far below maxBufferedBytes: the byte bound alone never drops it
    slow.writableLength = 100;
    clock.tick(9000);
    slow.writableLength = 0; // it read what was queued: its stall count starts over
    clock.tick(1000);
    expect(stalled.destroyed, 'still held after 10 ticks').to.equal(false);
    slow.writableLength = 100;
    clock.tick(1000); // 10 s since the first tick that found unsent bytes
    expect(stalled.destroyed).to.equal(true);
    expect(h.subscribers).to.equal(1);
    expect(h.hasRoom()).to.equal(true);
    expect(logger.find('dashboard stream dropped: the client stopped reading')).to.have.length(1);
    clock.tick(9000);
    expect(slow.destroyed).to.equal(false);
    clock.tick(1000);
    expect(slow.destroyed).to.equal(true);
    expect(clock.countTimers()).to.equal(0);
  });

  it('endStreams() (the admin token changed) ends every open stream with an end event, stops the timer and still takes new streams', () => {
    const h = hub();
    const a = new FakeSink();
    const b = new FakeSink();
    h.subscribe(a);
    h.subscribe(b);
    h.endStreams('token changed');
    for (const sink of [a, b]) {
      expect(sink.ended).to.equal(true);
      expect(sink.named('end')).to.deep.equal(['event: end\ndata: {"reason":"token changed"}']);
    }
    expect(h.subscribers).to.equal(0);
    expect(clock.countTimers()).to.equal(0);
    const c = new FakeSink();
    expect(h.subscribe(c)).to.equal(true);
    clock.tick(1000);
    expect(c.frames()).to.have.length(2);
    expect(a.frames()).to.have.length(1);
    h.close();
  });

  it('push() sends a frame at once (shutdown phases as they run) and does not reset the 1 s rhythm', () => {
    const h = hub();
    const a = new FakeSink();
    h.subscribe(a);
    clock.tick(400);
    h.push();
    expect(a.frames()).to.have.length(2);
    clock.tick(600);
    expect(a.frames()).to.have.length(3);
    h.push(); // with nobody subscribed later, push builds nothing
    a.clientLeft();
    const before = built;
    h.push();
    expect(built).to.equal(before);
  });

  it('close() sends a last frame and an end event to every stream, ends them, stops the timer and refuses new subscribers', () => {
    const h = hub();
    const a = new FakeSink();
    const b = new FakeSink();
    h.subscribe(a);
    h.subscribe(b);
    h.close();
    for (const sink of [a, b]) {
      expect(sink.ended).to.equal(true);
      expect(sink.frames()).to.have.length(2);
      expect(sink.named('end')).to.deep.equal(['event: end\ndata: {"reason":"shutdown"}']);
    }
    expect(clock.countTimers()).to.equal(0);
    expect(h.subscribers).to.equal(0);
    expect(h.subscribe(new FakeSink())).to.equal(false);
    h.close(); // idempotent
  });

  it('a frame that fails to build is logged and skipped; the stream stays open', () => {
    const logger = new CapturingLogger();
    let fail = false;
    const h = new EventStreamHub(() => {
      if (fail) throw new Error('boom');
      return { ok: true };
    }, { maxSubscribers: 1 }, logger);
    const a = new FakeSink();
    h.subscribe(a);
    fail = true;
    clock.tick(1000);
    expect(logger.find('dashboard frame failed')).to.have.length(1);
    fail = false;
    clock.tick(1000);
    expect(a.frames()).to.have.length(2);
    h.close();
  });
});

describe('dashboard frames (what /events sends each second)', () => {
  let clock: sinon.SinonFakeTimers;

  beforeEach(() => (clock = sinon.useFakeTimers({ now: 5_000_000 })));
  afterEach(() => clock.restore());

  function app(pool: FakePool, stats?: Partial<ApplicationStats>) {
    return {
      state: 'running',
      isReady: true,
      pools: [pool],
      config: new Map<string, object>([['admin', { token: 'a-secret-token-of-some-length' }]]),
      startedAt: Date.now(),
      stats: { reloads: { success: 0, failure: 0 }, lastReloadSuccessAt: 0, shutdownPhases: new Map<string, number>(), ...stats },
    };
  }

  it('carries each pool as /status reports it (health, metrics, known reasons), without any config section', () => {
    const pool = FakePool.with({ maxConnections: 7 });
    pool.add(fakeConn());
    const frames = new DashboardFrames(app(pool));
    const frame = frames.build();
    expect(frame.pools).to.have.length(1);
    const p = frame.pools[0];
    expect(p).to.include({ protocol: 'fake', pool: pool.name, poolClass: 'FakePool' });
    expect(p.metrics).to.deep.equal(pool.getMetrics());
    expect(p.health.status).to.equal(pool.getHealth().status);
    expect(p.known.rejectReasons).to.include('max_connections');
    expect(JSON.stringify(frame)).to.not.include('a-secret-token-of-some-length');
    expect(frame).to.not.have.property('config');
    pool.destroy();
  });

  it('requests/s is the change of requests.total since the previous frame over the time between them (none for the first frame)', () => {
    const pool = FakePool.with({});
    const conn = pool.add(fakeConn())!;
    const frames = new DashboardFrames(app(pool));
    expect(frames.build().pools[0].rates.requestsPerSecond).to.equal(null);
    for (let i = 0; i < 6; i++) pool.recordSyncWork(conn, performance.now(), i === 0);
    clock.tick(2000);
    const rates = frames.build().pools[0].rates;
    expect(rates.requestsPerSecond).to.equal(3);
    expect(rates.failedPerSecond).to.equal(0.5);
    pool.destroy();
  });

  it('the first frame after an idle period has null rates, not an old average (50 requests, 5 s without a viewer, a new one)', () => {
    const pool = FakePool.with({});
    const conn = pool.add(fakeConn())!;
    const frames = new DashboardFrames(app(pool), { intervalMs: 1000 });
    expect(frames.build().pools[0].rates.requestsPerSecond).to.equal(null);
    for (let i = 0; i < 50; i++) pool.recordSyncWork(conn, performance.now(), false);
    clock.tick(5000); // the last viewer left: no frame for 5 s
    expect(frames.build().pools[0].rates).to.deep.equal({ requestsPerSecond: null, failedPerSecond: null });
    for (let i = 0; i < 3; i++) pool.recordSyncWork(conn, performance.now(), false);
    clock.tick(1000);
    expect(frames.build().pools[0].rates.requestsPerSecond).to.equal(3);
    clock.tick(2000); // exactly two intervals: still a rate
    expect(frames.build().pools[0].rates.requestsPerSecond).to.equal(0);
    clock.tick(2001);
    expect(frames.build().pools[0].rates.requestsPerSecond).to.equal(null);
    pool.destroy();
  });

  it('a frame within 250 ms of the previous reading (pushed between ticks) keeps the previous rates and does not move the baseline', () => {
    const pool = FakePool.with({});
    const conn = pool.add(fakeConn())!;
    const frames = new DashboardFrames(app(pool), { intervalMs: 1000 });
    frames.build();
    for (let i = 0; i < 4; i++) pool.recordSyncWork(conn, performance.now(), false);
    clock.tick(1000);
    expect(frames.build().pools[0].rates.requestsPerSecond).to.equal(4);
    for (let i = 0; i < 10; i++) pool.recordSyncWork(conn, performance.now(), false);
    clock.tick(249);
    expect(frames.build().pools[0].rates.requestsPerSecond).to.equal(4);
    clock.tick(751);
    expect(frames.build().pools[0].rates.requestsPerSecond).to.equal(10);
    pool.destroy();
  });

  it('a counter that went back (the pool reset it) gives null for that frame, never a false 0, and rates resume from the new reading', () => {
    const pool = FakePool.with({});
    const conn = pool.add(fakeConn())!;
    let total = 0;
    const source = app(pool);
    const real = pool.getMetrics.bind(pool);
    pool.getMetrics = () => {
      const m = real();
      return { ...m, requests: { ...m.requests, total, failed: 0 } };
    };
    const frames = new DashboardFrames(source, { intervalMs: 1000 });
    total = 100;
    frames.build();
    clock.tick(1000);
    total = 5;
    expect(frames.build().pools[0].rates).to.deep.equal({ requestsPerSecond: null, failedPerSecond: null });
    clock.tick(1000);
    total = 7;
    expect(frames.build().pools[0].rates.requestsPerSecond).to.equal(2);
    void conn;
    pool.destroy();
  });

  it('lists the shutdown phases in order, those done with their duration, and the one running while the app stops', () => {
    const pool = FakePool.with({});
    const a = app(pool, { shutdownPhases: new Map([['readiness', 12.5]]) });
    a.state = 'stopping';
    const frame = new DashboardFrames(a).build();
    expect(frame.shutdown.phases).to.deep.equal(['readiness', 'stopAccepting', 'drain', 'force', 'hooks']);
    expect(frame.shutdown.done).to.deep.equal([{ phase: 'readiness', durationMs: 12.5 }]);
    expect(frame.shutdown.running).to.equal('stopAccepting');
    a.state = 'running';
    a.stats.shutdownPhases.clear();
    expect(new DashboardFrames(a).build().shutdown.running).to.equal(undefined);
    pool.destroy();
  });

  it('carries the workers a cluster supervisor reports (the extension point of cluster mode), and none in a single process', () => {
    const pool = FakePool.with({});
    const single = new DashboardFrames(app(pool)).build();
    expect(single).to.not.have.property('workers');
    const workers = [{ id: 1, pid: 4242, state: 'ready', uptimeSeconds: 3.5, restarts: 0, pools: single.pools }];
    const clustered = new DashboardFrames({ ...app(pool), workerFrames: () => workers }).build();
    expect(clustered.workers).to.deep.equal(workers);
    // The frame's pools: its own, then every worker's with its worker (as a cluster primary's /status).
    expect(clustered.pools.map((p) => [p.pool, p.worker])).to.deep.equal([
      [single.pools[0].pool, undefined],
      [single.pools[0].pool, 1],
    ]);
    pool.destroy();
  });
});
