import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

/** Which CPU a child runs on: the server under test, or the load generator. */
export type CpuRole = 'server' | 'load';

/**
 * CPU pinning of the throughput scenarios. The server under test (A and B alike) runs on the
 * last CPU, the load generator on the first, each with `taskset` (Linux util-linux). Unpinned,
 * the scheduler moves the server between cores and lets the load generator run on its core,
 * which moved req/s by several percent between slices here. Off with fewer than 2 CPUs, without
 * `taskset`, or with `UNIPOOL_BENCH_PIN=0`.
 */
export const PINNING: { enabled: boolean; cpus: Record<CpuRole, number>; why?: string } = (() => {
  const cpus = { server: availableParallelism() - 1, load: 0 };
  if (process.env.UNIPOOL_BENCH_PIN === '0') return { enabled: false, cpus, why: 'UNIPOOL_BENCH_PIN=0' };
  if (availableParallelism() < 2) return { enabled: false, cpus, why: 'fewer than 2 CPUs' };
  if (spawnSync('taskset', ['-c', '0', 'true']).status !== 0) return { enabled: false, cpus, why: 'no taskset' };
  return { enabled: true, cpus };
})();

/** A message between the bench runner and one of its child processes. */
export interface Message {
  type: string;
  [key: string]: unknown;
}

interface Waiter {
  type: string;
  resolve: (msg: Message) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** Tail of a child's output kept for error messages. */
const OUTPUT_TAIL = 4000;

/** Path of a compiled bench script (`servers/http-target` -> dist/bench/servers/http-target.js). */
export function benchScript(name: string): string {
  return join(__dirname, '..', `${name}.js`);
}

/**
 * A child process spoken to over IPC. Messages that arrive before anyone waits for them are
 * queued, so `next(type)` never misses one. Every wait has a deadline.
 */
export class Child {
  private readonly queue: Message[] = [];
  private readonly waiters: Waiter[] = [];
  private output = '';
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exitPromise: Promise<void>;

  private constructor(
    readonly name: string,
    private readonly proc: ChildProcess,
  ) {
    proc.on('message', (msg: Message) => this.onMessage(msg));
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString()).slice(-OUTPUT_TAIL);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    this.exitPromise = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        this.exited = { code, signal };
        for (const w of this.waiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(new Error(`${this.name} exited (code ${code}, signal ${signal}) while waiting for '${w.type}'${this.tail()}`));
        }
        resolve();
      });
    });
  }

  /**
   * Forks `script` (a compiled bench file) with `args` passed as JSON in argv[2]; with `cpu`,
   * pinned to that role's CPU (see `PINNING`) from its first instruction, threads included.
   */
  static start(script: string, args: object = {}, execArgv: string[] = [], cpu?: CpuRole): Child {
    const pin = cpu !== undefined && PINNING.enabled;
    const proc = fork(benchScript(script), [JSON.stringify(args)], {
      // fork() runs `execPath ...execArgv script args` with the IPC channel inherited, so taskset can stand in front of node.
      execPath: pin ? 'taskset' : process.execPath,
      execArgv: pin ? ['-c', String(PINNING.cpus[cpu]), process.execPath, ...execArgv] : execArgv,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    return new Child(script, proc);
  }

  private tail(): string {
    return this.output ? `\n--- output of ${this.name} ---\n${this.output.trim()}` : '';
  }

  private onMessage(msg: Message): void {
    if (msg.type === 'error') {
      const err = new Error(`${this.name}: ${String(msg.message)}${this.tail()}`);
      for (const w of this.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(err);
      }
      return;
    }
    const index = this.waiters.findIndex((w) => w.type === msg.type);
    if (index >= 0) {
      const [w] = this.waiters.splice(index, 1);
      clearTimeout(w.timer);
      w.resolve(msg);
    } else {
      this.queue.push(msg);
    }
  }

  /** Sends a message to the child. */
  send(msg: Message): void {
    this.proc.send(msg);
  }

  /** The next message of `type` (possibly one already received); rejects after `timeoutMs` or if the child dies. */
  next<M extends Message = Message>(type: string, timeoutMs = 30_000): Promise<M> {
    const index = this.queue.findIndex((m) => m.type === type);
    if (index >= 0) return Promise.resolve(this.queue.splice(index, 1)[0] as M);
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited; no '${type}' will come${this.tail()}`));
    return new Promise<M>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`${this.name}: no '${type}' within ${timeoutMs} ms${this.tail()}`));
      }, timeoutMs);
      const waiter: Waiter = { type, resolve: resolve as (m: Message) => void, reject, timer };
      this.waiters.push(waiter);
    });
  }

  /** Sends `msg` and waits for the reply of type `replyType`. */
  request<M extends Message = Message>(msg: Message, replyType: string, timeoutMs?: number): Promise<M> {
    const reply = this.next<M>(replyType, timeoutMs);
    this.send(msg);
    return reply;
  }

  /** Asks the child to exit, then kills it if it has not within `graceMs`. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.exited) return;
    if (this.proc.connected) this.proc.send({ type: 'exit' }, () => undefined);
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }
}

/** Runs `fn` with children started by `start`, stopping every one of them afterwards whatever happens. */
export async function withChildren<T>(fn: (start: (script: string, args?: object, execArgv?: string[], cpu?: CpuRole) => Child) => Promise<T>): Promise<T> {
  const children: Child[] = [];
  try {
    return await fn((script, args, execArgv, cpu) => {
      const child = Child.start(script, args, execArgv, cpu);
      children.push(child);
      return child;
    });
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
}
