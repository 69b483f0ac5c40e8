import { REDACTED } from '../../config/redact';
import type { ConfigProblem } from '../../errors';
import { CREDENTIALS_IN_URL, hasCredentials, safeUrl } from './otlp-url';
import { OTLP_PROTOCOLS, type OtlpMetricsConfig, type OtlpProtocol } from './otlp-config';

/** Where OTLP/HTTP metrics go by default (a Collector on this host). */
export const DEFAULT_OTLP_METRICS_ENDPOINT = 'http://localhost:4318/v1/metrics';
/** Default time (ms) between exports (`OTEL_METRIC_EXPORT_INTERVAL`'s default). */
export const DEFAULT_EXPORT_INTERVAL_MS = 60_000;
/** Default time (ms) an export may take (`OTEL_METRIC_EXPORT_TIMEOUT`'s default). */
export const DEFAULT_EXPORT_TIMEOUT_MS = 30_000;
/** `service.name` when nothing names the service (the SDK's `unknown_service:<executable>`). */
export const DEFAULT_SERVICE_NAME = 'unknown_service:node';

/** `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` values. */
export const OTLP_TEMPORALITIES = ['cumulative', 'delta', 'lowmemory'] as const;
export type OtlpTemporality = (typeof OTLP_TEMPORALITIES)[number];

/** The effective OTLP export settings: `metrics.otlp` over the `OTEL_*` variables over the defaults. */
export interface OtlpSettings {
  endpoint: string;
  protocol: OtlpProtocol;
  exportIntervalMs: number;
  exportTimeoutMs: number;
  /** Resource attributes, `service.name` included. */
  resource: Record<string, string>;
  /** Headers of every export request (`metrics.otlp.headers` over `OTEL_EXPORTER_OTLP_[METRICS_]HEADERS`); secrets, never logged. */
  headers?: Record<string, string>;
  /** `OTEL_EXPORTER_OTLP_[METRICS_]COMPRESSION`. */
  compression?: 'gzip' | 'none';
  /** `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`. */
  temporality?: OtlpTemporality;
  /** PEM files for an https endpoint (`OTEL_EXPORTER_OTLP_[METRICS_]CERTIFICATE`, `..._CLIENT_CERTIFICATE`, `..._CLIENT_KEY`). */
  tlsFiles?: { ca?: string; cert?: string; key?: string };
}

/** What `resolveOtlpSettings` found: settings when export is on, problems (boot fails) and warnings (logged). */
export interface OtlpResolution {
  settings: OtlpSettings | undefined;
  problems: ConfigProblem[];
  warnings: string[];
}

/** A variable's value, trimmed; empty counts as unset (as the OpenTelemetry SDKs read them). */
function read(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

/** A whole number of milliseconds from a variable, or a problem. */
function readMs(env: NodeJS.ProcessEnv, name: string, problems: ConfigProblem[]): number | undefined {
  const raw = read(env, name);
  if (raw === undefined) return undefined;
  const ms = Number(raw);
  if (Number.isInteger(ms) && ms >= 100 && ms <= 86_400_000) return ms;
  problems.push({ path: `env.${name}`, rule: 'otelEnv', message: 'must be a whole number of milliseconds from 100 to 86400000', value: raw });
  return undefined;
}

/**
 * `key=value` pairs separated by commas, values percent-encoded (W3C Baggage style), as
 * `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS` are written; undefined when a pair
 * is malformed (the specification discards the whole value then).
 */
export function parseKeyValuePairs(raw: string | undefined): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  if (raw === undefined) return out;
  for (const pair of raw.split(',')) {
    if (!pair.trim()) continue;
    const eq = pair.indexOf('=');
    const key = eq > 0 ? pair.slice(0, eq).trim() : '';
    let value: string | undefined;
    try {
      value = eq > 0 ? decodeURIComponent(pair.slice(eq + 1).trim()) : undefined;
    } catch {
      value = undefined;
    }
    if (!key || value === undefined) return undefined;
    out[key] = value;
  }
  return out;
}

/**
 * `OTEL_RESOURCE_ATTRIBUTES`; a malformed value is discarded whole with a warning (as the
 * specification asks: the boot goes on).
 */
export function parseResourceAttributes(raw: string | undefined, warnings: string[]): Record<string, string> {
  const parsed = parseKeyValuePairs(raw);
  if (parsed !== undefined) return parsed;
  warnings.push('OTEL_RESOURCE_ATTRIBUTES ignored: it must be comma-separated key=value pairs with percent-encoded values');
  return {};
}

