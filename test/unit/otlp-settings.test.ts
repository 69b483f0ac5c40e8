import 'reflect-metadata';
import { expect } from 'chai';
import { MetricsConfig, OtelDependencyError, OtlpMetricsConfig, resolveOtlpSettings, validateSection } from '../../src';
import { loadOtlpPackages, otlpPackages } from '../../src/observability/otel/otlp-meter-provider';
import { normalizeMethod, protocolVersion, tlsVersion } from '../../src/observability/otel/otel-pool-metrics';

function otlp(values: Partial<OtlpMetricsConfig>): OtlpMetricsConfig {
  return Object.assign(new OtlpMetricsConfig(), values);
}

describe('OpenTelemetry settings from metrics.otlp and the OTEL_* variables (a plain env object)', () => {
  it('nothing configured: export is off, no problem, no warning', () => {
    expect(resolveOtlpSettings(undefined, {})).to.deep.equal({ settings: undefined, problems: [], warnings: [] });
  });

  it('OTEL_METRICS_EXPORTER=otlp alone turns export on with the defaults: localhost:4318/v1/metrics, http/protobuf, 60 s, 30 s, unknown_service:node', () => {
    const { settings, problems } = resolveOtlpSettings(undefined, { OTEL_METRICS_EXPORTER: 'otlp' });
    expect(problems).to.deep.equal([]);
    expect(settings).to.deep.equal({
      endpoint: 'http://localhost:4318/v1/metrics',
      protocol: 'http/protobuf',
      exportIntervalMs: 60_000,
      exportTimeoutMs: 30_000,
      resource: { 'service.name': 'unknown_service:node' },
    });
  });

  it('every standard variable is honoured: base endpoint + /v1/metrics, protocol, interval, timeout, service name, resource attributes (percent-decoded)', () => {
    const { settings } = resolveOtlpSettings(undefined, {
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_METRIC_EXPORT_INTERVAL: '5000',
      OTEL_METRIC_EXPORT_TIMEOUT: '2000',
      OTEL_SERVICE_NAME: 'checkout',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prod, team=a%20b,service.name=ignored',
    });
    expect(settings).to.deep.equal({
      endpoint: 'http://collector:4318/v1/metrics',
      protocol: 'http/json',
      exportIntervalMs: 5000,
      exportTimeoutMs: 2000,
      resource: { 'deployment.environment.name': 'prod', team: 'a b', 'service.name': 'checkout' },
    });
  });

  it('the per-signal variables win over the general ones, and the metrics endpoint is used as is', () => {
    const { settings } = resolveOtlpSettings(undefined, {
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://general:4318',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'https://metrics.example:4318/custom/path',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json',
    });
    expect(settings).to.include({ endpoint: 'https://metrics.example:4318/custom/path', protocol: 'http/json' });
  });

  it('service.name comes from OTEL_RESOURCE_ATTRIBUTES when OTEL_SERVICE_NAME is unset', () => {
    const { settings } = resolveOtlpSettings(undefined, { OTEL_METRICS_EXPORTER: 'otlp', OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs' });
    expect(settings?.resource['service.name']).to.equal('from-attrs');
  });

  it('metrics.otlp turns export on by itself, and each key it sets wins over the variable', () => {
    const { settings } = resolveOtlpSettings(otlp({ endpoint: 'http://file:4318/v1/metrics', exportInterval: 1000, serviceName: 'file', resourceAttributes: { team: 'file' } }), {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_METRIC_EXPORT_INTERVAL: '9000',
      OTEL_SERVICE_NAME: 'env',
      OTEL_RESOURCE_ATTRIBUTES: 'team=env,region=eu',
    });
    expect(settings).to.deep.equal({
      endpoint: 'http://file:4318/v1/metrics',
      protocol: 'http/json',
      exportIntervalMs: 1000,
      exportTimeoutMs: 1000, // never longer than the interval
      resource: { team: 'file', region: 'eu', 'service.name': 'file' },
    });
  });

  it('off switches: metrics.otlp.enabled false, OTEL_METRICS_EXPORTER=none, OTEL_SDK_DISABLED=true', () => {
    expect(resolveOtlpSettings(otlp({ enabled: false }), { OTEL_METRICS_EXPORTER: 'otlp' }).settings).to.equal(undefined);
    expect(resolveOtlpSettings(undefined, { OTEL_METRICS_EXPORTER: 'none' }).settings).to.equal(undefined);
    expect(resolveOtlpSettings(undefined, { OTEL_METRICS_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' }).settings).to.equal(undefined);
  });

  it('an exporter unipool does not provide (prometheus, console) is a warning, not a boot failure', () => {
    const r = resolveOtlpSettings(undefined, { OTEL_METRICS_EXPORTER: 'prometheus' });
    expect(r.settings).to.equal(undefined);
    expect(r.problems).to.deep.equal([]);
    expect(r.warnings[0]).to.match(/OTEL_METRICS_EXPORTER=prometheus: unipool exports only otlp/);
  });

  it('invalid variables are problems naming the variable: grpc protocol, a non-URL endpoint, a non-integer interval, a malformed attribute', () => {
    const { settings, problems } = resolveOtlpSettings(undefined, {
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317',
      OTEL_METRIC_EXPORT_INTERVAL: '1.5s',
      OTEL_RESOURCE_ATTRIBUTES: 'ok=1,broken',
    });
    expect(settings).to.equal(undefined);
    expect(problems.map((p) => p.path)).to.deep.equal(['env.OTEL_EXPORTER_OTLP_PROTOCOL', 'env.OTEL_EXPORTER_OTLP_ENDPOINT', 'env.OTEL_METRIC_EXPORT_INTERVAL', 'env.OTEL_RESOURCE_ATTRIBUTES']);
    expect(problems[0].message).to.match(/grpc is not supported/);
  });

  it('invalid variables are ignored while export is off', () => {
    expect(resolveOtlpSettings(undefined, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }).problems).to.deep.equal([]);
  });

  it('the metrics section is validated like the others: unknown keys, a wrong protocol, a short interval, non-string attributes', () => {
    const { value, problems } = validateSection(MetricsConfig, { otlp: { protocol: 'grpc', exportInterval: 10, endpoint: 'ftp://x', resourceAttributes: { a: 1 }, extra: true } }, 'metrics');
    expect(value).to.equal(undefined);
    expect(problems.map((p) => p.path).sort()).to.deep.equal(['metrics.otlp.endpoint', 'metrics.otlp.exportInterval', 'metrics.otlp.extra', 'metrics.otlp.protocol', 'metrics.otlp.resourceAttributes']);
    expect(validateSection(MetricsConfig, { otlp: { endpoint: 'http://127.0.0.1:4318/v1/metrics', protocol: 'http/json' } }, 'metrics').problems).to.deep.equal([]);
  });
});

describe('OpenTelemetry packages are loaded only to export, and a missing one fails with a coded error', () => {
  it('names every missing package and the npm install line (http/protobuf needs the proto exporter)', () => {
    const load = (name: string): unknown => {
      if (name === '@opentelemetry/api') return {};
      const err = new Error(`Cannot find module '${name}'`) as NodeJS.ErrnoException;
      err.code = 'MODULE_NOT_FOUND';
      throw err;
    };
    let caught: unknown;
    try {
      loadOtlpPackages('http/protobuf', load);
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(OtelDependencyError);
    const e = caught as OtelDependencyError;
    expect(e.code).to.equal('UNIPOOL_OTEL_MISSING');
    expect(e.missing).to.deep.equal(['@opentelemetry/sdk-metrics', '@opentelemetry/resources', '@opentelemetry/exporter-metrics-otlp-proto']);
    expect(e.message).to.contain('npm install @opentelemetry/api @opentelemetry/sdk-metrics @opentelemetry/resources @opentelemetry/exporter-metrics-otlp-proto');
  });

  it('a package whose own dependency is missing names that dependency; http/json needs the http exporter', () => {
    expect(otlpPackages('http/json')[3]).to.equal('@opentelemetry/exporter-metrics-otlp-http');
    const load = (name: string): unknown => {
      if (name !== '@opentelemetry/sdk-metrics') return {};
      const err = new Error("Cannot find module '@opentelemetry/api'") as NodeJS.ErrnoException;
      err.code = 'MODULE_NOT_FOUND';
      throw err;
    };
    expect(() => loadOtlpPackages('http/json', load)).to.throw(OtelDependencyError, /@opentelemetry\/api is not installed/);
  });

  it('any other load error is not hidden', () => {
    expect(() => loadOtlpPackages('http/json', () => {
      throw new SyntaxError('broken package');
    })).to.throw(SyntaxError);
  });
});

describe('OpenTelemetry attribute values', () => {
  it('http.request.method keeps the known methods and turns anything else into _OTHER', () => {
    expect(['GET', 'POST', 'PATCH', 'PROPFIND', 'get', undefined].map(normalizeMethod)).to.deep.equal(['GET', 'POST', 'PATCH', '_OTHER', '_OTHER', '_OTHER']);
  });
  it('network.protocol.version is 1.1, 1.0 or 2; tls.protocol.version drops the TLSv prefix', () => {
    expect(['1.1', '1.0', '2.0'].map(protocolVersion)).to.deep.equal(['1.1', '1.0', '2']);
    expect(tlsVersion('TLSv1.3')).to.equal('1.3');
  });
});
