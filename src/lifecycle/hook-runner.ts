import { performance } from 'node:perf_hooks';
import type { LifecycleHookName } from '../core/managed-server';
import type { Logger } from '../core/logger';
import { HookFailedError, HookTimeoutError, type UnipoolError } from '../errors';

function targetName(target: object): string {
  return target.constructor?.name || 'anonymous';
}

/**
 * Runs one lifecycle hook on each target that has it, one after another, each within
 * `timeoutMs`. With `collect` every target runs and failures are returned; without it the
 * first failure is thrown.
 */
export async function runHook(
  targets: readonly object[],
  hook: LifecycleHookName,
  options: { timeoutMs: number; logger: Logger; collect: boolean },
): Promise<UnipoolError[]> {
  const failures: UnipoolError[] = [];
  for (const target of targets) {
    const fn = (target as Record<string, unknown>)[hook];
    if (typeof fn !== 'function') continue;
    const name = targetName(target);
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        Promise.resolve().then(() => (fn as () => unknown).call(target)),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new HookTimeoutError(hook, name, options.timeoutMs)), options.timeoutMs);
        }),
      ]);
      options.logger.debug({ hook, target: name, durationMs: Math.round(performance.now() - started) }, 'hook done');
    } catch (err) {
      const failure = err instanceof HookTimeoutError ? err : new HookFailedError(hook, name, err);
      options.logger.error({ hook, target: name, code: failure.code, err: failure }, 'hook failed');
      if (!options.collect) throw failure;
      failures.push(failure);
    } finally {
      clearTimeout(timer);
    }
  }
  return failures;
}
