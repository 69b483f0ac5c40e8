import 'reflect-metadata';
import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsObject, IsOptional, IsString, Matches, Max, Min, MinLength, ValidateBy, ValidateNested } from 'class-validator';

/** The OTLP transports unipool exports with (the OpenTelemetry JS HTTP exporters). */
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

/**
 * `metrics.otlp`: push the pools' metrics to an OTLP/HTTP endpoint (an OpenTelemetry Collector,
 * say). Every key is optional: a key left out takes the standard `OTEL_*` environment variable,
 * then the default. A present `otlp` block turns export on (`enabled: false` turns it off).
 * Restart to change.
 */
export class OtlpMetricsConfig {
  /** Whether unipool exports (default true when the block is present; else `OTEL_METRICS_EXPORTER=otlp` decides). */
  @IsOptional() @IsBoolean() enabled?: boolean;
  /** The metrics URL, used as is (`http://collector:4318/v1/metrics`); default from `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/metrics`, else `http://localhost:4318/v1/metrics`. */
  @IsOptional() @IsString() @Matches(/^https?:\/\/[^\s/?#]+\S*$/, { message: 'must be an http:// or https:// URL' }) endpoint?: string;
  /** `http/protobuf` (default) or `http/json`. */
  @IsOptional() @IsIn(OTLP_PROTOCOLS) protocol?: OtlpProtocol;
  /** Time (ms) between two exports (default 60000, `OTEL_METRIC_EXPORT_INTERVAL`). */
  @IsOptional() @IsInt() @Min(100) @Max(86_400_000) exportInterval?: number;
  /** Time (ms) one export may take (default 30000, `OTEL_METRIC_EXPORT_TIMEOUT`); at most `exportInterval`. */
  @IsOptional() @IsInt() @Min(100) @Max(86_400_000) exportTimeout?: number;
  /** `service.name` of the resource (default `OTEL_SERVICE_NAME`, else `unknown_service:node`). */
  @IsOptional() @IsString() @MinLength(1) serviceName?: string;
  /** More resource attributes, merged over `OTEL_RESOURCE_ATTRIBUTES` (`{ "deployment.environment.name": "prod" }`). */
  @IsOptional()
  @IsObject()
  @ValidateBy({ name: 'stringValues', validator: { validate: (v: unknown) => v !== null && typeof v === 'object' && Object.values(v).every((x) => typeof x === 'string'), defaultMessage: () => 'must map attribute names to strings' } })
  resourceAttributes?: Record<string, string>;
}

/** Section `metrics`: telemetry besides the admin server's Prometheus `/metrics`. */
export class MetricsConfig {
  /** OTLP export of the pools' metrics; see `OtlpMetricsConfig`. */
  @IsOptional() @IsObject() @ValidateNested() @Type(() => OtlpMetricsConfig) otlp?: OtlpMetricsConfig;
}
