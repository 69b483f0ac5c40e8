import * as grpc from '@grpc/grpc-js';
import { loadDemoPackage } from '../../samples/multi-protocol/demo-proto';

/** Calls both sides served. */
export const served = { count: 0 };

/** The echo both sides run. */
export function echo(call: grpc.ServerUnaryCall<{ message: string }, unknown>, callback: grpc.sendUnaryData<unknown>): void {
  served.count++;
  callback(null, { message: call.request.message });
}

export const service = loadDemoPackage().Echo.service;
