import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { resolve } from 'node:path';
import type { MeterProvider as ApiMeterProvider } from '@opentelemetry/api';
import type { Logger } from '../../core/logger';
import { OtelDependencyError } from '../../errors';
import type { OtlpProtocol } from './otlp-config';
import type { OtlpSettings } from './otlp-settings';
import { safeUrl } from './otlp-url';

/** Loads a module by name (`require`); tests pass one that fails for chosen names. */
export type ModuleLoader = (name: string) => unknown;

/** The packages OTLP export loads, by protocol (`@opentelemetry/api` first: the SDK needs it). */
export function otlpPackages(protocol: OtlpProtocol): string[] {
  return ['@opentelemetry/api', '@opentelemetry/sdk-metrics', '@opentelemetry/resources', protocol === 'http/json' ? '@opentelemetry/exporter-metrics-otlp-http' : '@opentelemetry/exporter-metrics-otlp-proto'];
}

// The one place a package is loaded by name at run time: only when OTLP export is configured.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const defaultLoader: ModuleLoader = (name) => require(name);

/** The package a "cannot find module" error names (`name`'s own dependency, maybe), or undefined for any other error. */
function notFound(err: unknown, name: string, needed: readonly string[]): string | undefined {
  const e = err as NodeJS.ErrnoException;
  if (e?.code !== 'MODULE_NOT_FOUND' && e?.code !== 'ERR_MODULE_NOT_FOUND') return undefined;
  return needed.find((pkg) => String(e.message).includes(`'${pkg}'`)) ?? name;
}

/** The packages OTLP export needs, loaded; throws `OtelDependencyError` naming every one missing. */
export function loadOtlpPackages(protocol: OtlpProtocol, load: ModuleLoader = defaultLoader): Record<string, unknown> {
  const needed = otlpPackages(protocol);
  const loaded: Record<string, unknown> = {};
  const missing: string[] = [];
  for (const name of needed) {
    try {
      loaded[name] = load(name);
    } catch (err) {
      const absent = notFound(err, name, needed);
      if (absent === undefined) throw err;
      if (!missing.includes(absent)) missing.push(absent);
    }
  }
  if (missing.length) throw new OtelDependencyError(missing, needed);
  return loaded;
}

/** A meter provider unipool created, with what it takes to flush and close it. */
export interface OwnedMeterProvider {
  readonly provider: ApiMeterProvider;
  /** Collects and exports one last time, then closes the exporter. */
  shutdown(): Promise<void>;
  /**
   * Gives up on exporting (the shutdown deadline passed): every export in flight completes at
   * once as failed, any later one fails without a request, and the exporter's sockets are cut,
   * so nothing of OpenTelemetry keeps the process alive.
   */
  abort(): void;
}

interface SdkMetrics {
  MeterProvider: new (options: object) => ApiMeterProvider & { shutdown(): Promise<void> };
  PeriodicExportingMetricReader: new (options: { exporter: unknown; exportIntervalMillis: number; exportTimeoutMillis: number }) => object;
}
interface Resources {
  defaultResource(): { merge(other: unknown): unknown };
  resourceFromAttributes(attributes: Record<string, string>): unknown;
}
/** What an exporter's `export` reports (`ExportResult` of `@opentelemetry/core`: code 0 is success). */
interface ExportResult {
  code: number;
  error?: Error;
}
interface MetricExporter {
  export(items: unknown, done: (result: ExportResult) => void): void;
}
/** The options of the OTLP/HTTP metric exporters unipool sets (`OTLPExporterNodeConfigBase` and `OTLPMetricExporterOptions`). */
interface ExporterOptions {
  url: string;
  timeoutMillis: number;
  httpAgentOptions: (protocol: string) => http.Agent;
  headers?: Record<string, string>;
  compression?: string;
  temporalityPreference?: string;
}
interface Exporter {
  OTLPMetricExporter: new (options: ExporterOptions) => MetricExporter;
}

/** What `guardExports` gives back: stops exporting for good. */
interface ExportGate {
  close(): void;
}

/**
 * Wraps the exporter's `export`: logs failed exports through unipool's logger (the SDK reports
 * them only to its own diag logger, silent unless the app set one up), the first failure of a
 * run of failures and the recovery, so a collector that is down is visible without a line per
 * interval; and once closed, completes every pending and later export at once as failed.
 */
