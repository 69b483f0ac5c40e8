import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** The demo .proto: next to this file when run from source, in the repository's samples folder when run from dist/. */
export const DEMO_PROTO_PATH = [join(__dirname, 'demo.proto'), join(__dirname, '../../../samples/multi-protocol/demo.proto')].find((p) => existsSync(p)) ?? join(__dirname, 'demo.proto');

/** The `demo` package loaded from `demo.proto` (no unipool needed: clients and the bench's bare server use it too). */
export function loadDemoPackage(): { Echo: grpc.ServiceClientConstructor } {
  const definition = protoLoader.loadSync(DEMO_PROTO_PATH, { keepCase: true, longs: Number, defaults: true });
  return grpc.loadPackageDefinition(definition).demo as unknown as { Echo: grpc.ServiceClientConstructor };
}
