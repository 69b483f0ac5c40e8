import 'reflect-metadata';
import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import sinon from 'sinon';
import type WebSocket from 'ws';
import { WebSocketConnectionPool, WebSocketPoolConfig, validateSection, type PooledConnection } from '../../src';

/** Just enough of a `ws` WebSocket for the pool: state, buffer size, and the calls it makes. */
class FakeSocket extends EventEmitter {
  readyState = 1;
  bufferedAmount = 0;
  pings = 0;
  closedWith: number | undefined;
  terminated = false;
  ping(): void {
    this.pings++;
  }
  close(code: number): void {
    this.closedWith = code;
    this.readyState = 2;
  }
  terminate(): void {
    this.terminated = true;
    this.readyState = 3;
  }
}

function makePool(ws: Record<string, unknown>): WebSocketConnectionPool {
  const pool = new WebSocketConnectionPool();
  pool.configure(validateSection(WebSocketPoolConfig, { port: 0, ...ws }, 'ws').value!);
  return pool;
}

function admit(pool: WebSocketConnectionPool): [FakeSocket, PooledConnection<WebSocket>] {
  const socket = new FakeSocket();
  const conn = pool.add(socket as unknown as WebSocket, '127.0.0.1', 1) as PooledConnection<WebSocket>;
  // What the server does on 'close': the pool forgets the connection.
  const forget = (): void => pool.remove(conn);
  socket.terminate = function (this: FakeSocket) {
    this.terminated = true;
    this.readyState = 3;
    forget();
  };
  return [socket, conn];
}

describe('WebSocketConnectionPool heartbeat and backpressure (fake timers)', () => {
  let clock: sinon.SinonFakeTimers;
  let pool: WebSocketConnectionPool | undefined;

  beforeEach(() => {
    clock = sinon.useFakeTimers();
  });
  afterEach(() => {
    pool?.destroy();
    pool = undefined;
    clock.restore();
  });

  it('pings every connection once per pingInterval and terminates the one that did not answer within pongTimeout', () => {
    pool = makePool({ pingInterval: 1000, pongTimeout: 300 });
    const [alive, aliveConn] = admit(pool);
    const [dead] = admit(pool);
    pool.setListening(true);
    clock.tick(1000);
    expect([alive.pings, dead.pings]).to.deep.equal([1, 1]);
    pool.recordPong(aliveConn);
    clock.tick(299);
    expect(dead.terminated).to.equal(false);
    clock.tick(1);
    expect(dead.terminated).to.equal(true);
    expect(alive.terminated).to.equal(false);
    expect(pool.getMetrics().timeouts.pong).to.equal(1);
    expect(pool.size).to.equal(1);
    clock.tick(700);
    expect(alive.pings).to.equal(2);
    expect(pool.getMetrics().websocket.pingsSent).to.equal(3);
  });

  it('with pongTimeout equal to pingInterval, an unanswered peer is gone by the next ping round', () => {
    pool = makePool({ pingInterval: 500, pongTimeout: 500 });
    const [dead] = admit(pool);
    pool.setListening(true);
    clock.tick(500);
    expect(dead.pings).to.equal(1);
    clock.tick(500);
    expect(dead.terminated).to.equal(true);
    expect(dead.pings).to.equal(1);
  });

  it('closes a client whose send buffer stays over maxBufferedAmount across two checks with 1008, and only then', () => {
    pool = makePool({ pingInterval: 1000, pongTimeout: 500, maxPayload: 1024, maxBufferedAmount: 4096 });
    const [slow, slowConn] = admit(pool);
    const [recovering, recoveringConn] = admit(pool);
    pool.setListening(true);
    slow.bufferedAmount = 10_000;
    recovering.bufferedAmount = 10_000;
    expect(pool.broadcast('x')).to.deep.equal({ sent: 0, skipped: 2 });
    recovering.bufferedAmount = 0;
    clock.tick(1000);
    expect(slow.closedWith).to.equal(1008);
    expect(slowConn.closeReason).to.equal('slow_consumer');
    expect(recovering.closedWith).to.equal(undefined);
    pool.recordPong(recoveringConn);
    expect(pool.getMetrics().websocket.slowConsumersClosed).to.equal(1);
    expect(pool.getMetrics().errors.byType.slow_consumer).to.equal(1);
  });

  it('stops pinging when the server stops listening', () => {
    pool = makePool({ pingInterval: 100, pongTimeout: 50 });
    const [socket, conn] = admit(pool);
    pool.setListening(true);
    clock.tick(100);
    pool.recordPong(conn);
    pool.setListening(false);
    clock.tick(1000);
    expect(socket.pings).to.equal(1);
    expect(socket.terminated).to.equal(false);
  });

  it('drain sends 1001 to everyone and terminates, counted forced, what has not closed after closeTimeout', async () => {
    pool = makePool({ closeTimeout: 2000 });
    const [polite, politeConn] = admit(pool);
    const [stuck] = admit(pool);
    const drained = pool.drain();
    expect([polite.closedWith, stuck.closedWith]).to.deep.equal([1001, 1001]);
    pool.remove(politeConn); // its close handshake completed
    clock.tick(1999);
    expect(stuck.terminated).to.equal(false);
    clock.tick(1);
    expect(stuck.terminated).to.equal(true);
    const result = await drained;
    expect(result.graceful).to.equal(1);
    expect(result.forced).to.equal(1);
    expect(pool.getMetrics().timeouts.close_handshake).to.equal(1);
  });
});
