import type { MeterProvider as ApiMeterProvider } from '@opentelemetry/api';
import type { Logger } from '../../core/logger';
import { OtelDependencyError } from '../../errors';
import type { OtlpProtocol } from './otlp-config';
import type { OtlpSettings } from './otlp-settings';

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
interface Exporter {
  OTLPMetricExporter: new (options: { url: string; timeoutMillis: number }) => MetricExporter;
}

/**
 * Logs failed exports through unipool's logger (the SDK reports them only to its own diag
 * logger, silent unless the app set one up): the first failure of a run of failures, and the
 * recovery, so a collector that is down is visible without a line per interval.
 */
function logExportFailures(exporter: MetricExporter, endpoint: string, logger: Logger): void {
  const exportBatch = exporter.export.bind(exporter);
  let failing = false;
  exporter.export = (items, done) =>
    exportBatch(items, (result) => {
      if (result.code !== 0 && !failing) logger.warn({ err: result.error, endpoint }, 'OpenTelemetry: metrics export failed (logged again only after an export succeeds)');
      else if (result.code === 0 && failing) logger.info({ endpoint }, 'OpenTelemetry: metrics export works again');
      failing = result.code !== 0;
      done(result);
    });
}

/**
 * An SDK `MeterProvider` that pushes to the OTLP/HTTP endpoint of `settings` every
 * `exportIntervalMs`, with the SDK's default resource (`telemetry.sdk.*`) under the configured
 * one. The SDK, resources and exporter packages are loaded here, not before.
 */
export function createOtlpMeterProvider(settings: OtlpSettings, logger: Logger, load?: ModuleLoader): OwnedMeterProvider {
  const packages = loadOtlpPackages(settings.protocol, load);
  const sdk = packages['@opentelemetry/sdk-metrics'] as SdkMetrics;
  const resources = packages['@opentelemetry/resources'] as Resources;
  const exporterPackage = packages[otlpPackages(settings.protocol)[3]] as Exporter;
  const exporter = new exporterPackage.OTLPMetricExporter({ url: settings.endpoint, timeoutMillis: settings.exportTimeoutMs });
  logExportFailures(exporter, settings.endpoint, logger);
  const reader = new sdk.PeriodicExportingMetricReader({ exporter, exportIntervalMillis: settings.exportIntervalMs, exportTimeoutMillis: settings.exportTimeoutMs });
  const resource = resources.defaultResource().merge(resources.resourceFromAttributes(settings.resource));
  const provider = new sdk.MeterProvider({ resource, readers: [reader] });
  return { provider, shutdown: () => provider.shutdown() };
}
