import { expect } from 'chai';
import type { Worker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import sinon from 'sinon';
import { HandoverRescue } from '../../src/cluster/handover-rescue';
import type { Logger } from '../../src/core/logger';

/** A connection handle as node:cluster passes it (only `close` is read). */
class FakeHandle {
  closed = 0;
  close(): void {
    this.closed++;
  }
}

/** A worker's ChildProcess as the primary sees it: `send` and the events the rescue listens to. */
class FakeProcess extends EventEmitter {
  readonly sent: Array<{ message: Record<string, unknown>; handle: unknown }> = [];
  pid = 100;
  send(message: Record<string, unknown>, handle?: unknown): boolean {
    this.sent.push({ message, handle });
    return true;
  }
}

function fakeWorker(id: number): Worker & { process: FakeProcess; connected: boolean } {
  const proc = new FakeProcess();
  const worker = { id, process: proc, connected: true, isConnected: () => worker.connected };
  return worker as unknown as Worker & { process: FakeProcess; connected: boolean };
}

const logger = { warn: () => undefined } as unknown as Logger;

/** What node's round robin sends: `newconn` with a numeric seq, the handle beside it. */
function handOver(worker: ReturnType<typeof fakeWorker>, seq: number, handle: FakeHandle): void {
  worker.process.send({ cmd: 'NODE_CLUSTER', act: 'newconn', key: '127.0.0.1:0:4:', seq }, handle);
}

const ack = (worker: ReturnType<typeof fakeWorker>, seq: unknown, accepted: boolean): boolean => worker.process.emit('internalMessage', { cmd: 'NODE_CLUSTER', ack: seq, accepted, seq: 7 });

describe('HandoverRescue: connections a dead worker was handed and never took (fake workers, fake timers)', () => {
  let clock: sinon.SinonFakeTimers;
  let dead: ReturnType<typeof fakeWorker>;
  let live: Array<ReturnType<typeof fakeWorker>>;
  let rescue: HandoverRescue;

  beforeEach(() => {
    clock = sinon.useFakeTimers();
    dead = fakeWorker(1);
    live = [fakeWorker(2), fakeWorker(3)];
    rescue = new HandoverRescue(() => live, logger);
    rescue.watch(dead);
    for (const w of live) rescue.watch(w);
  });
  afterEach(() => clock.restore());

  /** The dead worker's process exits and its channel closes. */
  const die = (): void => {
    dead.connected = false;
    dead.process.emit('close', null, 'SIGKILL');
  };

  it('passes every message on unchanged; an answered hand-over is not rescued', async () => {
    const handle = new FakeHandle();
    handOver(dead, 1, handle);
    expect(dead.process.sent).to.have.length(1);
    expect(dead.process.sent[0].handle).to.equal(handle);
    ack(dead, 1, true);
    die();
    await clock.runAllAsync();
    expect(live[0].process.sent).to.deep.equal([]);
    expect(handle.closed).to.equal(0); // node's round robin closes it on the ack, not this
    expect(rescue.stats).to.deep.equal({ rescued: 0, dropped: 0 });
  });

  it('hands an unanswered connection to the first live worker once the dead one has closed, then closes the primary copy', async () => {
    const handle = new FakeHandle();
    handOver(dead, 1, handle);
    die();
    await clock.tickAsync(0);
    expect(live[0].process.sent).to.have.length(1);
    const offer = live[0].process.sent[0];
    expect(offer.message).to.include({ cmd: 'NODE_CLUSTER', act: 'newconn', key: '127.0.0.1:0:4:' });
    expect(offer.message.seq).to.be.a('string');
    expect(offer.handle).to.equal(handle);
    ack(live[0], offer.message.seq, true);
    await clock.tickAsync(0);
    expect(handle.closed).to.equal(1);
    expect(rescue.stats).to.deep.equal({ rescued: 1, dropped: 0 });
  });

  it('asks the next live worker when one refuses or ends before answering; none taking it, the connection is closed and counted dropped', async () => {
    const handle = new FakeHandle();
    handOver(dead, 4, handle);
    die();
    await clock.tickAsync(0);
    ack(live[0], live[0].process.sent[0].message.seq, false);
    await clock.tickAsync(0);
    expect(live[1].process.sent).to.have.length(1);
    live[1].connected = false;
    live[1].process.emit('close', null, 'SIGKILL');
    await clock.tickAsync(0);
    expect(handle.closed).to.equal(1);
    expect(rescue.stats).to.deep.equal({ rescued: 0, dropped: 1 });
    expect(clock.countTimers()).to.equal(0);
  });

  it('waits for a slow answer however long it takes: the connection is never offered to a second worker meanwhile (one socket, one worker)', async () => {
    const handle = new FakeHandle();
    handOver(dead, 5, handle);
    die();
    await clock.tickAsync(0);
    expect(live[0].process.sent).to.have.length(1);
    await clock.tickAsync(60_000);
    expect(live[1].process.sent).to.deep.equal([]);
    expect(handle.closed).to.equal(0);
    ack(live[0], live[0].process.sent[0].message.seq, true);
    await clock.tickAsync(0);
    expect(handle.closed).to.equal(1);
    expect(rescue.stats).to.deep.equal({ rescued: 1, dropped: 0 });
  });

  it('skips a live worker whose channel is closed', async () => {
    live[0].connected = false;
    const handle = new FakeHandle();
    handOver(dead, 2, handle);
    die();
    await clock.tickAsync(0);
    expect(live[0].process.sent).to.deep.equal([]);
    ack(live[1], live[1].process.sent[0].message.seq, true);
    await clock.tickAsync(0);
    expect(rescue.stats).to.deep.equal({ rescued: 1, dropped: 0 });
  });
});