function guardExports(exporter: MetricExporter, endpoint: string, logger: Logger): ExportGate {
  const exportBatch = exporter.export.bind(exporter);
  let failing = false;
  let closed = false;
  const pending = new Set<(result: ExportResult) => void>();
  const given = (): ExportResult => ({ code: 1, error: new Error('OpenTelemetry export given up at shutdown') });
  exporter.export = (items, done) => {
    if (closed) return done(given());
    let settled = false;
    const finish = (result: ExportResult): void => {
      if (settled) return;
      settled = true;
      pending.delete(finish);
      done(result);
    };
    pending.add(finish);
    exportBatch(items, (result) => {
      if (!closed) {
        if (result.code !== 0 && !failing) logger.warn({ err: result.error, endpoint }, 'OpenTelemetry: metrics export failed (logged again only after an export succeeds)');
        else if (result.code === 0 && failing) logger.info({ endpoint }, 'OpenTelemetry: metrics export works again');
        failing = result.code !== 0;
      }
      finish(result);
    });
  };
  return {
    close: () => {
      closed = true;
      for (const finish of [...pending]) finish(given());
    },
  };
}

/**
 * The PEM files of `OTEL_EXPORTER_OTLP_[METRICS_]CERTIFICATE`, `..._CLIENT_CERTIFICATE` and
 * `..._CLIENT_KEY` (relative to the working directory), read as the SDK does: a file that
 * cannot be read is logged and left out.
 */
function readTlsFiles(files: OtlpSettings['tlsFiles'], logger: Logger): https.AgentOptions {
  const out: Record<string, Buffer> = {};
  for (const [option, file] of Object.entries(files ?? {})) {
    try {
      out[option] = readFileSync(resolve(file));
    } catch (err) {
      logger.warn({ file, err: (err as NodeJS.ErrnoException).code }, `OpenTelemetry: cannot read the exporter's TLS ${option} file; left out`);
    }
  }
  return out;
}

/** What `createOtlpMeterProvider` needs besides the settings. */
export interface OtlpProviderOptions {
  /** The shutdown's deadline for the last export (`shutdown.hookTimeout`): no export, retries included, lasts longer. */
  shutdownTimeoutMs?: number;
  load?: ModuleLoader;
}

/**
 * An SDK `MeterProvider` that pushes to the OTLP/HTTP endpoint of `settings` every
 * `exportIntervalMs`, with the SDK's default resource (`telemetry.sdk.*`) under the configured
 * one. The SDK, resources and exporter packages are loaded here, not before. An export, its
 * retries included, lasts at most `exportTimeoutMs` and never longer than the shutdown's
 * deadline; its sockets come from an agent unipool owns, destroyed by `abort()`.
 */
export function createOtlpMeterProvider(settings: OtlpSettings, logger: Logger, options: OtlpProviderOptions = {}): OwnedMeterProvider {
  const packages = loadOtlpPackages(settings.protocol, options.load);
  const sdk = packages['@opentelemetry/sdk-metrics'] as SdkMetrics;
  const resources = packages['@opentelemetry/resources'] as Resources;
  const exporterPackage = packages[otlpPackages(settings.protocol)[3]] as Exporter;
  const timeoutMillis = Math.min(settings.exportTimeoutMs, options.shutdownTimeoutMs ?? Infinity);
  let agent: http.Agent | undefined;
  const exporterOptions: ExporterOptions = {
    url: settings.endpoint,
    timeoutMillis,
    httpAgentOptions: (protocol) => (agent ??= protocol === 'https:' ? new https.Agent({ keepAlive: true, ...readTlsFiles(settings.tlsFiles, logger) }) : new http.Agent({ keepAlive: true })),
  };
  if (settings.headers !== undefined) exporterOptions.headers = { ...settings.headers };
  if (settings.compression !== undefined) exporterOptions.compression = settings.compression;
  if (settings.temporality !== undefined) exporterOptions.temporalityPreference = settings.temporality;
  const exporter = new exporterPackage.OTLPMetricExporter(exporterOptions);
  const gate = guardExports(exporter, safeUrl(settings.endpoint), logger);
  const reader = new sdk.PeriodicExportingMetricReader({ exporter, exportIntervalMillis: settings.exportIntervalMs, exportTimeoutMillis: timeoutMillis });
  const resource = resources.defaultResource().merge(resources.resourceFromAttributes(settings.resource));
  const provider = new sdk.MeterProvider({ resource, readers: [reader] });
  return {
    provider,
    // Closed, the provider exports no more: its kept-alive sockets go too.
    shutdown: () => provider.shutdown().finally(() => agent?.destroy()),
    abort: () => {
      gate.close();
      agent?.destroy();
    },
  };
}
