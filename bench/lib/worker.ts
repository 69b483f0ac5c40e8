/** Helpers for the child side of the bench: arguments, messages to and from the runner. */

import type { Message } from './child';

/** The JSON arguments the runner passed in argv[2]. */
export function workerArgs<T>(): T {
  return JSON.parse(process.argv[2] ?? '{}') as T;
}

/** Sends a message to the runner; resolves once it is handed to the channel. */
export function toParent(msg: Message): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(msg, undefined, {}, () => resolve());
  });
}

/**
 * Handles the runner's messages with `handler`; `exit` (or the runner going away) calls
 * `onExit` and then exits. A thrown error is reported to the runner as an `error` message.
 */
export function onParentMessage(handler: (msg: Message) => void | Promise<void>, onExit: () => void | Promise<void> = () => undefined): void {
  const leave = async (): Promise<void> => {
    try {
      await onExit();
    } finally {
      process.exit(0);
    }
  };
  process.on('message', (msg: Message) => {
    if (msg.type === 'exit') {
      void leave();
      return;
    }
    Promise.resolve()
      .then(() => handler(msg))
      .catch((err: Error) => toParent({ type: 'error', message: err.stack ?? String(err) }));
  });
  process.on('disconnect', () => void leave());
}

/** Reports a fatal start-up error to the runner and exits. */
export function fail(err: unknown): void {
  void toParent({ type: 'error', message: (err as Error)?.stack ?? String(err) }).then(() => process.exit(1));
}

/** CPU time (user + system, ms) this process used since `since` (a `process.cpuUsage()` read). */
export function cpuMsSince(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}

/**
 * Replies `cpu` with the process's CPU time so far (user + system, µs) and `served`, the count
 * of units of work done: CPU per unit is the bench's noise-resistant companion to throughput.
 */
export function reportCpu(served: number): Promise<void> {
  const { user, system } = process.cpuUsage();
  return toParent({ type: 'cpu', cpuUs: user + system, served });
}
