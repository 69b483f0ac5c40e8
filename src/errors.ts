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

/** Matches the armour line of a PEM block (key or certificate text). */
export const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]+-----/;
/** Matches a whole PEM block, from its armour line to its end line (or to the end of the text). */
export const PEM_TEXT = /-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(?:-----END [A-Z0-9 ]+-----|$)/g;

/** What a problem shows instead of PEM text: key material never reaches an error or a log. */
const REDACTED_PEM = '[PEM text redacted]';

/** A problem with PEM text removed from its value and its message (the last guard before an error or a log line). */
function redactProblem(problem: ConfigProblem): ConfigProblem {
  const value = typeof problem.value === 'string' && PEM_BLOCK.test(problem.value) ? REDACTED_PEM : problem.value;
  const message = problem.message.replace(PEM_TEXT, REDACTED_PEM);
  if (value === problem.value && message === problem.message) return problem;
  return 'value' in problem ? { ...problem, message, value } : { ...problem, message };
}

function formatValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'string' && PEM_BLOCK.test(value)) return REDACTED_PEM;
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
  return `${problem.path}: ${redactProblem(problem).message}${got}`;
}

/** Configuration failed validation; `problems` lists every one of them. */
export class ConfigValidationError extends UnipoolError {
  readonly problems: readonly ConfigProblem[];
  constructor(found: ConfigProblem[], source?: string) {
    const problems = found.map(redactProblem);
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

/** A connection was handed to a pool that did not admit it (it belongs to another pool, or to none). */
export class ForeignConnectionError extends UnipoolError {
  constructor(
    readonly connectionId: number,
    readonly pool: string,
  ) {
    super('UNIPOOL_FOREIGN_CONNECTION', `connection ${connectionId} belongs to another pool, not to this ${pool} pool: remove it from the pool that admitted it`);
  }
}

/** An event listener threw or rejected; the emitter caught it so the emitter's owner stays consistent. */
export class ListenerError extends UnipoolError {
  constructor(
    readonly event: string,
    cause: unknown,
  ) {
    super('UNIPOOL_LISTENER_FAILED', `a listener of '${event}' failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
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

/** TLS files could not be read or do not form a usable certificate/key pair; the message names the path, never key material. */
export class TlsMaterialError extends UnipoolError {
  constructor(
    message: string,
    /** The `tls` setting at fault: `cert`, `key`, `ca` or `ciphers`. */
    readonly setting: string,
    options?: { cause?: unknown },
  ) {
    super('UNIPOOL_TLS_MATERIAL', message, options);
  }
}

/** OpenTelemetry export is configured but packages it loads are not installed; the message names them and the command to install them. */
export class OtelDependencyError extends UnipoolError {
  constructor(
    /** The packages that could not be loaded. */
    readonly missing: readonly string[],
    /** Every package OTLP export needs with this protocol. */
    readonly needed: readonly string[],
  ) {
    super(
      'UNIPOOL_OTEL_MISSING',
      `OpenTelemetry export is configured (metrics.otlp or OTEL_METRICS_EXPORTER=otlp) but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not installed: npm install ${needed.join(' ')}`,
    );
  }
}

/** A cluster worker did not start (it exited, or was not ready within `cluster.readyTimeout`), or a rolling restart could not replace one. */
export class WorkerStartError extends UnipoolError {
  constructor(
    message: string,
    /** The worker's slot (0 .. workers - 1). */
    readonly slot: number,
  ) {
    super('UNIPOOL_WORKER_START', message);
  }
}

/** An HTTP/2 handler replaced the prototypes of node's compatibility request/response with ones node's HTTP/2 code cannot run on (a framework built for HTTP/1.1 objects); the stream was answered 500. */
export class Http2CompatObjectsError extends UnipoolError {
  constructor() {
    super('UNIPOOL_HTTP2_COMPAT_OBJECTS', "the handler replaced the prototype of node's Http2ServerRequest/Http2ServerResponse (an HTTP/1.1-only framework?): answered 500");
  }
}