/**
 * The HTTP methods `http.request.method` keeps (`OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS`, a
 * comma-separated, case-sensitive list replacing the default one), or undefined for the default.
 */
export function knownHttpMethods(env: NodeJS.ProcessEnv): string[] | undefined {
  const raw = read(env, 'OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS');
  if (raw === undefined) return undefined;
  return raw.split(',').map((m) => m.trim()).filter(Boolean);
}

/** Whether `OTEL_METRICS_EXPORTER` asks for OTLP (`otlp`), turns export off (`none`), or says nothing. */
function exporterFromEnv(env: NodeJS.ProcessEnv, warnings: string[]): boolean | undefined {
  const raw = read(env, 'OTEL_METRICS_EXPORTER');
  if (raw === undefined) return undefined;
  const names = raw.split(',').map((n) => n.trim().toLowerCase()).filter(Boolean);
  const other = names.filter((n) => n !== 'otlp' && n !== 'none');
  if (other.length) warnings.push(`OTEL_METRICS_EXPORTER=${raw}: unipool exports only otlp (${other.join(', ')} ignored; Prometheus is served by the admin server's /metrics)`);
  return names.includes('otlp');
}

/** `OTEL_EXPORTER_OTLP_ENDPOINT` is a base URL: the metrics path is appended (OTLP exporter specification). */
function signalUrl(base: string): string {
  return `${base.replace(/\/+$/, '')}/v1/metrics`;
}

function validUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:';
  } catch {
    return false;
  }
}

/** The problem of an endpoint URL, if any: not http(s), or carrying credentials. */
function endpointProblem(url: string, path: string, rule: string): ConfigProblem | undefined {
  // An unparsable value with an `@` may hold a password: not echoed either.
  if (!validUrl(url)) return { path, rule, message: 'must be an http:// or https:// URL', value: url.includes('@') ? REDACTED : url };
  if (hasCredentials(url)) return { path, rule, message: CREDENTIALS_IN_URL, value: safeUrl(url) };
  return undefined;
}

/** The per-signal variable `OTEL_EXPORTER_OTLP_METRICS_<name>` if set, else `OTEL_EXPORTER_OTLP_<name>`: [variable, value]. */
function signalVariable(env: NodeJS.ProcessEnv, name: string): [string, string | undefined] {
  const specific = `OTEL_EXPORTER_OTLP_METRICS_${name}`;
  if (read(env, specific) !== undefined) return [specific, read(env, specific)];
  return [`OTEL_EXPORTER_OTLP_${name}`, read(env, `OTEL_EXPORTER_OTLP_${name}`)];
}

/** Export request headers: the general variable, the metrics one over it, `metrics.otlp.headers` over both. Values are never echoed. */
function readHeaders(env: NodeJS.ProcessEnv, config: Record<string, string> | undefined, problems: ConfigProblem[]): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const name of ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_METRICS_HEADERS']) {
    const parsed = parseKeyValuePairs(read(env, name));
    if (parsed === undefined) problems.push({ path: `env.${name}`, rule: 'otelEnv', message: 'must be comma-separated key=value pairs with percent-encoded values (value not shown: it may hold secrets)' });
    else Object.assign(out, parsed);
  }
  Object.assign(out, config);
  return Object.keys(out).length ? out : undefined;
}

/** One of `allowed` (case-insensitive) from a variable, or a problem. */
function readChoice<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], problems: ConfigProblem[]): T | undefined {
  const raw = read(env, name);
  if (raw === undefined) return undefined;
  const value = raw.toLowerCase() as T;
  if (allowed.includes(value)) return value;
  problems.push({ path: `env.${name}`, rule: 'otelEnv', message: `must be one of ${allowed.join(', ')}`, value: raw });
  return undefined;
}

/** The PEM files the exporter's https agent uses, from the (per-signal, then general) variables. */
function readTlsFiles(env: NodeJS.ProcessEnv): OtlpSettings['tlsFiles'] {
  const ca = signalVariable(env, 'CERTIFICATE')[1];
  const cert = signalVariable(env, 'CLIENT_CERTIFICATE')[1];
  const key = signalVariable(env, 'CLIENT_KEY')[1];
  if (ca === undefined && cert === undefined && key === undefined) return undefined;
  const files: NonNullable<OtlpSettings['tlsFiles']> = {};
  if (ca !== undefined) files.ca = ca;
  if (cert !== undefined) files.cert = cert;
  if (key !== undefined) files.key = key;
  return files;
}

