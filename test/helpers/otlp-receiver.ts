import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as protobuf from 'protobufjs';
import { REPO_ROOT } from './sample-process';

/**
 * The OTLP metrics protos (opentelemetry-proto v1.11.0, Apache-2.0), copied unchanged under
 * test/fixtures/otlp-proto: the receiver decodes what the official exporter sends with them.
 */
const PROTO_ROOT = join(REPO_ROOT, 'test/fixtures/otlp-proto');
const REQUEST_TYPE = 'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest';

let requestType: protobuf.Type | undefined;
function exportRequestType(): protobuf.Type {
  if (!requestType) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => join(PROTO_ROOT, target);
    root.loadSync('opentelemetry/proto/collector/metrics/v1/metrics_service.proto', { keepCase: false });
    requestType = root.lookupType(REQUEST_TYPE);
  }
  return requestType;
}

/** Attribute values as plain JS values (int64 as numbers: these tests' values are small). */
export type AttributeValue = string | number | boolean;
export type Attributes = Record<string, AttributeValue>;

/** One data point, whatever its metric's kind. */
export interface Point {
  attributes: Attributes;
  /** Sum and gauge points. */
  value?: number;
  /** Histogram points. */
  count?: number;
  sum?: number;
  bucketCounts?: number[];
  explicitBounds?: number[];
}

/** One metric of one export, normalised from protobuf or JSON. */
export interface ReceivedMetric {
  name: string;
  unit: string;
  description: string;
  kind: 'sum' | 'gauge' | 'histogram' | 'other';
  monotonic?: boolean;
  points: Point[];
}

/** One export request as received. */
export interface ReceivedExport {
  contentType: string;
  resource: Attributes;
  scope: string;
  metrics: ReceivedMetric[];
}

type Json = Record<string, unknown>;

function num(v: unknown): number {
  return typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : Number(v ?? 0);
}

function anyValue(v: Json | undefined): AttributeValue {
  if (!v) return '';
  if ('stringValue' in v) return String(v.stringValue);
  if ('intValue' in v) return num(v.intValue);
  if ('doubleValue' in v) return num(v.doubleValue);
  if ('boolValue' in v) return Boolean(v.boolValue);
  return JSON.stringify(v);
}

function attributes(list: unknown): Attributes {
  const out: Attributes = {};
  for (const kv of (list as Json[] | undefined) ?? []) out[String(kv.key)] = anyValue(kv.value as Json);
  return out;
}

function point(p: Json): Point {
  const out: Point = { attributes: attributes(p.attributes) };
  if ('asInt' in p) out.value = num(p.asInt);
  else if ('asDouble' in p) out.value = num(p.asDouble);
  if ('bucketCounts' in p || 'explicitBounds' in p || 'count' in p) {
    out.count = num(p.count);
    out.sum = num(p.sum);
    out.bucketCounts = ((p.bucketCounts as unknown[]) ?? []).map(num);
    out.explicitBounds = ((p.explicitBounds as unknown[]) ?? []).map(num);
  }
  return out;
}

/** The export request (both encodings give the same camelCase shape) as plain objects. */
function normalise(body: Json, contentType: string): ReceivedExport[] {
  const out: ReceivedExport[] = [];
  for (const rm of (body.resourceMetrics as Json[] | undefined) ?? []) {
    const resource = attributes((rm.resource as Json | undefined)?.attributes);
    for (const sm of (rm.scopeMetrics as Json[] | undefined) ?? []) {
      const metrics: ReceivedMetric[] = [];
      for (const m of (sm.metrics as Json[] | undefined) ?? []) {
        const kind = m.sum ? 'sum' : m.gauge ? 'gauge' : m.histogram ? 'histogram' : 'other';
        const data = (m.sum ?? m.gauge ?? m.histogram ?? {}) as Json;
        metrics.push({
          name: String(m.name),
          unit: String(m.unit ?? ''),
          description: String(m.description ?? ''),
          kind,
          monotonic: kind === 'sum' ? Boolean(data.isMonotonic) : undefined,
          points: ((data.dataPoints as Json[] | undefined) ?? []).map(point),
        });
      }
      out.push({ contentType, resource, scope: String((sm.scope as Json | undefined)?.name ?? ''), metrics });
    }
  }
  return out;
}

/** Decodes one OTLP/HTTP metrics request body by its content type. */
export function decodeExport(body: Buffer, contentType: string): ReceivedExport[] {
  if (contentType.startsWith('application/x-protobuf')) {
    const type = exportRequestType();
    const message = type.toObject(type.decode(body), { longs: Number, enums: String, bytes: String, defaults: false, arrays: true });
    return normalise(message as Json, contentType);
  }
  if (contentType.startsWith('application/json')) return normalise(JSON.parse(body.toString('utf8')) as Json, contentType);
  throw new Error(`unexpected content type ${contentType}`);
}

/**
 * A test OTLP/HTTP metrics receiver: `POST /v1/metrics` with protobuf or JSON, decoded and kept
 * in arrival order. `hang` keeps requests unanswered (an endpoint that stopped answering).
 */
export class OtlpReceiver {
  readonly exports: ReceivedExport[] = [];
  readonly paths: string[] = [];
  /** The headers of each request, in arrival order. */
  readonly headers: http.IncomingHttpHeaders[] = [];
  /** Bodies that could not be decoded (a failing test names them). */
  readonly failures: string[] = [];
  hang = false;
  /** The status answered (200: accepted; 400: the exporter gives the batch up, no retry). */
  status = 200;
  private readonly server = http.createServer((req, res) => this.onRequest(req, res));

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The metrics URL (`http://127.0.0.1:<port>/v1/metrics`). */
  get url(): string {
    return `http://127.0.0.1:${this.port}/v1/metrics`;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.paths.push(`${req.method} ${req.url}`);
      this.headers.push(req.headers);
      const contentType = String(req.headers['content-type'] ?? '');
      try {
        this.exports.push(...decodeExport(Buffer.concat(chunks), contentType));
      } catch (err) {
        this.failures.push(`${contentType}: ${(err as Error).message}`);
      }
      if (this.hang) return;
      const json = contentType.startsWith('application/json');
      res.writeHead(this.status, { 'Content-Type': json ? 'application/json' : 'application/x-protobuf' });
      res.end(json ? '{}' : undefined);
    });
  }

  /** The metric `name` of the newest export that has it (cumulative temporality: it holds every point so far). */
  latest(name: string): ReceivedMetric | undefined {
    for (let i = this.exports.length - 1; i >= 0; i--) {
      const m = this.exports[i].metrics.find((x) => x.name === name);
      if (m) return m;
    }
    return undefined;
  }

  /** The points of the newest `name` whose attributes include `match`. */
  points(name: string, match: Attributes = {}): Point[] {
    return (this.latest(name)?.points ?? []).filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
