import { expect } from 'chai';
import sinon from 'sinon';
import { AdmissionQueue } from '../../src/overload';
import { QueuedWork as Work } from '../helpers/queued-work';


describe('AdmissionQueue (bounded waiting room, one timer)', () => {
  let clock: sinon.SinonFakeTimers;
  let expired: Array<[string, number]>;
  const make = (size: number, order: 'fifo' | 'lifo', timeout = 100) =>
    new AdmissionQueue({ size, timeout, order, clock: () => clock.now, onExpired: (w, now) => void expired.push([(w as Work).name, now]) });

  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 1000 });
    expired = [];
  });
  afterEach(() => clock.restore());

  it('fifo lets the oldest in first', () => {
    const queue = make(10, 'fifo');
    const [a, b, c] = [new Work('a'), new Work('b'), new Work('c')];
    for (const w of [a, b, c]) expect(queue.push(w, clock.now)).to.equal(null);
    expect(queue.length).to.equal(3);
    expect([queue.shift(), queue.shift(), queue.shift(), queue.shift()]).to.deep.equal([a, b, c, null]);
    expect(queue.length).to.equal(0);
  });

  it('lifo lets the newest in first', () => {
    const queue = make(10, 'lifo');
    const [a, b, c] = [new Work('a'), new Work('b'), new Work('c')];
    for (const w of [a, b, c]) queue.push(w, clock.now);
    expect([queue.shift(), queue.shift(), queue.shift()]).to.deep.equal([c, b, a]);
  });

  it('a full fifo queue refuses the newcomer; a full lifo queue evicts its oldest; size 0 queues nothing', () => {
    const fifo = make(2, 'fifo');
    const [a, b, c] = [new Work('a'), new Work('b'), new Work('c')];
    fifo.push(a, 0);
    fifo.push(b, 0);
    expect(fifo.push(c, 0)).to.equal(c);
    expect(fifo.length).to.equal(2);
    fifo.close();

    const lifo = make(2, 'lifo');
    lifo.push(a, 0);
    lifo.push(b, 0);
    expect(lifo.push(c, 0)).to.equal(a);
    expect(a.waitingSince).to.equal(-1);
    expect([lifo.shift(), lifo.shift()]).to.deep.equal([c, b]);

    const none = make(0, 'lifo');
    expect(none.push(a, 0)).to.equal(a);
    expect(none.length).to.equal(0);
  });

  it('cancellation: a waiter whose client went away leaves from any place in O(1), once', () => {
    const queue = make(10, 'fifo');
    const [a, b, c] = [new Work('a'), new Work('b'), new Work('c')];
    for (const w of [a, b, c]) queue.push(w, clock.now);
    expect(queue.remove(b)).to.equal(true);
    expect(queue.remove(b)).to.equal(false);
    expect(queue.remove(a)).to.equal(true);
    expect(queue.length).to.equal(1);
    expect(queue.shift()).to.equal(c);
    expect(queue.remove(c)).to.equal(false);
  });

  it('per-entry timeout: entries expire in order, each at its own deadline, with one timer for the queue', () => {
    const queue = make(10, 'lifo', 100);
    queue.push(new Work('a'), clock.now);
    clock.tick(30);
    queue.push(new Work('b'), clock.now);
    clock.tick(30);
    queue.push(new Work('c'), clock.now);
    expect(clock.countTimers()).to.equal(1);
    clock.tick(39);
    expect(expired).to.deep.equal([]);
    clock.tick(1);
    expect(expired).to.deep.equal([['a', 1100]]);
    clock.tick(30);
    expect(expired).to.deep.equal([['a', 1100], ['b', 1130]]);
    clock.tick(30);
    expect(expired.map(([n]) => n)).to.deep.equal(['a', 'b', 'c']);
    expect(queue.length).to.equal(0);
    expect(clock.countTimers()).to.equal(0);
  });

  it('a waiter admitted or cancelled before its deadline never expires; an empty queue holds no timer', () => {
    const queue = make(10, 'fifo', 100);
    const a = new Work('a');
    const b = new Work('b');
    queue.push(a, clock.now);
    clock.tick(10);
    queue.push(b, clock.now);
    expect(queue.shift()).to.equal(a);
    clock.tick(95);
    expect(expired).to.deep.equal([]);
    clock.tick(5);
    expect(expired).to.deep.equal([['b', 1110]]);
    queue.push(a, clock.now);
    queue.remove(a);
    expect(clock.countTimers()).to.equal(0);
    clock.tick(1000);
    expect(expired).to.have.length(1);
  });

  it('close() stops the timer and hands back what was waiting, oldest first', () => {
    const queue = make(10, 'lifo');
    const [a, b] = [new Work('a'), new Work('b')];
    queue.push(a, clock.now);
    queue.push(b, clock.now);
    expect(queue.close()).to.deep.equal([a, b]);
    expect(clock.countTimers()).to.equal(0);
    clock.tick(1000);
    expect(expired).to.deep.equal([]);
  });
});
