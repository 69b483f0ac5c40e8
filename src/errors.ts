/**
 * Every error unipool throws, declared once with a stable `code` (switch on `err.code`).
 */

/** One problem found while validating configuration. */
export interface ConfigProblem {
  /** Dotted path of the offending key, e.g. `http.maxConnections`. */
  path: string;
  /** The rule that failed, e.g. `min`, `isInt`, `whitelistValidation`, `crossField`. */
  rule: string;
  /** Human-readable message without the path. */
  message: string;
  /** The value received (absent for rules that span several keys). */
  value?: unknown;
}

/** Base class of every error thrown by unipool. */
export class UnipoolError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

function formatValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  try {
    const text = JSON.stringify(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return String(value);
  }
}

/** Formats one problem as `path: message (got value)`. */
export function formatProblem(problem: ConfigProblem): string {
  const got = 'value' in problem ? ` (got ${formatValue(problem.value)})` : '';
  return `${problem.path}: ${problem.message}${got}`;
}

/** Configuration failed validation; `problems` lists every one of them. */
export class ConfigValidationError extends UnipoolError {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: ConfigProblem[], source?: string) {
    const head = `invalid configuration${source ? ` (${source})` : ''}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`;
    super('UNIPOOL_CONFIG_INVALID', [head, ...problems.map((p) => `  - ${formatProblem(p)}`)].join('\n'));
    this.problems = problems;
  }
}

/** A configuration source could not be read or parsed (missing file, bad JSON). */
export class ConfigLoadError extends UnipoolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNIPOOL_CONFIG_LOAD', message, options);
  }
}

/** A decorator was used on the wrong kind of target or with the wrong argument. */
export class DecoratorError extends UnipoolError {
  constructor(message: string) {
    super('UNIPOOL_DECORATOR_INVALID', message);
  }
}

/** The application was asked to do something its current state does not allow. */
export class LifecycleStateError extends UnipoolError {
  constructor(message: string) {
    super('UNIPOOL_LIFECYCLE_STATE', message);
  }
}

/** A lifecycle hook did not settle within its timeout. */
export class HookTimeoutError extends UnipoolError {
  constructor(
    readonly hook: string,
    readonly target: string,
    readonly timeoutMs: number,
  ) {
    super('UNIPOOL_HOOK_TIMEOUT', `${target}.${hook}() did not settle within ${timeoutMs} ms`);
  }
}

/** A lifecycle hook threw or rejected. */
export class HookFailedError extends UnipoolError {
  constructor(
    readonly hook: string,
    readonly target: string,
    cause: unknown,
  ) {
    super('UNIPOOL_HOOK_FAILED', `${target}.${hook}() failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** Boot failed; `cause` holds the original error. Anything opened was closed again. */
export class BootError extends UnipoolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNIPOOL_BOOT_FAILED', message, options);
  }
}

/** A server could not bind its address. */
export class ListenError extends UnipoolError {
  constructor(
    readonly server: string,
    readonly address: string,
    cause: unknown,
  ) {
    super('UNIPOOL_LISTEN_FAILED', `${server} could not listen on ${address}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}
