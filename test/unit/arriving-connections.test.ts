import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import sinon from 'sinon';
import { ArrivingConnections } from '../../src/protocols/http/arriving-connections';

/** What ArrivingConnections reads of a socket: its 'close' event and `destroyed`. */
class FakeSocket extends EventEmitter {
  destroyed = false;
  close(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

const socket = (): Socket & FakeSocket => new FakeSocket() as unknown as Socket & FakeSocket;

describe('ArrivingConnections (connections before their upgrade or TLS handshake is done, at close; fake timers)', () => {
  let clock: sinon.SinonFakeTimers;
  let arriving: ArrivingConnections;
  let settled: boolean;
  const settle = (): Promise<void> => arriving.settle(500).then(() => void (settled = true));

  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 10_000 });
    arriving = new ArrivingConnections(() => clock.now);
    settled = false;
  });
  afterEach(() => clock.restore());

  it('resolves at once with nothing arriving, or only connections older than the grace', async () => {
    await settle();
    expect(settled).to.equal(true);
    arriving.accepted(socket());
    clock.tick(500);
    settled = false;
    const done = settle();
    expect(clock.countTimers()).to.equal(0);
    await done;
    expect(settled).to.equal(true);
    expect(clock.now).to.equal(10_500);
  });

  it('waits for a connection accepted within the grace until it closes (its upgrade answered)', async () => {
    const s = socket();
    arriving.accepted(s);
    clock.tick(100);
    const done = settle();
    await clock.tickAsync(200);
    expect(settled).to.equal(false);
    s.close();
    await done;
    expect(clock.now).to.equal(10_300);
    expect(clock.countTimers()).to.equal(0);
  });

  it('stops waiting when the grace of the newest one ends, even if it never closes', async () => {
    const older = socket();
    const newer = socket();
    arriving.accepted(older);
    clock.tick(300);
    arriving.accepted(newer);
    const done = settle();
    await clock.tickAsync(499);
    expect(settled).to.equal(false);
    await clock.tickAsync(1);
    await done;
    expect(clock.now).to.equal(10_800);
  });

  it('forgets a connection once it arrives (upgrade read, handshake done: the pool answers for it) or closes', async () => {
    const upgraded = socket();
    const closed = socket();
    arriving.accepted(upgraded);
    arriving.accepted(closed);
    arriving.arrived(upgraded);
    closed.close();
    const done = settle();
    expect(clock.countTimers()).to.equal(0); // nothing left to wait for: no grace timer
    await done;
    expect(settled).to.equal(true);
    expect(clock.now).to.equal(10_000);
  });
  it('settleArrivals: resolves as soon as each connection accepted within the grace has arrived (handshake done), without waiting for it to close', async () => {
    const a = socket();
    const b = socket();
    arriving.accepted(a);
    arriving.accepted(b);
    clock.tick(100);
    let done = false;
    const waiting = arriving.settleArrivals(500).then(() => void (done = true));
    await clock.tickAsync(50);
    arriving.arrived(a);
    await clock.tickAsync(0);
    expect(done).to.equal(false);
    b.close();
    await waiting;
    expect(clock.now).to.equal(10_150);
    expect(arriving.size).to.equal(0);
    expect(clock.countTimers()).to.equal(0);
  });

  it('settleArrivals: stops waiting when the grace ends for one that neither arrives nor closes; one older than the grace is not waited for', async () => {
    const old = socket();
    arriving.accepted(old);
    clock.tick(600);
    const fresh = socket();
    arriving.accepted(fresh);
    clock.tick(100);
    let done = false;
    const waiting = arriving.settleArrivals(500).then(() => void (done = true));
    await clock.tickAsync(399);
    expect(done).to.equal(false);
    await clock.tickAsync(1);
    await waiting;
    expect(clock.now).to.equal(11_100);
    expect(arriving.size).to.equal(2);
  });
});
