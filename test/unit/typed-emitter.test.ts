import { EventEmitter } from 'node:events';
import { expect } from 'chai';
import * as sinon from 'sinon';
import { TypedEmitter } from '../../src/core/typed-emitter';

describe('TypedEmitter', () => {
  interface Events {
    ping: { n: number };
  }

  it('delivers payloads to on/once listeners and stops after off', () => {
    const emitter = new TypedEmitter<Events>();
    const seen: string[] = [];
    const always = ({ n }: { n: number }): void => void seen.push(`on${n}`);
    emitter.on('ping', always).once('ping', ({ n }) => seen.push(`once${n}`));
    expect(emitter.listenerCount('ping')).to.equal(2);
    emitter.emit('ping', { n: 1 });
    emitter.emit('ping', { n: 2 });
    emitter.off('ping', always);
    emitter.emit('ping', { n: 3 });
    expect(seen).to.deep.equal(['on1', 'once1', 'on2']);
    expect(emitter.listenerCount('ping')).to.equal(0);
  });

  it('issue 14: has() tells whether an event has a listener (on, once until it fires, none after off)', () => {
    const emitter = new TypedEmitter<Events>();
    expect(emitter.has('ping')).to.equal(false);
    const always = (): void => undefined;
    emitter.on('ping', always);
    expect(emitter.has('ping')).to.equal(true);
    emitter.off('ping', always);
    expect(emitter.has('ping')).to.equal(false);
    emitter.once('ping', () => undefined);
    expect(emitter.has('ping')).to.equal(true);
    emitter.emit('ping', { n: 1 });
    expect(emitter.has('ping')).to.equal(false);
    emitter.on('ping', always).on('ping', () => undefined);
    emitter.removeAllListeners();
    expect(emitter.has('ping')).to.equal(false);
  });

  it('review: one listener is called without copying the listener array, and stays isolated (throw, rejection, once)', async () => {
    const emitter = new TypedEmitter<Events>();
    const errors: unknown[] = [];
    emitter.onListenerError = (_event, err) => void errors.push(err);
    const copies = sinon.spy(EventEmitter.prototype, 'rawListeners');
    try {
      const seen: number[] = [];
      const listener = ({ n }: { n: number }): void => {
        seen.push(n);
        if (n === 2) throw new Error('boom');
      };
      emitter.on('ping', listener);
      emitter.emit('ping', { n: 1 });
      emitter.emit('ping', { n: 2 });
      emitter.off('ping', listener);
      emitter.on('ping', () => Promise.reject(new Error('rejected')));
      emitter.emit('ping', { n: 3 });
      emitter.removeAllListeners();
      emitter.once('ping', ({ n }) => seen.push(n * 10));
      emitter.emit('ping', { n: 4 });
      emitter.emit('ping', { n: 5 });
      await Promise.resolve();
      expect(seen).to.deep.equal([1, 2, 40]);
      expect(errors.map((e) => (e as Error).message)).to.deep.equal(['boom', 'rejected']);
      expect(emitter.listenerCount('ping')).to.equal(0);
      expect(copies.callCount, 'rawListeners() copies per emit').to.equal(0);
    } finally {
      copies.restore();
    }
  });

  it('allows many listeners without a leak warning', () => {
    const emitter = new TypedEmitter<Events>();
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      for (let i = 0; i < 50; i++) emitter.on('ping', () => undefined);
      expect(emitter.listenerCount('ping')).to.equal(50);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).to.deep.equal([]);
    emitter.removeAllListeners();
    expect(emitter.listenerCount('ping')).to.equal(0);
  });

  it('item 20: a listener that throws or rejects reaches neither the emitter nor the listeners after it; onListenerError gets it', async () => {
    const emitter = new TypedEmitter<Events>();
    const errors: Array<[string, string]> = [];
    emitter.onListenerError = (event, err) => errors.push([event, (err as Error).message]);
    const seen: number[] = [];
    emitter.on('ping', () => {
      throw new Error('sync');
    });
    emitter.once('ping', () => Promise.reject(new Error('async')));
    emitter.on('ping', ({ n }) => void seen.push(n));
    expect(() => emitter.emit('ping', { n: 1 })).to.not.throw();
    emitter.emit('ping', { n: 2 });
    await new Promise((r) => setImmediate(r));
    expect(seen).to.deep.equal([1, 2]);
    expect(errors).to.deep.equal([
      ['ping', 'sync'],
      ['ping', 'sync'],
      ['ping', 'async'],
    ]);
    // A handler that throws itself is contained too.
    emitter.onListenerError = () => {
      throw new Error('broken logger');
    };
    expect(() => emitter.emit('ping', { n: 3 })).to.not.throw();
    expect(seen).to.deep.equal([1, 2, 3]);
  });
});
