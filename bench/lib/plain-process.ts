import { spawn, type ChildProcess } from 'node:child_process';
import { PINNING, type CpuRole } from './child';

/** Tail of a process's output kept (what it printed at start-up is kept whole, up to this much). */
const OUTPUT_KEEP = 16_000;

/**
 * A process started as a user starts it (`node script`, no IPC channel), its stdout and stderr
 * read so it never blocks on a full pipe. With `cpu`, pinned like the bench children (`taskset`
 * execs node in place, so the pid is node's).
 */
export class PlainProcess {
  private head = '';
  private readonly proc: ChildProcess;
  private exited = false;
  private readonly exitPromise: Promise<void>;
  private readonly watchers = new Set<() => void>();

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    options: { env?: NodeJS.ProcessEnv; cwd?: string; cpu?: CpuRole } = {},
  ) {
    const pin = options.cpu !== undefined && PINNING.enabled;
    this.proc = spawn(pin ? 'taskset' : command, pin ? ['-c', String(PINNING.cpus[options.cpu as CpuRole]), command, ...args] : [...args], {
      env: options.env,
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer): void => {
      if (this.head.length < OUTPUT_KEEP) this.head = (this.head + chunk.toString()).slice(0, OUTPUT_KEEP);
      for (const w of this.watchers) w();
    };
    this.proc.stdout?.on('data', keep);
    this.proc.stderr?.on('data', keep);
    this.exitPromise = new Promise((resolve) =>
      this.proc.once('exit', () => {
        this.exited = true;
        for (const w of this.watchers) w();
        resolve();
      }),
    );
  }

  /** The process id (node's, pinned or not). */
  get pid(): number {
    return this.proc.pid as number;
  }

  /** What it has printed so far (the first `OUTPUT_KEEP` characters). */
  get output(): string {
    return this.head;
  }

  /** Resolves with `read(output)` once it is defined; rejects after `timeoutMs` or if the process exits first. */
  waitFor<T>(read: (output: string) => T | undefined, timeoutMs = 30_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.watchers.delete(check);
      };
      const check = (): void => {
        const value = read(this.head);
        if (value !== undefined) {
          done();
          resolve(value);
        } else if (this.exited) {
          done();
          reject(new Error(`${this.name} exited before it was ready:\n${this.head.trim()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name} not ready within ${timeoutMs} ms:\n${this.head.trim()}`));
      }, timeoutMs);
      this.watchers.add(check);
      check();
    });
  }

  /** SIGTERM (a graceful stop), then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.exited) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }
}
