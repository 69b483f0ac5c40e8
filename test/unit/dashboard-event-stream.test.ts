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
    const workers = [{ id: 1, pid: 4242, state: 'running', pools: single.pools }];
    const clustered = new DashboardFrames({ ...app(pool), workerFrames: () => workers }).build();
    expect(clustered.workers).to.deep.equal(workers);
    pool.destroy();
  });
});
