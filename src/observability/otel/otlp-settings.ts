import type { ConfigProblem } from '../../errors';
import { OTLP_PROTOCOLS, type OtlpMetricsConfig, type OtlpProtocol } from './otlp-config';

/** Where OTLP/HTTP metrics go by default (a Collector on this host). */
export const DEFAULT_OTLP_METRICS_ENDPOINT = 'http://localhost:4318/v1/metrics';
/** Default time (ms) between exports (`OTEL_METRIC_EXPORT_INTERVAL`'s default). */
export const DEFAULT_EXPORT_INTERVAL_MS = 60_000;
/** Default time (ms) an export may take (`OTEL_METRIC_EXPORT_TIMEOUT`'s default). */
export const DEFAULT_EXPORT_TIMEOUT_MS = 30_000;
/** `service.name` when nothing names the service (the SDK's `unknown_service:<executable>`). */
export const DEFAULT_SERVICE_NAME = 'unknown_service:node';

/** The effective OTLP export settings: `metrics.otlp` over the `OTEL_*` variables over the defaults. */
export interface OtlpSettings {
  endpoint: string;
  protocol: OtlpProtocol;
  exportIntervalMs: number;
  exportTimeoutMs: number;
  /** Resource attributes, `service.name` included. */
  resource: Record<string, string>;
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

/** `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs separated by commas, values percent-encoded (W3C Baggage style). */
export function parseResourceAttributes(raw: string | undefined, problems: ConfigProblem[]): Record<string, string> {
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
    if (!key || value === undefined) {
      problems.push({ path: 'env.OTEL_RESOURCE_ATTRIBUTES', rule: 'otelEnv', message: 'must be comma-separated key=value pairs with percent-encoded values', value: pair.trim() });
      continue;
    }
    out[key] = value;
  }
  return out;
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

/**
 * The OTLP export settings, from `metrics.otlp` (each key it sets wins), the standard variables
 * (`OTEL_METRICS_EXPORTER`, `OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT`,
 * `OTEL_EXPORTER_OTLP_[METRICS_]PROTOCOL`, `OTEL_METRIC_EXPORT_INTERVAL`,
 * `OTEL_METRIC_EXPORT_TIMEOUT`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
 * `OTEL_SDK_DISABLED`), then the defaults. Export is on when the `otlp` block is present (unless
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
    if (!validUrl(endpoint)) problems.push({ path: `env.${name}`, rule: 'otelEnv', message: 'must be an http:// or https:// URL', value: signal ?? base });
  } else if (!validUrl(endpoint)) {
    problems.push({ path: 'metrics.otlp.endpoint', rule: 'url', message: 'must be an http:// or https:// URL', value: endpoint });
  }

  const exportIntervalMs = config?.exportInterval ?? readMs(env, 'OTEL_METRIC_EXPORT_INTERVAL', problems) ?? DEFAULT_EXPORT_INTERVAL_MS;
  // The SDK's reader refuses a timeout longer than the interval: an export never overlaps the next.
  const exportTimeoutMs = Math.min(config?.exportTimeout ?? readMs(env, 'OTEL_METRIC_EXPORT_TIMEOUT', problems) ?? DEFAULT_EXPORT_TIMEOUT_MS, exportIntervalMs);

  const resource = { ...parseResourceAttributes(read(env, 'OTEL_RESOURCE_ATTRIBUTES'), problems), ...config?.resourceAttributes };
  resource['service.name'] = config?.serviceName ?? read(env, 'OTEL_SERVICE_NAME') ?? resource['service.name'] ?? DEFAULT_SERVICE_NAME;

  return { settings: problems.length ? undefined : { endpoint, protocol, exportIntervalMs, exportTimeoutMs, resource }, problems, warnings };
}
