import type { ConfigClass } from '../config/validate-config';
import { GrpcPoolConfig } from './grpc/grpc-config';
import { HttpPoolConfig } from './http/http-config';
import { WebSocketPoolConfig } from './ws/ws-config';
import { HttpsPoolConfig } from './https/https-config';
import { Http2PoolConfig } from './http2/http2-config';

/** What the application needs to know of a protocol: its config section and class. */
export interface ProtocolDescriptor {
  section: string;
  configClass: ConfigClass;
}

/** Every protocol unipool ships; adding a protocol adds one line here. */
export const PROTOCOLS: readonly ProtocolDescriptor[] = [
  { section: 'http', configClass: HttpPoolConfig },
  { section: 'https', configClass: HttpsPoolConfig },
  { section: 'grpc', configClass: GrpcPoolConfig },
  { section: 'ws', configClass: WebSocketPoolConfig },
  { section: 'http2', configClass: Http2PoolConfig },
];
