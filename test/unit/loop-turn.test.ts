import { expect } from 'chai';
import sinon from 'sinon';
import { LoopTurn } from '../../src/overload';

describe('LoopTurn (how long the current event-loop turn has run)', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 0 });
  });
  afterEach(() => clock.restore());

  it('issue 14: the first unit of a turn waits 0 and starts it; later units of the same turn wait the time since; the next turn starts afresh', () => {
    const turn = new LoopTurn();
    expect(turn.elapsed(100)).to.equal(0);
    expect(clock.countTimers()).to.equal(1); // one setImmediate per turn...
    expect(turn.elapsed(102)).to.equal(2);
    expect(turn.elapsed(117.5)).to.equal(17.5);
    expect(clock.countTimers()).to.equal(1); // ...not one per unit
    clock.tick(0); // the check phase: the turn ends
    expect(clock.countTimers()).to.equal(0);
    expect(turn.elapsed(130)).to.equal(0);
    expect(turn.elapsed(131)).to.equal(1);
    expect(turn.elapsed(129)).to.equal(0); // a stamp older than the turn's start waits nothing
  });

  it('issue 14: close() cancels the pending end of turn, so nothing stays scheduled', () => {
    const turn = new LoopTurn();
    turn.elapsed(5);
    expect(clock.countTimers()).to.equal(1);
    turn.close();
    expect(clock.countTimers()).to.equal(0);
    expect(turn.elapsed(9)).to.equal(0); // a new turn
    turn.close();
  });
});