/**
 * The OTLP export settings, from `metrics.otlp` (each key it sets wins), the standard variables
 * (`OTEL_METRICS_EXPORTER`, `OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT`,
 * `OTEL_EXPORTER_OTLP_[METRICS_]PROTOCOL`, `OTEL_METRIC_EXPORT_INTERVAL`,
 * `OTEL_METRIC_EXPORT_TIMEOUT`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
 * `OTEL_SDK_DISABLED`, `OTEL_EXPORTER_OTLP_[METRICS_]HEADERS`, `..._COMPRESSION`,
 * `..._CERTIFICATE`, `..._CLIENT_CERTIFICATE`, `..._CLIENT_KEY`,
 * `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`), then the defaults. Export is on when the `otlp` block is present (unless
 * `enabled: false`) or, without one, when `OTEL_METRICS_EXPORTER` names `otlp`. A pure function
 * of its arguments: `env` is any object.
 */
export function resolveOtlpSettings(config: OtlpMetricsConfig | undefined, env: NodeJS.ProcessEnv): OtlpResolution {
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];
  const fromEnv = exporterFromEnv(env, warnings);
  const sdkDisabled = read(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true';
  const enabled = config?.enabled ?? (config !== undefined ? true : fromEnv === true && !sdkDisabled);
  if (!enabled) return { settings: undefined, problems: [], warnings };

  let protocol: OtlpProtocol = config?.protocol ?? 'http/protobuf';
  if (config?.protocol === undefined) {
    const name = read(env, 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL') !== undefined ? 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
    const raw = read(env, name);
    if (raw !== undefined) {
      if ((OTLP_PROTOCOLS as readonly string[]).includes(raw)) protocol = raw as OtlpProtocol;
      else problems.push({ path: `env.${name}`, rule: 'otelEnv', message: `must be one of ${OTLP_PROTOCOLS.join(', ')} (unipool exports over OTLP/HTTP${raw === 'grpc' ? '; grpc is not supported' : ''})`, value: raw });
    }
  }

  let endpoint = config?.endpoint;
  if (endpoint === undefined) {
    const signal = read(env, 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT');
    const base = read(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
    const name = signal !== undefined ? 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
    endpoint = signal ?? (base !== undefined ? signalUrl(base) : DEFAULT_OTLP_METRICS_ENDPOINT);
    const problem = endpointProblem(endpoint, `env.${name}`, 'otelEnv');
    const raw = signal ?? base;
    if (problem) problems.push(problem.message === CREDENTIALS_IN_URL || raw === undefined || raw.includes('@') ? problem : { ...problem, value: raw });
  } else {
    const problem = endpointProblem(endpoint, 'metrics.otlp.endpoint', 'url');
    if (problem) problems.push(problem);
  }

  const exportIntervalMs = config?.exportInterval ?? readMs(env, 'OTEL_METRIC_EXPORT_INTERVAL', problems) ?? DEFAULT_EXPORT_INTERVAL_MS;
  // The SDK's reader refuses a timeout longer than the interval: an export never overlaps the next.
  const exportTimeoutMs = Math.min(config?.exportTimeout ?? readMs(env, 'OTEL_METRIC_EXPORT_TIMEOUT', problems) ?? DEFAULT_EXPORT_TIMEOUT_MS, exportIntervalMs);

  const resource = { ...parseResourceAttributes(read(env, 'OTEL_RESOURCE_ATTRIBUTES'), warnings), ...config?.resourceAttributes };
  resource['service.name'] = config?.serviceName ?? read(env, 'OTEL_SERVICE_NAME') ?? resource['service.name'] ?? DEFAULT_SERVICE_NAME;

  const settings: OtlpSettings = { endpoint, protocol, exportIntervalMs, exportTimeoutMs, resource };
  const headers = readHeaders(env, config?.headers, problems);
  if (headers !== undefined) settings.headers = headers;
  const compression = readChoice(env, signalVariable(env, 'COMPRESSION')[0], ['gzip', 'none'] as const, problems);
  if (compression !== undefined) settings.compression = compression;
  const temporality = readChoice(env, 'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE', OTLP_TEMPORALITIES, problems);
  if (temporality !== undefined) settings.temporality = temporality;
  const tlsFiles = readTlsFiles(env);
  if (tlsFiles !== undefined) settings.tlsFiles = tlsFiles;

  return { settings: problems.length ? undefined : settings, problems, warnings };
}
