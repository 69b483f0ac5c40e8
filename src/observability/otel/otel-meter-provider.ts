/**
 * An OpenTelemetry `MeterProvider` (`@opentelemetry/api`), typed by the one method unipool calls
 * so that unipool's types do not need the package: an SDK `MeterProvider` fits.
 */
export interface OtelMeterProvider {
  getMeter(name: string, version?: string, options?: object): unknown;
}
