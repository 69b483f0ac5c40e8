import 'reflect-metadata';
import { performance } from 'node:perf_hooks';
import { expect } from 'chai';
import * as sinon from 'sinon';
import { HttpConnectionPool } from '../../src/protocols/http/http-connection-pool';
import { ConnectionPoolManager, isPoolClass } from '../../src/core/connection-pool-manager';
import { ConnectionPoolEvent } from '../../src/core/pool-events';
import { PoolHealthStatus } from '../../src/core/pool-health';
import { WINDOW_SLOTS } from '../../src/core/sliding-window';
import { ConfigValidationError, ForeignConnectionError } from '../../src/errors';
import { FakePool, fakeConn } from '../helpers/fake-pool';
import { collect } from '../helpers/pool-events';
import type WebSocket from 'ws';
import { WebSocketConnectionPool, WebSocketPoolConfig, validateSection } from '../../src';

describe('ConnectionPoolManager', () => {
  let clock: sinon.SinonFakeTimers;
  let pool: FakePool;

  beforeEach(() => {
    clock = sinon.useFakeTimers();
  });

  afterEach(() => {
    pool?.destroy();
    clock.restore();
  });

  describe('admission and tracking', () => {
    it('cluster share: a pool limited to its share of maxConnections refuses over the share, keeps what it holds when the share is lowered, and takes maxConnections back', () => {
      pool = FakePool.with({ maxConnections: 10 });
      const limits = collect(pool, ConnectionPoolEvent.LimitReached);
      pool.setAdmissionShare(3);
      expect(pool.admissionLimit).to.equal(3);
      const held = Array.from({ length: 4 }, (_, i) => pool.add(fakeConn(String(i))));
      expect(held.filter(Boolean)).to.have.length(3);
      expect(pool.getMetrics().rejected.byReason).to.deep.equal({ max_connections: 1 });
      expect(pool.getMetrics()).to.include({ maxConnections: 10, utilization: 1 });
      expect(limits).to.deep.equal([{ active: 3, maxConnections: 3 }]);
      pool.setAdmissionShare(1);
      expect(pool.size).to.equal(3);
      pool.remove(held[0]!);
      expect(pool.add(fakeConn('x'))).to.equal(undefined);
      pool.setAdmissionShare(undefined);
      expect(pool.admissionLimit).to.equal(10);
      expect(pool.add(fakeConn('y'))).to.not.equal(undefined);
    });

    it('adds connections with increasing ids and their metadata, looked up by id', () => {
      pool = FakePool.with({ maxConnections: 10 });
      clock.tick(1234);
      const a = pool.add(fakeConn('a'), '10.0.0.1', 5000);
      const b = pool.add(fakeConn('b'), '10.0.0.2', 5001);
      expect(a).to.not.equal(undefined);
      expect(b!.id).to.equal(a!.id + 1);
      expect(a!.toJSON()).to.deep.include({ protocol: 'fake', remoteAddress: '10.0.0.1', remotePort: 5000, startedAt: 1234, state: 'idle', inFlight: 0, requests: 0 });
      expect(pool.get(a!.id)).to.equal(a);
      expect(pool.get(b!.id)!.raw.name).to.equal('b');
      expect(pool.get(999)).to.equal(undefined);
      expect(pool.size).to.equal(2);
      expect([...pool.values()].map((c) => c.raw.name)).to.deep.equal(['a', 'b']);
    });

    it('removes by id in any order, idempotently, and reports the reason', () => {
      pool = FakePool.with({ maxConnections: 10_000 });
      const removed = collect(pool, ConnectionPoolEvent.ConnectionRemoved);
      const conns = Array.from({ length: 5000 }, (_, i) => pool.add(fakeConn(String(i)))!);
      // Every other one, from the end: the map must not care about order.
      for (let i = conns.length - 1; i >= 0; i -= 2) pool.remove(conns[i], 'closed');
      expect(pool.size).to.equal(2500);
      pool.remove(conns[4999], 'error');
      expect(pool.size).to.equal(2500);
      expect(removed).to.have.length(2500);
      expect(removed[0]).to.deep.include({ reason: 'closed', active: 4999 });
      expect(pool.get(conns[0].id)).to.equal(conns[0]);
      expect(pool.get(conns[1].id)).to.equal(undefined);
      expect(pool.getMetrics()).to.deep.include({ active: 2500, idle: 2500, totalConnections: 5000 });
    });

    it('values() is a snapshot: removing connections while iterating visits each live one once', () => {
      pool = FakePool.with({ maxConnections: 100 });
      const conns = Array.from({ length: 6 }, (_, i) => pool.add(fakeConn(String(i)))!);
      const seen: string[] = [];
      for (const conn of pool.values()) {
        seen.push(conn.raw.name);
        pool.remove(conn);
        if (conn === conns[0]) pool.remove(conns[1]); // a later one goes too
      }
      expect(seen).to.deep.equal(['0', '1', '2', '3', '4', '5']);
      expect(pool.size).to.equal(0);
      expect([...pool.values()]).to.deep.equal([]);
      // The list is whole again after being emptied: order of admission, O(1) ends.
      const again = ['x', 'y', 'z'].map((n) => pool.add(fakeConn(n))!);
      pool.remove(again[1]);
      expect([...pool.values()].map((c) => c.raw.name)).to.deep.equal(['x', 'z']);
      expect(pool.get(again[2].id)).to.equal(again[2]);
    });

    it('forEachConnection skips connections removed before their turn and visits ones added during the walk', () => {
      pool = FakePool.with({ maxConnections: 100 });
      const conns = Array.from({ length: 5 }, (_, i) => pool.add(fakeConn(String(i)))!);
      const seen: string[] = [];
      pool.walk((conn) => {
        seen.push(conn.raw.name);
        if (conn === conns[0]) {
          pool.remove(conns[0]); // itself
          pool.remove(conns[1]); // the next one, the walk's cursor
          pool.remove(conns[3]);
        }
        if (conn === conns[4]) pool.add(fakeConn('late'));
      });
      expect(seen).to.deep.equal(['0', '2', '4', 'late']);
      expect([...pool.values()].map((c) => c.raw.name)).to.deep.equal(['2', '4', 'late']);
      // A removed connection holds no link to the others (nothing keeps dead sockets reachable).
      expect(conns[1].next).to.equal(undefined);
      expect(conns[1].prev).to.equal(undefined);
    });

    it('keeps the outer walk right when a walk inside it removes the connection next in line', () => {
      pool = FakePool.with({ maxConnections: 100 });
      const conns = Array.from({ length: 5 }, (_, i) => pool.add(fakeConn(String(i)))!);
      const outer: string[] = [];
      const inner: string[] = [];
      pool.walk((conn) => {
        outer.push(conn.raw.name);
        if (conn !== conns[0]) return;
        pool.walk((c) => {
          inner.push(c.raw.name);
          if (c === conns[1]) pool.remove(conns[1]); // the outer walk's next one
          if (c === conns[4]) pool.add(fakeConn('late'));
        });
      });
      expect(inner).to.deep.equal(['0', '1', '2', '3', '4']); // a snapshot: 'late' came after it
      expect(outer).to.deep.equal(['0', '2', '3', '4', 'late']);
    });

    it('item 24: remove() of a connection of another pool is refused with UNIPOOL_FOREIGN_CONNECTION and corrupts neither list', () => {
      pool = FakePool.with();
      const other = FakePool.with();
      pool.add(fakeConn('a'));
      const b = pool.add(fakeConn('b'))!;
      const x = other.add(fakeConn('x'))!;
      // y has a predecessor in its own list and is that list's tail: the shape that used to pass the guard.
      const y = other.add(fakeConn('y'))!;
      const names = (p: FakePool): string[] => [...p.values()].map((c) => c.raw.name);
      for (const foreign of [y, x]) {
        const err = (() => {
          try {
            pool.remove(foreign);
          } catch (e) {
            return e;
          }
          return undefined;
        })();
        expect(err).to.be.instanceOf(ForeignConnectionError);
        expect(err).to.have.property('code', 'UNIPOOL_FOREIGN_CONNECTION');
        expect((err as Error).message).to.match(/connection \d+ belongs to another pool/);
      }
      expect(x.removed).to.equal(false);
      expect(y.removed).to.equal(false);
      expect(pool.size).to.equal(2);
      expect(other.size).to.equal(2);
      expect(names(pool)).to.deep.equal(['a', 'b']);
      expect(names(other)).to.deep.equal(['x', 'y']);
      // Both lists still work end to end.
      pool.remove(b);
      other.remove(y);
      pool.add(fakeConn('c'));
      other.add(fakeConn('z'));
      expect(names(pool)).to.deep.equal(['a', 'c']);
      expect(names(other)).to.deep.equal(['x', 'z']);
      // A removed connection of this pool stays a no-op (idempotent), not an error.
      pool.remove(b);
      other.destroy();
    });

    it('review: ws remove() of a foreign connection throws and changes no close-code count', () => {
      const mine = new WebSocketConnectionPool();
      const theirs = new WebSocketConnectionPool();
      for (const p of [mine, theirs]) p.configure(validateSection(WebSocketPoolConfig, { port: 0 }, 'ws').value!);
      const sock = (): WebSocket => ({ readyState: 1, bufferedAmount: 0, terminate: () => undefined }) as unknown as WebSocket;
      mine.add(sock(), '127.0.0.1', 1);
      const live = theirs.add(sock(), '127.0.0.1', 2)!;
      const gone = theirs.add(sock(), '127.0.0.1', 3)!;
      theirs.recordClose(gone, 1000); // removed from its own pool: still not mine
      const codes = (p: WebSocketConnectionPool): Record<string, number> => p.getMetrics().websocket.closeCodes;
      for (const foreign of [live, gone]) {
        expect(() => mine.remove(foreign)).to.throw(ForeignConnectionError);
        expect(() => mine.recordClose(foreign, 1001)).to.throw(ForeignConnectionError);
      }
      expect(codes(mine)).to.deep.equal({});
      expect(codes(theirs)).to.deep.equal({ '1000': 1 });
      expect(mine.size).to.equal(1);
      expect(theirs.size).to.equal(1);
      theirs.remove(live);
      expect(codes(theirs)).to.deep.equal({ '1000': 1, '1006': 1 });
      mine.destroy();
      theirs.destroy();
    });

    it('item 20: a listener that throws on connectionAdded, connectionRemoved or limitReached leaves the pool consistent and is reported', () => {
      pool = FakePool.with({ maxConnections: 2 });
      const reported: Array<{ event: string; message: string }> = [];
      pool.attachLogger({
        debug: () => undefined,
        info: () => undefined,
        warn: () => undefined,
        error: (obj: object) => reported.push({ event: String((obj as { event?: string }).event), message: ((obj as { err?: Error }).err as Error).message }),
        child() {
          return this;
        },
      });
      const later: string[] = [];
      pool.events.on(ConnectionPoolEvent.ConnectionAdded, () => {
        throw new Error('added listener broke');
      });
      pool.events.on(ConnectionPoolEvent.ConnectionAdded, ({ connection }) => later.push(`added ${connection.id}`));
      pool.events.on(ConnectionPoolEvent.ConnectionRemoved, () => {
        throw new Error('removed listener broke');
      });
      pool.events.on(ConnectionPoolEvent.LimitReached, () => {
        throw new Error('limit listener broke');
      });
      const a = pool.add(fakeConn('a'));
      const b = pool.add(fakeConn('b'));
      expect(a).to.not.equal(undefined);
      expect(b).to.not.equal(undefined);
      expect(pool.size).to.equal(2);
      expect(later).to.deep.equal([`added ${a!.id}`, `added ${b!.id}`]);
      pool.remove(a!);
      pool.remove(b!);
      expect(pool.size).to.equal(0);
      expect([...pool.values()]).to.deep.equal([]);
      expect(reported.map((r) => r.event)).to.deep.equal(['connectionAdded', 'connectionAdded', 'limitReached', 'connectionRemoved', 'connectionRemoved']);
      expect(reported[0].message).to.equal('added listener broke');
    });

    it('item 20: a draining pool finishes its drain although a connectionRemoved listener throws', async () => {
      pool = FakePool.with();
      pool.events.on(ConnectionPoolEvent.ConnectionRemoved, () => {
        throw new Error('removed listener broke');
      });
      const warnings: Error[] = [];
      const onWarning = (w: Error): void => void warnings.push(w);
      process.on('warning', onWarning);
      try {
        const conn = pool.add(fakeConn('a'))!;
        pool.beginWork(conn);
        const drained = pool.drain();
        pool.endWork(conn, 0, false);
        expect(await drained).to.deep.include({ graceful: 1, forced: 0 });
        // Without a logger the failure is a process warning, never an exception in the pool.
        clock.runMicrotasks(); // the warning is emitted on the (faked) next tick
        expect(warnings.map((w) => (w as Error & { code?: string }).code)).to.include('UNIPOOL_LISTENER_FAILED');
      } finally {
        process.off('warning', onWarning);
      }
    });

    it('defaults the remove reason to the close reason the pool chose, else "closed"', () => {
      pool = FakePool.with();
      const removed = collect(pool, ConnectionPoolEvent.ConnectionRemoved);
      const a = pool.add(fakeConn())!;
      a.closeReason = 'idle_timeout';
      pool.remove(a);
      pool.remove(pool.add(fakeConn())!);
      expect(removed.map((r) => r.reason)).to.deep.equal(['idle_timeout', 'closed']);
    });

    it('emits ConnectionAdded with the connection and the new active count', () => {
      pool = FakePool.with();
      const added = collect(pool, ConnectionPoolEvent.ConnectionAdded);
      pool.add(fakeConn(), '1.2.3.4', 9);
      expect(added).to.have.length(1);
      expect(added[0].active).to.equal(1);
      expect(added[0].connection).to.deep.include({ remoteAddress: '1.2.3.4', remotePort: 9 });
    });

    it('never over-admits: 10,000 adds against a limit of 100 admit exactly 100', () => {
      pool = FakePool.with({ maxConnections: 100 });
      const limit = collect(pool, ConnectionPoolEvent.LimitReached);
      const rejected = collect(pool, ConnectionPoolEvent.ConnectionRejected);
      let admitted = 0;
      for (let i = 0; i < 10_000; i++) if (pool.add(fakeConn(), '127.0.0.1')) admitted++;
      expect(admitted).to.equal(100);
      expect(pool.size).to.equal(100);
      const m = pool.getMetrics();
      expect(m.active).to.equal(100);
      expect(m.totalConnections).to.equal(100);
      expect(m.rejected).to.deep.equal({ total: 9900, byReason: { max_connections: 9900 } });
      expect(m.utilization).to.equal(1);
      expect(limit).to.deep.equal([{ active: 100, maxConnections: 100 }]);
      expect(rejected).to.have.length(9900);
      expect(rejected[0]).to.deep.equal({ reason: 'max_connections', remoteAddress: '127.0.0.1', active: 100 });
      expect(pool.admissionRefusal()).to.equal('max_connections');
    });

    it('emits LimitReached once per crossing', () => {
      pool = FakePool.with({ maxConnections: 2 });
      const limit = collect(pool, ConnectionPoolEvent.LimitReached);
      const a = pool.add(fakeConn())!;
      pool.add(fakeConn());
      pool.add(fakeConn());
      pool.add(fakeConn());
      expect(limit).to.have.length(1);
      pool.remove(a);
      expect(pool.admissionRefusal()).to.equal(undefined);
      pool.add(fakeConn());
      pool.add(fakeConn());
      expect(limit).to.have.length(2);
    });

    it('counts refusals by reason, including draining and ones decided outside add()', async () => {
      pool = FakePool.with({ maxConnections: 1 });
      pool.add(fakeConn());
      pool.add(fakeConn());
      pool.reject('not_listening', '10.0.0.9');
      const draining = pool.drain(0);
      expect(pool.isDraining).to.equal(true);
      expect(pool.admissionRefusal()).to.equal('draining');
      expect(pool.add(fakeConn())).to.equal(undefined);
      expect(pool.getMetrics().rejected).to.deep.equal({ total: 3, byReason: { max_connections: 1, not_listening: 1, draining: 1 } });
      await draining;
    });

    it('refuses everything once destroyed', () => {
      pool = FakePool.with();
      pool.destroy();
      expect(pool.add(fakeConn())).to.equal(undefined);
      expect(pool.getMetrics().rejected.byReason).to.deep.equal({ draining: 1 });
    });
  });

  describe('peer address read lazily', () => {
    /** A pool whose connections know their peer, counting how often it is asked. */
    class PeerPool extends FakePool {
      lookups = 0;
      static make(maxConnections: number): PeerPool {
        const p = new PeerPool();
        p.configure({ maxConnections } as unknown as Parameters<FakePool['configure']>[0]);
        return p;
      }
      protected override peerOf(): { address: string; port: number } {
        this.lookups++;
        return { address: '192.0.2.7', port: 4242 };
      }
    }

    it('reads the address through peerOf on first use only, when add() was given none', () => {
      const peers = PeerPool.make(10);
      pool = peers;
      const conn = peers.add(fakeConn('a'))!;
      expect(peers.lookups).to.equal(0);
      expect(conn.remoteAddress).to.equal('192.0.2.7');
      expect(conn.toJSON()).to.deep.include({ remoteAddress: '192.0.2.7', remotePort: 4242 });
      expect(peers.lookups).to.equal(1);
      const given = peers.add(fakeConn('b'), '10.0.0.9', 1)!;
      expect(given.toJSON()).to.deep.include({ remoteAddress: '10.0.0.9', remotePort: 1 });
      expect(peers.lookups).to.equal(1);
    });

    it('reads it at add() when removal, error or timeout events are listened to (a closed socket forgets its peer)', () => {
      const peers = PeerPool.make(1);
      pool = peers;
      const removed = collect(peers, ConnectionPoolEvent.ConnectionRemoved);
      const rejected = collect(peers, ConnectionPoolEvent.ConnectionRejected);
      const conn = peers.add(fakeConn('a'))!;
      expect(peers.lookups).to.equal(1);
      expect(peers.add(fakeConn('b'))).to.equal(undefined);
      expect(rejected[0]).to.deep.include({ reason: 'max_connections', remoteAddress: '192.0.2.7' });
      peers.remove(conn);
      expect(removed[0].connection).to.deep.include({ remoteAddress: '192.0.2.7', remotePort: 4242 });
      expect(peers.lookups).to.equal(2);
    });

    it('reports an unknown peer as empty address and port 0 when the protocol cannot tell', () => {
      pool = FakePool.with({ maxConnections: 10 });
      expect(pool.add(fakeConn('a'))!.toJSON()).to.deep.include({ remoteAddress: '', remotePort: 0 });
    });
  });

  describe('work tracking', () => {
    it('tracks in-flight work, idle count and state per connection', () => {
      pool = FakePool.with();
      const a = pool.add(fakeConn())!;
      const b = pool.add(fakeConn())!;
      const s1 = pool.beginWork(a);
      const s2 = pool.beginWork(a);
      expect(a.state).to.equal('active');
      expect(a.inFlight).to.equal(2);
      expect(pool.getMetrics()).to.deep.include({ active: 2, idle: 1 });
      expect(pool.getMetrics().requests.inFlight).to.equal(2);
      pool.endWork(a, s1, false);
      expect(a.state).to.equal('active');
      pool.endWork(a, s2, true);
      expect(a.state).to.equal('idle');
      expect(a.requests).to.equal(2);
      const m = pool.getMetrics();
      expect(m.idle).to.equal(2);
      expect(m.requests).to.deep.include({ total: 2, failed: 1, inFlight: 0, windowTotal: 2, errorRate: 0.5 });
      pool.remove(b);
      pool.remove(a);
      expect(pool.getMetrics()).to.deep.include({ active: 0, idle: 0 });
    });

    it('records synchronous work in one step with the figures of beginWork + endWork', () => {
      pool = FakePool.with({ idleTimeout: 1000, connectionTimeout: 5000 });
      const a = pool.add(fakeConn())!;
      // First work on a connection: the full path, which ends the connection timeout.
      let started = performance.now();
      clock.tick(3);
      pool.recordSyncWork(a, started, false);
      expect(a.started).to.equal(true);
      expect(a.timerKind).to.equal('idle');
      clock.tick(900);
      started = performance.now();
      clock.tick(2);
      pool.recordSyncWork(a, started, true);
      expect(a.inFlight).to.equal(0);
      expect(a.state).to.equal('idle');
      expect(a.requests).to.equal(2);
      expect(a.lastActivityAt).to.equal(Date.now());
      const m = pool.getMetrics();
      expect(m.requests).to.deep.include({ total: 2, failed: 1, inFlight: 0, windowTotal: 2 });
      expect(m.latency).to.deep.include({ count: 2, maxMs: 3 });
      expect(m.idle).to.equal(1);
      // The work restarted the idle timer: 1000 ms from now, not from the first work.
      clock.tick(999);
      expect(a.raw.closed).to.equal(false);
      clock.tick(1);
      expect(a.raw.closeReason).to.equal('idle_timeout');
    });

    it('takes the full path for synchronous work during a drain, closing the connection after it', async () => {
      pool = FakePool.with();
      const a = pool.add(fakeConn())!;
      pool.recordSyncWork(a, performance.now(), false);
      const b = pool.add(fakeConn())!;
      const s = pool.beginWork(b);
      const drained = pool.drain();
      pool.recordSyncWork(b, performance.now(), false); // b is busy: its other work ends it
      expect(b.raw.closed).to.equal(false);
      pool.endWork(b, s, false);
      expect(b.raw.closeReason).to.equal('drain');
      expect(a.raw.closeReason).to.equal('drain');
      expect((await drained).graceful).to.equal(2);
      expect(pool.getMetrics().requests.total).to.equal(3);
    });

    it('measures work latency with the monotonic clock', () => {
      pool = FakePool.with();
      const a = pool.add(fakeConn())!;
      const started = pool.beginWork(a);
      clock.tick(250);
      pool.endWork(a, started, false);
      const { latency } = pool.getMetrics();
      expect(latency.count).to.equal(1);
      expect(latency.maxMs).to.equal(250);
      expect(latency.avgMs).to.equal(250);
      expect(pool.requestLatency.count).to.equal(1);
    });

    it('item 6: streams are measured apart: they keep the connection busy but never enter request latency, error rate or health', () => {
      pool = FakePool.with({ idleTimeout: 1000, health: { minRequests: 1 } });
      pool.setListening(true);
      const a = pool.add(fakeConn())!;
      const stream = pool.beginStream(a);
      const request = pool.beginWork(a);
      expect(a.inFlight).to.equal(2);
      expect(pool.getMetrics().requests.inFlight).to.equal(1);
      expect(pool.getMetrics().streams.inFlight).to.equal(1);
      clock.tick(2);
      pool.endWork(a, request, false);
      // A stream longer than idleTimeout keeps its connection.
      clock.tick(6000);
      expect(a.raw.closed).to.equal(false);
      pool.endStream(a, stream, true);
      pool.recordStream(3000, false); // one whose connection is gone
      const m = pool.getMetrics();
      expect(m.requests).to.deep.include({ total: 1, failed: 0, inFlight: 0 });
      expect(m.latency).to.deep.include({ count: 1, maxMs: 2 });
      expect(m.streams).to.deep.include({ total: 2, failed: 1, inFlight: 0 });
      expect(m.streams.duration).to.deep.include({ count: 2, maxMs: 6002 });
      expect(pool.streamDurations.count).to.equal(2);
      expect(pool.requestLatency.count).to.equal(1);
      const health = pool.getHealth();
      expect(health).to.deep.include({ status: PoolHealthStatus.Healthy, errorRate: 0, p95LatencyMs: 2 });
      expect(a.requests).to.equal(2);
      // The idle timer counts from the end of the stream.
      clock.tick(999);
      expect(a.raw.closed).to.equal(false);
      clock.tick(1);
      expect(a.raw.closeReason).to.equal('idle_timeout');
    });

    it('item 6: a stream on a connection removed meanwhile is still measured, and closes a draining connection when it ends', async () => {
      pool = FakePool.with();
      const a = pool.add(fakeConn())!;
      const b = pool.add(fakeConn())!;
      const s = pool.beginStream(a);
      pool.remove(a, 'error');
      pool.endStream(a, s, false);
      const late = pool.beginStream(a); // a late frame after close: timed, not tracked
      pool.endStream(a, late, false);
      expect(pool.getMetrics().streams).to.deep.include({ total: 2, inFlight: 0 });
      const sb = pool.beginStream(b);
      const drained = pool.drain();
      expect(b.raw.closed).to.equal(false);
      pool.endStream(b, sb, false);
      expect(b.raw.closeReason).to.equal('drain');
      expect((await drained).graceful).to.equal(1);
    });

    it('removing a busy connection releases its in-flight count; its late endWork only records latency', () => {
      pool = FakePool.with();
      const a = pool.add(fakeConn())!;
      const s = pool.beginWork(a);
      pool.beginWork(a);
      pool.remove(a, 'error');
      expect(pool.getMetrics().requests.inFlight).to.equal(0);
      expect(pool.getMetrics().idle).to.equal(0);
      pool.endWork(a, s, true);
      const m = pool.getMetrics();
      expect(m.requests).to.deep.include({ inFlight: 0, total: 1, failed: 1 });
      expect(m.idle).to.equal(0);
    });

    it('counts errors by type and emits ConnectionError', () => {
      pool = FakePool.with();
      const errors = collect(pool, ConnectionPoolEvent.ConnectionError);
      const a = pool.add(fakeConn())!;
      const boom = new Error('boom');
      pool.recordError('parse', boom, a);
      pool.recordError('parse');
      pool.recordError('aborted');
      expect(pool.getMetrics().errors).to.deep.equal({ total: 3, byType: { parse: 2, aborted: 1 } });
      expect(errors).to.have.length(3);
      expect(errors[0].error).to.equal(boom);
      expect(errors[0].connection!.id).to.equal(a.id);
      expect(errors[1].connection).to.equal(undefined);
    });

    it('counts timeouts a protocol enforces itself; the event needs a connection', () => {
      pool = FakePool.with();
      const timeouts = collect(pool, ConnectionPoolEvent.ConnectionTimeout);
      const a = pool.add(fakeConn())!;
      pool.recordTimeout('headers', a);
      pool.recordTimeout('heartbeat');
      expect(pool.getMetrics().timeouts).to.deep.equal({ headers: 1, heartbeat: 1 });
      expect(timeouts).to.have.length(1);
      expect(timeouts[0].kind).to.equal('headers');
    });

    it('sums bytes of live and closed connections', () => {
      pool = FakePool.with();
      const a = pool.add(fakeConn())!;
      const b = pool.add(fakeConn())!;
      a.bytesIn = 100;
      a.bytesOut = 1000;
      b.bytesIn = 5;
      pool.remove(a);
      b.bytesOut = 7;
      expect(pool.getMetrics().bytes).to.deep.equal({ in: 105, out: 1007 });
    });

    it('records the lifetime of closed connections', () => {
      pool = FakePool.with();
      const a = pool.add(fakeConn())!;
      clock.tick(42);
      pool.remove(a);
      expect(pool.connectionDurations.count).to.equal(1);
      expect(pool.connectionDurations.max).to.equal(42);
    });
  });

  describe('timeouts', () => {
    it('closes a connection that never starts work at connectionTimeout', () => {
      pool = FakePool.with({ connectionTimeout: 1000, idleTimeout: 0 });
      const timeouts = collect(pool, ConnectionPoolEvent.ConnectionTimeout);
      const removed = collect(pool, ConnectionPoolEvent.ConnectionRemoved);
      const a = pool.add(fakeConn())!;
      clock.tick(999);
      expect(pool.get(a.id)).to.equal(a);
      clock.tick(1);
      expect(pool.get(a.id)).to.equal(undefined);
      expect(a.raw.closeReason).to.equal('connection_timeout');
      expect(pool.getMetrics().timeouts).to.deep.equal({ connection: 1 });
      expect(timeouts.map((t) => t.kind)).to.deep.equal(['connection']);
      expect(removed.map((r) => r.reason)).to.deep.equal(['connection_timeout']);
    });

    it('item 12: hands a connection whose first unit of work is arriving from connectionTimeout to the protocol (not closed, not counted)', () => {
      pool = FakePool.with({ connectionTimeout: 1000, idleTimeout: 0 });
      const timeouts = collect(pool, ConnectionPoolEvent.ConnectionTimeout);
      const a = pool.add(fakeConn())!;
      a.raw.arriving = true;
      clock.tick(5000);
      expect(a.raw.closed).to.equal(false);
      expect(pool.getMetrics().timeouts).to.deep.equal({});
      expect(timeouts).to.deep.equal([]);
      const started = pool.beginWork(a);
      pool.endWork(a, started, false);
      expect(pool.get(a.id)).to.equal(a);
    });

    it('keeps connection timeouts on time across a step of the system clock', () => {
      pool = FakePool.with({ connectionTimeout: 1000, idleTimeout: 0 });
      const a = pool.add(fakeConn())!;
      clock.setSystemTime(Date.now() - 60_000); // NTP steps the wall clock back a minute
      clock.tick(999);
      expect(a.raw.closed).to.equal(false);
      clock.tick(1);
      expect(a.raw.closeReason).to.equal('connection_timeout');
      // Wall times are derived: after the next health check they follow the new wall clock.
      pool.checkHealth();
      const b = pool.add(fakeConn())!;
      expect(b.startedAt).to.equal(Date.now());
    });

    it('times out waiting connections oldest first, whichever of them started work or closed meanwhile', () => {
      pool = FakePool.with({ connectionTimeout: 1000, idleTimeout: 0 });
      const conns = Array.from({ length: 6 }, (_, i) => {
        clock.tick(100);
        return pool.add(fakeConn(String(i)))!;
      });
      // Leave the queue from its head, its middle and its tail.
      pool.beginWork(conns[0]);
      pool.remove(conns[2]);
      pool.markEstablished(conns[5]);
      pool.beginWork(conns[3]);
      const order: string[] = [];
      pool.events.on(ConnectionPoolEvent.ConnectionTimeout, ({ connection }) => order.push(pool.get(connection.id)?.raw.name ?? `#${connection.id}`));
      clock.tick(5000);
      expect(conns.map((c) => c.raw.closeReason ?? '-')).to.deep.equal(['-', 'connection_timeout', '-', '-', 'connection_timeout', '-']);
      expect(order).to.deep.equal(['1', '4']);
      // Queued again after all that: a new connection still times out on its own.
      const late = pool.add(fakeConn('late'))!;
      clock.tick(1000);
      expect(late.raw.closeReason).to.equal('connection_timeout');
      expect(pool.size).to.equal(3);
    });

    it('does not fire the connection timeout for a connection that started work', () => {
      pool = FakePool.with({ connectionTimeout: 1000, idleTimeout: 0 });
      const a = pool.add(fakeConn())!;
      clock.tick(500);
      const s = pool.beginWork(a);
      // Only the shared connection-timeout timer is left; it fires once, finds nothing due, and stops.
      expect(clock.countTimers()).to.equal(1);
      clock.tick(10_000);
      expect(clock.countTimers()).to.equal(0);
      pool.endWork(a, s, false);
      clock.tick(100_000);
      expect(pool.get(a.id)).to.equal(a);
      expect(a.raw.closed).to.equal(false);
      expect(pool.getMetrics().timeouts).to.deep.equal({});
    });

    it('switches from the connection timeout to the idle timeout after the first work', () => {
      pool = FakePool.with({ connectionTimeout: 1000, idleTimeout: 2000 });
      const a = pool.add(fakeConn())!;
      clock.tick(100);
      const s = pool.beginWork(a);
      clock.tick(100);
      pool.endWork(a, s, false);
      clock.tick(1999);
      expect(pool.get(a.id)).to.equal(a);
      clock.tick(1);
      expect(pool.get(a.id)).to.equal(undefined);
      expect(a.raw.closeReason).to.equal('idle_timeout');
    });

    it('closes an idle connection at idleTimeout', () => {
      pool = FakePool.with({ connectionTimeout: 0, idleTimeout: 1000 });
      const a = pool.add(fakeConn())!;
      clock.tick(999);
      expect(a.raw.closed).to.equal(false);
      clock.tick(1);
      expect(a.raw.closeReason).to.equal('idle_timeout');
      expect(pool.size).to.equal(0);
      expect(pool.getMetrics().timeouts).to.deep.equal({ idle: 1 });
    });

    it('keeps one idle timer per connection through many requests and closes idleTimeout after the last one', () => {
      pool = FakePool.with({ connectionTimeout: 0, idleTimeout: 1000 });
      const a = pool.add(fakeConn())!;
      const timer = a.timer;
      // 300 requests over 900 ms: ending work touches no timer, the first one keeps running.
      for (let i = 0; i < 300; i++) {
        pool.endWork(a, pool.beginWork(a), false);
        clock.tick(3);
      }
      pool.endWork(a, pool.beginWork(a), false); // the last one, at 900
      expect(a.timer).to.equal(timer);
      expect(clock.countTimers()).to.equal(1);
      // The timer fires at 1000, finds work 100 ms old and waits out the other 900.
      clock.tick(100);
      expect(pool.get(a.id)).to.equal(a);
      expect(clock.countTimers()).to.equal(1);
      clock.tick(899);
      expect(pool.get(a.id)).to.equal(a);
      clock.tick(1);
      expect(a.raw.closeReason).to.equal('idle_timeout');
      expect(pool.getMetrics().timeouts).to.deep.equal({ idle: 1 });
      expect(clock.countTimers()).to.equal(0);
    });

    it('never closes a busy connection: work longer than idleTimeout survives, idle time counts from its end', () => {
      pool = FakePool.with({ connectionTimeout: 0, idleTimeout: 1000 });
      const a = pool.add(fakeConn())!;
      clock.tick(300);
      const s = pool.beginWork(a);
      clock.tick(5000);
      expect(pool.get(a.id)).to.equal(a);
      expect(a.raw.closed).to.equal(false);
      pool.endWork(a, s, false);
      clock.tick(999);
      expect(pool.get(a.id)).to.equal(a);
      clock.tick(1);
      expect(a.raw.closeReason).to.equal('idle_timeout');
      expect(pool.getMetrics().timeouts).to.deep.equal({ idle: 1 });
    });

    it('keeps a connection alive that is touched (a pong, a ping) more often than idleTimeout', () => {
      pool = FakePool.with({ connectionTimeout: 0, idleTimeout: 1000 });
      const a = pool.add(fakeConn())!;
      for (let i = 0; i < 20; i++) {
        clock.tick(900);
        pool.touch(a);
      }
      expect(pool.get(a.id)).to.equal(a);
      expect(a.lastActivityAt).to.equal(18_000);
      clock.tick(999);
      expect(pool.get(a.id)).to.equal(a);
      clock.tick(1);
      expect(pool.get(a.id)).to.equal(undefined);
    });

    it('re-arms live timers when updateConfig changes the timeouts', () => {
      pool = FakePool.with({ connectionTimeout: 0, idleTimeout: 10_000 });
      const a = pool.add(fakeConn())!;
      clock.tick(1000);
      pool.updateConfig({ idleTimeout: 2000 });
      clock.tick(1999);
      expect(pool.get(a.id)).to.equal(a);
      clock.tick(1);
      expect(pool.get(a.id)).to.equal(undefined);

      const b = pool.add(fakeConn())!;
      pool.updateConfig({ idleTimeout: 0 });
      expect(clock.countTimers()).to.equal(0);
      clock.tick(1_000_000);
      expect(pool.get(b.id)).to.equal(b);

      pool.updateConfig({ connectionTimeout: 500 });
      const c = pool.add(fakeConn())!;
      clock.tick(500);
      expect(pool.get(c.id)).to.equal(undefined);
      expect(c.raw.closeReason).to.equal('connection_timeout');
      // b has not started work either: the new connection timeout applies to it too.
      expect(pool.get(b.id)).to.equal(undefined);
    });

    it('leaves no timer behind for removed connections', () => {
      pool = FakePool.with({ connectionTimeout: 1000, idleTimeout: 1000 });
      const conns = Array.from({ length: 10 }, () => pool.add(fakeConn())!);
      // One shared timer serves every connection waiting for its first unit of work.
      expect(clock.countTimers()).to.equal(1);
      for (const c of conns) pool.remove(c);
      // It is left to lapse (no timer churn under connection churn) and does not re-arm.
      clock.tick(1000);
      expect(clock.countTimers()).to.equal(0);
      expect(pool.getMetrics().timeouts).to.deep.equal({});
    });

    it('ignores a timer that fires while the connection is busy (no close, no count)', () => {
      pool = FakePool.with({ connectionTimeout: 0, idleTimeout: 100 });
      const a = pool.add(fakeConn())!;
      const s = pool.beginWork(a);
      clock.tick(1000);
      pool.touch(a); // busy: touching does not matter
      clock.tick(1000);
      expect(pool.getMetrics().timeouts).to.deep.equal({});
      pool.endWork(a, s, false);
      clock.tick(100);
      expect(pool.getMetrics().timeouts).to.deep.equal({ idle: 1 });
    });
  });

  describe('health', () => {
    it('is UNAVAILABLE while not listening and HEALTHY once listening, with a HealthChanged event', () => {
      pool = FakePool.with();
      const changes = collect(pool, ConnectionPoolEvent.HealthChanged);
      expect(pool.getHealth()).to.deep.include({ status: PoolHealthStatus.Unavailable, reason: 'not listening' });
      pool.setListening(true);
      expect(pool.getHealth().status).to.equal(PoolHealthStatus.Healthy);
      pool.setListening(false);
      expect(changes.map((c) => [c.previous.status, c.current.status])).to.deep.equal([
        ['UNAVAILABLE', 'HEALTHY'],
        ['HEALTHY', 'UNAVAILABLE'],
      ]);
    });

    it('follows utilisation: DEGRADED at 80 %, OVERLOADED at 95 %', () => {
      pool = FakePool.with({ maxConnections: 20 });
      pool.setListening(true);
      const conns = Array.from({ length: 15 }, () => pool.add(fakeConn())!);
      expect(pool.getHealth().status).to.equal('HEALTHY');
      conns.push(pool.add(fakeConn())!);
      const degraded = pool.getHealth();
      expect(degraded.status).to.equal('DEGRADED');
      expect(degraded.utilization).to.equal(0.8);
      expect(degraded.reason).to.contain('utilization 0.80 (16/20)');
      conns.push(pool.add(fakeConn())!, pool.add(fakeConn())!, pool.add(fakeConn())!);
      expect(pool.getHealth().status).to.equal('OVERLOADED');
      for (const c of conns.splice(0, 10)) pool.remove(c);
      expect(pool.getHealth().status).to.equal('HEALTHY');
    });

    it('does not flap when utilisation oscillates around a threshold (hysteresis)', () => {
      pool = FakePool.with({ maxConnections: 100 });
      pool.setListening(true);
      const changes = collect(pool, ConnectionPoolEvent.HealthChanged);
      const conns = Array.from({ length: 80 }, () => pool.add(fakeConn())!);
      pool.checkHealth();
      for (let i = 0; i < 50; i++) {
        pool.remove(conns.pop()!); // 79 %
        pool.checkHealth();
        conns.push(pool.add(fakeConn())!); // 80 %
        pool.checkHealth();
      }
      expect(changes.map((c) => c.current.status)).to.deep.equal(['DEGRADED']);
      while (conns.length > 73) pool.remove(conns.pop()!);
      expect(pool.checkHealth().status).to.equal('DEGRADED');
      while (conns.length > 71) pool.remove(conns.pop()!); // 71 % < 80 % * 0.9
      expect(pool.checkHealth().status).to.equal('HEALTHY');
      expect(changes.map((c) => c.current.status)).to.deep.equal(['DEGRADED', 'HEALTHY']);
    });

    it('follows the error rate once the window holds minRequests', () => {
      pool = FakePool.with({ health: { minRequests: 20 } });
      pool.setListening(true);
      for (let i = 0; i < 17; i++) pool.recordLatency(1, false);
      pool.recordLatency(1, true);
      pool.recordLatency(1, true);
      // 19 requests: not enough to judge.
      expect(pool.getHealth().status).to.equal('HEALTHY');
      pool.recordLatency(1, false);
      const h = pool.getHealth();
      expect(h.status).to.equal('DEGRADED');
      expect(h.errorRate).to.equal(0.1);
      for (let i = 0; i < 10; i++) pool.recordLatency(1, true);
      expect(pool.getHealth().status).to.equal('OVERLOADED');
      expect(pool.getMetrics().requests.errorRate).to.equal(12 / 30);
    });

    it('follows p95 latency', () => {
      pool = FakePool.with();
      pool.setListening(true);
      for (let i = 0; i < 20; i++) pool.recordLatency(2000, false);
      const h = pool.getHealth();
      expect(h.status).to.equal('DEGRADED');
      expect(h.reason).to.match(/^p95 latency/);
      for (let i = 0; i < 400; i++) pool.recordLatency(20_000, false);
      expect(pool.getHealth().status).to.equal('OVERLOADED');
    });

    it('is UNAVAILABLE while draining', async () => {
      pool = FakePool.with();
      pool.setListening(true);
      const changes = collect(pool, ConnectionPoolEvent.HealthChanged);
      await pool.drain();
      expect(pool.getHealth()).to.deep.include({ status: 'UNAVAILABLE', reason: 'draining' });
      expect(changes.map((c) => c.current.status)).to.deep.equal(['UNAVAILABLE']);
    });

    it('includes protocol findings such as a certificate close to expiry', () => {
      pool = FakePool.with();
      pool.setListening(true);
      pool.findings = [{ status: PoolHealthStatus.Degraded, reason: 'certificate expires in 3 days' }];
      expect(pool.getHealth()).to.deep.include({ status: 'DEGRADED', reason: 'certificate expires in 3 days' });
    });

    it('re-evaluates in the background every checkInterval, and recovers when the window expires', () => {
      pool = FakePool.with({ health: { checkInterval: 500, window: 10_000 } });
      const changes = collect(pool, ConnectionPoolEvent.HealthChanged);
      pool.setListening(true);
      for (let i = 0; i < 20; i++) pool.recordLatency(1, true);
      expect(changes.map((c) => c.current.status)).to.deep.equal(['HEALTHY']);
      clock.tick(500);
      expect(changes.map((c) => c.current.status)).to.deep.equal(['HEALTHY', 'OVERLOADED']);
      clock.tick(10_000);
      expect(changes.map((c) => c.current.status)).to.deep.equal(['HEALTHY', 'OVERLOADED', 'HEALTHY']);
    });

    it('restarts the background check when updateConfig changes checkInterval', () => {
      pool = FakePool.with({ health: { checkInterval: 10_000 } });
      pool.setListening(true);
      const spy = sinon.spy(pool, 'checkHealth');
      pool.updateConfig({ health: { checkInterval: 100 } });
      spy.resetHistory();
      clock.tick(1000);
      expect(spy.callCount).to.equal(10);
      expect(clock.countTimers()).to.equal(1);
    });
  });

  describe('metrics', () => {
    it('reports connections per second over the sliding window', () => {
      pool = FakePool.with({ maxConnections: 1000, connectionTimeout: 0, health: { window: 10_000 } });
      // 5 connections every 100 ms for 30 s: 50 per second.
      for (let i = 0; i < 300; i++) {
        for (let j = 0; j < 5; j++) pool.add(fakeConn());
        for (const c of [...pool.values()].slice(0, 5)) pool.remove(c);
        clock.tick(100);
      }
      const m = pool.getMetrics();
      expect(m.windowMs).to.equal(10_000);
      expect(m.connectionsPerSecond).to.be.closeTo(50, 5);
      expect(m.totalConnections).to.equal(1500);
      clock.tick(10_000);
      expect(pool.getMetrics().connectionsPerSecond).to.equal(0);
      expect(pool.getMetrics().totalConnections).to.equal(1500);
    });

    it('reports a short burst at its real rate, not diluted over the whole window', () => {
      pool = FakePool.with({ maxConnections: 1000, connectionTimeout: 0 });
      for (let i = 0; i < 20; i++) pool.add(fakeConn());
      clock.tick(1999);
      expect(pool.getMetrics().connectionsPerSecond).to.be.closeTo(10, 0.01);
    });

    it('reports average and p50/p95/p99 latency from the histogram', () => {
      pool = FakePool.with();
      for (let ms = 1; ms <= 100; ms++) pool.recordLatency(ms, ms > 95);
      const { latency, requests } = pool.getMetrics();
      expect(latency.count).to.equal(100);
      expect(latency.avgMs).to.equal(50.5);
      expect(latency.maxMs).to.equal(100);
      // Linear interpolation inside the bucket: exact for a uniform spread.
      expect(latency.p50Ms).to.be.closeTo(50, 1e-9);
      expect(latency.p95Ms).to.be.closeTo(95, 1e-9);
      expect(latency.p99Ms).to.be.closeTo(99, 1e-9);
      expect(requests).to.deep.include({ total: 100, failed: 5, errorRate: 0.05 });
    });

    it('keeps lifetime totals but only windowed latency and error rate', () => {
      pool = FakePool.with({ health: { window: 1000 } });
      for (let i = 0; i < 10; i++) pool.recordLatency(5, true);
      clock.tick(1000);
      const m = pool.getMetrics();
      expect(m.requests).to.deep.include({ total: 10, failed: 10, errorRate: 0, windowTotal: 0 });
      expect(m.latency).to.deep.equal({ count: 0, avgMs: 0, p50Ms: 0, p95Ms: 0, p99Ms: 0, maxMs: 0 });
      expect(pool.requestLatency.count).to.equal(10);
    });

    it('keeps metrics memory constant: a million observations do not grow any array', () => {
      pool = FakePool.with();
      const internals = (pool as unknown as { stats: { window: { latency: unknown[]; connections: Float64Array; errors: Float64Array } } }).stats;
      const histogramLength = pool.requestLatency.counts.length;
      const durationsLength = pool.connectionDurations.counts.length;
      for (let i = 0; i < 1_000_000; i++) {
        pool.recordLatency(i % 70_000, i % 100 === 0);
        if (i % 10_000 === 0) clock.tick(1000);
      }
      for (let i = 0; i < 1000; i++) pool.remove(pool.add(fakeConn())!);
      expect(pool.requestLatency.counts.length).to.equal(histogramLength);
      expect(pool.connectionDurations.counts.length).to.equal(durationsLength);
      expect(internals.window.latency).to.have.length(WINDOW_SLOTS);
      expect(internals.window.errors).to.have.length(WINDOW_SLOTS);
      expect(internals.window.connections).to.have.length(WINDOW_SLOTS);
      expect(pool.requestLatency.count).to.equal(1_000_000);
      expect(pool.getMetrics().latency.p99Ms).to.be.greaterThan(0);
    });

    it('keeps lifetime latency whole across slot reuse and a window replaced by updateConfig', () => {
      pool = FakePool.with({ health: { window: 10_000 } });
      let sum = 0;
      for (let i = 1; i <= 300; i++) {
        pool.recordLatency(i, false);
        sum += i;
        clock.tick(200); // 60 s in all: every slot of the 10 s window is reused several times
      }
      pool.updateConfig({ health: { window: 30_000 } });
      pool.recordLatency(1000, true);
      const lifetime = pool.requestLatency;
      expect(lifetime.count).to.equal(301);
      expect(lifetime.sum).to.equal(sum + 1000);
      expect(lifetime.max).to.equal(1000);
      expect(lifetime.counts.reduce((a, b) => a + b, 0)).to.equal(301);
      // The window holds only what is recent: the one request since the new window started.
      expect(pool.getMetrics().requests.windowTotal).to.equal(1);
      // A copy: reading it twice does not double anything.
      expect(pool.requestLatency.count).to.equal(301);
    });
  });

  describe('updateConfig', () => {
    it('applies valid keys and reports them, emitting ConfigUpdated', () => {
      pool = FakePool.with({ maxConnections: 10 });
      const updates = collect(pool, ConnectionPoolEvent.ConfigUpdated);
      const result = pool.updateConfig({ maxConnections: 20, idleTimeout: 5000 });
      expect(result).to.deep.equal({ applied: ['maxConnections', 'idleTimeout'], restartRequired: [] });
      expect(pool.config.maxConnections).to.equal(20);
      expect(pool.config.idleTimeout).to.equal(5000);
      expect(updates).to.deep.equal([result]);
    });

    it('rejects an invalid partial with every problem and keeps the old config', () => {
      pool = FakePool.with({ maxConnections: 10 });
      const updates = collect(pool, ConnectionPoolEvent.ConfigUpdated);
      const before = pool.config;
      let error: unknown;
      try {
        pool.updateConfig({ maxConnections: 0, idleTimeout: -1, bogus: true, health: { hysteresis: 5 } });
      } catch (err) {
        error = err;
      }
      expect(error).to.be.instanceOf(ConfigValidationError);
      const e = error as ConfigValidationError;
      expect(e.code).to.equal('UNIPOOL_CONFIG_INVALID');
      expect(e.problems.map((p) => p.path)).to.have.members(['fake.maxConnections', 'fake.idleTimeout', 'fake.bogus', 'fake.health.hysteresis']);
      expect(e.message).to.contain('fake.maxConnections: must not be less than 1 (got 0)');
      expect(e.message).to.contain('updateConfig');
      expect(pool.config).to.equal(before);
      expect(pool.config.maxConnections).to.equal(10);
      expect(updates).to.have.length(0);
    });

    it('rejects a cross-field violation', () => {
      pool = FakePool.with();
      expect(() => pool.updateConfig({ health: { degradedUtilization: 0.99 } })).to.throw(ConfigValidationError, 'fake.health.degradedUtilization: must not be greater than overloadedUtilization (0.95)');
      expect(pool.config.health.degradedUtilization).to.equal(0.8);
    });

    it('item 9: refuses a server key (host, port): each server changes its own section', () => {
      pool = FakePool.with({ port: 3000, maxConnections: 10 });
      const updates = collect(pool, ConnectionPoolEvent.ConfigUpdated);
      expect(() => pool.updateConfig({ port: 4000, host: '0.0.0.0', maxConnections: 11 })).to.throw(ConfigValidationError, 'fake.port: is a setting of each server, not of the pool');
      expect(pool.config.port).to.equal(3000);
      expect(pool.config.maxConnections).to.equal(10);
      expect(updates).to.have.length(0);
      expect([...pool.poolKeys()]).to.have.members(['maxConnections', 'connectionTimeout', 'idleTimeout', 'health', 'overload']);
    });

    it('item 9: a whole-section update (reload) leaves server keys to the servers and reports only pool keys', () => {
      pool = FakePool.with({ port: 3000, maxConnections: 10 });
      const update = pool.prepareConfigUpdate({ port: 4000, host: '0.0.0.0', maxConnections: 11 }, { replace: true });
      expect(update.commit()).to.deep.equal({ applied: ['maxConnections'], restartRequired: [] });
      expect(pool.config.port).to.equal(3000);
      expect(pool.config.host).to.equal('127.0.0.1');
      expect(pool.config.maxConnections).to.equal(11);
      expect(Object.isFrozen(pool.config)).to.equal(true);
    });

    it('does not let an explicit undefined erase a value, at the top level or nested', () => {
      pool = FakePool.with({ maxConnections: 42, health: { degradedUtilization: 0.5, minRequests: 7 } });
      pool.updateConfig({ maxConnections: undefined, idleTimeout: 100 });
      expect(pool.config.maxConnections).to.equal(42);
      pool.updateConfig({ health: { degradedUtilization: undefined, minRequests: 8 } });
      expect(pool.config.health.degradedUtilization).to.equal(0.5);
      expect(pool.config.health.minRequests).to.equal(8);
    });

    it('merges a nested partial over the current values', () => {
      pool = FakePool.with({ health: { degradedUtilization: 0.5, overloadedUtilization: 0.6 } });
      expect(pool.updateConfig({ health: { overloadedUtilization: 0.7 } }).applied).to.deep.equal(['health']);
      expect(pool.config.health).to.deep.include({ degradedUtilization: 0.5, overloadedUtilization: 0.7, minRequests: 20 });
    });

    it('is a no-op when nothing changes', () => {
      pool = FakePool.with({ maxConnections: 10 });
      const updates = collect(pool, ConnectionPoolEvent.ConfigUpdated);
      const before = pool.config;
      expect(pool.updateConfig({ maxConnections: 10 })).to.deep.equal({ applied: [], restartRequired: [] });
      expect(pool.config).to.equal(before);
      expect(updates).to.have.length(0);
    });

    it('keeps the old config when the protocol refuses the update in applyConfig', () => {
      pool = FakePool.with({ maxConnections: 10 });
      const seen: number[] = [];
      pool.onApply = (prev, next) => {
        seen.push(prev.maxConnections, next.maxConnections);
        throw new Error('refused');
      };
      expect(() => pool.updateConfig({ maxConnections: 20 })).to.throw('refused');
      expect(seen).to.deep.equal([10, 20]);
      expect(pool.config.maxConnections).to.equal(10);
    });

    it('applies a lower limit without dropping live connections (LimitReached at once), and a higher one re-arms it', () => {
      pool = FakePool.with({ maxConnections: 5 });
      const limit = collect(pool, ConnectionPoolEvent.LimitReached);
      for (let i = 0; i < 4; i++) pool.add(fakeConn());
      pool.updateConfig({ maxConnections: 2 });
      expect(pool.size).to.equal(4);
      expect(pool.add(fakeConn())).to.equal(undefined);
      pool.updateConfig({ maxConnections: 6 });
      pool.add(fakeConn());
      pool.add(fakeConn());
      expect(pool.size).to.equal(6);
      expect(limit).to.deep.equal([
        { active: 4, maxConnections: 2 },
        { active: 6, maxConnections: 6 },
      ]);
    });

    it('review: a server whose applyPoolConfig throws leaves the pool fully updated, the other servers notified, and the error logged', () => {
      pool = FakePool.with({ maxConnections: 5 });
      const limit = collect(pool, ConnectionPoolEvent.LimitReached);
      const updates = collect(pool, ConnectionPoolEvent.ConfigUpdated);
      const errors: Array<{ obj: object; msg?: string }> = [];
      const noop = (): void => undefined;
      const logger = { debug: noop, info: noop, warn: noop, error: (obj: object, msg?: string) => void errors.push({ obj, msg }), child: () => logger };
      pool.attachLogger(logger);
      const seen: number[] = [];
      pool.attachServer({ applyPoolConfig: () => { throw new Error('server refused'); } });
      pool.attachServer({ applyPoolConfig: (_prev, next) => void seen.push(next.maxConnections) });
      for (let i = 0; i < 3; i++) pool.add(fakeConn());
      const result = pool.updateConfig({ maxConnections: 2, health: { window: 5000 } });
      expect(result.applied).to.have.members(['maxConnections', 'health']);
      expect(pool.config.maxConnections).to.equal(2);
      expect(pool.getMetrics().windowMs, 'the window follows').to.equal(5000);
      expect(limit).to.deep.equal([{ active: 3, maxConnections: 2 }]);
      expect(updates).to.have.length(1);
      expect(seen, 'the server after the failing one still follows').to.deep.equal([2]);
      expect(errors).to.have.length(1);
      expect((errors[0].obj as { err: Error }).err.message).to.equal('server refused');
    });

    it('applies a new window length', () => {
      pool = FakePool.with();
      pool.updateConfig({ health: { window: 5000 } });
      expect(pool.getMetrics().windowMs).to.equal(5000);
    });

    it('re-evaluates health with the new thresholds', () => {
      pool = FakePool.with({ maxConnections: 10 });
      pool.setListening(true);
      for (let i = 0; i < 5; i++) pool.add(fakeConn());
      const changes = collect(pool, ConnectionPoolEvent.HealthChanged);
      pool.updateConfig({ health: { degradedUtilization: 0.5 } });
      expect(changes.map((c) => c.current.status)).to.deep.equal(['DEGRADED']);
    });
  });

  describe('configure', () => {
    it('validates plain settings and keeps defaults for the rest', () => {
      pool = FakePool.with({ maxConnections: 3 });
      expect(pool.config).to.deep.include({ maxConnections: 3, connectionTimeout: 10_000, idleTimeout: 0, port: 0 });
    });

    it('throws ConfigValidationError for invalid settings', () => {
      expect(() => FakePool.with({ maxConnections: 'many' })).to.throw(ConfigValidationError, 'fake.maxConnections');
    });
  });

  describe('drain', () => {
    it('finishes at once with nothing open', async () => {
      pool = FakePool.with();
      const started = collect(pool, ConnectionPoolEvent.DrainStarted);
      const finished = collect(pool, ConnectionPoolEvent.DrainFinished);
      const result = await pool.drain(1000);
      expect(result).to.deep.equal({ graceful: 0, forced: 0, durationMs: 0 });
      expect(started).to.deep.equal([{ active: 0, deadlineMs: 1000 }]);
      expect(finished).to.have.length(1);
      expect(clock.countTimers()).to.equal(0);
    });

    it('closes idle connections at once, busy ones when their work ends, and forces the rest at the deadline', async () => {
      pool = FakePool.with({ connectionTimeout: 0 });
      const finished = collect(pool, ConnectionPoolEvent.DrainFinished);
      const idle = pool.add(fakeConn('idle'))!;
      const quick = pool.add(fakeConn('quick'))!;
      const stuck = pool.add(fakeConn('stuck'))!;
      const quickStarted = pool.beginWork(quick);
      pool.beginWork(stuck);

      let result: Awaited<ReturnType<FakePool['drain']>> | undefined;
      void pool.drain(1000).then((r) => (result = r));
      expect(idle.raw.closeReason).to.equal('drain');
      expect(pool.get(idle.id)).to.equal(undefined);
      expect(quick.state).to.equal('draining');
      expect(stuck.raw.closed).to.equal(false);

      await clock.tickAsync(400);
      pool.endWork(quick, quickStarted, false);
      expect(quick.raw.closeReason).to.equal('drain');
      expect(pool.size).to.equal(1);
      expect(result).to.equal(undefined);

      await clock.tickAsync(600);
      expect(stuck.raw.destroyed).to.equal(true);
      expect(pool.size).to.equal(0);
      expect(result).to.deep.equal({ graceful: 2, forced: 1, durationMs: 1000 });
      expect(finished).to.deep.equal([result]);
      expect(idle.raw.destroyed).to.equal(false);
      expect(quick.raw.destroyed).to.equal(false);
      expect(clock.countTimers()).to.equal(0);
    });

    it('finishes before the deadline when the last busy connection ends, and clears the deadline timer', async () => {
      pool = FakePool.with({ connectionTimeout: 0 });
      const a = pool.add(fakeConn())!;
      const s = pool.beginWork(a);
      const p = pool.drain(60_000);
      await clock.tickAsync(250);
      pool.endWork(a, s, false);
      expect(await p).to.deep.equal({ graceful: 1, forced: 0, durationMs: 250 });
      expect(clock.countTimers()).to.equal(0);
    });

    it('counts a connection that closes on its own during the drain as graceful', async () => {
      pool = FakePool.with({ connectionTimeout: 0 });
      const a = pool.add(fakeConn())!;
      pool.beginWork(a);
      const p = pool.drain(1000);
      pool.remove(a, 'closed');
      expect(await p).to.deep.include({ graceful: 1, forced: 0 });
    });

    it('emits DrainFinished once even when every connection closes synchronously', async () => {
      pool = FakePool.with();
      const finished = collect(pool, ConnectionPoolEvent.DrainFinished);
      pool.add(fakeConn());
      pool.add(fakeConn());
      expect(await pool.drain(1000)).to.deep.include({ graceful: 2, forced: 0 });
      expect(finished).to.have.length(1);
      pool.destroy();
      expect(clock.countTimers()).to.equal(0);
    });

    it('waits without a deadline until the work ends', async () => {
      pool = FakePool.with({ connectionTimeout: 0 });
      const a = pool.add(fakeConn())!;
      const s = pool.beginWork(a);
      let done = false;
      const p = pool.drain().then((r) => ((done = true), r));
      await clock.tickAsync(3_600_000);
      expect(done).to.equal(false);
      pool.endWork(a, s, false);
      expect(await p).to.deep.include({ graceful: 1, forced: 0 });
    });

    it('forces everything at once when the abort signal fires', async () => {
      pool = FakePool.with({ connectionTimeout: 0 });
      const a = pool.add(fakeConn())!;
      const b = pool.add(fakeConn())!;
      pool.beginWork(a);
      pool.beginWork(b);
      const abort = new AbortController();
      const p = pool.drain(60_000, abort.signal);
      await clock.tickAsync(100);
      abort.abort();
      expect(await p).to.deep.equal({ graceful: 0, forced: 2, durationMs: 100 });
      expect(a.raw.destroyed && b.raw.destroyed).to.equal(true);
      expect(clock.countTimers()).to.equal(0);
    });

    it('forces at once with an already aborted signal', async () => {
      pool = FakePool.with({ connectionTimeout: 0 });
      pool.beginWork(pool.add(fakeConn())!);
      const result = await pool.drain(undefined, AbortSignal.abort());
      expect(result).to.deep.include({ graceful: 0, forced: 1 });
    });

    it('returns the same promise when called again', async () => {
      pool = FakePool.with({ connectionTimeout: 0 });
      const a = pool.add(fakeConn())!;
      const s = pool.beginWork(a);
      const p1 = pool.drain(1000);
      const p2 = pool.drain(5);
      expect(p2).to.equal(p1);
      pool.endWork(a, s, false);
      await p1;
    });

    it('keeps a connection in draining state when new work starts on it during the drain', async () => {
      pool = FakePool.with({ connectionTimeout: 0 });
      pool.removeOnClose = false;
      const a = pool.add(fakeConn())!;
      const p = pool.drain(1000);
      expect(a.raw.closed).to.equal(true);
      // The client had a request on the wire already.
      const s = pool.beginWork(a);
      expect(a.state).to.equal('draining');
      pool.endWork(a, s, false);
      pool.remove(a);
      expect(await p).to.deep.include({ graceful: 1, forced: 0 });
    });

    it('resolves with the forced count when the pool is destroyed mid-drain', async () => {
      pool = FakePool.with({ connectionTimeout: 0 });
      pool.beginWork(pool.add(fakeConn())!);
      const p = pool.drain();
      pool.destroy();
      expect(await p).to.deep.include({ graceful: 0, forced: 1 });
    });
  });

  describe('destroy', () => {
    it('leaves no timer, destroys every connection, drops listeners, and is idempotent', () => {
      pool = FakePool.with({ connectionTimeout: 1000, idleTimeout: 1000 });
      pool.setListening(true);
      const conns = Array.from({ length: 5 }, () => pool.add(fakeConn())!);
      pool.beginWork(conns[0]);
      const removed = collect(pool, ConnectionPoolEvent.ConnectionRemoved);
      expect(clock.countTimers()).to.be.greaterThan(1);
      pool.destroy();
      expect(clock.countTimers()).to.equal(0);
      expect(conns.every((c) => c.raw.destroyed)).to.equal(true);
      expect(removed).to.have.length(5);
      expect(pool.size).to.equal(0);
      expect(pool.events.listenerCount(ConnectionPoolEvent.ConnectionRemoved)).to.equal(0);
      pool.destroy();
      expect(clock.countTimers()).to.equal(0);
      expect(pool.getHealth().status).to.equal('UNAVAILABLE');
      pool.setListening(true);
      expect(clock.countTimers()).to.equal(0);
    });
  });

  describe('forceAll', () => {
    it('destroys every connection and counts each as forced', () => {
      pool = FakePool.with();
      const removed = collect(pool, ConnectionPoolEvent.ConnectionRemoved);
      pool.add(fakeConn());
      pool.add(fakeConn());
      pool.forceAll();
      expect(pool.destroyedIds).to.have.length(2);
      expect(removed.map((r) => r.reason)).to.deep.equal(['forced', 'forced']);
    });
  });

  describe('isPoolClass', () => {
    it('recognises pool classes and nothing else', () => {
      expect(isPoolClass(FakePool)).to.equal(true);
      expect(isPoolClass(HttpConnectionPool)).to.equal(true);
      expect(isPoolClass(ConnectionPoolManager)).to.equal(true);
      expect(isPoolClass(class NotAPool {})).to.equal(false);
      expect(isPoolClass({})).to.equal(false);
      expect(isPoolClass(undefined)).to.equal(false);
    });
  });
});

