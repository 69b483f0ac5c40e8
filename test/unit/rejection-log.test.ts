import { expect } from 'chai';
import * as sinon from 'sinon';
import { RejectionLog } from '../../src/lifecycle/rejection-log';
import { CapturingLogger } from '../../src/testing';

describe('RejectionLog: refusals logged at most once per second per reason', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 10_000 });
  });
  afterEach(() => clock.restore());

  it('logs the first refusal, holds back a flood, and reports the held-back count when the flood stops', () => {
    const logger = new CapturingLogger();
    const log = new RejectionLog(logger);
    for (let i = 0; i < 500; i++) log.record('http', 'max_connections', 10);
    expect(logger.find('connection refused')).to.have.length(1);
    clock.tick(1000);
    const lines = logger.find('connection refused');
    expect(lines).to.have.length(2);
    expect(lines[1].fields).to.include({ protocol: 'http', reason: 'max_connections', suppressed: 499 });
    expect(clock.countTimers()).to.equal(0);
  });

  it('keeps reasons and protocols apart', () => {
    const logger = new CapturingLogger();
    const log = new RejectionLog(logger);
    log.record('http', 'max_connections', 1);
    log.record('http', 'draining', 1);
    log.record('ws', 'max_connections', 1);
    expect(logger.find('connection refused').map((r) => `${r.fields.protocol}/${r.fields.reason}`)).to.deep.equal(['http/max_connections', 'http/draining', 'ws/max_connections']);
  });

  it('flush() writes what is held back and leaves no timer', () => {
    const logger = new CapturingLogger();
    const log = new RejectionLog(logger);
    log.record('grpc', 'max_connections', 3);
    log.record('grpc', 'max_connections', 3);
    log.flush();
    expect(logger.find('connection refused').map((r) => r.fields.suppressed)).to.deep.equal([0, 1]);
    expect(clock.countTimers()).to.equal(0);
  });
});
