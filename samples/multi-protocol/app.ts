import 'reflect-metadata';
import { join } from 'node:path';
import { createApp, type Application, type ServerClass } from '../../src';
import { GrpcEchoServer } from './grpc-echo-server';
import { HttpApiServer } from './http-api-server';
import { HttpsApiServer } from './https-api-server';
import { Http2ApiServer } from './http2-api-server';
import { WsEchoServer } from './ws-echo-server';

/** Every server of the sample, in startup order. */
export const SAMPLE_SERVERS: ServerClass[] = [HttpApiServer, HttpsApiServer, GrpcEchoServer, WsEchoServer, Http2ApiServer];

/** The sample's config file: `UNIPOOL_CONFIG`, else `samples/multi-protocol/config.json`. */
export function sampleConfigFile(): string {
  return process.env.UNIPOOL_CONFIG ?? join(__dirname, '../../../samples/multi-protocol/config.json');
}

/** Creates the sample application (not started). */
export function createSampleApp(config: string | Record<string, unknown> = sampleConfigFile(), options: { handleSignals?: boolean; env?: NodeJS.ProcessEnv } = {}): Application {
  return createApp({ servers: SAMPLE_SERVERS, config, handleSignals: options.handleSignals, env: options.env });
}