describe('ConnectionPoolManager: work on a removed connection', () => {
  it('is timed but leaves the idle and in-flight counts alone', () => {
    const pool = FakePool.with();
    const conn = pool.add(fakeConn())!;
    pool.remove(conn);
    const stamp = pool.beginWork(conn);
    pool.endWork(conn, stamp, false);
    const m = pool.getMetrics();
    expect(m.idle).to.equal(0);
    expect(m.requests.inFlight).to.equal(0);
    expect(m.requests.total).to.equal(1);
    pool.destroy();
  });
});

describe('ConnectionPoolManager: markEstablished', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers();
  });
  afterEach(() => clock.restore());

  it('ends the connection timeout at the handshake and hands over to the idle timeout', () => {
    const pool = FakePool.with({ connectionTimeout: 100, idleTimeout: 1000 });
    const conn = pool.add(fakeConn())!;
    clock.tick(50);
    pool.markEstablished(conn);
    clock.tick(500);
    expect(pool.size).to.equal(1);
    expect(pool.getMetrics().timeouts.connection ?? 0).to.equal(0);
    clock.tick(600);
    expect(pool.size).to.equal(0);
    expect(pool.getMetrics().timeouts.idle).to.equal(1);
    pool.destroy();
  });

  it('is a no-op once work started or the connection is gone', () => {
    const pool = FakePool.with({ connectionTimeout: 100 });
    const conn = pool.add(fakeConn())!;
    const stamp = pool.beginWork(conn);
    pool.markEstablished(conn);
    expect(conn.inFlight).to.equal(1);
    pool.endWork(conn, stamp, false);
    pool.remove(conn);
    pool.markEstablished(conn);
    expect(clock.countTimers()).to.be.at.most(1);
    pool.destroy();
    expect(clock.countTimers()).to.equal(0);
  });
});

