import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { waitFor } from '../helpers/http-fixtures';

/** The fixture app as a child process, its stdout kept, and when and how it ended. */
interface AppProcess {
  child: ChildProcess;
  out: () => string;
  /** Log records (pino JSON lines) printed so far. */
  records: () => Array<Record<string, unknown>>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

const FIXTURE = join(__dirname, '../fixtures/lingering-app.js');
const children: ChildProcess[] = [];

function startApp(config: Record<string, unknown>, linger: boolean, mode = '', extraEnv: Record<string, string> = {}): AppProcess {
  const child = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, UNIPOOL_TEST_CONFIG: JSON.stringify(config), UNIPOOL_TEST_LINGER: linger ? '1' : '0', UNIPOOL_TEST_MODE: mode, UNIPOOL_LOG_LEVEL: 'info', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
  const records = (): Array<Record<string, unknown>> =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { child, out: () => out, records, exit };
}

/** Resolves with the first log record whose `msg` is `msg`, noting when it was seen. */
async function logged(app: AppProcess, msg: string, timeoutMs = 10_000): Promise<{ record: Record<string, unknown>; at: number }> {
  let found: Record<string, unknown> | undefined;
  await waitFor(() => (found = app.records().find((r) => r.msg === msg)) !== undefined, timeoutMs, `log "${msg}" (output so far: ${app.out()})`);
  return { record: found!, at: Date.now() };
}

/** Resolves with the exit, or rejects if the process is still alive after `timeoutMs` (a bound, not a sleep). */
function exitWithin(app: AppProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still alive ${timeoutMs} ms later; output: ${app.out()}`)), timeoutMs);
  });
  return Promise.race([app.exit, bound]).finally(() => clearTimeout(timer));
}

describe('The process after a signal-started shutdown (child processes)', () => {
  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await gone;
      }
    }
  });

  it('a signal during boot is not lost: SIGHUP is ignored with a log, SIGTERM stops the app gracefully once it has started, exit 0 (before: both killed the process by the signal)', async () => {
    const gate = join(mkdtempSync(join(tmpdir(), 'unipool-boot-')), 'open');
    const app = startApp({}, false, '', { UNIPOOL_TEST_BOOT_GATE: gate });
    try {
      await waitFor(() => app.out().includes('booting\n'), 10_000, `boot reached onInit (output: ${app.out()})`);
      app.child.kill('SIGHUP');
      expect((await logged(app, 'signal received: reload ignored (not running)')).record).to.include({ signal: 'SIGHUP', state: 'starting' });
      app.child.kill('SIGTERM');
      await logged(app, 'signal received during boot: shutting down gracefully once started (send it again to exit at once)');
      writeFileSync(gate, '');
      const exit = await exitWithin(app, 10_000);
      expect(exit).to.include({ code: 0, signal: null });
      const msgs = app.records().map((r) => r.msg);
      expect(msgs.indexOf('started')).to.be.greaterThan(-1);
      expect(msgs.indexOf('stopped')).to.be.greaterThan(msgs.indexOf('started'));
      expect(app.records().find((r) => r.msg === 'stopped')).to.include({ ok: true });
    } finally {
      rmSync(dirname(gate), { recursive: true, force: true });
    }
  });

  it('item 15: a leftover setInterval no longer keeps it alive: it exits within shutdown.exitDelay after stop, naming the open handles', async () => {
    const app = startApp({ shutdown: { exitDelay: 300 } }, true);
    await logged(app, 'started');
    app.child.kill('SIGTERM');
    const stopped = await logged(app, 'stopped');
    const exit = await exitWithin(app, 10_000);
    expect(exit).to.include({ code: 0, signal: null });
    // Measured from the moment the test saw the 'stopped' line: a bound with room for a loaded
    // machine; without exitDelay the process (held by its interval) would not exit at all.
    expect(exit.at - stopped.at).to.be.below(5000);
    const forcedExit = app.records().find((r) => r.msg === 'process still running after shutdown: exiting');
    expect(forcedExit, app.out()).to.not.equal(undefined);
    expect(forcedExit).to.deep.include({ exitDelayMs: 300, exitCode: 0 });
    expect(forcedExit!.handles).to.deep.include({ Timeout: 1 });
  });

  it('item 15: a process with nothing left open exits by itself at once, without waiting for exitDelay', async () => {
    const app = startApp({ shutdown: { exitDelay: 60_000 } }, false);
    await logged(app, 'started');
    app.child.kill('SIGTERM');
    const exit = await exitWithin(app, 10_000);
    expect(exit).to.include({ code: 0, signal: null });
    expect(app.records().some((r) => r.msg === 'process still running after shutdown: exiting')).to.equal(false);
  });

  it('item 14: a second SIGTERM that finds nothing to force still exits 1', async () => {
    // drainDelay holds the shutdown in its first phase, with no connection open: nothing to force.
    const app = startApp({ shutdown: { drainDelay: 30_000 } }, false);
    await logged(app, 'started');
    app.child.kill('SIGTERM');
    await logged(app, 'shutdown started');
    app.child.kill('SIGTERM');
    const exit = await exitWithin(app, 10_000);
    expect(app.records().find((r) => r.msg === 'stopped with forced connections or failed hooks') ?? app.records().find((r) => r.msg === 'stopped'), app.out()).to.deep.include({ forced: 0 });
    expect(exit).to.include({ code: 1, signal: null });
  });

  it('review: app.stop({ force: true }) from code during a signal-started shutdown exits 1', async () => {
    const app = startApp({ shutdown: { drainDelay: 30_000 } }, false, 'force-from-code');
    await logged(app, 'started');
    app.child.kill('SIGTERM');
    const exit = await exitWithin(app, 10_000);
    expect(exit, app.out()).to.include({ code: 1, signal: null });
  });

  it('review: a SIGTERM during a shutdown started from code never makes the process exit (programmatic stop never calls process.exit)', async () => {
    const app = startApp({ shutdown: { drainDelay: 1000, exitDelay: 200 } }, true, 'stop-from-code');
    await logged(app, 'shutdown started');
    app.child.kill('SIGTERM');
    await logged(app, 'stopped');
    const exit = await exitWithin(app, 10_000);
    expect(app.out()).to.contain('still alive');
    expect(exit).to.include({ code: 7, signal: null });
    expect(app.records().some((r) => r.msg === 'process still running after shutdown: exiting')).to.equal(false);
  });
});
