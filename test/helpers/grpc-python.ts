import { execFile, type ChildProcess } from 'node:child_process';

/** Debian's python, the one with grpcio (the `python3` on PATH may lack it). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** One call for the Python client: a method path, the request as protobuf bytes, an optional deadline (s). */
export interface PythonCall {
  path: string;
  request: Buffer;
  /** Client deadline in seconds (grpcio's `timeout`). */
  timeout?: number;
  /** A server-streaming method: the replies are read to the end. */
  stream?: boolean;
  /** Request metadata (name, value) pairs, e.g. `[['x-priority', 'critical']]`. */
  metadata?: Array<[string, string]>;
}

/** What one call ended with, as grpcio saw it. */
export interface PythonOutcome {
  /** Numeric status code (0 = OK). */
  code: number;
  details?: string;
  /** Replies received (protobuf bytes, hex). */
  replies: string[];
}

/**
 * grpcio client without generated code: every method is called with identity (de)serializers on
 * bytes encoded by the test. Once the channel is connected, all calls start at once (futures, or threads for streams) on one
 * channel; the result is one JSON array in call order.
 */
const CLIENT = String.raw`
import json, sys, threading, grpc
spec = json.loads(sys.argv[1])
# A service config (a retry policy, say) turns grpc-core's retries on for the channel.
options = [('grpc.service_config', json.dumps(spec['serviceConfig'])), ('grpc.enable_retries', 1)] if spec.get('serviceConfig') else None
channel = grpc.insecure_channel(spec['target'], options=options)
# Connected before the first call, so a short deadline is spent on the call, not on connecting
# (unless the test wants to see how a call fares on a connection the server refuses).
if spec['connectFirst']:
    grpc.channel_ready_future(channel).result(timeout=10)
ident = lambda b: b
md = lambda c: [tuple(p) for p in c['metadata']] if c.get('metadata') else None
results = [None] * len(spec['calls'])
def failed(i, e):
    results[i] = {'code': e.code().value[0], 'details': e.details(), 'replies': []}
def run_stream(i, c):
    replies = []
    try:
        call = channel.unary_stream(c['path'], request_serializer=ident, response_deserializer=ident)
        for r in call(bytes.fromhex(c['request']), timeout=c.get('timeout'), metadata=md(c)):
            replies.append(r.hex())
        results[i] = {'code': 0, 'replies': replies}
    except grpc.RpcError as e:
        failed(i, e)
threads, futures = [], []
for i, c in enumerate(spec['calls']):
    if c.get('stream'):
        t = threading.Thread(target=run_stream, args=(i, c))
        t.start()
        threads.append(t)
    else:
        m = channel.unary_unary(c['path'], request_serializer=ident, response_deserializer=ident)
        futures.append((i, m.future(bytes.fromhex(c['request']), timeout=c.get('timeout'), metadata=md(c))))
for i, f in futures:
    try:
        results[i] = {'code': 0, 'replies': [f.result().hex()]}
    except grpc.RpcError as e:
        failed(i, e)
for t in threads:
    t.join()
channel.close()
print(json.dumps(results))
`;

/** Children still running, so a test's `afterEach` can kill what a failed test left. */
const running = new Set<ChildProcess>();

/**
 * Runs `calls` against `127.0.0.1:port` from Python grpcio; resolves with each call's outcome.
 * `connectFirst: false` skips waiting for the channel to connect (for a server that refuses it);
 * `serviceConfig`: the channel's service config (gRPC's JSON form, e.g. a `methodConfig` with a `retryPolicy`).
 */
export function pythonCalls(port: number, calls: PythonCall[], { connectFirst = true, serviceConfig }: { connectFirst?: boolean; serviceConfig?: object } = {}): Promise<PythonOutcome[]> {
  const spec = JSON.stringify({ target: `127.0.0.1:${port}`, connectFirst, serviceConfig, calls: calls.map((c) => ({ ...c, request: c.request.toString('hex') })) });
  return new Promise((resolve, reject) => {
    const child = execFile(SYSTEM_PYTHON, ['-c', CLIENT, spec], { timeout: 30_000 }, (err, stdout, stderr) => {
      running.delete(child);
      if (err) reject(new Error(`python client failed: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as PythonOutcome[]);
    });
    running.add(child);
  });
}

/** Kills every Python client still running (call it from `afterEach`). */
export function killPythonClients(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/** A protobuf varint. */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** Encodes a message whose fields are strings or uint32s, keyed by field number. */
export function encodeMessage(fields: Record<number, string | number>): Buffer {
  const bytes: number[] = [];
  for (const [field, value] of Object.entries(fields)) {
    if (typeof value === 'string') {
      const data = Buffer.from(value);
      bytes.push(...varint((Number(field) << 3) | 2), ...varint(data.length), ...data);
    } else if (value !== 0) {
      bytes.push(...varint(Number(field) << 3), ...varint(value));
    }
  }
  return Buffer.from(bytes);
}

/** `demo.EchoRequest`: message = 1, delay_ms = 2. */
export function echoRequest(message: string, delayMs = 0): Buffer {
  return encodeMessage({ 1: message, 2: delayMs });
}

/** `demo.EchoStreamRequest`: message = 1, count = 2, interval_ms = 3. */
export function echoStreamRequest(message: string, count: number, intervalMs: number): Buffer {
  return encodeMessage({ 1: message, 2: count, 3: intervalMs });
}

/** `grpc.health.v1.HealthCheckResponse.status` from its bytes (field 1, varint): 1 SERVING, 2 NOT_SERVING. */
export function servingStatus(replyHex: string): 'SERVING' | 'NOT_SERVING' | 'UNKNOWN' {
  const bytes = Buffer.from(replyHex, 'hex');
  const status = bytes.length >= 2 && bytes[0] === 0x08 ? bytes[1] : 0;
  return status === 1 ? 'SERVING' : status === 2 ? 'NOT_SERVING' : 'UNKNOWN';
}