describe('ConnectionPoolManager: the shared connection-timeout queue', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers();
  });
  afterEach(() => clock.restore());

  it('times each waiting connection out at its own deadline, skipping those that started', () => {
    const pool = FakePool.with({ connectionTimeout: 1000 });
    const timedOut: number[] = [];
    pool.events.on(ConnectionPoolEvent.ConnectionTimeout, (e) => timedOut.push(e.connection.id));
    const a = pool.add(fakeConn())!;
    clock.tick(300);
    const b = pool.add(fakeConn())!;
    clock.tick(300);
    const c = pool.add(fakeConn())!;
    pool.beginWork(b);
    clock.tick(399);
    expect(timedOut).to.deep.equal([]);
    clock.tick(1);
    expect(timedOut).to.deep.equal([a.id]);
    clock.tick(599);
    expect(timedOut).to.deep.equal([a.id]);
    clock.tick(1);
    expect(timedOut).to.deep.equal([a.id, c.id]);
    expect(pool.get(b.id)).to.equal(b);
    expect(clock.countTimers()).to.equal(0);
    pool.destroy();
  });

  it('follows a live connectionTimeout change for connections already waiting', () => {
    const pool = FakePool.with({ connectionTimeout: 10_000 });
    const a = pool.add(fakeConn())!;
    clock.tick(100);
    pool.updateConfig({ connectionTimeout: 500 });
    clock.tick(399);
    expect(pool.get(a.id)).to.equal(a);
    clock.tick(1);
    expect(pool.get(a.id)).to.equal(undefined);
    expect(pool.getMetrics().timeouts.connection).to.equal(1);
    pool.destroy();
  });
});
