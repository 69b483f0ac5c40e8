import 'reflect-metadata';
import { expect } from 'chai';
import * as sinon from 'sinon';
import { ServerPoolSettings } from '../../src/config/pool-config';
import { PoolConfig, UsePool } from '../../src/di/decorators';
import { CapturingLogger, createTestApp } from '../../src/testing';
import { scheduleExit } from '../../src/lifecycle/exit-after-shutdown';
import { SHUTDOWN_SIGNALS, SignalHandler } from '../../src/lifecycle/signal-handler';
import { FakePool } from '../helpers/fake-pool';
import { FakeServerBase } from '../helpers/fake-server';

@UsePool(FakePool)
class SignalledServer extends FakeServerBase {
  constructor(@PoolConfig(ServerPoolSettings, 'fake') config: ServerPoolSettings) {
    super(config);
  }
}

describe('SignalHandler', () => {
  let handler: SignalHandler | undefined;
  let before: Record<string, number>;

  const counts = (): Record<string, number> => ({ SIGTERM: process.listenerCount('SIGTERM'), SIGINT: process.listenerCount('SIGINT'), SIGUSR2: process.listenerCount('SIGUSR2') });

  beforeEach(() => {
    before = counts();
  });

  afterEach(() => {
    handler?.uninstall();
    handler = undefined;
    expect(counts()).to.deep.equal(before);
  });

  it('handles SIGTERM and SIGINT by default', () => {
    expect(SHUTDOWN_SIGNALS).to.deep.equal(['SIGTERM', 'SIGINT']);
  });

  it('install adds one listener per signal (idempotent) and uninstall restores the counts', () => {
    handler = new SignalHandler(() => undefined, () => undefined);
    handler.install();
    handler.install();
    expect(counts()).to.deep.equal({ ...before, SIGTERM: before.SIGTERM + 1, SIGINT: before.SIGINT + 1 });
    handler.uninstall();
    handler.uninstall();
    expect(counts()).to.deep.equal(before);
    // It can be installed again after an uninstall.
    handler.install();
    expect(process.listenerCount('SIGTERM')).to.equal(before.SIGTERM + 1);
  });

  it('calls onFirst for the first signal and onRepeat for every later one', () => {
    const first = sinon.spy();
    const repeat = sinon.spy();
    handler = new SignalHandler(first, repeat);
    handler.install();
    process.emit('SIGTERM', 'SIGTERM');
    expect(first.calledOnceWithExactly('SIGTERM')).to.equal(true);
    expect(repeat.called).to.equal(false);
    process.emit('SIGTERM', 'SIGTERM');
    process.emit('SIGTERM', 'SIGTERM');
    expect(first.callCount).to.equal(1);
    expect(repeat.callCount).to.equal(2);
    expect(repeat.firstCall.args).to.deep.equal(['SIGTERM']);
  });

  it('does nothing once uninstalled', () => {
    const first = sinon.spy();
    handler = new SignalHandler(first, () => undefined, ['SIGUSR2']);
    handler.install();
    handler.uninstall();
    // Nobody else listens to SIGUSR2 here, so emitting it only reaches listeners, never the default action.
    const sink = (): void => undefined;
    process.on('SIGUSR2', sink);
    process.emit('SIGUSR2', 'SIGUSR2');
    process.off('SIGUSR2', sink);
    expect(first.called).to.equal(false);
  });

  it('listens only to the signals it is given', () => {
    const first = sinon.spy();
    handler = new SignalHandler(first, () => undefined, ['SIGUSR2']);
    handler.install();
    expect(counts()).to.deep.equal({ ...before, SIGUSR2: before.SIGUSR2 + 1 });
    process.emit('SIGUSR2', 'SIGUSR2');
    expect(first.calledOnceWithExactly('SIGUSR2')).to.equal(true);
  });

  describe('scheduleExit (item 15)', () => {
    let clock: sinon.SinonFakeTimers;
    beforeEach(() => {
      clock = sinon.useFakeTimers();
    });
    afterEach(() => clock.restore());

    it('item 15: ends the process exitDelay after the shutdown, logging the open handles by type and count', () => {
      const logger = new CapturingLogger();
      const exit = sinon.spy();
      const timer = scheduleExit(500, 1, logger, { exit, activeResources: () => ['Timeout', 'TCPWrap', 'Timeout'] });
      expect(timer?.hasRef()).to.equal(false); // never what keeps the process alive
      clock.tick(499);
      expect(exit.called).to.equal(false);
      clock.tick(1);
      expect(exit.calledOnceWithExactly(1)).to.equal(true);
      expect(logger.find('process still running after shutdown: exiting')).to.deep.equal([
        { level: 'warn', msg: 'process still running after shutdown: exiting', fields: { exitDelayMs: 500, exitCode: 1, handles: { Timeout: 2, TCPWrap: 1 } } },
      ]);
    });

    it('item 15: exitDelay false schedules nothing (the embedder owns the process)', () => {
      const exit = sinon.spy();
      expect(scheduleExit(false, 0, new CapturingLogger(), { exit, activeResources: () => [] })).to.equal(undefined);
      clock.runAll();
      expect(exit.called).to.equal(false);
    });
  });

  describe('in an application', () => {
    let exitCode: typeof process.exitCode;

    beforeEach(() => {
      exitCode = process.exitCode;
    });

    afterEach(() => {
      process.exitCode = exitCode;
    });

    it('SIGTERM stops a running app gracefully, sets exit code 0 and removes the handlers', async () => {
      const app = createTestApp({ servers: [SignalledServer], sections: { fake: ServerPoolSettings }, handleSignals: true });
      await app.start();
      expect(process.listenerCount('SIGTERM')).to.equal(before.SIGTERM + 1);
      const stopped = new Promise<{ ok: boolean; forcedByUser: boolean }>((resolve) => app.events.once('stopped', resolve));
      process.emit('SIGTERM', 'SIGTERM');
      const result = await stopped;
      expect(result).to.deep.include({ ok: true, forcedByUser: false });
      expect(app.state).to.equal('stopped');
      expect(counts()).to.deep.equal(before);
      await new Promise((resolve) => setImmediate(resolve));
      expect(process.exitCode).to.equal(0);
      expect(app.logs.find('signal received: shutting down gracefully (send it again to force)')).to.have.length(1);
    });

    it('a second SIGTERM forces the shutdown under way', async () => {
      const app = createTestApp({ servers: [SignalledServer], sections: { fake: ServerPoolSettings }, handleSignals: true, config: { fake: { connectionTimeout: 0 } } });
      await app.start();
      const pool = app.server(SignalledServer).pool;
      const conn = pool.add({ name: 'busy', closed: false, destroyed: false })!;
      pool.beginWork(conn);
      const stopped = new Promise<{ ok: boolean; forced: number; forcedByUser: boolean }>((resolve) => app.events.once('stopped', resolve));
      process.emit('SIGTERM', 'SIGTERM');
      process.emit('SIGTERM', 'SIGTERM');
      const result = await stopped;
      expect(result).to.deep.include({ ok: false, forced: 1, forcedByUser: true });
      expect(conn.raw.destroyed).to.equal(true);
      expect(counts()).to.deep.equal(before);
      expect(app.logs.find('signal received again: forcing shutdown')).to.have.length(1);
      await new Promise((resolve) => setImmediate(resolve));
      expect(process.exitCode).to.equal(1);
    });

    it('item 14: a second SIGTERM that finds nothing to force still sets exit code 1', async () => {
      // drainDelay keeps the shutdown in its first phase; no connection is open, so nothing is forced.
      const app = createTestApp({ servers: [SignalledServer], sections: { fake: ServerPoolSettings }, handleSignals: true, config: { shutdown: { drainDelay: 60_000 } } });
      await app.start();
      const stopped = new Promise<{ ok: boolean; forced: number }>((resolve) => app.events.once('stopped', resolve));
      process.emit('SIGTERM', 'SIGTERM');
      process.emit('SIGTERM', 'SIGTERM');
      const result = await stopped;
      expect(result).to.deep.include({ ok: true, forced: 0 });
      await new Promise((resolve) => setImmediate(resolve));
      expect(process.exitCode).to.equal(1);
    });
  });
});
