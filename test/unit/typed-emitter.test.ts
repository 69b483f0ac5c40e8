import { expect } from 'chai';
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
});
