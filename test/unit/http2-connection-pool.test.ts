import 'reflect-metadata';
import { expect } from 'chai';
import type { ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import sinon from 'sinon';
import { Http2ConnectionPool, Http2PoolConfig, MAX_STREAM_ID, validateSection, type PooledConnection } from '../../src';
import { Http2ConnectionState } from '../../src/protocols/http2/http2-connection-state';

/** Just enough of a node ServerHttp2Session for the pool: the frames it asks for. */
class FakeSession {
  closed = false;
  destroyed = false;
  readonly calls: string[] = [];
  readonly pingCallbacks: Array<(err: Error | null) => void> = [];
  destroyCode: number | undefined;
  goaway(code: number, last: number): void {
    this.calls.push(`goaway ${code} ${last}`);
  }
  ping(cb: (err: Error | null) => void): boolean {
    this.calls.push('ping');
    this.pingCallbacks.push(cb);
    return true;
  }
  close(): void {
    this.calls.push('close');
    this.closed = true;
  }
  destroy(_err?: Error, code?: number): void {
    this.calls.push(`destroy ${code ?? 0}`);
    this.destroyCode = code;
    this.destroyed = true;
  }
}

class FakeSocket {
  destroyed = false;
  bytesRead = 0;
  bytesWritten = 0;
  remoteAddress = '127.0.0.1';
  remotePort = 1;
  destroy(): void {
    this.destroyed = true;
  }
}

function makePool(section: Record<string, unknown> = {}): Http2ConnectionPool {
  const pool = new Http2ConnectionPool();
  pool.configure(validateSection(Http2PoolConfig, { h2c: true, port: 0, ...section }, 'http2').value as Http2PoolConfig);
  return pool;
}

function admit(pool: Http2ConnectionPool): { session: FakeSession; socket: FakeSocket; conn: PooledConnection<Socket> } {
  const session = new FakeSession();
  const socket = new FakeSocket();
  const conn = pool.add(socket as unknown as Socket) as PooledConnection<Socket>;
  conn.data = new Http2ConnectionState(session as unknown as ServerHttp2Session, undefined);
  pool.markEstablished(conn);
  return { session, socket, conn };
}

describe('Http2ConnectionPool (fake sessions, fake timers)', () => {
  let clock: sinon.SinonFakeTimers;
  let pool: Http2ConnectionPool;

  beforeEach(() => {
    clock = sinon.useFakeTimers();
  });
  afterEach(() => {
    pool?.destroy();
    clock.restore();
  });

  /** A session with one stream in flight, quiet for longer than the drain's grace (500 ms). */
  function busyQuietSession(): FakeSession {
    const { session, conn } = admit(pool);
    pool.beginWork(conn);
    clock.tick(600);
    return session;
  }

  it('drain: a busy session quiet for over 500 ms gets the graceful GOAWAY (NO_ERROR, 2^31-1) at once, the PING only after it, and the final GOAWAY (close) when the PING comes back', () => {
    pool = makePool();
    const session = busyQuietSession();
    void pool.drain();
    expect(session.calls).to.deep.equal([`goaway 0 ${MAX_STREAM_ID}`]);
    clock.tick(1); // the PING waits for the GOAWAY to be written
    expect(session.calls).to.deep.equal([`goaway 0 ${MAX_STREAM_ID}`, 'ping']);
    session.pingCallbacks[0](null);
    expect(session.calls).to.deep.equal([`goaway 0 ${MAX_STREAM_ID}`, 'ping', 'close']);
    expect(pool.getMetrics().http2.goawaysSent.NO_ERROR).to.equal(2);
  });

  it('drain: without the PING back, the final GOAWAY goes 1 s after the graceful one', () => {
    pool = makePool();
    const session = busyQuietSession();
    void pool.drain();
    clock.tick(999);
    expect(session.calls).to.not.include('close');
    clock.tick(1);
    expect(session.calls).to.include('close');
  });

  it('drain: a session with no stream open, quiet for over 500 ms, gets both GOAWAYs at once and no PING (nghttp2 would never read its ack)', () => {
    pool = makePool();
    const { session } = admit(pool);
    clock.tick(600);
    void pool.drain();
    expect(session.calls).to.deep.equal([`goaway 0 ${MAX_STREAM_ID}`, 'close']);
    clock.tick(2000);
    expect(session.calls).to.deep.equal([`goaway 0 ${MAX_STREAM_ID}`, 'close']);
    expect(pool.getMetrics().http2.goawaysSent.NO_ERROR).to.equal(2);
  });

  it('drain: a session active within 500 ms waits: nothing at drain start, nothing when its last stream ends, and both GOAWAYs when the grace ends', () => {
    pool = makePool();
    const { session, conn } = admit(pool);
    const started = pool.beginWork(conn);
    void pool.drain();
    expect(session.calls).to.deep.equal([]);
    clock.tick(100);
    pool.endWork(conn, started, false);
    expect(session.calls, 'not as its last stream ends: the client may be sending the next').to.deep.equal([]);
    clock.tick(399);
    expect(session.calls).to.deep.equal([]);
    clock.tick(1);
    expect(session.calls).to.deep.equal([`goaway 0 ${MAX_STREAM_ID}`, 'close']);
  });

  it('drain: a graced session says goodbye when its next stream starts (that stream is taken: the GOAWAYs precede its answer), and the grace timer then does nothing more', () => {
    pool = makePool();
    const { session, conn } = admit(pool);
    void pool.drain();
    clock.tick(50);
    pool.streamWhileDraining(conn);
    expect(session.calls).to.deep.equal([`goaway 0 ${MAX_STREAM_ID}`, 'close']);
    clock.tick(1000);
    expect(session.calls).to.deep.equal([`goaway 0 ${MAX_STREAM_ID}`, 'close']);
    pool.streamWhileDraining(conn);
    expect(session.calls).to.have.length(2);
  });

  it('PING keepalive: every session is pinged each pingInterval; one that does not answer within pingTimeout is destroyed and counted', () => {
    pool = makePool({ pingInterval: 1000, pingTimeout: 200 });
    pool.setListening(true);
    const live = admit(pool);
    const dead = admit(pool);
    clock.tick(1000);
    expect(live.session.calls).to.deep.equal(['ping']);
    expect(dead.session.calls).to.deep.equal(['ping']);
    live.session.pingCallbacks[0](null);
    clock.tick(200);
    expect(dead.session.destroyed).to.equal(true);
    expect(dead.socket.destroyed).to.equal(true);
    expect(live.session.destroyed).to.equal(false);
    const m = pool.getMetrics();
    expect(m.timeouts.ping).to.equal(1);
    expect(m.http2.pings).to.deep.equal({ sent: 2, timeouts: 1 });
  });

  it('pingInterval 0 runs no keepalive timer at all', () => {
    pool = makePool({ pingInterval: 0, idleTimeout: 0 });
    pool.setListening(true);
    const { session } = admit(pool);
    clock.tick(3_600_000);
    expect(session.calls).to.deep.equal([]);
  });

  it('rapid reset: maxResetsPerSecond peer resets are allowed; one more cuts the session with ENHANCE_YOUR_CALM, counted once', () => {
    pool = makePool({ maxResetsPerSecond: 5 });
    const { session, conn } = admit(pool);
    for (let i = 0; i < 5; i++) {
      const started = pool.beginWork(conn);
      pool.streamClosed(conn, started, 8, undefined, true, 'GET');
    }
    expect(session.destroyed).to.equal(false);
    const started = pool.beginWork(conn);
    pool.streamClosed(conn, started, 8, undefined, true, 'GET');
    expect(session.destroyCode).to.equal(0xb);
    const m = pool.getMetrics();
    expect(m.http2.rapidResetSessions).to.equal(1);
    expect(m.http2.goawaysSent.ENHANCE_YOUR_CALM).to.equal(1);
    expect(m.http2.resetsByCode.CANCEL).to.equal(6);
    expect(m.errors.byType.aborted).to.equal(6);
  });

  it('a stream that ends cleanly counts its status class; a reset by the server itself (not the peer) never counts towards rapid reset', () => {
    pool = makePool({ maxResetsPerSecond: 1 });
    const { session, conn } = admit(pool);
    pool.streamClosed(conn, pool.beginWork(conn), 0, 200, false, 'GET');
    for (let i = 0; i < 3; i++) pool.streamClosed(conn, pool.beginWork(conn), 2, 200, false, 'GET');
    expect(session.destroyed).to.equal(false);
    const m = pool.getMetrics();
    expect(m.requests.total).to.equal(4);
    expect(m.http2.resetsByCode.INTERNAL_ERROR).to.equal(3);
  });

  it('an idle session (no open stream) gets the final GOAWAY after idleTimeout, counted as idle', () => {
    pool = makePool({ idleTimeout: 500 });
    const { session } = admit(pool);
    clock.tick(499);
    expect(session.calls).to.deep.equal([]);
    clock.tick(1);
    expect(session.calls).to.deep.equal(['close']);
    expect(pool.getMetrics().timeouts.idle).to.equal(1);
  });
});
