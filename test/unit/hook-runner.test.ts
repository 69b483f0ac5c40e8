import { expect } from 'chai';
import * as sinon from 'sinon';
import { HookFailedError, HookTimeoutError } from '../../src/errors';
import { runHook } from '../../src/lifecycle/hook-runner';
import { CapturingLogger } from '../../src/testing';

describe('runHook', () => {
  let clock: sinon.SinonFakeTimers;
  let logger: CapturingLogger;
  let calls: string[];

  beforeEach(() => {
    clock = sinon.useFakeTimers();
    logger = new CapturingLogger();
    calls = [];
  });

  afterEach(() => {
    clock.restore();
  });

  class Quick {
    onInit(): void {
      calls.push('Quick');
    }
  }
  class Slow {
    async onInit(): Promise<void> {
      await new Promise((resolve) => setTimeout(resolve, 300));
      calls.push('Slow');
    }
  }
  class Hangs {
    onInit(): Promise<void> {
      calls.push('Hangs');
      return new Promise(() => undefined);
    }
  }
  class Throws {
    onInit(): void {
      calls.push('Throws');
      throw new Error('boom');
    }
  }
  class Rejects {
    async onInit(): Promise<void> {
      calls.push('Rejects');
      throw 'not an error';
    }
  }
  class NoHook {}

  it('runs the hook of each target in order, awaiting each, skipping targets without it', async () => {
    const p = runHook([new Quick(), new NoHook(), new Slow(), new Quick()], 'onInit', { timeoutMs: 1000, logger, collect: false });
    await clock.tickAsync(300);
    expect(await p).to.deep.equal([]);
    expect(calls).to.deep.equal(['Quick', 'Slow', 'Quick']);
    expect(logger.find('hook done').map((r) => r.fields.target)).to.deep.equal(['Quick', 'Slow', 'Quick']);
    expect(logger.find('hook done')[1].fields.durationMs).to.equal(300);
    expect(clock.countTimers()).to.equal(0);
  });

  it('calls the hook with its target as `this`', async () => {
    const target = {
      name: 'me',
      seen: '',
      onReady(this: { name: string; seen: string }): void {
        this.seen = this.name;
      },
    };
    await runHook([target], 'onReady', { timeoutMs: 10, logger, collect: false });
    expect(target.seen).to.equal('me');
  });

  it('fails a hook that does not settle within the timeout, at exactly the timeout', async () => {
    let error: unknown;
    const p = runHook([new Hangs(), new Quick()], 'onInit', { timeoutMs: 500, logger, collect: false }).catch((err: unknown) => (error = err));
    await clock.tickAsync(499);
    expect(error).to.equal(undefined);
    await clock.tickAsync(1);
    await p;
    expect(error).to.be.instanceOf(HookTimeoutError);
    const e = error as HookTimeoutError;
    expect(e).to.deep.include({ code: 'UNIPOOL_HOOK_TIMEOUT', hook: 'onInit', target: 'Hangs', timeoutMs: 500 });
    expect(e.message).to.equal('Hangs.onInit() did not settle within 500 ms');
    // Thrown, not collected: the next target never ran.
    expect(calls).to.deep.equal(['Hangs']);
    expect(clock.countTimers()).to.equal(0);
  });

  it('throws the first failure without collect', async () => {
    let error: unknown;
    await runHook([new Throws(), new Quick()], 'onInit', { timeoutMs: 500, logger, collect: false }).catch((err: unknown) => (error = err));
    expect(error).to.be.instanceOf(HookFailedError);
    expect((error as HookFailedError).message).to.equal('Throws.onInit() failed: boom');
    expect((error as HookFailedError).cause).to.be.instanceOf(Error);
    expect(calls).to.deep.equal(['Throws']);
    expect(clock.countTimers()).to.equal(0);
  });

  it('collects every failure with collect, still running later hooks', async () => {
    const p = runHook([new Throws(), new Hangs(), new Rejects(), new Quick()], 'onInit', { timeoutMs: 100, logger, collect: true });
    await clock.tickAsync(100);
    const failures = await p;
    expect(calls).to.deep.equal(['Throws', 'Hangs', 'Rejects', 'Quick']);
    expect(failures.map((f) => f.constructor.name)).to.deep.equal(['HookFailedError', 'HookTimeoutError', 'HookFailedError']);
    expect(failures.map((f) => f.code)).to.deep.equal(['UNIPOOL_HOOK_FAILED', 'UNIPOOL_HOOK_TIMEOUT', 'UNIPOOL_HOOK_FAILED']);
    expect(failures[2].message).to.equal('Rejects.onInit() failed: not an error');
    expect(logger.find('hook failed').map((r) => r.fields.code)).to.deep.equal(['UNIPOOL_HOOK_FAILED', 'UNIPOOL_HOOK_TIMEOUT', 'UNIPOOL_HOOK_FAILED']);
    expect(logger.find('hook failed').every((r) => r.level === 'error')).to.equal(true);
    expect(clock.countTimers()).to.equal(0);
  });

  it('names an object without a constructor name "anonymous"', async () => {
    const target = Object.assign(Object.create(null) as object, { onInit: (): never => { throw new Error('x'); } });
    const [failure] = await runHook([target], 'onInit', { timeoutMs: 10, logger, collect: true });
    expect((failure as HookFailedError).target).to.equal('anonymous');
  });
});
